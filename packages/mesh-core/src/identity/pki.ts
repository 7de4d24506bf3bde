/**
 * Keys, certificate signing requests and certificates for workload identities.
 *
 * node-forge (the design card's PKI library) only does RSA; Istio's workload certificates are ECDSA P-256
 * (ztunnel `src/tls/csr.rs`), so this module uses @peculiar/x509 over Node's WebCrypto to build CSRs and
 * certificates, and Node's own `X509Certificate` to read them (it is what TLS verifies against, so reading
 * with it avoids two parsers disagreeing).
 */
// @peculiar/x509 resolves its ASN.1 helpers through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import { webcrypto, X509Certificate, createPrivateKey, randomBytes } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { MeshError } from '../errors.js';
import { Identity } from './spiffe.js';

x509.cryptoProvider.set(webcrypto as never);

/** WebCrypto key types from Node's module (the DOM lib is deliberately not loaded). */
type CryptoKey = webcrypto.CryptoKey;
export type { CryptoKey };

const EC_ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export class PkiError extends MeshError {
  constructor(code: 'PKI_ERR_CSR' | 'PKI_ERR_CERT' | 'PKI_ERR_KEY', reason: string, options?: { cause?: unknown }) {
    super(code, reason, options);
  }
}

export interface KeyPair {
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
}

/** ECDSA P-256, extractable so that the private key can be handed to node:tls as PEM. */
export async function generateKeyPair(): Promise<KeyPair> {
  return await webcrypto.subtle.generateKey(EC_ALG, true, ['sign', 'verify']);
}

export async function privateKeyToPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

export async function privateKeyFromPem(pem: string): Promise<KeyPair> {
  let der: ArrayBuffer;
  try {
    // Normalise whatever PEM form we were given (SEC1 "EC PRIVATE KEY" or PKCS#8) to PKCS#8.
    der = createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' }).buffer;
  } catch (cause) {
    throw new PkiError('PKI_ERR_KEY', 'cannot read private key PEM', { cause });
  }
  const pkcs8 = Buffer.from(der);
  const privateKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, EC_ALG, true, ['sign']);
  // WebCrypto cannot derive the public key from a private one; go through JWK (which carries x and y).
  const jwk = await webcrypto.subtle.exportKey('jwk', privateKey);
  const publicJwk = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, ext: true } as webcrypto.JsonWebKey;
  const publicKey = await webcrypto.subtle.importKey('jwk', publicJwk, EC_ALG, true, ['verify']);
  return { privateKey: privateKey, publicKey: publicKey };
}

/**
 * A CSR for `identity` as ztunnel makes one: empty subject, the SPIFFE ID as the only SAN (a URI), marked
 * critical because the subject is empty (RFC 5280 4.2.1.6).
 */
export async function createCsr(identity: Identity, keys: KeyPair): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys: keys,
    signingAlgorithm: EC_ALG,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: identity.uri }], true)],
  });
  return csr.toString('pem');
}

export interface ParsedCsr {
  readonly publicKey: CryptoKey;
  /** Every URI SAN the CSR asks for. */
  readonly uris: readonly string[];
  readonly dnsNames: readonly string[];
  /** Every other SAN (IP, email, ...) as `type:value`, so that a CA can refuse what it does not sign. */
  readonly otherSans: readonly string[];
}

/** Parses a PEM CSR and checks its self-signature (proof that the requester holds the key). */
export async function parseCsr(pem: string): Promise<ParsedCsr> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch (cause) {
    throw new PkiError('PKI_ERR_CSR', 'CSR is not a valid PEM PKCS#10 request', { cause });
  }
  if (!(await csr.verify())) throw new PkiError('PKI_ERR_CSR', 'CSR signature does not verify');
  const uris: string[] = [];
  const dnsNames: string[] = [];
  const otherSans: string[] = [];
  const san = csr.extensions.find((e): e is x509.SubjectAlternativeNameExtension => e instanceof x509.SubjectAlternativeNameExtension);
  for (const name of san?.names.items ?? []) {
    if (name.type === 'url') uris.push(name.value);
    else if (name.type === 'dns') dnsNames.push(name.value);
    else otherSans.push(`${name.type}:${name.value}`);
  }
  return { publicKey: await csrPublicKey(csr), uris, dnsNames, otherSans };
}

/**
 * Mesh certificates are P-256 only (what ztunnel generates); any other key is refused here rather than
 * signed into a certificate that peers may not accept.
 */
async function csrPublicKey(csr: x509.Pkcs10CertificateRequest): Promise<CryptoKey> {
  try {
    // @peculiar/x509 types this with the DOM's CryptoKey, which this project does not load.
    const key: unknown = await csr.publicKey.export(EC_ALG, ['verify']);
    return key as CryptoKey;
  } catch (cause) {
    throw new PkiError('PKI_ERR_CSR', 'CSR key is not an ECDSA P-256 key', { cause });
  }
}

/** Splits concatenated PEM certificates into one PEM string each, in order. */
export function splitPemChain(pem: string | readonly string[]): string[] {
  const text = typeof pem === 'string' ? pem : pem.join('\n');
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)?.map((c) => `${c}\n`) ?? [];
}

export interface CertificateInfo {
  readonly pem: string;
  readonly x509: X509Certificate;
  /** SPIFFE identities among the URI SANs (other URIs are ignored). */
  readonly identities: readonly Identity[];
  readonly uris: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly isCa: boolean;
  readonly serialNumber: string;
}

/** Reads a PEM certificate with Node's parser (the one TLS uses). */
export function parseCertificate(pem: string): CertificateInfo {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (cause) {
    throw new PkiError('PKI_ERR_CERT', 'not a valid PEM certificate', { cause });
  }
  const uris = uriSans(cert);
  const identities: Identity[] = [];
  for (const uri of uris) {
    const id = Identity.tryParse(uri);
    if (id) identities.push(id);
  }
  return {
    pem,
    x509: cert,
    identities,
    uris,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    isCa: cert.ca,
    serialNumber: cert.serialNumber,
  };
}

/**
 * URI SANs of a certificate. Node renders SANs as `URI:a, DNS:b`, quoting (JSON-style) any value holding
 * a comma or quote, so a hostile SAN cannot smuggle a second entry past this split.
 */
export function uriSans(cert: X509Certificate): string[] {
  const san = cert.subjectAltName;
  if (!san) return [];
  const out: string[] = [];
  const re = /(?:^|, )([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)/g;
  for (let m = re.exec(san); m; m = re.exec(san)) {
    if (m[1] !== 'URI') continue;
    const raw = m[2]!;
    out.push(raw.startsWith('"') ? (JSON.parse(raw) as string) : raw);
  }
  return out;
}

export interface IssueOptions {
  /** The public key to certify (from a verified CSR). */
  publicKey: CryptoKey;
  /** The URI SANs to put in the certificate. */
  uris: readonly string[];
  /** DNS SANs, for serving certificates (the CA and xDS endpoints are verified by DNS name). */
  dnsNames?: readonly string[];
  notBefore: Date;
  notAfter: Date;
}

export interface CaMaterial {
  /** The signing certificate (a root, or an intermediate under a root). */
  readonly certPem: string;
  readonly keys: KeyPair;
  /** Certificates between the signing certificate and the root, excluding both. */
  readonly intermediatesPem: readonly string[];
  /** Trust anchors. For a self-signed root, the root itself. */
  readonly rootsPem: readonly string[];
}

/** Serial numbers are 16 random bytes with the top bit clear (positive, RFC 5280 4.1.2.2). */
function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f;
  return b.toString('hex');
}

/** A self-signed mesh root, as istiod generates when it has no plugged-in CA. */
export async function createRootCa(trustDomain: string, validityMs: number, now = new Date()): Promise<CaMaterial> {
  const keys = await generateKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `O=${trustDomain}, CN=Ambit root CA`,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + validityMs),
    signingAlgorithm: EC_ALG,
    keys: keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pem = cert.toString('pem');
  return { certPem: pem, keys, intermediatesPem: [], rootsPem: [pem] };
}

/** An intermediate CA signed by `parent`, for meshes that keep the root offline. */
export async function createIntermediateCa(parent: CaMaterial, trustDomain: string, validityMs: number, now = new Date()): Promise<CaMaterial> {
  const keys = await generateKeyPair();
  const parentCert = new x509.X509Certificate(parent.certPem);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `O=${trustDomain}, CN=Ambit intermediate CA`,
    issuer: parentCert.subject,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + validityMs),
    signingAlgorithm: EC_ALG,
    publicKey: keys.publicKey,
    signingKey: parent.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(parentCert),
    ],
  });
  return {
    certPem: cert.toString('pem'),
    keys,
    intermediatesPem: parent.rootsPem.includes(parent.certPem) ? [] : [parent.certPem, ...parent.intermediatesPem],
    rootsPem: parent.rootsPem,
  };
}

/** Signs a workload (leaf) certificate: not a CA, digital signature + key agreement, server and client auth. */
export async function issueLeaf(ca: CaMaterial, opts: IssueOptions): Promise<string> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: '',
    issuer: caCert.subject,
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    signingAlgorithm: EC_ALG,
    publicKey: opts.publicKey,
    signingKey: ca.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
      new x509.SubjectAlternativeNameExtension(
        [
          ...opts.uris.map((value) => ({ type: 'url' as const, value })),
          ...(opts.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
        ],
        true,
      ),
    ],
  });
  return cert.toString('pem');
}

/** Everything a TLS endpoint needs to present and check one workload identity. */
export interface WorkloadCertificate {
  readonly identity: Identity;
  readonly privateKeyPem: string;
  /** Leaf PEM. */
  readonly certPem: string;
  /** Intermediates between leaf and root, leaf-side first. */
  readonly chainPem: readonly string[];
  /** Trust anchors for verifying peers. */
  readonly rootsPem: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/**
 * Issues a certificate for `identity` directly from `ca`, without the gRPC round trip: for the control
 * plane's own identity, tests and the local demo. Workloads get theirs through the CA service.
 */
export async function issueWorkloadCertificate(
  ca: CaMaterial,
  identity: Identity,
  ttlMs: number,
  now = new Date(),
): Promise<WorkloadCertificate> {
  const keys = await generateKeyPair();
  const notBefore = new Date(now.getTime() - 60_000);
  const notAfter = new Date(now.getTime() + ttlMs);
  const certPem = await issueLeaf(ca, { publicKey: keys.publicKey, uris: [identity.uri], notBefore, notAfter });
  return {
    identity,
    privateKeyPem: await privateKeyToPem(keys.privateKey),
    certPem,
    chainPem: issuedChain(ca),
    rootsPem: ca.rootsPem,
    notBefore,
    notAfter,
  };
}

/** The certificates a leaf issued by `ca` must be presented with (its issuer, unless that is a root). */
export function issuedChain(ca: CaMaterial): string[] {
  return ca.rootsPem.includes(ca.certPem) ? [] : [ca.certPem, ...ca.intermediatesPem];
}

/** A certificate for a server that clients verify by DNS name (the CA/xDS endpoint, as istiod's). */
export interface ServingCertificate {
  readonly dnsNames: readonly string[];
  readonly privateKeyPem: string;
  /** Leaf PEM. */
  readonly certPem: string;
  /** Intermediates between leaf and root, leaf-side first. */
  readonly chainPem: readonly string[];
  /** The roots clients must trust to verify it. */
  readonly rootsPem: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** Issues a DNS-named serving certificate from `ca` (istiod serves its gRPC port with one). */
export async function issueServingCertificate(
  ca: CaMaterial,
  dnsNames: readonly string[],
  ttlMs: number,
  now = new Date(),
): Promise<ServingCertificate> {
  if (dnsNames.length === 0) throw new PkiError('PKI_ERR_CERT', 'a serving certificate needs at least one DNS name');
  const keys = await generateKeyPair();
  const notBefore = new Date(now.getTime() - 60_000);
  const notAfter = new Date(now.getTime() + ttlMs);
  const certPem = await issueLeaf(ca, { publicKey: keys.publicKey, uris: [], dnsNames, notBefore, notAfter });
  return {
    dnsNames: [...dnsNames],
    privateKeyPem: await privateKeyToPem(keys.privateKey),
    certPem,
    chainPem: issuedChain(ca),
    rootsPem: ca.rootsPem,
    notBefore,
    notAfter,
  };
}
