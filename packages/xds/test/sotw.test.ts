import test from 'ava';
import { addressCodec, authorizationCodec, type Authorization } from '@ambit/protos';
import { codecResourceType, INVALID_ARGUMENT, type AckEvent, type DisconnectEvent, type NackEvent } from '../src/index.js';
import { ADDR, AUTHZ, NODE_ID, bothSettled, makeClient, meshClient, startServer } from './support/harness.js';
import { RecordingHandler, policy, waitFor, waitUntil, workload } from './support/fixtures.js';

test('state of the world: initial sync, names read from the resources, ACK with the version', async (t) => {
  const server = await startServer(t);
  server.set(ADDR, 'c/a', workload('c/a'));
  const service = addressCodec().encode({ service: { namespace: 'default', hostname: 'svc.default.svc.cluster.local' } });
  server.set(ADDR, 'default/svc.default.svc.cluster.local', service);
  server.set(AUTHZ, 'default/p', policy('default', 'p'));
  const { client, addresses, policies } = meshClient(t, server.target, { protocol: 'sotw' });
  client.start();
  await waitUntil(() => bothSettled(client));
  t.deepEqual(addresses.names(), ['c/a', 'default/svc.default.svc.cluster.local']);
  t.is(addresses.batches.length, 1);
  t.is(addresses.batches[0]!.upserts[0]!.version, server.typeVersion(ADDR));
  t.deepEqual(policies.names(), ['default/p']);

  await waitUntil(() => server.sotwRequests().filter((r) => r.request.response_nonce).length === 2);
  const requests = server.sotwRequests();
  t.is(requests[0]!.request.node?.id, NODE_ID);
  t.deepEqual(requests[0]!.request.resource_names, ['*']);
  t.is(requests[0]!.request.version_info, '');
  t.is(requests[1]!.request.node, undefined);
  const ack = requests.find((r) => r.request.type_url === ADDR && r.request.response_nonce)!.request;
  t.is(ack.version_info, server.typeVersion(ADDR));
  t.deepEqual(ack.resource_names, ['*']);
  t.is(ack.error_detail, undefined);
  t.is(client.status().protocol, 'sotw');
});

test('state of the world: a resource missing from a response is removed; unchanged ones are not handed over', async (t) => {
  const server = await startServer(t);
  for (const uid of ['c/a', 'c/b', 'c/c']) server.set(ADDR, uid, workload(uid));
  const { client, addresses } = meshClient(t, server.target, { protocol: 'sotw' });
  client.start();
  await waitUntil(() => bothSettled(client));
  server.set(ADDR, 'c/b', workload('c/b', { node: 'n2' }));
  server.remove(ADDR, 'c/c');
  const acked = waitFor<[AckEvent]>(client, 'ack', (e) => e.typeUrl === ADDR);
  server.push();
  await acked;
  const batch = addresses.batches.at(-1)!;
  t.deepEqual(batch.upserts.map((u) => u.name), ['c/b']);
  t.deepEqual(batch.removals, ['c/c']);
  t.deepEqual(addresses.names(), ['c/a', 'c/b']);
});

test('state of the world: NACK stays on the last ACKed version, applies the good ones, keeps the last good', async (t) => {
  const server = await startServer(t);
  server.set(ADDR, 'c/a', workload('c/a'));
  server.set(ADDR, 'c/b', workload('c/b'));
  const { client, addresses } = meshClient(t, server.target, { protocol: 'sotw' });
  client.start();
  await waitUntil(() => bothSettled(client));
  const goodVersion = server.typeVersion(ADDR);

  server.set(ADDR, 'c/a', workload('c/a', { tunnel_protocol: 'LEGACY_ISTIO_MTLS' }));
  server.set(ADDR, 'c/new', workload('c/new'));
  server.set(ADDR, 'c/garbage', Buffer.from([0x0a, 0x05, 0x01]));
  server.remove(ADDR, 'c/b');
  const nacked = waitFor<[NackEvent]>(client, 'nack');
  server.push();
  const [nack] = await nacked;
  t.regex(nack.error, /^2 resources rejected: /);
  t.regex(nack.error, /c\/a: unsupported tunnel protocol LEGACY_ISTIO_MTLS/);
  // A resource that cannot be decoded cannot be named either: it is named by its position.
  t.regex(nack.error, /resources\[\d\]: cannot decode istio\.workload\.Address/);
  t.deepEqual(addresses.names(), ['c/a', 'c/b', 'c/new'], 'c/b is kept: the unnamed reject might have been it');
  t.is(addresses.state.get('c/a')?.resource.workload?.tunnel_protocol, undefined);

  await waitUntil(() => server.sotwRequests().some((r) => r.request.response_nonce === nack.nonce));
  const reply = server.sotwRequests().find((r) => r.request.response_nonce === nack.nonce)!.request;
  t.is(reply.version_info, goodVersion);
  t.deepEqual(reply.error_detail, { code: INVALID_ARGUMENT, message: nack.error });
  t.is(client.status().types.find((s) => s.typeUrl === ADDR)!.lastNack?.version, server.typeVersion(ADDR));

  // Once the garbage is gone, the removal of c/b is inferred again.
  server.remove(ADDR, 'c/garbage');
  server.set(ADDR, 'c/a', workload('c/a'), 'fixed');
  const acked = waitFor<[AckEvent]>(client, 'ack', (e) => e.typeUrl === ADDR);
  server.push();
  await acked;
  t.deepEqual(addresses.names(), ['c/a', 'c/new']);
});

test('state of the world: subscribing by name resends the whole list on the live stream', async (t) => {
  const server = await startServer(t);
  for (const uid of ['c/a', 'c/b', 'c/c']) server.set(ADDR, uid, workload(uid));
  const { client, addresses } = meshClient(t, server.target, { protocol: 'sotw' });
  client.unsubscribe(ADDR, ['*']);
  client.unsubscribe(AUTHZ, ['*']);
  client.subscribe(ADDR, ['c/a']);
  let acked = waitFor<[AckEvent]>(client, 'ack');
  client.start();
  const [first] = await acked;
  t.deepEqual(addresses.names(), ['c/a']);

  acked = waitFor<[AckEvent]>(client, 'ack');
  client.subscribe(ADDR, ['c/b']);
  await acked;
  t.deepEqual(addresses.names(), ['c/a', 'c/b']);
  const change = server.sotwRequests().find((r) => r.request.resource_names?.length === 2)!.request;
  t.deepEqual(change.resource_names, ['c/a', 'c/b']);
  t.is(change.response_nonce, first.nonce, 'echoes the last nonce of the type');
  t.is(change.version_info, first.version);

  client.unsubscribe(ADDR, ['c/a']);
  t.deepEqual(addresses.names(), ['c/b']);
  await waitUntil(() => server.sotwRequests().some((r) => r.request.resource_names?.join() === 'c/b'));
});

test('state of the world: a new stream resends the last ACKed version and re-applies nothing', async (t) => {
  const server = await startServer(t);
  for (const uid of ['c/a', 'c/b']) server.set(ADDR, uid, workload(uid));
  server.set(AUTHZ, 'default/p', policy('default', 'p'));
  const { client, addresses, policies } = meshClient(t, server.target, { protocol: 'sotw' });
  client.start();
  await waitUntil(() => bothSettled(client));
  const addrVersion = server.typeVersion(ADDR);

  const down = waitFor<[DisconnectEvent]>(client, 'disconnected');
  await server.stop();
  await down;
  server.set(ADDR, 'c/c', workload('c/c'));
  const streams = server.streamsOpened;
  const acked = waitFor<[AckEvent]>(client, 'ack', (e) => e.typeUrl === ADDR);
  await server.restart();
  await acked;
  await waitUntil(() => server.sotwRequests().filter((r) => r.stream > streams).length >= 3);
  const first = server.sotwRequests().filter((r) => r.stream > streams);
  t.is(first.find((r) => r.request.type_url === ADDR)!.request.version_info, addrVersion);
  t.is(first.find((r) => r.request.type_url === AUTHZ)!.request.version_info, server.typeVersion(AUTHZ));
  // The full set came again; only c/c was new.
  t.is(addresses.batches.length, 2);
  t.deepEqual(addresses.batches[1]!.upserts.map((u) => u.name), ['c/c']);
  t.deepEqual(addresses.batches[1]!.removals, []);
  t.is(policies.batches.length, 1, 'the policy version was current: nothing sent, nothing applied');
});

test('state of the world: types whose responses are partial do not infer removals', async (t) => {
  const server = await startServer(t);
  server.set(AUTHZ, 'default/p', policy('default', 'p'));
  server.set(AUTHZ, 'default/q', policy('default', 'q'));
  const client = makeClient(t, server.target, { protocol: 'sotw' });
  const handler = new RecordingHandler<Authorization>();
  client.addType(
    codecResourceType(authorizationCodec(), { nameOf: (p) => `${p.namespace}/${p.name}`, allResourcesRequiredInSotw: false }),
    handler.handle,
  );
  client.subscribe(AUTHZ);
  let acked = waitFor(client, 'ack');
  client.start();
  await acked;
  server.remove(AUTHZ, 'default/q');
  acked = waitFor(client, 'ack');
  server.push();
  await acked;
  t.deepEqual(handler.names(), ['default/p', 'default/q']);
  t.is(handler.batches.length, 1);
});
