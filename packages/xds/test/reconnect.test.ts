import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { XdsStreamError, XdsTokenError, type AckEvent, type DisconnectEvent, type NackEvent } from '../src/index.js';
import { TestAdsServer } from './support/ads-server.js';
import { TcpProxy } from './support/tcp-proxy.js';
import { ADDR, AUTHZ, bothSettled, meshClient, startServer } from './support/harness.js';
import { FakeClock, policy, waitFor, waitUntil, workload } from './support/fixtures.js';

async function counter(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;
}

async function refusedPort(): Promise<number> {
  const probe = new TestAdsServer();
  const port = await probe.start();
  await probe.stop();
  return port;
}

test('server killed mid-stream and back: resumes from exactly the applied versions, applies nothing twice', async (t) => {
  const server = await startServer(t);
  // The client goes through a relay whose kill resets the TCP connections, as a dead server process would.
  const proxy = new TcpProxy(server.port);
  await proxy.start();
  t.teardown(() => proxy.kill());
  for (const uid of ['c/a', 'c/b', 'c/c']) server.set(ADDR, uid, workload(uid));
  server.set(AUTHZ, 'default/p', policy('default', 'p'));
  const { client, addresses, policies } = meshClient(t, proxy.target);
  client.start();
  await waitUntil(() => bothSettled(client));

  // c/a's next version is rejected: the client stays on (and must claim) its last good version.
  server.set(ADDR, 'c/a', workload('c/a', { tunnel_protocol: 'LEGACY_ISTIO_MTLS' }));
  const nacked = waitFor<[NackEvent]>(client, 'nack');
  server.push();
  await nacked;
  const applied = Object.fromEntries([...addresses.state].map(([name, s]) => [name, s.version]));
  t.deepEqual(Object.keys(applied).sort(), ['c/a', 'c/b', 'c/c']);
  t.not(applied['c/a'], server.get(ADDR, 'c/a')!.version);

  const disconnected = waitFor<[DisconnectEvent]>(client, 'disconnected');
  await proxy.kill();
  const [event] = await disconnected;
  t.true(event.wasConnected);
  t.is(event.reason, 'ConnectionError');
  t.is((event.error as XdsStreamError).grpcCode, grpc.status.UNAVAILABLE);
  t.false(client.connected);
  // Attempts against the dead port fail and back off.
  await waitUntil(() => client.status().connectionAttempts >= 3);

  // While the client is away: c/a is fixed, c/b changes, c/c goes, c/d comes.
  server.set(ADDR, 'c/a', workload('c/a', { node: 'fixed' }));
  server.set(ADDR, 'c/b', workload('c/b', { node: 'n2' }));
  server.remove(ADDR, 'c/c');
  server.set(ADDR, 'c/d', workload('c/d'));
  const addressBatches = addresses.batches.length;
  const policyBatches = policies.batches.length;
  const streamsBefore = server.streamsOpened;
  const resynced = waitFor<[AckEvent]>(client, 'ack', (e) => e.typeUrl === ADDR);
  const policyAcked = waitFor<[AckEvent]>(client, 'ack', (e) => e.typeUrl === AUTHZ);
  await proxy.start();
  await Promise.all([resynced, policyAcked]);

  const resumed = server.deltaRequests().filter((r) => r.stream > streamsBefore);
  const firstAddr = resumed.find((r) => r.request.type_url === ADDR)!.request;
  t.deepEqual(firstAddr.initial_resource_versions, applied);
  t.deepEqual(firstAddr.resource_names_subscribe, ['*']);
  t.truthy(resumed[0]!.request.node?.id, 'the Node is sent again on the new stream');
  const firstAuthz = resumed.find((r) => r.request.type_url === AUTHZ)!.request;
  t.deepEqual(firstAuthz.initial_resource_versions, { 'default/p': server.get(AUTHZ, 'default/p')!.version });

  t.is(addresses.batches.length, addressBatches + 1, 'one batch for everything missed');
  const batch = addresses.batches.at(-1)!;
  t.deepEqual(batch.upserts.map((u) => u.name).sort(), ['c/a', 'c/b', 'c/d']);
  t.deepEqual(batch.removals, ['c/c'], 'a removal that happened while disconnected is applied');
  t.is(policies.batches.length, policyBatches, 'unchanged policy is not applied again');
  t.deepEqual(addresses.names(), ['c/a', 'c/b', 'c/d']);
  t.is(addresses.state.get('c/a')?.resource.workload?.node, 'fixed');
  t.true(client.connected);
});

test('refused connections back off exponentially with full jitter, never a busy loop, and reset after a healthy stream', async (t) => {
  const port = await refusedPort();
  const clock = new FakeClock();
  const registry = new Registry();
  const { client } = meshClient(t, `127.0.0.1:${port}`, { clock, registry, backoff: { random: () => 0.999 } });
  const events: DisconnectEvent[] = [];
  client.on('disconnected', (e) => events.push(e));
  client.start();
  await waitUntil(() => events.length === 1);
  t.is(events[0]!.reason, 'ConnectionError');
  t.false(events[0]!.wasConnected);
  t.true(events[0]!.error instanceof XdsStreamError);
  t.is((events[0]!.error as XdsStreamError).grpcCode, grpc.status.UNAVAILABLE);

  // Without the clock moving, nothing else happens.
  await sleep(200);
  t.is(client.status().connectionAttempts, 1);
  t.is(clock.pending, 1);

  for (let i = 1; i < 13; i++) {
    clock.advance(events[i - 1]!.retryInMs);
    await waitUntil(() => events.length === i + 1);
  }
  const caps = [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 5120, 10240, 15000, 15000];
  t.deepEqual(
    events.map((e) => e.retryInMs),
    caps.map((c) => Math.floor(0.999 * c)),
  );
  t.is(client.status().connectionAttempts, 13);
  t.is(await counter(registry, 'istio_xds_connection_terminations_total', { reason: 'ConnectionError' }), 13);
  t.regex(client.status().lastError ?? '', /^UNAVAILABLE: /);

  // The control plane comes back on that port: the client connects at its next attempt.
  const server = new TestAdsServer();
  await server.start(port);
  t.teardown(() => server.stop());
  clock.advance(events.at(-1)!.retryInMs);
  await waitUntil(() => bothSettled(client));
  t.true(client.connected);

  // The stream delivered responses, so the next failure starts from the smallest delay again.
  const dropped = waitFor<[DisconnectEvent]>(client, 'disconnected');
  await server.stop();
  const [event] = await dropped;
  t.true(event.wasConnected);
  t.is(event.retryInMs, Math.floor(0.999 * 10));
});

test('a server that accepts but never answers: the stream stays open and no attempt is repeated', async (t) => {
  const server = await startServer(t);
  server.mute = true;
  const clock = new FakeClock();
  const { client, addresses } = meshClient(t, server.target, { clock });
  let disconnects = 0;
  client.on('disconnected', () => disconnects++);
  const connected = waitFor(client, 'connected');
  client.start();
  await connected;
  await waitUntil(() => server.requests.length === 2);
  clock.advance(600_000);
  await sleep(200);
  t.is(client.status().connectionAttempts, 1);
  t.is(disconnects, 0);
  t.is(server.streamsOpened, 1);
  t.true(client.connected);

  server.mute = false;
  server.set(ADDR, 'c/late', workload('c/late'));
  const acked = waitFor(client, 'ack');
  server.push();
  await acked;
  t.deepEqual(addresses.names(), ['c/late']);
});

test('the token function is read at every attempt; a failing one counts as a failed attempt', async (t) => {
  const server = await startServer(t);
  const clock = new FakeClock();
  let calls = 0;
  const token = (): Promise<string> => {
    calls++;
    return calls === 1 ? Promise.reject(new Error('token file missing')) : Promise.resolve(`tok-${calls}`);
  };
  const { client } = meshClient(t, server.target, { clock, token, backoff: { random: () => 0.5 } });
  const failed = waitFor<[DisconnectEvent]>(client, 'disconnected');
  client.start();
  const [event] = await failed;
  t.is(event.reason, 'ConnectionError');
  t.true(event.error instanceof XdsTokenError);
  t.is(event.error?.message, 'token provider failed: token file missing');
  t.is(server.streamsOpened, 0, 'no stream without a token');

  clock.advance(event.retryInMs);
  await waitUntil(() => bothSettled(client));
  t.is(server.requests[0]!.metadata['authorization'], 'Bearer tok-2');

  const reconnected = waitFor<[DisconnectEvent]>(client, 'disconnected');
  client.reconnect();
  const [cycled] = await reconnected;
  t.is(cycled.reason, 'Reconnect');
  t.is(cycled.error, undefined);
  clock.advance(cycled.retryInMs);
  await waitUntil(() => server.requests.some((r) => r.stream === 2));
  t.is(server.requests.find((r) => r.stream === 2)!.metadata['authorization'], 'Bearer tok-3');
});

test('stream endings are classified: OK is Complete, an error status is Error, a bad response is Error', async (t) => {
  const server = await startServer(t);
  const registry = new Registry();
  const { client } = meshClient(t, server.target, { registry });
  client.start();
  await waitUntil(() => bothSettled(client));

  let ended = waitFor<[DisconnectEvent]>(client, 'disconnected');
  server.endStreams(grpc.status.OK);
  let [event] = await ended;
  t.is(event.reason, 'Complete');
  t.is(event.error, undefined);

  await waitFor(client, 'connected');
  await waitUntil(() => server.liveStreams === 1);
  ended = waitFor<[DisconnectEvent]>(client, 'disconnected');
  server.endStreams(grpc.status.UNAUTHENTICATED, 'bad token');
  [event] = await ended;
  t.is(event.reason, 'Error');
  t.is((event.error as XdsStreamError).grpcCode, grpc.status.UNAUTHENTICATED);
  t.is(event.error?.message, 'UNAUTHENTICATED: bad token');
  t.is(event.error?.code, 'XDS_ERR_STREAM');

  await waitUntil(() => server.liveStreams === 1);
  ended = waitFor<[DisconnectEvent]>(client, 'disconnected');
  // Field 1 with a length whose varint is cut short: the response cannot be parsed.
  server.sendRaw(Buffer.from([0x0a, 0xff]));
  [event] = await ended;
  t.is(event.reason, 'Error');
  t.is((event.error as XdsStreamError).grpcCode, grpc.status.INTERNAL);

  // And the client carries on.
  await waitUntil(() => server.liveStreams === 1 && client.connected);
  t.is(await counter(registry, 'istio_xds_connection_terminations_total', { reason: 'Complete' }), 1);
  t.is(await counter(registry, 'istio_xds_connection_terminations_total', { reason: 'Error' }), 2);
});
