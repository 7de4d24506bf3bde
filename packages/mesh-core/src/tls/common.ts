/**
 * TLS parameters both ends of mesh mTLS share (ztunnel `src/tls/lib.rs`): TLS 1.3 only, AES-GCM suites,
 * ALPN `h2` only.
 */
import type { SecureContextOptions } from 'node:tls';
import type { WorkloadCertificate } from '../identity/index.js';

export const MESH_ALPN = 'h2';

/** TLS 1.3 suites ztunnel offers by default; ChaCha20 is left out as it does. */
export const MESH_CIPHERSUITES = 'TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256';

/** What every mesh TLS endpoint is configured with: its own key and chain, the mesh roots, TLS 1.3. */
export interface MeshSecureContextOptions extends SecureContextOptions {
  key: string;
  cert: string;
  ca: string[];
  minVersion: 'TLSv1.3';
  maxVersion: 'TLSv1.3';
  ciphers: string;
}

/** Key, leaf + intermediates (leaf first, as TLS sends them) and the trust anchors of a workload certificate. */
export function meshSecureContextOptions(cert: WorkloadCertificate): MeshSecureContextOptions {
  return {
    key: cert.privateKeyPem,
    cert: [cert.certPem, ...cert.chainPem].join(''),
    ca: [...cert.rootsPem],
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ciphers: MESH_CIPHERSUITES,
  };
}
