export { Identity, IdentityError, SPIFFE_SCHEME } from './spiffe.js';
export {
  PkiError,
  generateKeyPair,
  privateKeyToPem,
  privateKeyFromPem,
  createCsr,
  parseCsr,
  splitPemChain,
  parseCertificate,
  uriSans,
  createRootCa,
  createIntermediateCa,
  issueLeaf,
  issueWorkloadCertificate,
  issuedChain,
} from './pki.js';
export type { CryptoKey, KeyPair, ParsedCsr, CertificateInfo, IssueOptions, CaMaterial, WorkloadCertificate } from './pki.js';
export { StaticCertificateSource } from './source.js';
export type { CertificateSource } from './source.js';
