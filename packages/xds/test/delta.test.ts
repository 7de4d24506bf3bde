import test from 'ava';
import { addressCodec, adsServiceDefinition } from '@ambit/protos';
import { INVALID_ARGUMENT, type AckEvent, type NackEvent } from '../src/index.js';
import { ADDR, AUTHZ, NODE_ID, bothSettled, meshClient, startServer } from './support/harness.js';
import { policy, waitFor, waitUntil, workload } from './support/fixtures.js';

test('initial sync: one batch per type, Node and wildcard in the first request, then ACKs', async (t) => {
  const server = await startServer(t);
  server.set(ADDR, 'c/a', workload('c/a'));
  server.set(ADDR, 'c/b', workload('c/b'));
  server.set(AUTHZ, 'default/p', policy('default', 'p'));
  const { client, addresses, policies } = meshClient(t, server.target, { headers: { clusterid: 'Kubernetes' } });
  client.start();
  await waitUntil(() => bothSettled(client));

  t.deepEqual(addresses.names(), ['c/a', 'c/b']);
  t.is(addresses.batches.length, 1, 'one response, one batch');
  t.is(addresses.batches[0]!.upserts.length, 2);
  t.deepEqual(policies.names(), ['default/p']);
  t.is(addresses.state.get('c/a')?.resource.workload?.uid, 'c/a');

  await waitUntil(() => server.deltaRequests().filter((r) => r.request.response_nonce).length === 2);
  const requests = server.deltaRequests();
  const first = requests[0]!.request;
  t.is(first.node?.id, NODE_ID);
  t.is(first.node?.metadata?.fields?.['INSTANCE_IPS']?.stringValue, '10.0.0.5');
  t.is(first.node?.metadata?.fields?.['NODE_NAME']?.stringValue, 'node-1');
  t.deepEqual(first.resource_names_subscribe, ['*']);
  t.is(first.initial_resource_versions, undefined, 'nothing held yet');
  t.is(requests[0]!.metadata['clusterid'], 'Kubernetes');
  t.is(requests[1]!.request.node, undefined, 'the Node goes in the first request of a stream only');
  t.deepEqual(requests[1]!.request.resource_names_subscribe, ['*']);
  const acks = requests.filter((r) => r.request.response_nonce);
  t.is(acks.length, 2);
  for (const ack of acks) t.is(ack.request.error_detail, undefined);

  const status = client.status();
  t.true(status.connected);
  const addr = status.types.find((s) => s.typeUrl === ADDR)!;
  t.is(addr.resourceCount, 2);
  t.is(addr.responses, 1);
  t.truthy(addr.lastAck?.nonce);
  t.is(addr.lastNack, undefined);
});

test('updates and removals arrive as one batch; unchanged resources are not handed over again', async (t) => {
  const server = await startServer(t);
  for (const uid of ['c/a', 'c/b', 'c/c']) server.set(ADDR, uid, workload(uid));
  const { client, addresses } = meshClient(t, server.target);
  client.start();
  await waitUntil(() => bothSettled(client));

  server.set(ADDR, 'c/b', workload('c/b', { node: 'node-2' }));
  server.set(ADDR, 'c/d', workload('c/d'));
  server.remove(ADDR, 'c/c');
  // Same bytes under a new version: recorded, not re-applied.
  server.set(ADDR, 'c/a', workload('c/a'), 'a-again');
  const acked = waitFor<[AckEvent]>(client, 'ack', (e) => e.typeUrl === ADDR);
  server.push();
  await acked;

  t.is(addresses.batches.length, 2);
  const batch = addresses.batches[1]!;
  t.deepEqual(batch.upserts.map((u) => u.name).sort(), ['c/b', 'c/d']);
  t.deepEqual(batch.removals, ['c/c']);
  t.is(addresses.state.get('c/b')?.resource.workload?.node, 'node-2');
  t.deepEqual(addresses.names(), ['c/a', 'c/b', 'c/d']);

  // The new version of c/a is what a reconnect claims.
  const reconnected = waitFor(client, 'ack', (e: AckEvent) => e.typeUrl === ADDR);
  client.reconnect();
  await reconnected;
  const initial = server.deltaRequests().filter((r) => r.request.initial_resource_versions && r.request.type_url === ADDR).pop();
  t.is(initial?.request.initial_resource_versions?.['c/a'], 'a-again');
});

test('a bad resource is NACKed with every reason while the good ones in the same response apply', async (t) => {
  const server = await startServer(t);
  server.set(ADDR, 'c/legacy', workload('c/legacy', { tunnel_protocol: 'HBONE' }));
  server.set(ADDR, 'c/good', workload('c/good'));
  const { client, addresses } = meshClient(t, server.target);
  client.start();
  await waitUntil(() => bothSettled(client));
  const legacyVersion = server.get(ADDR, 'c/legacy')!.version;

  server.set(ADDR, 'c/legacy', workload('c/legacy', { tunnel_protocol: 'LEGACY_ISTIO_MTLS' }));
  server.set(ADDR, 'c/nouid', addressCodec().encode({ workload: { name: 'nouid' } }));
  server.set(ADDR, 'c/garbage', Buffer.from([0x0a, 0x05, 0x01]));
  server.set(ADDR, 'c/good2', workload('c/good2'));
  const nacked = waitFor<[NackEvent]>(client, 'nack');
  server.push();
  const [nack] = await nacked;

  t.is(nack.typeUrl, ADDR);
  t.regex(nack.error, /^3 resources rejected: /);
  t.regex(nack.error, /c\/legacy: unsupported tunnel protocol LEGACY_ISTIO_MTLS/);
  t.regex(nack.error, /c\/nouid: workload has no uid/);
  t.regex(nack.error, /c\/garbage: cannot decode istio\.workload\.Address: /);
  t.deepEqual(nack.rejections.map((r) => r.name).sort(), ['c/garbage', 'c/legacy', 'c/nouid']);

  await waitUntil(() => server.deltaRequests().some((r) => r.request.response_nonce === nack.nonce));
  const reply = server.deltaRequests().find((r) => r.request.response_nonce === nack.nonce)!.request;
  t.is(reply.type_url, ADDR);
  t.deepEqual(reply.error_detail, { code: INVALID_ARGUMENT, message: nack.error });

  // The good one applied; the bad update of c/legacy did not replace its last good value.
  t.deepEqual(addresses.names(), ['c/good', 'c/good2', 'c/legacy']);
  t.is(addresses.state.get('c/legacy')?.resource.workload?.tunnel_protocol, 'HBONE');
  const status = client.status().types.find((s) => s.typeUrl === ADDR)!;
  t.is(status.lastNack?.nonce, nack.nonce);
  t.is(status.lastNack?.error, nack.error);
  t.is(status.resourceCount, 3);

  // Rejected names are not recorded: a new stream claims c/legacy's last good version and not c/nouid.
  const again = waitFor<[NackEvent]>(client, 'nack');
  client.reconnect();
  await again;
  const initial = server.deltaRequests().filter((r) => r.request.type_url === ADDR && r.request.initial_resource_versions).pop()!.request;
  t.deepEqual(Object.keys(initial.initial_resource_versions!).sort(), ['c/good', 'c/good2', 'c/legacy']);
  t.is(initial.initial_resource_versions!['c/legacy'], legacyVersion);
  t.is(addresses.state.get('c/legacy')?.resource.workload?.tunnel_protocol, 'HBONE');
});

test('a handler can reject resources on semantic grounds', async (t) => {
  const server = await startServer(t);
  server.set(ADDR, 'c/a', workload('c/a'));
  server.set(ADDR, 'c/conflict', workload('c/conflict'));
  const { client, addresses } = meshClient(t, server.target);
  addresses.reject = (batch) => batch.upserts.filter((u) => u.name === 'c/conflict').map((u) => ({ name: u.name, reason: 'address 10.0.0.1 already owned by c/a' }));
  const nacked = waitFor<[NackEvent]>(client, 'nack');
  client.start();
  const [nack] = await nacked;
  t.is(nack.error, '1 resource rejected: c/conflict: address 10.0.0.1 already owned by c/a');
  t.deepEqual(addresses.names(), ['c/a']);
  t.is(client.status().types.find((s) => s.typeUrl === ADDR)!.resourceCount, 1);
});

test('a throwing handler NACKs its whole batch and records nothing', async (t) => {
  const server = await startServer(t);
  server.set(ADDR, 'c/a', workload('c/a'));
  server.set(ADDR, 'c/b', workload('c/b'));
  const { client, addresses } = meshClient(t, server.target);
  addresses.reject = () => {
    throw new Error('snapshot build failed');
  };
  const nacked = waitFor<[NackEvent]>(client, 'nack');
  client.start();
  const [nack] = await nacked;
  t.regex(nack.error, /^2 resources rejected: /);
  t.regex(nack.error, /c\/a: handler failed: snapshot build failed/);
  t.regex(nack.error, /c\/b: handler failed: snapshot build failed/);
  t.is(client.status().types.find((s) => s.typeUrl === ADDR)!.resourceCount, 0);
});

test('subscribe and unsubscribe by name at run time', async (t) => {
  const server = await startServer(t);
  for (const uid of ['c/a', 'c/b', 'c/c']) server.set(ADDR, uid, workload(uid));
  const { client, addresses } = meshClient(t, server.target);
  client.unsubscribe(ADDR, ['*']);
  client.unsubscribe(AUTHZ, ['*']);
  client.subscribe(ADDR, ['c/a']);
  let acked = waitFor<[AckEvent]>(client, 'ack');
  client.start();
  await acked;
  t.deepEqual(addresses.names(), ['c/a']);
  t.is(server.deltaRequests().filter((r) => r.request.type_url === AUTHZ).length, 0, 'no request for a type with no subscription');

  acked = waitFor<[AckEvent]>(client, 'ack');
  client.subscribe(ADDR, ['c/b', 'c/a']);
  await acked;
  t.deepEqual(addresses.names(), ['c/a', 'c/b']);
  const subscribe = server.deltaRequests().find((r) => r.request.resource_names_subscribe?.includes('c/b'))!.request;
  t.deepEqual(subscribe.resource_names_subscribe, ['c/b'], 'only the new name, on the live stream');
  t.is(subscribe.initial_resource_versions, undefined);
  t.is(subscribe.response_nonce, undefined);

  client.unsubscribe(ADDR, ['c/a']);
  t.deepEqual(addresses.names(), ['c/b'], 'unsubscribed resources are dropped locally');
  t.deepEqual(addresses.batches.at(-1)!.removals, ['c/a']);
  await waitUntil(() => server.deltaRequests().some((r) => r.request.resource_names_unsubscribe?.includes('c/a')));

  // The server no longer sends c/a; a change to c/b still arrives.
  server.set(ADDR, 'c/a', workload('c/a', { node: 'n2' }));
  server.set(ADDR, 'c/b', workload('c/b', { node: 'n2' }));
  acked = waitFor<[AckEvent]>(client, 'ack');
  server.push();
  await acked;
  t.deepEqual(addresses.names(), ['c/b']);
  t.is(addresses.state.get('c/b')?.resource.workload?.node, 'n2');
  t.deepEqual(client.status().types.find((s) => s.typeUrl === ADDR)!.subscriptions, ['c/b']);
});

test('a response for a type nobody registered is NACKed and counted as unknown', async (t) => {
  const server = await startServer(t);
  const { client } = meshClient(t, server.target);
  const acked = waitFor(client, 'ack');
  client.start();
  await acked;
  const method = adsServiceDefinition().service['DeltaAggregatedResources']!;
  const nacked = waitFor<[NackEvent]>(client, 'nack');
  server.sendRaw(method.responseSerialize({ type_url: 'type.googleapis.com/foo.Bar', nonce: 'odd' }));
  const [nack] = await nacked;
  t.is(nack.typeUrl, 'type.googleapis.com/foo.Bar');
  t.is(nack.error, '1 resource rejected: type.googleapis.com/foo.Bar: no resource type is registered for this type URL');
  await waitUntil(() => server.deltaRequests().some((r) => r.request.response_nonce === 'odd'));
  t.is(server.deltaRequests().find((r) => r.request.response_nonce === 'odd')!.request.error_detail?.code, 3);
});

test('10,000 resources in one response are applied as one batch', async (t) => {
  const server = await startServer(t);
  for (let i = 0; i < 10_000; i++) {
    server.set(ADDR, `c/w${i}`, workload(`c/w${i}`, { addresses: [Buffer.from([10, 1, i >> 8, i & 255])], node: `node-${i % 50}` }));
  }
  const { client, addresses } = meshClient(t, server.target);
  const started = performance.now();
  const acked = waitFor<[AckEvent]>(client, 'ack', (e) => e.typeUrl === ADDR, 60_000);
  client.start();
  await acked;
  t.log(`10,000 resources (${server.sent.get(ADDR)!.bytes} bytes) synced in ${(performance.now() - started).toFixed(0)} ms`);
  t.is(addresses.batches.length, 1);
  t.is(addresses.batches[0]!.upserts.length, 10_000);
  t.is(addresses.state.size, 10_000);
  t.is(client.status().types.find((s) => s.typeUrl === ADDR)!.resourceCount, 10_000);
  const w = addresses.state.get('c/w9999')!.resource;
  t.deepEqual(w.workload?.addresses, [Buffer.from([10, 1, 39, 15])]);
});
