// CaClient against the real CA service over gRPC + TLS on loopback, and against misbehaving CAs.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import * as grpc from '@grpc/grpc-js';
import * as tls from 'node:tls';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  CaClient,
  CaClientError,
  Identity,
  StaticTokenAuthenticator,
  createIntermediateCa,
  createRootCa,
  readTokenFile,
  splitPemChain,
  type Authenticator,
  type CaClientOptions,
  type CaMaterial,
} from '../src/identity/index.js';
import { CA_SERVER_NAME, startCaServer } from './fixtures/ca-harness.js';
import { startMisbehavingCa } from './fixtures/misbehaving-ca.js';

const DAY_MS = 24 * 3600 * 1000;
const sleep = Identity.parse('spiffe://cluster.local/ns/default/sa/sleep');
const cart = Identity.parse('spiffe://cluster.local/ns/shop/sa/cart');

function client(t: ExecutionContext, options: Omit<CaClientOptions, 'serverName'> & { serverName?: string }): CaClient {
  const c = new CaClient({ serverName: CA_SERVER_NAME, ...options });
  t.teardown(() => c.destroy());
  return c;
}

/** An authenticator that records what each call carried, over a static table. */
function recording(inner: Authenticator): { authenticator: Authenticator; seen: Array<{ token: string; clusterid: unknown; extra: unknown }> } {
  const seen: Array<{ token: string; clusterid: unknown; extra: unknown }> = [];
  return {
    seen,
    authenticator: {
      authenticate: (token, md) => {
        seen.push({ token, clusterid: md.get('clusterid')[0], extra: md.get('x-istio-extra')[0] });
        return inner.authenticate(token, md);
      },
    },
  };
}

test('round trip with a root-only CA: identity, key, roots, headers, token read per call', async (t) => {
  const root = await createRootCa('cluster.local', 365 * DAY_MS);
  const tokens = ['token-1', 'token-2'];
  const { authenticator, seen } = recording(new StaticTokenAuthenticator(tokens.map((tk) => [tk, { identity: sleep }] as const)));
  const h = await startCaServer(t, { ca: root, authenticator });
  let reads = 0;
  const c = client(t, { address: h.address, rootCertPem: h.rootsPem, token: () => tokens[reads++]!, headers: { 'x-istio-extra': 'yes' } });
  const first = await c.createCertificate(sleep);
  const second = await c.createCertificate(sleep, { ttlSeconds: 600 });
  t.is(first.identity, sleep);
  t.deepEqual(first.chainPem, []);
  t.deepEqual(first.rootsPem, splitPemChain(root.rootsPem));
  t.is(first.notAfter.getTime() - first.notBefore.getTime(), DAY_MS + 60_000);
  t.is(second.notAfter.getTime() - second.notBefore.getTime(), 600_000 + 60_000);
  t.not(first.privateKeyPem, second.privateKeyPem, 'each certificate gets a fresh key');
  t.deepEqual(seen, [
    { token: 'token-1', clusterid: 'Kubernetes', extra: 'yes' },
    { token: 'token-2', clusterid: 'Kubernetes', extra: 'yes' },
  ]);
  await c.close();
  await t.throwsAsync(c.createCertificate(sleep), { instanceOf: CaClientError, message: /CA client is closed/ });
});

test('round trip with an intermediate CA; the result serves TLS that verifies against the roots', async (t) => {
  const root = await createRootCa('cluster.local', 365 * DAY_MS);
  const inter = await createIntermediateCa(root, 'cluster.local', 30 * DAY_MS);
  const node = new StaticTokenAuthenticator([['node-token', { node: 'node-a', mayImpersonate: (id) => id.equals(cart) }]]);
  const h = await startCaServer(t, { ca: inter, authenticator: node });
  const c = client(t, { address: h.address, rootCertPem: h.rootsPem, token: 'node-token', clusterId: 'east' });
  const wc = await c.createCertificate(cart, { impersonate: true });
  t.deepEqual(wc.chainPem, splitPemChain(inter.certPem));
  t.deepEqual(wc.rootsPem, splitPemChain(root.rootsPem));
  // Without impersonation the node may not have the pod's identity: the refusal comes back precisely.
  const refused = await t.throwsAsync(c.createCertificate(cart), { instanceOf: CaClientError });
  t.is(refused?.code, 'CA_CLIENT_ERR_REJECTED');
  t.is(refused?.grpcCode, grpc.status.PERMISSION_DENIED);
  t.regex(refused?.message ?? '', /^CA at 127\.0\.0\.1:\d+ refused spiffe:\/\/cluster.local\/ns\/shop\/sa\/cart: PERMISSION_DENIED: caller node\/node-a may not obtain/);

  const server = tls.createServer({ key: wc.privateKeyPem, cert: [wc.certPem, ...wc.chainPem].join('') }, (s) => s.end('hi'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const { port } = server.address() as { port: number };
  const socket = tls.connect({ host: '127.0.0.1', port, ca: wc.rootsPem.join(''), checkServerIdentity: () => undefined });
  t.teardown(() => socket.destroy());
  await once(socket, 'secureConnect');
  t.true(socket.authorized);
  t.is(socket.getPeerX509Certificate()?.subjectAltName, `URI:${cart.uri}`);
});

test('a CA answering with something other than what was asked is refused, precisely', async (t) => {
  const ca = await startMisbehavingCa(t);
  const cases: Array<[string, RegExp]> = [
    ['wrong-identity', /the leaf certificate is for spiffe:\/\/cluster.local\/ns\/shop\/sa\/payments, not the requested identity/],
    ['two-identities', /the leaf certificate is for spiffe:\/\/cluster.local\/ns\/default\/sa\/sleep, spiffe:\/\/cluster.local\/ns\/shop\/sa\/payments, not/],
    ['other-key', /the leaf certificate does not certify the key of our CSR/],
    ['ca-leaf', /the leaf certificate is a CA certificate/],
    ['empty', /cert_chain holds no PEM certificate/],
    ['garbage', /not a valid PEM certificate/],
    ['no-root', /cert_chain does not end with a self-signed root/],
    ['broken', /certificate 0 of cert_chain is not signed by the one after it/],
  ];
  for (const [scenario, message] of cases) {
    const c = client(t, { address: ca.address, rootCertPem: ca.rootsPem, token: 't', headers: { 'x-scenario': scenario } });
    const err = await t.throwsAsync(c.createCertificate(sleep), { instanceOf: CaClientError }, scenario);
    t.is(err?.code, 'CA_CLIENT_ERR_BAD_RESPONSE', scenario);
    t.regex(err?.message ?? '', /^CA response for spiffe:\/\/cluster.local\/ns\/default\/sa\/sleep is unusable: /, scenario);
    t.regex(err?.message ?? '', message, scenario);
  }
  // The same CA answering correctly is accepted: the refusals above are about the answers alone.
  const ok = client(t, { address: ca.address, rootCertPem: ca.rootsPem, token: 't', headers: { 'x-scenario': 'correct' } });
  t.is((await ok.createCertificate(sleep)).identity, sleep);
});

test('unreachable, untrusted, misnamed and silent CAs give clear errors', async (t) => {
  const closed = new grpc.Server();
  const port = await new Promise<number>((resolve, reject) =>
    closed.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  closed.forceShutdown();
  const anyRoot = (await createRootCa('cluster.local', DAY_MS)).rootsPem;
  const nowhere = client(t, { address: `127.0.0.1:${port}`, rootCertPem: anyRoot, token: 't', timeoutMs: 5000 });
  const err = await t.throwsAsync(nowhere.createCertificate(sleep), { instanceOf: CaClientError });
  t.is(err?.code, 'CA_CLIENT_ERR_UNAVAILABLE');
  t.is(err?.grpcCode, grpc.status.UNAVAILABLE);
  t.regex(err?.message ?? '', new RegExp(`^CA at 127\\.0\\.0\\.1:${port} is unreachable: .*ECONNREFUSED`));

  const ca = await startMisbehavingCa(t);
  const untrusted = client(t, { address: ca.address, rootCertPem: anyRoot, token: 't' });
  const e1 = await t.throwsAsync(untrusted.createCertificate(sleep), { instanceOf: CaClientError });
  t.is(e1?.code, 'CA_CLIENT_ERR_UNAVAILABLE');
  t.regex(e1?.message ?? '', /is unreachable: .*(certificate|verify)/i);
  const misnamed = client(t, { address: ca.address, rootCertPem: ca.rootsPem, token: 't', serverName: 'evil.example.com' });
  const e2 = await t.throwsAsync(misnamed.createCertificate(sleep), { instanceOf: CaClientError });
  t.is(e2?.code, 'CA_CLIENT_ERR_UNAVAILABLE');
  t.regex(e2?.message ?? '', /is unreachable: .*evil\.example\.com/);

  const silent = client(t, { address: ca.address, rootCertPem: ca.rootsPem, token: 't', headers: { 'x-scenario': 'silent' }, timeoutMs: 300 });
  const e3 = await t.throwsAsync(silent.createCertificate(sleep), { instanceOf: CaClientError });
  t.is(e3?.code, 'CA_CLIENT_ERR_UNAVAILABLE');
  t.is(e3?.grpcCode, grpc.status.DEADLINE_EXCEEDED);
  t.regex(e3?.message ?? '', /did not answer within 300 ms/);
});

test('destroy() cancels a request under way with CA_CLIENT_ERR_CLOSED', async (t) => {
  const ca = await startMisbehavingCa(t);
  const c = client(t, { address: ca.address, rootCertPem: ca.rootsPem, token: 't', headers: { 'x-scenario': 'silent' } });
  const pending = c.createCertificate(sleep);
  await ca.received('silent');
  c.destroy();
  const err = await t.throwsAsync(pending, { instanceOf: CaClientError });
  t.is(err?.code, 'CA_CLIENT_ERR_CLOSED');
});

test('token problems are reported as such; a token file is re-read for every call', async (t) => {
  const root = await createRootCa('cluster.local', DAY_MS);
  const { authenticator, seen } = recording(new StaticTokenAuthenticator([['first', { identity: sleep }], ['second', { identity: sleep }]]));
  const h = await startCaServer(t, { ca: root, authenticator });
  const dir = await mkdtemp(path.join(tmpdir(), 'ambit-token-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'istio-token');
  await writeFile(file, 'first\n');
  const c = client(t, { address: h.address, rootCertPem: h.rootsPem, token: readTokenFile(file) });
  await c.createCertificate(sleep);
  await writeFile(file, 'second');
  await c.createCertificate(sleep);
  t.deepEqual(seen.map((s) => s.token), ['first', 'second']);

  await rm(file);
  const missing = await t.throwsAsync(c.createCertificate(sleep), { instanceOf: CaClientError });
  t.is(missing?.code, 'CA_CLIENT_ERR_TOKEN');
  t.regex(missing?.message ?? '', /^could not read the CA bearer token: ENOENT/);
  const empty = client(t, { address: h.address, rootCertPem: h.rootsPem, token: '  ' });
  await t.throwsAsync(empty.createCertificate(sleep), { instanceOf: CaClientError, message: 'the CA bearer token is empty' });
  const unknown = client(t, { address: h.address, rootCertPem: h.rootsPem, token: 'third' });
  const e = await t.throwsAsync(unknown.createCertificate(sleep), { instanceOf: CaClientError });
  t.is(e?.grpcCode, grpc.status.UNAUTHENTICATED);
  t.regex(e?.message ?? '', /UNAUTHENTICATED: bearer token is not recognised$/);
});

test('the client refuses unusable options', (t) => {
  const base = { address: '127.0.0.1:1', rootCertPem: '', token: 't' };
  t.throws(() => new CaClient(base), { instanceOf: RangeError, message: /rootCertPem holds no PEM certificate/ });
  const withRoot = (extra: Partial<CaClientOptions>, root: CaMaterial) => () => new CaClient({ ...base, rootCertPem: root.rootsPem, ...extra });
  return createRootCa('cluster.local', DAY_MS).then((root) => {
    t.throws(withRoot({ timeoutMs: 0 }, root), { message: /timeoutMs must be > 0/ });
    t.throws(withRoot({ headers: { Authorization: 'x' } }, root), { message: /header "Authorization" is set by the client itself/ });
    t.throws(withRoot({ headers: { 'bad key': 'x' } }, root), { message: /bad key/ });
  });
});
