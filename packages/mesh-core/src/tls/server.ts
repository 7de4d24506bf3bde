import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { X509Certificate } from 'node:crypto';
import type { Identity, WorkloadCertificate } from '../identity/index.js';
import { MESH_ALPN, meshSecureContextOptions, type MeshSecureContextOptions } from './common.js';
import { PeerIdentityError, verifyPeerTrustDomain } from './verify.js';

/** Options for a mesh mTLS server (HBONE's port 15008), ready for `tls.createServer`/`http2.createSecureServer`. */
export interface ServerTlsOptions extends MeshSecureContextOptions {
  ALPNProtocols: string[];
  /** A client certificate is required ... */
  requestCert: true;
  /** ... and must chain to the mesh roots (`ca`), or the handshake is refused. */
  rejectUnauthorized: true;
  /**
   * Checks an authenticated client's certificate: it must carry a SPIFFE ID in the server's trust domain.
   * Node has no hook for this inside the handshake, so the server calls it on `secureConnection`.
   */
  verifyClient(peer: PeerCertificate | X509Certificate | null | undefined): Identity;
}

/**
 * TLS options for a server presenting `cert`: TLS 1.3 only, ALPN `h2` only, client certificate required and
 * verified against `cert.rootsPem`; `verifyClient` adds the trust-domain check on the client's SPIFFE ID.
 */
export function serverTlsOptions(cert: WorkloadCertificate, trustDomain: string): ServerTlsOptions {
  return {
    ...meshSecureContextOptions(cert),
    ALPNProtocols: [MESH_ALPN],
    requestCert: true,
    rejectUnauthorized: true,
    verifyClient: (peer) => verifyPeerTrustDomain(peer, trustDomain),
  };
}

/**
 * The identity of the client on an accepted mesh TLS socket, or a PeerIdentityError saying why it has none
 * acceptable. The socket must have completed its handshake with `serverTlsOptions`.
 */
export function authenticatedClient(socket: TLSSocket, trustDomain: string): Identity {
  if (!socket.authorized) {
    throw new PeerIdentityError('TLS_ERR_NO_PEER_CERT', `client certificate not verified: ${String(socket.authorizationError)}`);
  }
  return verifyPeerTrustDomain(socket.getPeerX509Certificate(), trustDomain);
}
