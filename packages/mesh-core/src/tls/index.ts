export { MESH_ALPN, MESH_CIPHERSUITES, meshSecureContextOptions } from './common.js';
export type { MeshSecureContextOptions } from './common.js';
export { serverTlsOptions, authenticatedClient } from './server.js';
export type { ServerTlsOptions } from './server.js';
export { clientTlsOptions } from './client.js';
export type { ClientTlsOptions } from './client.js';
export { verifyPeerIdentity, verifyPeerTrustDomain, peerIdentities, PeerIdentityError } from './verify.js';
export type { PeerIdentityErrorCode } from './verify.js';
