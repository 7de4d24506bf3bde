import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import {
  Identity,
  createIntermediateCa,
  createRootCa,
  generateKeyPair,
  issueWorkloadCertificate,
  parseCertificate,
  privateKeyToPem,
  splitPemChain,
} from '@ambit/mesh-core/identity';
import { CaMaterialError, generatedCaMaterial, loadCaMaterial, writeRootCert } from '../src/ca/ca-material.js';
import { controlPlaneIdentity, issueControlPlaneCertificate } from '../src/ca/serving-cert.js';

const YEAR = 365 * 24 * 3600 * 1000;

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ca-material-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function write(dir: string, name: string, text: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, text);
  return file;
}

test('a generated root is written to the state dir (key 0600, root 0644) and reused on the next start', async (t) => {
  const dir = await tempDir(t);
  const first = await generatedCaMaterial(dir, 'cluster.local');
  t.true(first.created);
  t.is((await stat(path.join(dir, 'ca-key.pem'))).mode & 0o777, 0o600);
  t.is((await stat(path.join(dir, 'root-cert.pem'))).mode & 0o777, 0o644);
  const root = parseCertificate(await readFile(path.join(dir, 'root-cert.pem'), 'utf8'));
  t.true(root.isCa);
  t.is(root.pem, splitPemChain(first.material.certPem)[0]!);
  const second = await generatedCaMaterial(dir, 'cluster.local');
  t.false(second.created);
  t.is(parseCertificate(second.material.certPem).serialNumber, root.serialNumber);
  t.deepEqual(second.material.intermediatesPem, []);
});

test('an intermediate CA with its chain and root loads, and writeRootCert publishes only the root', async (t) => {
  const dir = await tempDir(t);
  const root = await createRootCa('cluster.local', YEAR);
  const mid = await createIntermediateCa(root, 'cluster.local', YEAR);
  const issuing = await createIntermediateCa(mid, 'cluster.local', YEAR);
  const material = await loadCaMaterial({
    certPath: await write(dir, 'ca.pem', issuing.certPem),
    keyPath: await write(dir, 'ca-key.pem', await privateKeyToPem(issuing.keys.privateKey)),
    chainPath: await write(dir, 'chain.pem', mid.certPem),
    rootCertPath: await write(dir, 'root.pem', root.certPem),
  });
  t.deepEqual(material.intermediatesPem.map((p) => parseCertificate(p).serialNumber), [parseCertificate(mid.certPem).serialNumber]);
  t.deepEqual(material.rootsPem.map((p) => parseCertificate(p).serialNumber), [parseCertificate(root.certPem).serialNumber]);
  const published = await writeRootCert(path.join(dir, 'state'), material);
  t.deepEqual(splitPemChain(await readFile(published, 'utf8')), splitPemChain(root.certPem));

  // The serving certificate chains up through both intermediates and names DNS and SPIFFE.
  const serving = await issueControlPlaneCertificate(material, 'cluster.local', ['istiod.istio-system.svc', 'localhost']);
  const chain = splitPemChain(serving.chainPem).map(parseCertificate);
  t.is(chain.length, 3);
  t.deepEqual(chain[0]!.uris, [controlPlaneIdentity('cluster.local').uri]);
  t.regex(chain[0]!.x509.subjectAltName ?? '', /DNS:istiod\.istio-system\.svc/);
  t.regex(chain[0]!.x509.subjectAltName ?? '', /DNS:localhost/);
  t.true(chain[0]!.x509.verify(chain[1]!.x509.publicKey));
  t.true(chain[2]!.x509.verify(parseCertificate(root.certPem).x509.publicKey));
});

test('CA file problems are refused with precise reasons', async (t) => {
  const dir = await tempDir(t);
  const root = await createRootCa('cluster.local', YEAR);
  const otherRoot = await createRootCa('cluster.local', YEAR);
  const mid = await createIntermediateCa(root, 'cluster.local', YEAR);
  const rootCert = await write(dir, 'root.pem', root.certPem);
  const rootKey = await write(dir, 'root-key.pem', await privateKeyToPem(root.keys.privateKey));
  const midCert = await write(dir, 'mid.pem', mid.certPem);
  const midKey = await write(dir, 'mid-key.pem', await privateKeyToPem(mid.keys.privateKey));
  const otherRootCert = await write(dir, 'other-root.pem', otherRoot.certPem);
  const leaf = await issueWorkloadCertificate(root, new Identity('cluster.local', 'default', 'x'), YEAR);
  const leafCert = await write(dir, 'leaf.pem', leaf.certPem);
  const leafKey = await write(dir, 'leaf-key.pem', leaf.privateKeyPem);
  const strangerKey = await write(dir, 'stranger.pem', await privateKeyToPem((await generateKeyPair()).privateKey));
  const garbage = await write(dir, 'garbage.pem', 'hello\n');

  const cases: [Parameters<typeof loadCaMaterial>[0], string][] = [
    [{ certPath: path.join(dir, 'missing.pem'), keyPath: rootKey }, `cannot read --ca-cert ${path.join(dir, 'missing.pem')}: ENOENT`],
    [{ certPath: garbage, keyPath: rootKey }, `--ca-cert ${garbage} holds no PEM certificate`],
    [{ certPath: leafCert, keyPath: leafKey }, `--ca-cert ${leafCert} is not a CA certificate (basicConstraints CA:FALSE)`],
    [{ certPath: rootCert, keyPath: strangerKey }, `--ca-key ${strangerKey} does not belong to --ca-cert ${rootCert}`],
    [{ certPath: rootCert, keyPath: garbage }, `--ca-key ${garbage} is not a readable PEM private key`],
    [{ certPath: midCert, keyPath: midKey }, `--ca-cert ${midCert} is not a self-signed root; pass the root(s) with --root-cert`],
    [{ certPath: midCert, keyPath: midKey, rootCertPath: otherRootCert }, `--root-cert ${otherRootCert} holds no root that signed O=cluster.local, CN=Ambit intermediate CA`],
    [{ certPath: midCert, keyPath: midKey, chainPath: otherRootCert, rootCertPath: rootCert }, 'certificate chain is broken: O=cluster.local, CN=Ambit intermediate CA is not signed by O=cluster.local, CN=Ambit root CA'],
  ];
  for (const [files, message] of cases) {
    const err = await t.throwsAsync(loadCaMaterial(files), { instanceOf: CaMaterialError });
    t.is(err?.code, 'CP_ERR_CA');
    t.is(err?.message, message);
  }
});
