import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import type { XdsStreamError} from '../src/index.js';
import { XdsClosedError, type DisconnectEvent } from '../src/index.js';
import { TestAdsServer } from './support/ads-server.js';
import { createTestPki, type TestPki } from './support/certs.js';
import { ADDR, AUTHZ, bothSettled, makeClient, meshClient, startServer } from './support/harness.js';
import { addressType, policy, waitFor, waitUntil, workload } from './support/fixtures.js';

let pki: TestPki;
test.before(async () => {
  pki = await createTestPki();
});

test('TLS with a bearer token and a clusterid header, as istiod sees them', async (t) => {
  const server = await startServer(t, { cert: pki.serverCert, key: pki.serverKey });
  server.set(ADDR, 'c/a', workload('c/a'));
  const { client, addresses } = meshClient(t, server.target, {
    tls: { rootCa: pki.caPem },
    token: 'service-account-jwt',
    headers: { clusterid: 'Kubernetes' },
  });
  client.start();
  await waitUntil(() => bothSettled(client));
  t.deepEqual(addresses.names(), ['c/a']);
  const metadata = server.requests[0]!.metadata;
  t.is(metadata['authorization'], 'Bearer service-account-jwt');
  t.is(metadata['clusterid'], 'Kubernetes');
});

test('mutual TLS with a client certificate and a server name other than the target host', async (t) => {
  const server = await startServer(t, { cert: pki.serverCert, key: pki.serverKey, clientCa: pki.caPem });
  const { client } = meshClient(t, server.target, {
    tls: { rootCa: pki.caPem, certChain: pki.clientCert, privateKey: pki.clientKey, serverName: 'istiod.istio-system.svc' },
  });
  client.start();
  await waitUntil(() => bothSettled(client));
  t.true(client.connected);
  t.is(server.requests[0]!.metadata['authorization'], undefined, 'no token configured, none sent');
});

for (const [title, tls] of [
  ['an untrusted server certificate', (p: TestPki) => ({ rootCa: p.clientCert })],
  ['a server that wants a client certificate and gets none', (p: TestPki) => ({ rootCa: p.caPem })],
  ['a server name the certificate does not cover', (p: TestPki) => ({ rootCa: p.caPem, serverName: 'other.example' })],
] as const) {
  test(`TLS failure is a connection error that backs off: ${title}`, async (t) => {
    const server = await startServer(t, { cert: pki.serverCert, key: pki.serverKey, clientCa: pki.caPem });
    const { client } = meshClient(t, server.target, { tls: tls(pki) });
    const failed = waitFor<[DisconnectEvent]>(client, 'disconnected');
    client.start();
    const [event] = await failed;
    t.is(event.reason, 'ConnectionError');
    t.is((event.error as XdsStreamError).grpcCode, grpc.status.UNAVAILABLE);
    t.false(event.wasConnected);
    t.is(server.requests.length, 0);
  });
}

test('plaintext against a TLS server fails without reaching the server', async (t) => {
  const server = await startServer(t, { cert: pki.serverCert, key: pki.serverKey });
  const { client } = meshClient(t, server.target);
  const failed = waitFor<[DisconnectEvent]>(client, 'disconnected');
  client.start();
  const [event] = await failed;
  t.is(event.reason, 'ConnectionError');
  t.is(server.requests.length, 0);
});

async function counter(registry: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const { values } = await registry.getSingleMetric(name)!.get();
  return values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;
}

test('metrics count responses and their encoded bytes per type, and terminations per reason', async (t) => {
  const server = await startServer(t);
  server.set(ADDR, 'c/a', workload('c/a'));
  server.set(AUTHZ, 'default/p', policy('default', 'p'));
  const registry = new Registry();
  const { client } = meshClient(t, server.target, { registry });
  // A second client on the same registry shares the counters instead of failing to register them.
  const other = makeClient(t, server.target, { registry });
  other.addType(addressType(), () => {});
  client.start();
  await waitUntil(() => bothSettled(client));
  server.set(ADDR, 'c/b', workload('c/b'));
  const acked = waitFor(client, 'ack');
  server.push();
  await acked;

  t.is(await counter(registry, 'istio_xds_message_total', { type_url: ADDR }), 2);
  t.is(await counter(registry, 'istio_xds_message_total', { type_url: AUTHZ }), 1);
  t.is(await counter(registry, 'istio_xds_message_bytes_total', { type_url: ADDR }), server.sent.get(ADDR)!.bytes);
  t.is(await counter(registry, 'istio_xds_message_bytes_total', { type_url: AUTHZ }), server.sent.get(AUTHZ)!.bytes);
  t.is(await counter(registry, 'istio_xds_connection_terminations_total', { reason: 'Reconnect' }), undefined);

  const cycled = waitFor(client, 'disconnected');
  client.reconnect();
  await cycled;
  t.is(await counter(registry, 'istio_xds_connection_terminations_total', { reason: 'Reconnect' }), 1);
  const text = await registry.metrics();
  t.regex(text, /^# TYPE istio_xds_message_total counter$/m);
});

test('status() reports the connection and each type', async (t) => {
  const server = await startServer(t);
  server.set(ADDR, 'c/a', workload('c/a'));
  const { client } = meshClient(t, server.target);
  let status = client.status();
  t.false(status.connected);
  t.is(status.connectionAttempts, 0);
  t.is(status.target, server.target);
  t.is(status.protocol, 'delta');
  t.deepEqual(status.types.map((s) => [s.typeUrl, s.subscriptions, s.resourceCount, s.responses]), [
    [ADDR, ['*'], 0, 0],
    [AUTHZ, ['*'], 0, 0],
  ]);
  const before = Date.now();
  client.start();
  await waitUntil(() => bothSettled(client));
  status = client.status();
  t.true(status.connected);
  t.is(status.connectionAttempts, 1);
  t.is(status.lastError, undefined);
  const addr = status.types[0]!;
  t.is(addr.resourceCount, 1);
  t.is(addr.responses, 1);
  t.true(addr.lastAck!.time >= before);
  t.is(addr.lastAck!.version, '');
  t.regex(addr.lastAck!.nonce, /^n\d+$/);
});

function runChild(target: string, until: string): Promise<{ code: number | null; out: string }> {
  const script = fileURLToPath(new URL('./support/close-child.js', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, target, until], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    // A guard against a hang, not a timing check: a leaked handle would keep the child alive forever.
    const guard = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child did not exit after close(): ${out}`));
    }, 30_000);
    child.on('exit', (code) => {
      clearTimeout(guard);
      resolve({ code, out });
    });
  });
}

test('close() leaves no handle behind: connected, backing off, or never started', async (t) => {
  const server = await startServer(t);
  const probe = new TestAdsServer();
  const refused = await probe.start();
  await probe.stop();
  for (const [target, until] of [
    [server.target, 'ack'],
    [`127.0.0.1:${refused}`, 'disconnected'],
    [server.target, 'nothing'],
  ] as const) {
    const { code, out } = await runChild(target, until);
    t.is(code, 0, `${until}: ${out}`);
    t.is(out, 'closed false\n');
  }
});

test('after close(), the client refuses work with XdsClosedError; close and destroy are idempotent', async (t) => {
  const server = await startServer(t);
  const { client } = meshClient(t, server.target);
  client.start();
  await waitUntil(() => bothSettled(client));
  await client.close();
  t.false(client.connected);
  await client.close();
  client.destroy();
  t.throws(() => client.start(), { instanceOf: XdsClosedError, message: 'cannot start: the xDS client is closed' });
  t.throws(() => client.subscribe(ADDR, ['x']), { instanceOf: XdsClosedError });
  t.throws(() => client.addType({ typeUrl: 'x', decode: () => ({ ok: false, reason: '' }) }, () => {}), { instanceOf: XdsClosedError });
  const streams = server.streamsOpened;
  client.reconnect();
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.is(server.streamsOpened, streams);
});

test('destroy() ends a live stream at once', async (t) => {
  const server = await startServer(t);
  const { client } = meshClient(t, server.target);
  client.start();
  await waitUntil(() => bothSettled(client));
  let disconnects = 0;
  client.on('disconnected', () => disconnects++);
  client.destroy();
  await waitUntil(() => server.liveStreams === 0);
  t.false(client.connected);
  t.is(disconnects, 0, 'a close is not a disconnect');
});
