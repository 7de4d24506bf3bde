import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL, addressCodec } from '@ambit/protos';
import { contentVersion } from '../src/server/resource-table.js';
import type { adsClient } from './fixtures/ads-client.js';
import { RawDeltaStream, bearer, decodeAddresses, decodeAuthorizations, names, versions } from './fixtures/ads-client.js';
import { startXds } from './fixtures/harness.js';
import { TestSource, pod, podUid, policy, service, snapshot } from './fixtures/mesh.js';

const A = ADDRESS_TYPE_URL;
const Z = AUTHORIZATION_TYPE_URL;

function threePods(): TestSource {
  return new TestSource(
    snapshot(7, {
      addresses: [pod('a', '10.0.0.1'), pod('b', '10.0.0.2'), pod('c', '10.0.0.3'), service('web', '10.96.0.10')],
      authorizations: [policy('allow-ns')],
    }),
  );
}

/** Opens a wildcard stream for both types and returns it with the two initial responses (ACKed). */
async function wildcardStream(client: ReturnType<typeof adsClient>, node = 'ztunnel~10.0.0.9~zt-1.istio-system~istio-system.svc.cluster.local') {
  const s = new RawDeltaStream(client);
  s.send({ node: { id: node, metadata: { fields: { NODE_NAME: { stringValue: 'node-a' } } } }, type_url: A });
  const addresses = await s.next();
  s.ack(addresses);
  s.send({ type_url: Z });
  const authorizations = await s.next();
  s.ack(authorizations);
  return { s, addresses, authorizations };
}

/** Waits (bounded by ava's timeout, no clock involved) until the server's state satisfies `cond`. */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setImmediate(r));
}

/** Waits until the server has processed everything the client sent so far (a round trip on a third type-free path). */
async function settle(h: { xds: { clients(): { types: readonly { pendingNonce?: string }[] }[] } }): Promise<void> {
  // ACKs travel on the stream; poll the server's view (bounded by ava's timeout, no wall-clock assertion).
  for (;;) {
    if (h.xds.clients().every((c) => c.types.every((t) => t.pendingNonce === undefined))) return;
    await new Promise((r) => setImmediate(r));
  }
}

test('initial sync: a wildcard stream gets every resource with content-hash versions and the snapshot version', async (t) => {
  const h = await startXds(t, threePods());
  const { addresses, authorizations } = await wildcardStream(h.client);
  t.is(addresses.type_url, A);
  t.is(addresses.system_version_info, '7');
  t.truthy(addresses.nonce);
  t.deepEqual(names(addresses), [podUid('a'), podUid('b'), podUid('c'), 'default/web.default.svc.cluster.local'].sort());
  for (const r of addresses.resources ?? []) {
    t.is(r.version, contentVersion(r.resource!.value!));
    t.is(r.resource?.type_url, A);
    // Wildcard clients never look resources up by alias, so none are sent.
    t.deepEqual(r.aliases ?? [], []);
  }
  const decoded = decodeAddresses(addresses).find((x) => x.workload?.name === 'a');
  t.deepEqual(decoded?.workload?.addresses, [Buffer.from([10, 0, 0, 1])]);
  t.deepEqual(names(authorizations), ['default/allow-ns']);
  t.is(decodeAuthorizations(authorizations)[0]?.action, 'ALLOW');
  await settle(h);
  const [client] = h.xds.clients();
  t.is(client?.node.id, 'ztunnel~10.0.0.9~zt-1.istio-system~istio-system.svc.cluster.local');
  t.deepEqual(client?.node.metadata, { NODE_NAME: 'node-a' });
  t.is(client?.types.find((x) => x.typeUrl === A)?.lastAck?.nonce, addresses.nonce);
  t.is(client?.types.find((x) => x.typeUrl === A)?.held, 4);
  const metrics = await h.registry.getSingleMetricAsString('pilot_xds_pushes');
  t.regex(metrics, new RegExp(`pilot_xds_pushes\\{type="${A.replace(/\./g, '\\.')}"\\} 1`));
  t.regex(await h.registry.getSingleMetricAsString('pilot_xds'), /pilot_xds 1/);
});

test('an empty mesh still answers the first request (ztunnel is not ready until each type is ACKed)', async (t) => {
  const h = await startXds(t, new TestSource(snapshot(1)));
  const s = new RawDeltaStream(h.client);
  s.send({ type_url: Z });
  const r = await s.next();
  t.is(r.type_url, Z);
  t.deepEqual(r.resources ?? [], []);
  t.deepEqual(r.removed_resources ?? [], []);
});

test('a new snapshot pushes only what changed: upserts and removals, nothing for an unchanged type', async (t) => {
  const h = await startXds(t, threePods());
  const { s, addresses } = await wildcardStream(h.client);
  const before = versions(addresses);
  await settle(h);
  const zBefore = h.xds.clients()[0]!.types.find((x) => x.typeUrl === Z)!.responses;
  h.source.publish({
    // a changed, b unchanged, c removed, d added; the policy unchanged.
    addresses: [pod('a', '10.0.0.1', { revision: 'v2' }), pod('b', '10.0.0.2'), pod('d', '10.0.0.4'), service('web', '10.96.0.10')],
    authorizations: [policy('allow-ns')],
  });
  const push = await s.next();
  t.is(push.type_url, A);
  t.is(push.system_version_info, '8');
  t.deepEqual(names(push), [podUid('a'), podUid('d')].sort());
  t.deepEqual(push.removed_resources, [podUid('c')]);
  t.not(versions(push)[podUid('a')], before[podUid('a')]);
  // The snapshot is handed to streams synchronously: had Authorization changed, it would already be sent.
  t.is(h.xds.clients()[0]!.types.find((x) => x.typeUrl === Z)!.responses, zBefore);
  s.ack(push);
  // Authorization only: the address stream stays quiet, the policy change arrives alone.
  h.source.publish({
    addresses: [pod('a', '10.0.0.1', { revision: 'v2' }), pod('b', '10.0.0.2'), pod('d', '10.0.0.4'), service('web', '10.96.0.10')],
    authorizations: [policy('allow-ns', 'default', 'DENY')],
  });
  const z = await s.next();
  t.is(z.type_url, Z);
  t.deepEqual(names(z), ['default/allow-ns']);
  t.is(s.queued, 0);
});

test('a removed resource is sent in removed_resources, and a type emptied entirely removes everything', async (t) => {
  const h = await startXds(t, threePods());
  const { s } = await wildcardStream(h.client);
  h.source.publish({ addresses: [pod('a', '10.0.0.1')], authorizations: [] });
  const first = await s.next();
  s.ack(first);
  const second = await s.next();
  const byType = new Map([first, second].map((r) => [r.type_url, r]));
  t.deepEqual([...(byType.get(A)?.removed_resources ?? [])].sort(), [podUid('b'), podUid('c'), 'default/web.default.svc.cluster.local'].sort());
  t.deepEqual(byType.get(A)?.resources ?? [], []);
  t.deepEqual(byType.get(Z)?.removed_resources, ['default/allow-ns']);
});

test('reconnect with initial_resource_versions: unchanged resources are skipped, ones removed meanwhile are sent as removed', async (t) => {
  const h = await startXds(t, threePods());
  const first = await wildcardStream(h.client);
  const held = versions(first.addresses);
  first.s.cancel();
  await first.s.status;
  // While away: a changes, c goes, d arrives.
  h.source.publish({
    addresses: [pod('a', '10.0.0.1', { revision: 'v2' }), pod('b', '10.0.0.2'), pod('d', '10.0.0.4'), service('web', '10.96.0.10')],
    authorizations: [policy('allow-ns')],
  });
  const s = new RawDeltaStream(h.client);
  s.send({ type_url: A, initial_resource_versions: held });
  const r = await s.next();
  t.deepEqual(names(r), [podUid('a'), podUid('d')].sort());
  t.deepEqual(r.removed_resources, [podUid('c')]);
  // A claimed version that is not ours (e.g. from another server build) is simply resent.
  s.send({ type_url: Z, initial_resource_versions: { 'default/allow-ns': 'not-a-hash', 'default/gone': 'x' } });
  const z = await s.next();
  t.deepEqual(names(z), ['default/allow-ns']);
  t.deepEqual(z.removed_resources, ['default/gone']);
});

test('initial_resource_versions that match everything yield an empty but present response', async (t) => {
  const h = await startXds(t, threePods());
  const first = await wildcardStream(h.client);
  first.s.cancel();
  await first.s.status;
  const s = new RawDeltaStream(h.client);
  s.send({ type_url: A, initial_resource_versions: versions(first.addresses) });
  const r = await s.next();
  t.deepEqual(r.resources ?? [], []);
  t.deepEqual(r.removed_resources ?? [], []);
});

test('on-demand: named subscriptions by network/IP and uid, service VIPs bring their workloads, unknown names come back removed', async (t) => {
  const source = new TestSource(
    snapshot(3, {
      addresses: [
        pod('a', '10.0.0.1', { services: ['default/web.default.svc.cluster.local'] }),
        pod('b', '10.0.0.2', { services: ['default/web.default.svc.cluster.local'] }),
        pod('c', '10.0.0.3'),
        service('web', '10.96.0.10'),
      ],
    }),
  );
  const h = await startXds(t, source);
  const s = new RawDeltaStream(h.client);
  // ztunnel's on-demand opening: subscribe and unsubscribe the wildcard together.
  s.send({ type_url: A, resource_names_subscribe: ['*'], resource_names_unsubscribe: ['*'] });
  const opening = await s.next();
  t.deepEqual(opening.resources ?? [], []);
  s.ack(opening);

  s.send({ type_url: A, resource_names_subscribe: ['/10.0.0.3'] });
  const byIp = await s.next();
  t.deepEqual(names(byIp), [podUid('c')]);
  t.deepEqual(byIp.resources?.[0]?.aliases, ['/10.0.0.3']);
  s.ack(byIp);

  s.send({ type_url: A, resource_names_subscribe: ['/10.96.0.10', '/10.9.9.9'] });
  const byVip = await s.next();
  t.deepEqual(names(byVip), [podUid('a'), podUid('b'), 'default/web.default.svc.cluster.local'].sort());
  t.deepEqual(byVip.removed_resources, ['/10.9.9.9']);
  s.ack(byVip);
  await settle(h);
  const status = h.xds.clients()[0]!.types[0]!;
  t.false(status.wildcard);
  t.deepEqual(status.subscriptions, ['/10.0.0.3', '/10.9.9.9', '/10.96.0.10']);

  // Unsubscribe c: no removal is sent for it (the client dropped it), and its changes no longer arrive.
  s.send({ type_url: A, resource_names_unsubscribe: ['/10.0.0.3'] });
  await until(() => !h.xds.clients()[0]!.types[0]!.subscriptions.includes('/10.0.0.3'));
  source.publish({
    addresses: [
      pod('a', '10.0.0.1', { services: ['default/web.default.svc.cluster.local'], revision: 'v2' }),
      pod('b', '10.0.0.2', { services: ['default/web.default.svc.cluster.local'] }),
      pod('c', '10.0.0.3', { revision: 'v2' }),
      pod('e', '10.0.0.5'),
      service('web', '10.96.0.10'),
    ],
  });
  const change = await s.next();
  t.deepEqual(names(change), [podUid('a')]);
  t.deepEqual(change.removed_resources ?? [], []);
  s.ack(change);

  // b leaves the service: it is no longer in scope of any subscription, so it is removed for this client.
  source.publish({
    addresses: [
      pod('a', '10.0.0.1', { services: ['default/web.default.svc.cluster.local'], revision: 'v2' }),
      pod('b', '10.0.0.2'),
      service('web', '10.96.0.10'),
    ],
  });
  const left = await s.next();
  t.deepEqual(left.resources ?? [], []);
  t.deepEqual(left.removed_resources, [podUid('b')]);
});

test('a named subscription follows its alias to a new pod when the IP is reused', async (t) => {
  const source = new TestSource(snapshot(1, { addresses: [pod('old', '10.0.0.7')] }));
  const h = await startXds(t, source);
  const s = new RawDeltaStream(h.client);
  s.send({ type_url: A, resource_names_subscribe: ['/10.0.0.7'] });
  const first = await s.next();
  t.deepEqual(names(first), [podUid('old')]);
  s.ack(first);
  source.publish({ addresses: [pod('new', '10.0.0.7')] });
  const moved = await s.next();
  t.deepEqual(names(moved), [podUid('new')]);
  t.deepEqual(moved.removed_resources, [podUid('old')]);
});

test('changes while a response is unacknowledged are batched into one response after the ACK', async (t) => {
  const h = await startXds(t, threePods());
  const s = new RawDeltaStream(h.client);
  s.send({ type_url: A });
  const initial = await s.next();
  // Not ACKed yet: three snapshots arrive.
  h.source.publish({ addresses: [pod('a', '10.0.0.1', { revision: 'v2' }), pod('b', '10.0.0.2'), pod('c', '10.0.0.3'), service('web', '10.96.0.10')] });
  h.source.publish({ addresses: [pod('a', '10.0.0.1', { revision: 'v3' }), pod('b', '10.0.0.2'), service('web', '10.96.0.10')] });
  h.source.publish({ addresses: [pod('a', '10.0.0.1', { revision: 'v3' }), pod('b', '10.0.0.2'), pod('x', '10.0.0.8'), service('web', '10.96.0.10')] });
  t.is(h.xds.clients()[0]!.types[0]!.responses, 1);
  s.ack(initial);
  const batched = await s.next();
  t.is(batched.system_version_info, '10');
  t.deepEqual(names(batched), [podUid('a'), podUid('x')].sort());
  t.deepEqual(batched.removed_resources, [podUid('c')]);
  const a = decodeAddresses(batched).find((x) => x.workload?.name === 'a');
  t.is(a?.workload?.canonical_revision, 'v3');
  t.is(h.xds.clients()[0]!.types[0]!.responses, 2);
});

test('a NACK is logged and recorded, and the rejected version is not resent until it changes', async (t) => {
  const h = await startXds(t, threePods());
  const s = new RawDeltaStream(h.client);
  s.send({ node: { id: 'ztunnel~1' }, type_url: A });
  const initial = await s.next();
  s.ack(initial);
  h.source.publish({ addresses: [pod('a', '10.0.0.1', { revision: 'bad' }), pod('b', '10.0.0.2'), pod('c', '10.0.0.3'), service('web', '10.96.0.10')] });
  const bad = await s.next();
  t.deepEqual(names(bad), [podUid('a')]);
  s.nack(bad, 'workload a: unsupported field');
  // b changes; a stays at the rejected version: only b is sent.
  h.source.publish({
    addresses: [pod('a', '10.0.0.1', { revision: 'bad' }), pod('b', '10.0.0.2', { revision: 'v2' }), pod('c', '10.0.0.3'), service('web', '10.96.0.10')],
  });
  const next = await s.next();
  t.deepEqual(names(next), [podUid('b')]);
  s.ack(next);
  await settle(h);
  const status = h.xds.clients()[0]!.types[0]!;
  t.is(status.nacks, 1);
  t.is(status.lastNack?.nonce, bad.nonce);
  t.is(status.lastNack?.message, 'workload a: unsupported field');
  t.is(status.lastNack?.code, 3);
  t.is(status.lastNack?.systemVersion, '8');
  t.is(status.lastAck?.nonce, next.nonce);
  const warn = h.lines.find((l) => l['msg'] === 'xDS client rejected a response (NACK)');
  t.is(warn?.['level'], 40);
  t.is(warn?.['reason'], 'workload a: unsupported field');
  t.is(warn?.['node'], 'ztunnel~1');
  t.regex(await h.registry.getSingleMetricAsString('pilot_total_xds_rejects'), /pilot_total_xds_rejects\{type="type\.googleapis\.com\/istio\.workload\.Address"\} 1/);
  // Now a is fixed: it is sent again.
  h.source.publish({
    addresses: [pod('a', '10.0.0.1', { revision: 'good' }), pod('b', '10.0.0.2', { revision: 'v2' }), pod('c', '10.0.0.3'), service('web', '10.96.0.10')],
  });
  t.deepEqual(names(await s.next()), [podUid('a')]);
});

test('an answer to a stale nonce is ignored and does not release the outstanding response', async (t) => {
  const h = await startXds(t, threePods());
  const s = new RawDeltaStream(h.client);
  s.send({ type_url: A });
  const initial = await s.next();
  s.ack(initial);
  h.source.publish({ addresses: [pod('a', '10.0.0.1', { revision: 'v2' })] });
  const push = await s.next();
  s.send({ type_url: A, response_nonce: initial.nonce! });
  h.source.publish({ addresses: [pod('a', '10.0.0.1', { revision: 'v3' })] });
  await new Promise((r) => setImmediate(r));
  t.is(h.xds.clients()[0]!.types[0]!.pendingNonce, push.nonce);
  s.ack(push);
  t.deepEqual(names(await s.next()), [podUid('a')]);
});

test('10,000 addresses go out in one response', async (t) => {
  const many = [];
  for (let i = 0; i < 10_000; i++) many.push(pod(`p${i}`, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`));
  const h = await startXds(t, new TestSource(snapshot(1, { addresses: many })));
  const s = new RawDeltaStream(h.client);
  s.send({ type_url: A });
  const r = await s.next();
  t.is(r.resources?.length, 10_000);
  t.is(new Set(names(r)).size, 10_000);
  const last = decodeAddresses(r).find((x) => x.workload?.name === 'p9999');
  t.deepEqual(last?.workload?.addresses, [Buffer.from([10, 0, 39, 15])]);
});

test('many concurrent streams each get the initial sync and the same incremental push', async (t) => {
  const h = await startXds(t, threePods());
  const streams = await Promise.all(Array.from({ length: 40 }, async (_, i) => (await wildcardStream(h.client, `ztunnel~${i}`)).s));
  t.is(h.xds.clients().length, 40);
  h.source.publish({ addresses: [pod('a', '10.0.0.1'), pod('b', '10.0.0.2'), pod('c', '10.0.0.3'), pod('z', '10.0.0.26'), service('web', '10.96.0.10')], authorizations: [policy('allow-ns')] });
  const pushes = await Promise.all(streams.map((s) => s.next()));
  for (const p of pushes) {
    t.deepEqual(names(p), [podUid('z')]);
    t.is(p.system_version_info, '8');
  }
  t.is(new Set(pushes.map((p) => p.nonce)).size, 40);
  for (const s of streams) s.close();
  await Promise.all(streams.map((s) => s.status));
  while (h.xds.clients().length > 0) await new Promise((r) => setImmediate(r));
  t.regex(await h.registry.getSingleMetricAsString('pilot_xds'), /pilot_xds 0/);
});

test('bad requests end only their own stream with INVALID_ARGUMENT and a precise message', async (t) => {
  const h = await startXds(t, threePods());
  const healthy = await wildcardStream(h.client);

  const unknown = new RawDeltaStream(h.client);
  unknown.send({ type_url: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret' });
  const st1 = await unknown.status;
  t.is(st1.code, grpc.status.INVALID_ARGUMENT);
  t.is(
    st1.details,
    'type_url "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret" is not served here; this server serves type.googleapis.com/istio.workload.Address, type.googleapis.com/istio.security.Authorization, type.googleapis.com/envoy.config.listener.v3.Listener, type.googleapis.com/envoy.config.route.v3.RouteConfiguration, type.googleapis.com/envoy.config.cluster.v3.Cluster and type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  );

  const empty = new RawDeltaStream(h.client);
  empty.send({ resource_names_subscribe: ['x'] });
  const st2 = await empty.status;
  t.is(st2.code, grpc.status.INVALID_ARGUMENT);
  t.is(st2.details, 'DeltaDiscoveryRequest has no type_url');

  // Bytes that are not a DeltaDiscoveryRequest, through a client whose serializer passes them through.
  const Raw = grpc.makeGenericClientConstructor(
    {
      Delta: {
        path: '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources',
        requestStream: true,
        responseStream: true,
        requestSerialize: (b: Buffer) => b,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (b: Buffer) => b,
        responseDeserialize: (b: Buffer) => b,
      },
    },
    'Raw',
  );
  const raw = new Raw(h.address, grpc.credentials.createInsecure());
  t.teardown(() => raw.close());
  const call = (raw as unknown as { Delta(): grpc.ClientDuplexStream<Buffer, Buffer> }).Delta();
  call.on('error', () => {});
  const st3 = await new Promise<grpc.StatusObject>((resolve) => {
    call.on('status', resolve);
    // A length-delimited field whose length varint is cut off.
    call.write(Buffer.from([0x0a, 0x80]));
  });
  t.is(st3.code, grpc.status.INVALID_ARGUMENT);
  t.is(st3.details, 'malformed DeltaDiscoveryRequest: cannot decode envoy.service.discovery.v3.DeltaDiscoveryRequest: index out of range: 2 + 1 > 2');

  // The healthy stream is untouched and still receives pushes.
  h.source.publish({ addresses: [pod('a', '10.0.0.1')], authorizations: [policy('allow-ns')] });
  const push = await healthy.s.next();
  t.is(push.type_url, A);
});

test('state-of-the-world ADS answers UNIMPLEMENTED', async (t) => {
  const h = await startXds(t, threePods());
  const call = h.client.StreamAggregatedResources();
  call.on('error', () => {});
  const st = await new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  t.is(st.code, grpc.status.UNIMPLEMENTED);
  t.is(st.details, 'state-of-the-world ADS is not served; use DeltaAggregatedResources');
});

test('a resource that cannot be encoded is left out and reported; the rest are served', async (t) => {
  const broken = { workload: { uid: 'bad', addresses: ['not-bytes' as unknown as Buffer], tunnel_protocol: 'WARP' as never } };
  const h = await startXds(t, new TestSource(snapshot(1, { addresses: [pod('a', '10.0.0.1'), ['bad', broken]] })));
  const s = new RawDeltaStream(h.client);
  s.send({ type_url: A });
  const r = await s.next();
  t.deepEqual(names(r), [podUid('a')]);
  const problems = h.xds.served.encodeProblems;
  t.is(problems.length, 1);
  t.is(problems[0]?.name, 'bad');
  // protobufjs's own words for a bytes field holding a non-base64 string.
  t.is(problems[0]!.message, 'invalid encoding');
  t.truthy(h.lines.find((l) => l['msg'] === 'resource cannot be encoded; not served' && l['name'] === 'bad'));
});

test('close() ends every stream with OK; new streams are refused with UNAVAILABLE', async (t) => {
  const h = await startXds(t, threePods());
  const { s } = await wildcardStream(h.client);
  await h.xds.close();
  const st = await s.status;
  t.is(st.code, grpc.status.OK);
  const late = new RawDeltaStream(h.client);
  late.send({ type_url: A });
  const st2 = await late.status;
  t.is(st2.code, grpc.status.UNAVAILABLE);
  t.is(st2.details, 'server is shutting down');
  // No longer following the source.
  h.source.publish({ addresses: [] });
  t.is(h.xds.served.snapshot.version, 7);
});

test('destroy() ends every stream with UNAVAILABLE', async (t) => {
  const h = await startXds(t, threePods());
  const { s } = await wildcardStream(h.client);
  h.xds.destroy();
  const st = await s.status;
  t.is(st.code, grpc.status.UNAVAILABLE);
});

test('a client that half-closes gets status OK and leaves the client list', async (t) => {
  const h = await startXds(t, threePods());
  const { s } = await wildcardStream(h.client);
  s.close();
  t.is((await s.status).code, grpc.status.OK);
  while (h.xds.clients().length > 0) await new Promise((r) => setImmediate(r));
  t.pass();
});

test('the encoded Address bytes are the codec\'s: a client decodes what the model published', async (t) => {
  const h = await startXds(t, threePods());
  const { addresses } = await wildcardStream(h.client);
  const expected = addressCodec().encode(pod('b', '10.0.0.2')[1]);
  const b = (addresses.resources ?? []).find((r) => r.name === podUid('b'));
  t.true(Buffer.from(b!.resource!.value!).equals(expected));
});

test('an authenticator that cannot decide ends the stream with UNAVAILABLE; one that accepts records the caller', async (t) => {
  let broken = true;
  const authenticator = {
    authenticate: (token: string) =>
      broken ? Promise.reject(new Error('token review backend down')) : Promise.resolve({ name: `caller-for-${token}`, identities: [] }),
  };
  const h = await startXds(t, threePods(), authenticator);
  const s = new RawDeltaStream(h.client, bearer('t1'));
  s.send({ type_url: A });
  const st = await s.status;
  t.is(st.code, grpc.status.UNAVAILABLE);
  t.is(st.details, 'the authenticator could not decide; retry later');
  t.truthy(h.lines.find((l) => l['msg'] === 'xDS stream refused'));
  broken = false;
  const ok = new RawDeltaStream(h.client, bearer('t2'));
  ok.send({ type_url: A });
  t.is((await ok.next()).resources?.length, 4);
  t.is(h.xds.clients()[0]?.caller, 'caller-for-t2');
});
