/**
 * SPIFFE identity checks on a TLS peer's certificate, shared by both ends of mutual TLS.
 *
 * Only SPIFFE URI SANs count: a DNS SAN, a common name or any other URI never stands in for a workload
 * identity, so a certificate the mesh CA never meant for a workload cannot pass for one.
 * Chain verification is not done here: it is OpenSSL's job during the handshake (against the mesh roots);
 * these functions run on a certificate that already chains to them.
 */
import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { MeshError } from '../errors.js';
import { Identity, uriSans } from '../identity/index.js';

export type PeerIdentityErrorCode =
  | 'TLS_ERR_NO_PEER_CERT'
  | 'TLS_ERR_NO_SPIFFE_ID'
  | 'TLS_ERR_IDENTITY_MISMATCH'
  | 'TLS_ERR_TRUST_DOMAIN';

/** A peer certificate that does not prove the identity the caller needs. `code` says which check failed. */
export class PeerIdentityError extends MeshError {
  /** The SPIFFE identities the peer's certificate does carry (empty when it has none). */
  readonly presented: readonly Identity[];

  constructor(code: PeerIdentityErrorCode, reason: string, presented: readonly Identity[] = []) {
    super(code, reason);
    this.presented = presented;
  }
}

/**
 * The SPIFFE identities among a certificate's URI SANs, in certificate order. Other URIs are ignored.
 * Throws PeerIdentityError when there is no certificate at all.
 */
export function peerIdentities(peer: PeerCertificate | X509Certificate | null | undefined): Identity[] {
  const cert = toX509(peer);
  const out: Identity[] = [];
  for (const uri of uriSans(cert)) {
    const id = Identity.tryParse(uri);
    if (id) out.push(id);
  }
  return out;
}

/**
 * Checks that the peer's certificate carries one of `expected` as a SPIFFE URI SAN and returns that
 * identity. This replaces the hostname check on the client side of HBONE: the next hop is known by
 * identity, not by name. Throws PeerIdentityError naming what the certificate holds and what was wanted.
 */
export function verifyPeerIdentity(peer: PeerCertificate | X509Certificate, expected: readonly Identity[]): Identity {
  const presented = peerIdentities(peer);
  if (presented.length === 0) {
    throw new PeerIdentityError('TLS_ERR_NO_SPIFFE_ID', 'peer certificate has no SPIFFE URI SAN (DNS SANs are not considered)');
  }
  for (const id of presented) {
    for (const want of expected) if (want.uri === id.uri) return id;
  }
  throw new PeerIdentityError(
    'TLS_ERR_IDENTITY_MISMATCH',
    `peer identity ${list(presented)} is not one of the expected identities ${list(expected)}`,
    presented,
  );
}

/**
 * Checks that the peer's certificate carries a SPIFFE identity in `trustDomain` and returns the first
 * such identity. The HBONE server uses it on client certificates: any workload of its own mesh may
 * connect (authorization decides per request what it may reach).
 */
export function verifyPeerTrustDomain(peer: PeerCertificate | X509Certificate | null | undefined, trustDomain: string): Identity {
  const presented = peerIdentities(peer);
  if (presented.length === 0) {
    throw new PeerIdentityError('TLS_ERR_NO_SPIFFE_ID', 'peer certificate has no SPIFFE URI SAN (DNS SANs are not considered)');
  }
  const match = presented.find((id) => id.trustDomain === trustDomain);
  if (!match) {
    throw new PeerIdentityError(
      'TLS_ERR_TRUST_DOMAIN',
      `peer identity ${list(presented)} is not in trust domain "${trustDomain}"`,
      presented,
    );
  }
  return match;
}

function toX509(peer: PeerCertificate | X509Certificate | null | undefined): X509Certificate {
  if (peer instanceof X509Certificate) return peer;
  // node:tls hands out `{}` (no `raw`) when the peer sent no certificate.
  if (!peer?.raw || peer.raw.length === 0) {
    throw new PeerIdentityError('TLS_ERR_NO_PEER_CERT', 'peer presented no certificate');
  }
  // Re-read the DER with the same parser pki.ts uses, so both ends split SANs identically.
  return new X509Certificate(peer.raw);
}

function list(ids: readonly Identity[]): string {
  return ids.length === 1 ? ids[0]!.uri : `[${ids.map((i) => i.uri).join(', ')}]`;
}
