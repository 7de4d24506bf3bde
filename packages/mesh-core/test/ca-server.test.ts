// The CA service over real gRPC + TLS on loopback: what it issues, to whom, and what it logs.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import * as grpc from '@grpc/grpc-js';
import { X509Certificate } from 'node:crypto';
import type { ProtoStruct } from '@ambit/protos';
import {
  CertificateAuthorityService,
  Identity,
  StaticTokenAuthenticator,
  createCsr,
  createIntermediateCa,
  createRootCa,
  generateKeyPair,
  issueWorkloadCertificate,
  parseCertificate,
  type CaMaterial,
} from '../src/identity/index.js';
import { silentLogger } from '../src/telemetry/index.js';
import { FakeClock } from '../src/lifecycle/index.js';
import { bearer, expectStatus, rawCaClient, startCaServer } from './fixtures/ca-harness.js';

const DAY_MS = 24 * 3600 * 1000;
const sleep = Identity.parse('spiffe://cluster.local/ns/default/sa/sleep');
const ztunnel = Identity.parse('spiffe://cluster.local/ns/istio-system/sa/ztunnel');
const podOnNode = Identity.parse('spiffe://cluster.local/ns/shop/sa/cart');
const podElsewhere = Identity.parse('spiffe://cluster.local/ns/shop/sa/payments');
const flaky = Identity.parse('spiffe://cluster.local/ns/shop/sa/flaky');

const authenticator = new StaticTokenAuthenticator([
  ['sleep-token', { identity: sleep }],
  [
    'node-a-token',
    {
      node: 'node-a',
      identity: ztunnel,
      mayImpersonate: (id) => {
        if (id.equals(flaky)) return Promise.reject(new Error('pod index not synced'));
        return id.equals(podOnNode);
      },
    },
  ],
]);

/** Starts a CA server whose clock is fake, at a whole second (certificates keep seconds only). */
async function setup(t: ExecutionContext, makeCa?: (now: Date) => Promise<CaMaterial>, extra: { maxTtlSeconds?: number } = {}) {
  const clock = new FakeClock(Math.floor(Date.now() / 1000) * 1000);
  const material = await (makeCa ?? ((now) => createRootCa('cluster.local', 365 * DAY_MS, now)))(new Date(clock.now()));
  const h = await startCaServer(t, { ca: material, authenticator, clock, ...extra });
  return { ...h, clock, call: rawCaClient(t, h) };
}

function impersonating(id: Identity): ProtoStruct {
  return { fields: { ImpersonatedIdentity: { stringValue: id.uri } } };
}

test('a workload gets its own identity: leaf then root, 24 h by default, logged at info', async (t) => {
  const h = await setup(t);
  const keys = await generateKeyPair();
  const res = await h.call({ csr: await createCsr(sleep, keys) }, bearer('sleep-token'));
  const chain = res.cert_chain ?? [];
  t.is(chain.length, 2);
  const leaf = parseCertificate(chain[0]!);
  t.deepEqual(leaf.uris, [sleep.uri]);
  t.false(leaf.isCa);
  t.is(leaf.notAfter.getTime(), h.clock.now() + DAY_MS);
  t.is(leaf.notBefore.getTime(), h.clock.now() - 60_000);
  const root = new X509Certificate(chain[1]!);
  t.true(leaf.x509.checkIssued(root) && leaf.x509.verify(root.publicKey));
  t.is(chain[1], h.rootsPem);
  const issued = h.records.filter((r) => r.msg === 'issued workload certificate');
  t.is(issued.length, 1);
  t.like(issued[0], { level: 30, identity: sleep.uri, caller: sleep.uri, serial: leaf.serialNumber, notAfter: leaf.notAfter.toISOString(), impersonated: false });
});

test('with an intermediate CA the chain is leaf, intermediate, root, and the requested TTL is used', async (t) => {
  let root: CaMaterial | undefined;
  let inter: CaMaterial | undefined;
  const h = await setup(t, async (now) => {
    root = await createRootCa('cluster.local', 365 * DAY_MS, now);
    inter = await createIntermediateCa(root, 'cluster.local', 30 * DAY_MS, now);
    return inter;
  });
  if (!root || !inter) return t.fail();
  const res = await h.call({ csr: await createCsr(sleep, await generateKeyPair()), validity_duration: 3600 }, bearer('sleep-token'));
  const [leafPem, interPem, rootPem, ...rest] = res.cert_chain ?? [];
  t.deepEqual(rest, []);
  t.is(interPem, inter.certPem.endsWith('\n') ? inter.certPem : `${inter.certPem}\n`);
  t.is(rootPem, root.rootsPem[0]!.endsWith('\n') ? root.rootsPem[0] : `${root.rootsPem[0]}\n`);
  const leaf = parseCertificate(leafPem!);
  t.is(leaf.notAfter.getTime(), h.clock.now() + 3600_000);
  const interX = new X509Certificate(interPem!);
  t.true(leaf.x509.verify(interX.publicKey));
  t.true(interX.verify(new X509Certificate(rootPem!).publicKey));
});

test('validity: beyond the maximum is INVALID_ARGUMENT; zero or negative means the default', async (t) => {
  const h = await setup(t, undefined, { maxTtlSeconds: 2 * 24 * 3600 });
  const csr = await createCsr(sleep, await generateKeyPair());
  await expectStatus(t, h.call({ csr, validity_duration: 2 * 24 * 3600 + 1 }, bearer('sleep-token')), grpc.status.INVALID_ARGUMENT, /requested validity 172801s is greater than the maximum 172800s/);
  for (const validity of [0, -5]) {
    const res = await h.call({ csr, validity_duration: validity }, bearer('sleep-token'));
    t.is(parseCertificate(res.cert_chain![0]!).notAfter.getTime(), h.clock.now() + DAY_MS);
  }
  const atMax = await h.call({ csr, validity_duration: 2 * 24 * 3600 }, bearer('sleep-token'));
  t.is(parseCertificate(atMax.cert_chain![0]!).notAfter.getTime(), h.clock.now() + 2 * DAY_MS);
});

test('a leaf never outlives the signing certificate', async (t) => {
  let inter: CaMaterial | undefined;
  const h = await setup(t, async (now) => (inter = await createIntermediateCa(await createRootCa('cluster.local', 365 * DAY_MS, now), 'cluster.local', 6 * 3600_000, now)));
  if (!inter) return t.fail();
  const res = await h.call({ csr: await createCsr(sleep, await generateKeyPair()) }, bearer('sleep-token'));
  t.is(parseCertificate(res.cert_chain![0]!).notAfter.getTime(), parseCertificate(inter.certPem).notAfter.getTime());
});

test('a node may obtain its own identity and impersonate what its predicate allows', async (t) => {
  const h = await setup(t);
  const own = await h.call({ csr: await createCsr(ztunnel, await generateKeyPair()) }, bearer('node-a-token'));
  t.deepEqual(parseCertificate(own.cert_chain![0]!).uris, [ztunnel.uri]);
  const res = await h.call({ csr: await createCsr(podOnNode, await generateKeyPair()), metadata: impersonating(podOnNode) }, bearer('node-a-token'));
  t.deepEqual(parseCertificate(res.cert_chain![0]!).uris, [podOnNode.uri]);
  t.like(h.records.find((r) => r.msg === 'issued workload certificate' && r['identity'] === podOnNode.uri), { caller: 'node/node-a', impersonated: true });
  // An empty ImpersonatedIdentity means "none", as istiod reads it: the node asks for its own identity.
  const empty = await h.call({ csr: await createCsr(ztunnel, await generateKeyPair()), metadata: { fields: { ImpersonatedIdentity: { stringValue: '' } } } }, bearer('node-a-token'));
  t.deepEqual(parseCertificate(empty.cert_chain![0]!).uris, [ztunnel.uri]);
});

test('PERMISSION_DENIED for identities the caller may neither have nor impersonate', async (t) => {
  const h = await setup(t);
  const csrFor = async (id: Identity) => createCsr(id, await generateKeyPair());
  await expectStatus(t, h.call({ csr: await csrFor(podOnNode) }, bearer('sleep-token')), grpc.status.PERMISSION_DENIED,
    /^caller spiffe:\/\/cluster.local\/ns\/default\/sa\/sleep may not obtain spiffe:\/\/cluster.local\/ns\/shop\/sa\/cart \(its own identities: spiffe:\/\/cluster.local\/ns\/default\/sa\/sleep\)$/);
  await expectStatus(t, h.call({ csr: await csrFor(podOnNode), metadata: impersonating(podOnNode) }, bearer('sleep-token')), grpc.status.PERMISSION_DENIED,
    /caller spiffe:\/\/cluster.local\/ns\/default\/sa\/sleep may not impersonate other identities/);
  await expectStatus(t, h.call({ csr: await csrFor(podElsewhere), metadata: impersonating(podElsewhere) }, bearer('node-a-token')), grpc.status.PERMISSION_DENIED,
    /caller node\/node-a may not impersonate spiffe:\/\/cluster.local\/ns\/shop\/sa\/payments/);
  // Without the ImpersonatedIdentity key a node gets only its own identity, even for a pod it could impersonate.
  await expectStatus(t, h.call({ csr: await csrFor(podOnNode) }, bearer('node-a-token')), grpc.status.PERMISSION_DENIED, /caller node\/node-a may not obtain .*cart/);
  t.true(h.records.some((r) => r.msg === 'certificate request refused' && r.level === 40 && r['code'] === 'CA_ERR_PERMISSION_DENIED'));
  t.false(h.records.some((r) => r.msg === 'issued workload certificate'));
});

test('PERMISSION_DENIED for an identity in another trust domain, even the caller\'s own name', async (t) => {
  const h = await setup(t);
  const foreign = Identity.parse('spiffe://other.domain/ns/default/sa/sleep');
  await expectStatus(t, h.call({ csr: await createCsr(foreign, await generateKeyPair()) }, bearer('sleep-token')), grpc.status.PERMISSION_DENIED,
    /spiffe:\/\/other.domain\/ns\/default\/sa\/sleep is outside this CA's trust domain "cluster.local"/);
});

test('UNAVAILABLE when the impersonation predicate or the authenticator cannot decide', async (t) => {
  const h = await setup(t);
  await expectStatus(t, h.call({ csr: await createCsr(flaky, await generateKeyPair()), metadata: impersonating(flaky) }, bearer('node-a-token')), grpc.status.UNAVAILABLE,
    /could not decide whether node\/node-a may impersonate .*flaky; retry later/);
  const broken = await startCaServer(t, {
    ca: await createRootCa('cluster.local', DAY_MS),
    authenticator: { authenticate: () => Promise.reject(new Error('TokenReview: connection refused')) },
  });
  await expectStatus(t, rawCaClient(t, broken)({ csr: await createCsr(sleep, await generateKeyPair()) }, bearer('any')), grpc.status.UNAVAILABLE,
    /the authenticator could not decide; retry later/);
  const logged = broken.records.find((r) => r.msg === 'certificate request failed');
  t.like(logged, { level: 50, code: 'CA_ERR_UNAVAILABLE' });
  t.regex(JSON.stringify(logged), /TokenReview: connection refused/);
});

test('the service refuses unusable configuration', async (t) => {
  const root = await createRootCa('cluster.local', DAY_MS);
  const logger = silentLogger();
  t.throws(() => new CertificateAuthorityService({ ca: root, trustDomain: 'Bad Domain', authenticator, logger }), { message: /trust domain "Bad Domain"/ });
  t.throws(() => new CertificateAuthorityService({ ca: root, trustDomain: 'cluster.local', authenticator, logger, defaultTtlSeconds: 0 }), { message: /defaultTtlSeconds must be > 0/ });
  t.throws(() => new CertificateAuthorityService({ ca: root, trustDomain: 'cluster.local', authenticator, logger, maxTtlSeconds: 60 }), { message: /maxTtlSeconds \(60\) must be >= defaultTtlSeconds \(86400\)/ });
  const leaf = await issueWorkloadCertificate(root, sleep, DAY_MS);
  const notCa = { ...root, certPem: leaf.certPem };
  t.throws(() => new CertificateAuthorityService({ ca: notCa, trustDomain: 'cluster.local', authenticator, logger }), { message: /signing certificate is not a CA/ });
  t.throws(() => new CertificateAuthorityService({ ca: { ...root, rootsPem: [] }, trustDomain: 'cluster.local', authenticator, logger }), { message: /no roots/ });
});

test('INTERNAL when signing itself fails; the cause is logged, not sent', async (t) => {
  const root = await createRootCa('cluster.local', DAY_MS);
  // A key that cannot sign (the public half) makes WebCrypto refuse inside issueLeaf.
  const unusable = { ...root, keys: { privateKey: root.keys.publicKey, publicKey: root.keys.publicKey } };
  const h = await startCaServer(t, { ca: unusable, servingCa: root, authenticator });
  await expectStatus(t, rawCaClient(t, h)({ csr: await createCsr(sleep, await generateKeyPair()) }, bearer('sleep-token')), grpc.status.INTERNAL, /^certificate signing failed$/);
  const logged = h.records.find((r) => r.msg === 'certificate request failed');
  t.like(logged, { level: 50, code: 'CA_ERR_INTERNAL', caller: sleep.uri, identity: sleep.uri });
  t.truthy(logged?.['err']);
});
