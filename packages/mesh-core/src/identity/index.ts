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
  issueServingCertificate,
  issuedChain,
} from './pki.js';
export type {
  CryptoKey,
  KeyPair,
  ParsedCsr,
  CertificateInfo,
  IssueOptions,
  CaMaterial,
  WorkloadCertificate,
  ServingCertificate,
} from './pki.js';
export { StaticCertificateSource } from './source.js';
export type { CertificateSource } from './source.js';
export { CaAuthenticationError, StaticTokenAuthenticator, bearerTokenFrom } from './ca-auth.js';
export type { Authenticator, Caller, CaAuthErrorCode, StaticCaller, StaticWorkloadCaller, StaticNodeCaller } from './ca-auth.js';
export {
  CertificateAuthorityService,
  CaRequestError,
  addCaService,
  DEFAULT_CERT_TTL_SECONDS,
  DEFAULT_MAX_CERT_TTL_SECONDS,
} from './ca-server.js';
export type { CertificateAuthorityOptions, CaRequestErrorCode } from './ca-server.js';
export { CaClient, CaClientError, readTokenFile, DEFAULT_CLUSTER_ID } from './ca-client.js';
export type { CaClientOptions, CaClientErrorCode, CreateCertificateOptions } from './ca-client.js';
export {
  SecretManager,
  SecretManagerError,
  DEFAULT_MAX_CONCURRENT_FETCHES,
  DEFAULT_FETCH_BACKOFF,
  MIN_REFRESH_DELAY_MS,
} from './secret-manager.js';
export type { SecretManagerOptions, SecretManagerErrorCode, CertificateUpdate } from './secret-manager.js';
