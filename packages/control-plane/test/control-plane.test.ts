import { stat } from 'node:fs/promises';
import http2 from 'node:http2';
import net from 'node:net';
import type { TLSSocket } from 'node:tls';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL, addressCodec, type Address } from '@ambit/protos';
import { Identity, parseCertificate, splitPemChain } from '@ambit/mesh-core/identity';
import { FakeClock } from '@ambit/mesh-core/lifecycle';
import { XdsClient, codecResourceType, type ResourceBatch } from '@ambit/xds';
import { RawDeltaStream, adsClient, bearer, names } from './fixtures/ads-client.js';
import { SERVER_NAME, startPlane } from './fixtures/plane.js';
import { TD, TestSource, pod, podUid, policy, snapshot } from './fixtures/mesh.js';
import { refusal } from './helpers.js';

const sleep = new Identity(TD, 'default', 'sleep');
const web = new Identity(TD, 'default', 'web');
const db = new Identity(TD, 'data', 'db');

/** sleep on node-a, web and db on node-b. */
function twoNodes(): TestSource {
  return new TestSource(
    snapshot(1, {
      addresses: [pod('sleep', '10.0.0.1', { node: 'node-a' }), pod('web', '10.0.0.2', { node: 'node-b' }), pod('db', '10.0.0.3', { node: 'node-b', ns: 'data' })],
      authorizations: [policy('allow-ns')],
    }),
  );
}

/** The parts of config_dump the tests read. */
interface Dump {
  snapshot: { version: number; diagnostics: unknown[] };
  addresses: { name: string; version: string; aliases?: string[]; resource: { workload: { identity: string; addresses: string[]; node: string } } }[];
  authorizations: { name: string; resource: { action: string; rules: unknown } }[];
  nodes: Record<string, string[]>;
  clients: {
    node: { id: string; metadata: unknown };
    types: { typeUrl: string; wildcard: boolean; lastAck?: unknown; lastNack?: { message: string; nonce: string } }[];
  }[];
  ca: { counters: unknown; tokens: unknown; trustDomain: string; roots: unknown[] };
  server: { identity: string; listen: string; rootCertPath: string };
}

test('a node token obtains only identities of pods on its node; when a pod moves, the old node is refused', async (t) => {
  const h = await startPlane(t, { source: twoNodes() });
  const nodeA = h.caClient(await h.nodeToken('node-a'));
  const nodeB = h.caClient(await h.nodeToken('node-b'));

  const cert = await nodeA.createCertificate(sleep, { impersonate: true });
  t.deepEqual(parseCertificate(cert.certPem).uris, [sleep.uri]);
  t.truthy(await nodeB.createCertificate(db, { impersonate: true }));

  const denied = await refusal(nodeA.createCertificate(web, { impersonate: true }));
  t.is(denied.grpcCode, grpc.status.PERMISSION_DENIED);
  t.regex(denied.message, /caller node\/node-a may not impersonate spiffe:\/\/cluster\.local\/ns\/default\/sa\/web/);

  // web moves to node-a: node-a may now have it, node-b no longer.
  h.source.publish({
    addresses: [pod('sleep', '10.0.0.1', { node: 'node-a' }), pod('web', '10.0.0.9', { node: 'node-a' }), pod('db', '10.0.0.3', { node: 'node-b', ns: 'data' })],
  });
  t.truthy(await nodeA.createCertificate(web, { impersonate: true }));
  const moved = await refusal(nodeB.createCertificate(web, { impersonate: true }));
  t.is(moved.grpcCode, grpc.status.PERMISSION_DENIED);

  // A node token has no identity of its own: asking without impersonation is refused too.
  const own = await refusal(nodeA.createCertificate(sleep));
  t.is(own.grpcCode, grpc.status.PERMISSION_DENIED);

  t.deepEqual(h.plane.ca.counters(), { requests: 6, issued: 3, refused: { CA_ERR_PERMISSION_DENIED: 3 } });
  const metrics = await h.plane.registry.metrics();
  t.regex(metrics, /citadel_server_csr_count 6/);
  t.regex(metrics, /citadel_server_success_cert_issuance_count 3/);
  t.regex(metrics, /ambit_ca_refusals_total\{code="CA_ERR_PERMISSION_DENIED"\} 3/);
});

test('a workload token obtains only its own identity; unknown tokens are UNAUTHENTICATED; node entries in the token file are node-bound', async (t) => {
  const h = await startPlane(t, {
    source: twoNodes(),
    tokens: ['sleep-token: { identity: spiffe://cluster.local/ns/default/sa/sleep }', 'static-node-b: { node: node-b }'].join('\n'),
  });
  const workload = h.caClient('sleep-token');
  t.truthy(await workload.createCertificate(sleep));
  const other = await refusal(workload.createCertificate(web));
  t.is(other.grpcCode, grpc.status.PERMISSION_DENIED);
  const impersonating = await refusal(workload.createCertificate(web, { impersonate: true }));
  t.is(impersonating.grpcCode, grpc.status.PERMISSION_DENIED);

  const stranger = await refusal(h.caClient('not-a-known-token').createCertificate(sleep));
  t.is(stranger.grpcCode, grpc.status.UNAUTHENTICATED);
  t.is(h.plane.ca.counters().refused['CA_ERR_UNAUTHENTICATED'], 1);
  t.regex(await h.plane.registry.metrics(), /citadel_server_authentication_failure_count 1/);

  const staticNode = h.caClient('static-node-b');
  t.truthy(await staticNode.createCertificate(web, { impersonate: true }));
  t.is((await refusal(staticNode.createCertificate(sleep, { impersonate: true }))).grpcCode, grpc.status.PERMISSION_DENIED);
});

test('a node that appears in a later snapshot gets a token file (0600) that works, and existing tokens survive a restart', async (t) => {
  const h = await startPlane(t, { source: twoNodes() });
  const file = path.join(h.stateDir, 'node-tokens', 'node-c.token');
  await t.throwsAsync(stat(file));
  h.source.publish({ addresses: [pod('sleep', '10.0.0.1', { node: 'node-a' }), pod('late', '10.0.0.7', { node: 'node-c' })] });
  while (!h.plane.nodeTokens?.nodes().includes('node-c')) await new Promise((r) => setImmediate(r));
  t.is((await stat(file)).mode & 0o777, 0o600);
  const client = h.caClient(await h.nodeToken('node-c'));
  t.truthy(await client.createCertificate(new Identity(TD, 'default', 'late'), { impersonate: true }));
  t.deepEqual(h.plane.nodeTokens?.nodes(), ['node-a', 'node-b', 'node-c']);

  // Restart on the same state directory: same root, same tokens (ztunnels keep working).
  const tokenA = await h.nodeToken('node-a');
  await h.plane.close();
  const again = await startPlane(t, { source: twoNodes(), stateDir: h.stateDir });
  t.is(again.rootPem, h.rootPem);
  t.is(await again.nodeToken('node-a'), tokenA);
  t.deepEqual(again.plane.nodeTokens?.nodes(), ['node-a', 'node-b', 'node-c']);
  t.truthy(await again.caClient(tokenA).createCertificate(sleep, { impersonate: true }));
});

test('xDS over TLS with the real client: the server is verified as istiod.istio-system.svc and resources arrive', async (t) => {
  const h = await startPlane(t, { source: twoNodes() });
  // The serving certificate: DNS names and istiod's SPIFFE identity, chaining to the published root.
  const served = await new Promise<string[]>((resolve, reject) => {
    const session = http2.connect(`https://${h.plane.grpcAddress}`, { ca: h.rootPem, servername: SERVER_NAME, ALPNProtocols: ['h2'] });
    session.once('error', reject);
    session.once('connect', () => {
      const peer = (session.socket as TLSSocket).getPeerX509Certificate();
      session.close();
      resolve([peer?.subjectAltName ?? '', String(peer?.verify(parseCertificate(splitPemChain(h.rootPem)[0]!).x509.publicKey))]);
    });
  });
  t.is(served[0], 'URI:spiffe://cluster.local/ns/istio-system/sa/istiod, DNS:istiod.istio-system.svc, DNS:localhost');
  t.is(served[1], 'true');

  const received: Address[] = [];
  const client = new XdsClient({
    target: h.plane.grpcAddress,
    node: { id: 'ztunnel~10.0.0.100~ztunnel-abc.istio-system~istio-system.svc.cluster.local', metadata: { NODE_NAME: 'node-a' } },
    tls: { rootCa: h.rootPem, serverName: SERVER_NAME },
  });
  t.teardown(() => client.destroy());
  const done = new Promise<void>((resolve) => {
    client.addType(codecResourceType(addressCodec()), (batch: ResourceBatch<Address>) => {
      for (const u of batch.upserts) received.push(u.resource);
      if (received.length >= 3) resolve();
    });
  });
  client.subscribe(ADDRESS_TYPE_URL);
  client.start();
  await done;
  t.deepEqual(received.map((a) => a.workload?.name).sort(), ['db', 'sleep', 'web']);
  while (h.plane.xds.clients()[0]?.types[0]?.lastAck === undefined) await new Promise((r) => setImmediate(r));
  t.is(h.plane.xds.clients()[0]?.node.id, 'ztunnel~10.0.0.100~ztunnel-abc.istio-system~istio-system.svc.cluster.local');
});

test('with --xds-require-token, xDS streams need a CA token: none or an unknown one is UNAUTHENTICATED, a node token works', async (t) => {
  const h = await startPlane(t, { source: twoNodes(), extraFlags: ['--xds-require-token'] });
  const channel = adsClient(h.plane.grpcAddress, grpc.credentials.createSsl(Buffer.from(h.rootPem)), { 'grpc.ssl_target_name_override': SERVER_NAME });
  t.teardown(() => channel.close());
  const none = new RawDeltaStream(channel);
  none.send({ type_url: ADDRESS_TYPE_URL });
  const st1 = await none.status;
  t.is(st1.code, grpc.status.UNAUTHENTICATED);
  t.is(st1.details, 'missing "authorization: Bearer <token>" header');
  const wrong = new RawDeltaStream(channel, bearer('guessed'));
  wrong.send({ type_url: ADDRESS_TYPE_URL });
  t.is((await wrong.status).code, grpc.status.UNAUTHENTICATED);
  const good = new RawDeltaStream(channel, bearer(await h.nodeToken('node-a')));
  good.send({ type_url: ADDRESS_TYPE_URL });
  t.deepEqual(names(await good.next()), [podUid('db', 'data'), podUid('sleep'), podUid('web')].sort());
  t.is(h.plane.xds.clients()[0]?.caller, 'node/node-a');
});

test('config_dump shows the served snapshot readably, the clients and the CA, and never a token', async (t) => {
  const h = await startPlane(t, { source: twoNodes(), tokens: 'sleep-token: { identity: spiffe://cluster.local/ns/default/sa/sleep }\n' });
  await h.caClient('sleep-token').createCertificate(sleep);
  const channel = adsClient(h.plane.grpcAddress, grpc.credentials.createSsl(Buffer.from(h.rootPem)), { 'grpc.ssl_target_name_override': SERVER_NAME });
  t.teardown(() => channel.close());
  const s = new RawDeltaStream(channel);
  s.send({ node: { id: 'ztunnel~1', metadata: { fields: { NODE_NAME: { stringValue: 'node-a' } } } }, type_url: ADDRESS_TYPE_URL });
  const first = await s.next();
  s.nack(first, 'cannot apply sleep');
  s.send({ type_url: AUTHORIZATION_TYPE_URL });
  s.ack(await s.next());
  while (h.plane.xds.clients()[0]?.types.some((x) => x.pendingNonce !== undefined) !== false) await new Promise((r) => setImmediate(r));

  for (const p of ['/debug/config_dump', '/config_dump']) {
    const res = await h.get(p);
    t.is(res.status, 200);
    t.is(res.headers['content-type'], 'application/json');
  }
  const res = await h.get('/debug/config_dump');
  const dump = JSON.parse(res.body) as Dump;
  t.is(dump['snapshot'].version, 1);
  t.deepEqual(dump['snapshot'].diagnostics, []);
  const sleepEntry = dump.addresses.find((a) => a.name === podUid('sleep'))!;
  t.is(sleepEntry.resource.workload.identity, 'spiffe://cluster.local/ns/default/sa/sleep');
  t.deepEqual(sleepEntry.resource.workload.addresses, ['10.0.0.1']);
  t.is(sleepEntry.resource.workload.node, 'node-a');
  t.deepEqual(sleepEntry.aliases, ['/10.0.0.1']);
  t.regex(sleepEntry.version, /^[0-9a-f]{16}$/);
  t.is(dump.authorizations[0]!.name, 'default/allow-ns');
  t.is(dump.authorizations[0]!.resource.action, 'ALLOW');
  t.deepEqual(dump.authorizations[0]!.resource.rules, [{ clauses: [{ matches: [{ namespaces: [{ exact: 'default', match_type: 'exact' }] }] }] }]);
  t.deepEqual(dump['nodes'], {
    'node-a': ['spiffe://cluster.local/ns/default/sa/sleep'],
    'node-b': ['spiffe://cluster.local/ns/data/sa/db', 'spiffe://cluster.local/ns/default/sa/web'],
  });
  const client = dump.clients[0]!;
  t.is(client.node.id, 'ztunnel~1');
  t.deepEqual(client.node.metadata, { NODE_NAME: 'node-a' });
  const addr = client.types.find((x) => x.typeUrl === ADDRESS_TYPE_URL)!;
  t.true(addr.wildcard);
  t.is(addr.lastNack?.message, 'cannot apply sleep');
  t.is(addr.lastNack?.nonce, first.nonce);
  t.truthy(client.types.find((x) => x.typeUrl === AUTHORIZATION_TYPE_URL)?.lastAck);
  t.deepEqual(dump['ca'].counters, { requests: 1, issued: 1, refused: {} });
  t.deepEqual(dump['ca'].tokens, { static: 1, nodes: ['node-a', 'node-b'], waypoints: [] });
  t.is(dump['ca'].trustDomain, 'cluster.local');
  t.is(dump['ca'].roots.length, 1);
  t.is(dump['server'].identity, 'spiffe://cluster.local/ns/istio-system/sa/istiod');
  t.is(dump['server'].listen, h.plane.grpcAddress);
  t.is(dump['server'].rootCertPath, path.join(h.stateDir, 'root-cert.pem'));
  t.false(res.body.includes('sleep-token'));
  t.false(res.body.includes(await h.nodeToken('node-a')));
});

test('admin: /metrics, /ready, unknown paths and methods', async (t) => {
  const h = await startPlane(t, { source: twoNodes() });
  const metrics = await h.get('/metrics');
  t.is(metrics.status, 200);
  t.regex(metrics.body, /^pilot_xds 0$/m);
  t.regex(metrics.body, /# TYPE pilot_xds_pushes counter/);
  t.regex(metrics.body, /# TYPE citadel_server_csr_count counter/);
  t.is((await h.get('/stats/prometheus')).status, 200);
  t.deepEqual(await h.get('/ready').then((r) => [r.status, r.body]), [200, 'ready\n']);
  t.is((await h.get('/healthz/ready')).status, 200);
  const missing = await h.get('/nope');
  t.is(missing.status, 404);
  t.regex(missing.body, /endpoints: \/debug\/config_dump/);
  const post = await h.get('/ready', 'POST');
  t.is(post.status, 405);
  t.is(post.headers['allow'], 'GET, HEAD');
  const head = await h.get('/ready', 'HEAD');
  t.is(head.status, 200);
  t.is(head.body, '');
});

test('close() drains: not ready while a gRPC call is in flight, then cut at the deadline', async (t) => {
  const clock = new FakeClock();
  const h = await startPlane(t, { source: twoNodes(), clock });
  // A CreateCertificate whose request never ends keeps its HTTP/2 stream open.
  const session = http2.connect(`https://${h.plane.grpcAddress}`, { ca: h.rootPem, servername: SERVER_NAME });
  t.teardown(() => session.destroy());
  session.on('error', () => {});
  const stream = session.request(
    { ':method': 'POST', ':path': '/istio.v1.auth.IstioCertificateService/CreateCertificate', 'content-type': 'application/grpc', te: 'trailers' },
    { endStream: false },
  );
  stream.on('error', () => {});
  const streamClosed = new Promise<void>((resolve) => stream.on('close', resolve));
  await new Promise<void>((resolve) => stream.on('ready', resolve));

  const closing = h.plane.close(5_000);
  while (clock.pendingTimers === 0) await new Promise((r) => setImmediate(r));
  const notReady = await h.get('/ready');
  t.is(notReady.status, 503);
  t.is(notReady.body, 'not ready:\n- shutting down\n');
  clock.advance(5_000);
  await closing;
  await streamClosed;
  t.truthy(h.lines.find((l) => l['msg'] === 'gRPC calls still open at the shutdown deadline; cutting them'));
  await t.throwsAsync(h.get('/ready'));
});

test('start fails with the reason, and releases what it opened, when the admin port is taken', async (t) => {
  const blocker = await startPlane(t, { source: twoNodes() });
  const taken = blocker.plane.adminAddress;
  // A gRPC port known to be free (bound and released), so that its release can be checked afterwards.
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const grpcPort = (probe.address() as net.AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));

  const err = await t.throwsAsync(startPlane(t, { source: twoNodes(), admin: taken, listen: `127.0.0.1:${grpcPort}` }).then(() => undefined));
  t.regex(err?.message ?? '', /EADDRINUSE/);
  // The gRPC server it had bound was shut down: the port can be bound again.
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen(grpcPort, '127.0.0.1', resolve);
  });
  await new Promise((resolve) => probe.close(resolve));
  t.pass();
});
