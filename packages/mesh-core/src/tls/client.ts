import type { PeerCertificate } from 'node:tls';
import type { Identity, WorkloadCertificate } from '../identity/index.js';
import { MESH_ALPN, meshSecureContextOptions, type MeshSecureContextOptions } from './common.js';
import { verifyPeerIdentity } from './verify.js';

/** Options for `tls.connect` to a mesh mTLS server. */
export interface ClientTlsOptions extends MeshSecureContextOptions {
  ALPNProtocols: string[];
  rejectUnauthorized: true;
  checkServerIdentity: (hostname: string, peer: PeerCertificate) => Error | undefined;
}

/**
 * TLS options for a client presenting `cert` to a server that must prove one of `expected`: the chain must
 * lead to `cert.rootsPem` and the server's SPIFFE URI SAN must equal an expected identity. The hostname
 * check is replaced (mesh certificates carry no DNS names; DNS SANs are ignored even when present).
 * Connect by IP address so that no SNI is sent, as ztunnel does.
 */
export function clientTlsOptions(cert: WorkloadCertificate, expected: readonly Identity[]): ClientTlsOptions {
  const wanted = [...expected];
  return {
    ...meshSecureContextOptions(cert),
    ALPNProtocols: [MESH_ALPN],
    rejectUnauthorized: true,
    checkServerIdentity: (_hostname, peer) => {
      try {
        verifyPeerIdentity(peer, wanted);
        return undefined;
      } catch (err) {
        return err as Error;
      }
    },
  };
}
