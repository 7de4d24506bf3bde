import test from 'ava';
import { X509Certificate } from 'node:crypto';
import {
  Identity,
  createCsr,
  createIntermediateCa,
  createRootCa,
  generateKeyPair,
  issueLeaf,
  issueWorkloadCertificate,
  issueServingCertificate,
  parseCertificate,
  parseCsr,
  privateKeyFromPem,
  privateKeyToPem,
  splitPemChain,
  PkiError,
} from '../src/identity/index.js';

const id = Identity.parse('spiffe://cluster.local/ns/default/sa/sleep');
const DAY = 24 * 3600 * 1000;

test('a CSR carries the SPIFFE ID as a critical URI SAN and a P-256 key, and verifies', async (t) => {
  const keys = await generateKeyPair();
  const pem = await createCsr(id, keys);
  t.regex(pem, /BEGIN CERTIFICATE REQUEST/);
  const csr = await parseCsr(pem);
  t.deepEqual(csr.uris, [id.uri]);
  t.deepEqual(csr.dnsNames, []);
  t.is((csr.publicKey.algorithm as { namedCurve?: string }).namedCurve, 'P-256');
});

test('a tampered CSR is refused', async (t) => {
  const pem = await createCsr(id, await generateKeyPair());
  const body = pem.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
  const der = Buffer.from(body, 'base64');
  der[der.length - 10] = der[der.length - 10]! ^ 0xff; // flip bits inside the signature
  const bad = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  const err = await t.throwsAsync(parseCsr(bad), { instanceOf: PkiError });
  t.is(err.code, 'PKI_ERR_CSR');
  await t.throwsAsync(parseCsr('not a csr'), { message: /not a valid PEM PKCS#10/ });
});

test('root → intermediate → leaf chain verifies with Node\'s X509 and carries the identity', async (t) => {
  const root = await createRootCa('cluster.local', 365 * DAY);
  const inter = await createIntermediateCa(root, 'cluster.local', 30 * DAY);
  const keys = await generateKeyPair();
  const csr = await parseCsr(await createCsr(id, keys));
  const now = Date.now();
  const leafPem = await issueLeaf(inter, { publicKey: csr.publicKey, uris: csr.uris, notBefore: new Date(now), notAfter: new Date(now + DAY) });
  const leaf = parseCertificate(leafPem);
  t.deepEqual(leaf.identities.map(String), [id.uri]);
  t.false(leaf.isCa);
  t.true(Math.abs(leaf.notAfter.getTime() - (now + DAY)) < 2000);
  const interX = new X509Certificate(inter.certPem);
  const rootX = new X509Certificate(root.certPem);
  t.true(leaf.x509.verify(interX.publicKey));
  t.true(interX.verify(rootX.publicKey));
  t.true(leaf.x509.checkIssued(interX));
  t.true(interX.ca && rootX.ca);
  t.deepEqual(inter.rootsPem, root.rootsPem);
});

test('issueWorkloadCertificate returns a usable key and the chain up to the root', async (t) => {
  const root = await createRootCa('cluster.local', 365 * DAY);
  const inter = await createIntermediateCa(root, 'cluster.local', 30 * DAY);
  const wc = await issueWorkloadCertificate(inter, id, DAY);
  t.is(wc.chainPem.length, 1);
  t.is(splitPemChain(wc.chainPem)[0], splitPemChain(inter.certPem)[0]);
  const back = await privateKeyFromPem(wc.privateKeyPem);
  t.is(await privateKeyToPem(back.privateKey), wc.privateKeyPem);
});

test('splitPemChain keeps order and ignores text between certificates', async (t) => {
  const a = await createRootCa('a', DAY);
  const b = await createRootCa('b', DAY);
  const parts = splitPemChain(`junk\n${a.certPem}\nmore junk\n${b.certPem}`);
  t.is(parts.length, 2);
  t.is(new X509Certificate(parts[0]!).subject, new X509Certificate(a.certPem).subject);
  t.throws(() => parseCertificate('garbage'), { instanceOf: PkiError, message: /not a valid PEM certificate/ });
});

test('issueServingCertificate names DNS SANs only and needs at least one', async (t) => {
  const root = await createRootCa('cluster.local', DAY);
  const serving = await issueServingCertificate(root, ['istiod.istio-system.svc', 'istiod'], DAY);
  const x = new X509Certificate(serving.certPem);
  t.is(x.subjectAltName, 'DNS:istiod.istio-system.svc, DNS:istiod');
  t.is(x.checkHost('istiod.istio-system.svc'), 'istiod.istio-system.svc');
  t.deepEqual(serving.chainPem, []);
  await t.throwsAsync(issueServingCertificate(root, [], DAY), { instanceOf: PkiError, message: /at least one DNS name/ });
});
