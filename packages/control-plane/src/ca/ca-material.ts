/**
 * The CA's signing material: loaded from files (a root, or an intermediate with its chain and root), or
 * generated into the state directory for a local mesh, where ztunnels read the root from.
 *
 * State directory layout:
 * - `root-cert.pem`: the mesh roots (what ztunnels trust for xDS, the CA and each other), mode 0644;
 * - `ca-key.pem`: the generated root's key, mode 0600 (only when generated);
 * - `node-tokens/<node>.token`: see node-tokens.ts.
 * A generated root is reused on restart, so ztunnels and their certificates stay valid.
 */
import type { X509Certificate} from 'node:crypto';
import { createPrivateKey } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MeshError } from '@ambit/mesh-core/errors';
import {
  createRootCa,
  parseCertificate,
  privateKeyFromPem,
  privateKeyToPem,
  splitPemChain,
  type CaMaterial,
  type CertificateInfo,
  type KeyPair,
} from '@ambit/mesh-core/identity';

export const ROOT_CERT_FILE = 'root-cert.pem';
export const CA_KEY_FILE = 'ca-key.pem';
/** Istio's self-signed root lifetime (10 years). */
const GENERATED_ROOT_VALIDITY_MS = 10 * 365 * 24 * 3600 * 1000;

export class CaMaterialError extends MeshError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super('CP_ERR_CA', reason, options);
  }
}

export interface CaFiles {
  /** The signing certificate (PEM). Further certificates in the file are taken as its chain. */
  readonly certPath: string;
  readonly keyPath: string;
  /** Intermediates between the signing certificate and the root, signing side first. */
  readonly chainPath?: string;
  /** The root(s). Required unless the signing certificate is itself a self-signed root. */
  readonly rootCertPath?: string;
}

async function readText(file: string, flag: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new CaMaterialError(`cannot read ${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
}

function certificates(text: string, file: string, flag: string): CertificateInfo[] {
  const pems = splitPemChain(text);
  if (pems.length === 0) throw new CaMaterialError(`${flag} ${file} holds no PEM certificate`);
  return pems.map((pem, i) => {
    try {
      return parseCertificate(pem);
    } catch (err) {
      throw new CaMaterialError(`${flag} ${file}: certificate ${i + 1} is not a valid certificate`, { cause: err });
    }
  });
}

/** Node renders RDNs one per line; one line reads better in an error message. */
function subjectOf(cert: X509Certificate): string {
  return cert.subject.replace(/\n/g, ', ');
}

function selfSigned(cert: X509Certificate): boolean {
  return cert.checkIssued(cert) && cert.verify(cert.publicKey);
}

/** Loads and checks CA material: key matches, every link of the chain verifies, up to a given root. */
export async function loadCaMaterial(files: CaFiles): Promise<CaMaterial> {
  const [signing, ...inlineChain] = certificates(await readText(files.certPath, '--ca-cert'), files.certPath, '--ca-cert');
  const keyPem = await readText(files.keyPath, '--ca-key');
  const chain = files.chainPath
    ? [...inlineChain, ...certificates(await readText(files.chainPath, '--ca-chain'), files.chainPath, '--ca-chain')]
    : inlineChain;
  const roots = files.rootCertPath ? certificates(await readText(files.rootCertPath, '--root-cert'), files.rootCertPath, '--root-cert') : [];

  if (!signing!.isCa) throw new CaMaterialError(`--ca-cert ${files.certPath} is not a CA certificate (basicConstraints CA:FALSE)`);
  let matches: boolean;
  try {
    matches = signing!.x509.checkPrivateKey(createPrivateKey(keyPem));
  } catch (err) {
    throw new CaMaterialError(`--ca-key ${files.keyPath} is not a readable PEM private key`, { cause: err });
  }
  if (!matches) throw new CaMaterialError(`--ca-key ${files.keyPath} does not belong to --ca-cert ${files.certPath}`);
  let keys: KeyPair;
  try {
    keys = await privateKeyFromPem(keyPem);
  } catch (err) {
    throw new CaMaterialError(`--ca-key ${files.keyPath} must be an ECDSA P-256 key (what mesh certificates use)`, { cause: err });
  }

  if (roots.length === 0) {
    if (!selfSigned(signing!.x509) || chain.length > 0) {
      throw new CaMaterialError(`--ca-cert ${files.certPath} is not a self-signed root; pass the root(s) with --root-cert`);
    }
    return { certPem: signing!.pem, keys, intermediatesPem: [], rootsPem: [signing!.pem] };
  }
  // Each certificate must be signed by the next, and the last by one of the roots (or be one).
  const links = [signing!, ...chain];
  for (let i = 0; i + 1 < links.length; i++) {
    const child = links[i]!;
    const parent = links[i + 1]!;
    if (!child.x509.checkIssued(parent.x509) || !child.x509.verify(parent.x509.publicKey)) {
      throw new CaMaterialError(`certificate chain is broken: ${subjectOf(child.x509)} is not signed by ${subjectOf(parent.x509)}`);
    }
  }
  const top = links[links.length - 1]!;
  const anchored = roots.some((r) => r.x509.fingerprint256 === top.x509.fingerprint256 || (top.x509.checkIssued(r.x509) && top.x509.verify(r.x509.publicKey)));
  if (!anchored) throw new CaMaterialError(`--root-cert ${files.rootCertPath} holds no root that signed ${subjectOf(top.x509)}`);
  const rootPems = roots.map((r) => r.pem);
  return {
    certPem: signing!.pem,
    keys,
    intermediatesPem: chain.filter((c) => !rootPems.includes(c.pem)).map((c) => c.pem),
    rootsPem: rootPems,
  };
}

async function writeAtomically(file: string, text: string, mode: number): Promise<void> {
  await writeFile(`${file}.tmp`, text, { mode });
  await rename(`${file}.tmp`, file);
}

/** Writes the mesh roots to `<stateDir>/root-cert.pem` for ztunnels to trust. */
export async function writeRootCert(stateDir: string, material: CaMaterial): Promise<string> {
  await mkdir(stateDir, { recursive: true, mode: 0o755 });
  const file = path.join(stateDir, ROOT_CERT_FILE);
  await writeAtomically(file, splitPemChain(material.rootsPem).join(''), 0o644);
  return file;
}

/**
 * The generated root of a local mesh: reused from the state directory when present (so that restarts
 * keep the trust anchor), created and written there otherwise.
 */
export async function generatedCaMaterial(stateDir: string, trustDomain: string): Promise<{ material: CaMaterial; created: boolean }> {
  const certPath = path.join(stateDir, ROOT_CERT_FILE);
  const keyPath = path.join(stateDir, CA_KEY_FILE);
  let existingKey = true;
  try {
    await readFile(keyPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new CaMaterialError(`cannot read ${keyPath}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
    }
    existingKey = false;
  }
  if (existingKey) {
    const material = await loadCaMaterial({ certPath, keyPath });
    const root = parseCertificate(material.certPem);
    if (root.notAfter.getTime() <= Date.now()) throw new CaMaterialError(`the generated root in ${certPath} expired on ${root.notAfter.toISOString()}; remove ${keyPath} to generate a new one`);
    return { material, created: false };
  }
  const material = await createRootCa(trustDomain, GENERATED_ROOT_VALIDITY_MS);
  await mkdir(stateDir, { recursive: true, mode: 0o755 });
  await writeAtomically(keyPath, await privateKeyToPem(material.keys.privateKey), 0o600);
  await writeRootCert(stateDir, material);
  return { material, created: true };
}
