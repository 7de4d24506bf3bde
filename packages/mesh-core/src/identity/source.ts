import type { WorkloadCertificate } from './pki.js';
import type { Identity } from './spiffe.js';

/**
 * Where TLS endpoints get the certificate for a workload identity. The secret manager implements it
 * (fetching from the CA, caching, rotating); tests and the control plane's own identity may use a
 * fixed map. Callers ask on every new handshake, so a rotated certificate or new roots take effect for
 * new connections while existing ones keep theirs.
 */
export interface CertificateSource {
  getCertificate(identity: Identity): Promise<WorkloadCertificate>;
}

/** A CertificateSource over certificates issued up front (for tests, demos and fixed identities). */
export class StaticCertificateSource implements CertificateSource {
  readonly #byUri = new Map<string, WorkloadCertificate>();

  constructor(certificates: Iterable<WorkloadCertificate> = []) {
    for (const c of certificates) this.set(c);
  }

  set(certificate: WorkloadCertificate): void {
    this.#byUri.set(certificate.identity.uri, certificate);
  }

  getCertificate(identity: Identity): Promise<WorkloadCertificate> {
    const cert = this.#byUri.get(identity.uri);
    return cert
      ? Promise.resolve(cert)
      : Promise.reject(new Error(`no certificate for ${identity.uri}`));
  }
}
