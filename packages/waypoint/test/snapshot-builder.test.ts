import test from 'ava';
import { addressCodec, ADDRESS_TYPE_URL, type Address } from '@ambit/protos';
import type { ResourceBatch } from '@ambit/xds';
import { FakeClock } from '@ambit/mesh-core/lifecycle';
import { compileAddress, type AddressInfo } from '../src/config/address.js';
import { compileCluster, type ClusterSpec } from '../src/config/cluster.js';
import { ImmutableMap } from '../src/config/immutable-map.js';
import { compileListener, type CompiledListener } from '../src/config/listener.js';
import { compileLoadAssignment, type CompiledLoadAssignment } from '../src/config/load-assignment.js';
import { compileRouteConfiguration, type CompiledRouteConfiguration } from '../src/config/route-config.js';
import {
  CLUSTER_LOAD_ASSIGNMENT_TYPE_URL,
  CLUSTER_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_CONFIGURATION_TYPE_URL,
  WaypointSnapshotBuilder,
} from '../src/config/snapshot-builder.js';
import type { ForwardAction, WaypointSnapshot } from '../src/config/types.js';
import { roundTrip, T } from './support/envoy.js';
import { DB_CLUSTER, DB_VIP, edsCluster, hcm, LISTENER, listener, loadAssignment, tcpProxy, WEB_ALL, WEB_CHAIN, WEB_V1, WEB_V2, WEB_VIP, webRoutes, workloadAddress } from './support/fixtures.js';

const IDENTITY = 'spiffe://cluster.local/ns/default/sa/waypoint';

function batch<T>(typeUrl: string, upserts: [string, T][], removals: string[] = []): ResourceBatch<T> {
  return { typeUrl, upserts: upserts.map(([name, resource]) => ({ name, version: '1', resource, aliases: [] })), removals };
}

const L = (value: object = listener()): ResourceBatch<CompiledListener> => batch(LISTENER_TYPE_URL, [[LISTENER, compileListener(roundTrip(T.listener, value))]]);
const R = (value: object = webRoutes()): ResourceBatch<CompiledRouteConfiguration> => {
  const compiled = compileRouteConfiguration(roundTrip(T.route, value));
  return batch(ROUTE_CONFIGURATION_TYPE_URL, [[compiled.table.name, compiled]]);
};
const C = (...names: string[]): ResourceBatch<ClusterSpec> => batch(CLUSTER_TYPE_URL, names.map((n) => [n, compileCluster(roundTrip(T.cluster, edsCluster(n)))]));
const E = (name: string, ips: string[]): ResourceBatch<CompiledLoadAssignment> => batch(CLUSTER_LOAD_ASSIGNMENT_TYPE_URL, [[name, compileLoadAssignment(roundTrip(T.cla, loadAssignment(name, ips)))]]);
function A(address: Address): ResourceBatch<AddressInfo> {
  const codec = addressCodec();
  const info = compileAddress(codec.decode(codec.encode(address)));
  return batch(ADDRESS_TYPE_URL, [[info.kind === 'workload' ? info.workload.uid : info.key, info]]);
}

function builder(clock = new FakeClock()): { b: WaypointSnapshotBuilder; published: WaypointSnapshot[]; clock: FakeClock } {
  const b = new WaypointSnapshotBuilder({ listenerName: LISTENER, identity: IDENTITY, clock });
  const published: WaypointSnapshot[] = [];
  b.on('change', (s) => published.push(s));
  return { b, published, clock };
}

/** Feeds a whole configuration: listener, routes, the four clusters and their endpoints. */
function feedAll(b: WaypointSnapshotBuilder): void {
  b.applyListeners(L());
  b.applyRouteConfigurations(R());
  b.applyClusters(C(WEB_V1, WEB_V2, WEB_ALL, DB_CLUSTER));
  b.applyLoadAssignments(E(WEB_V1, ['10.244.1.5']));
  b.applyLoadAssignments(E(WEB_V2, ['10.244.2.6']));
  b.applyLoadAssignments(E(WEB_ALL, ['10.244.1.5', '10.244.2.6']));
  b.applyLoadAssignments(E(DB_CLUSTER, ['10.244.3.7']));
}

test('the builder follows the chain of references and waits until every one resolves', (t) => {
  const { b, published } = builder();
  t.deepEqual(b.wanted().get(LISTENER_TYPE_URL), [LISTENER]);
  t.deepEqual(b.wanted().get(ADDRESS_TYPE_URL), ['*']);
  t.deepEqual(b.pending(), [`Listener "${LISTENER}"`]);
  b.applyListeners(L());
  t.is(b.current(), undefined);
  t.deepEqual(b.wanted().get(ROUTE_CONFIGURATION_TYPE_URL), [WEB_CHAIN]);
  t.deepEqual(b.wanted().get(CLUSTER_TYPE_URL), [DB_CLUSTER, WEB_ALL].sort(), 'TCP chains name clusters directly');
  b.applyRouteConfigurations(R());
  t.deepEqual(b.wanted().get(CLUSTER_TYPE_URL), [DB_CLUSTER, WEB_ALL, WEB_V1, WEB_V2].sort());
  t.deepEqual(b.wanted().get(CLUSTER_LOAD_ASSIGNMENT_TYPE_URL), []);
  b.applyClusters(C(WEB_V1, WEB_V2, WEB_ALL, DB_CLUSTER));
  t.deepEqual(b.wanted().get(CLUSTER_LOAD_ASSIGNMENT_TYPE_URL), [DB_CLUSTER, WEB_ALL, WEB_V1, WEB_V2].sort());
  t.is(published.length, 0);
  t.true(b.pending().includes(`ClusterLoadAssignment "${WEB_V1}"`));
  b.applyLoadAssignments(E(WEB_V1, ['10.244.1.5']));
  b.applyLoadAssignments(E(WEB_V2, ['10.244.2.6']));
  b.applyLoadAssignments(E(WEB_ALL, ['10.244.1.5', '10.244.2.6']));
  t.is(published.length, 0);
  b.applyLoadAssignments(E(DB_CLUSTER, ['10.244.3.7']));
  t.is(published.length, 1);
  t.deepEqual(b.pending(), []);
  const s = b.current()!;
  t.is(published[0], s);
  t.is(s.identity, IDENTITY);
  t.is(s.version, '1');
  t.deepEqual([...s.bindings.keys()], [`${WEB_VIP}:80`, `${DB_VIP}:5432`]);
  const web = s.bindings.get(`${WEB_VIP}:80`)!;
  t.is(web.http?.routeTable.name, WEB_CHAIN);
  t.deepEqual((web.http?.routeTable.virtualHosts[0]!.routes[0]!.action as ForwardAction).clusters.map((c) => c.cluster), [WEB_V1, WEB_V2]);
  t.is(web.tcp?.cluster, WEB_ALL);
  t.false('routeConfigName' in web.http!, 'the spec-only field is not in the snapshot');
  t.deepEqual([...s.clusters.keys()].sort(), [DB_CLUSTER, WEB_ALL, WEB_V1, WEB_V2].sort());
  const v1 = s.clusters.get(WEB_V1)!;
  t.false('edsServiceName' in v1);
  t.deepEqual(v1.endpoints.map((e) => [e.ip, e.port]), [['10.244.1.5', 8080]]);
  t.deepEqual(v1.endpoints[0]!.transport, { kind: 'plain' }, 'no Address for the IP: plain');
  t.is(v1.endpoints[0]!.workload, undefined);
});

const POD_IP = '10.244.1.50';
const POD_ROUTE = 'inbound-pod|*|http|default/waypoint';
const OD = 'inbound-pod|*||default/waypoint';

/** The listener with a workload's chains (every port) and the route and ORIGINAL_DST cluster they name. */
function feedWorkload(b: WaypointSnapshotBuilder): void {
  const match = (http: boolean): object => ({ prefix_ranges: [{ address_prefix: POD_IP, prefix_len: { value: 32 } }], ...(http ? { application_protocols: ['http/1.1', 'h2c'] } : {}) });
  b.applyListeners(
    L(
      listener([
        { name: `inbound-pod|*|http|${POD_IP}`, filter_chain_match: match(true), filters: [hcm(POD_ROUTE)] },
        { name: `inbound-pod|*|tcp|${POD_IP}`, filter_chain_match: match(false), filters: [tcpProxy(OD)] },
      ]),
    ),
  );
  b.applyRouteConfigurations(R());
  b.applyRouteConfigurations(R({ name: POD_ROUTE, virtual_hosts: [{ name: 'pod', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: OD } }] }] }));
  b.applyClusters(C(WEB_V1, WEB_V2, WEB_ALL, DB_CLUSTER));
  b.applyClusters(batch(CLUSTER_TYPE_URL, [[OD, compileCluster(roundTrip(T.cluster, { name: OD, type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED' }))]]));
  b.applyLoadAssignments(E(WEB_V1, ['10.244.1.5']));
  b.applyLoadAssignments(E(WEB_V2, ['10.244.2.6']));
  b.applyLoadAssignments(E(WEB_ALL, ['10.244.1.5', '10.244.2.6']));
  b.applyLoadAssignments(E(DB_CLUSTER, ['10.244.3.7']));
}

test('an ORIGINAL_DST cluster needs no load assignment; its targets are the every-port IPs with an Address', (t) => {
  const { b, published } = builder();
  feedWorkload(b);
  t.false(b.wanted().get(CLUSTER_LOAD_ASSIGNMENT_TYPE_URL)!.includes(OD), 'no load assignment is asked for');
  t.true(b.wanted().get(CLUSTER_TYPE_URL)!.includes(OD));
  // An Address is not a reference: the snapshot is published without it, and the IP is no target yet.
  t.is(published.length, 1);
  const first = b.current()!;
  t.is(first.bindings.get(POD_IP)?.name, `inbound-pod|*|http|${POD_IP}`);
  const od = first.clusters.get(OD)!;
  t.deepEqual(od.endpoints, []);
  t.is(od.lbPolicy, 'cluster-provided');
  t.is(od.originalDestination?.cleanupIntervalMs, 5000);
  t.deepEqual([...od.originalDestination!.targets.keys()], []);
  // The workload's Address arrives: the target says how to reach it (HBONE, its identity), at no port.
  b.applyAddresses(A(workloadAddress('Kubernetes//Pod/default/api', POD_IP, true, 'api')));
  t.is(published.length, 2);
  const second = b.current()!;
  const target = second.clusters.get(OD)!.originalDestination!.targets.get(POD_IP)!;
  t.deepEqual(target, {
    ip: POD_IP,
    port: 0,
    weight: 1,
    healthy: true,
    locality: { region: '', zone: '', subZone: '' },
    transport: { kind: 'hbone', identity: 'spiffe://cluster.local/ns/default/sa/api', hbonePort: 15008 },
    workload: { name: 'api', namespace: 'default', serviceAccount: 'api', canonicalName: '', canonicalRevision: '', clusterId: '' },
  });
  t.true(Object.isFrozen(target));
  t.is(second.clusters.get(WEB_V1), first.clusters.get(WEB_V1), 'other clusters keep their objects');
  // Another IP's Address changes nothing; a change of this one rebuilds the cluster.
  b.applyAddresses(A(workloadAddress('Kubernetes//Pod/default/other', '10.244.9.9', true)));
  t.is(published.length, 2);
  b.applyAddresses(A(workloadAddress('Kubernetes//Pod/default/api', POD_IP, true, 'api-v2')));
  t.is(published.length, 3);
  t.not(b.current()!.clusters.get(OD), second.clusters.get(OD));
  t.is(b.current()!.clusters.get(OD)!.originalDestination!.targets.get(POD_IP)!.workload?.serviceAccount, 'api-v2');
  // Without the workload's chains nothing names the cluster any more.
  b.applyListeners(L());
  t.false(b.current()!.clusters.has(OD));
  t.false(b.current()!.bindings.has(POD_IP));
});

test('snapshots are immutable all the way down', (t) => {
  const { b } = builder();
  feedAll(b);
  const s = b.current()!;
  t.true(Object.isFrozen(s));
  t.true(s.bindings instanceof ImmutableMap);
  t.true(Object.isFrozen(s.bindings) && Object.isFrozen(s.clusters));
  t.false('set' in s.bindings, 'no way to add a binding');
  t.false('delete' in s.clusters);
  const web = s.bindings.get(`${WEB_VIP}:80`)!;
  t.true(Object.isFrozen(web) && Object.isFrozen(web.http) && Object.isFrozen(web.http!.routeTable) && Object.isFrozen(web.tcp));
  const cluster = s.clusters.get(WEB_ALL)!;
  t.true(Object.isFrozen(cluster) && Object.isFrozen(cluster.endpoints) && Object.isFrozen(cluster.endpoints[0]) && Object.isFrozen(cluster.endpoints[0]!.transport));
  t.throws(() => {
    (s as { version: string }).version = 'x';
  });
  t.is([...s.bindings].length, 2);
  const seen: string[] = [];
  s.bindings.forEach((_v, k, map) => {
    seen.push(k);
    t.is(map, s.bindings);
  });
  t.deepEqual(seen, [...s.bindings.keys()]);
  t.is([...s.clusters.values()].length, s.clusters.size);
  t.is([...s.clusters.entries()].length, 4);
  t.true(s.clusters.has(WEB_V1));
});

test('endpoints take their transport and workload from the Address of their IP', (t) => {
  const { b, published } = builder();
  b.applyAddresses(A(workloadAddress('Kubernetes//Pod/default/web-v1', '10.244.1.5', true, 'web', { canonical_name: 'web', canonical_revision: 'v1', cluster_id: 'Kubernetes' })));
  b.applyAddresses(A(workloadAddress('Kubernetes//Pod/default/legacy', '10.244.2.6', false, 'legacy')));
  feedAll(b);
  const endpoint = (cluster: string, ip: string) => b.current()!.clusters.get(cluster)!.endpoints.find((e) => e.ip === ip)!;
  t.deepEqual(endpoint(WEB_V1, '10.244.1.5').transport, { kind: 'hbone', identity: 'spiffe://cluster.local/ns/default/sa/web', hbonePort: 15008 });
  t.deepEqual(endpoint(WEB_V1, '10.244.1.5').workload, { name: 'web-v1', namespace: 'default', serviceAccount: 'web', canonicalName: 'web', canonicalRevision: 'v1', clusterId: 'Kubernetes' });
  t.true(Object.isFrozen(endpoint(WEB_V1, '10.244.1.5').workload));
  t.deepEqual(endpoint(WEB_V2, '10.244.2.6').transport, { kind: 'plain' }, 'a workload without HBONE is reached plain');
  t.deepEqual(endpoint(WEB_V2, '10.244.2.6').workload, { name: 'legacy', namespace: 'default', serviceAccount: 'legacy', canonicalName: '', canonicalRevision: '', clusterId: '' });
  const before = published.length;
  // An address no endpoint uses changes nothing.
  b.applyAddresses(A(workloadAddress('Kubernetes//Pod/other/x', '10.9.9.9', true)));
  t.is(published.length, before);
  // The workload behind an endpoint enrolls in the mesh: a new snapshot.
  b.applyAddresses(A(workloadAddress('Kubernetes//Pod/default/legacy', '10.244.2.6', true, 'legacy')));
  t.is(published.length, before + 1);
  t.deepEqual(endpoint(WEB_V2, '10.244.2.6').transport, { kind: 'hbone', identity: 'spiffe://cluster.local/ns/default/sa/legacy', hbonePort: 15008 });
  // Only its telemetry names change (a new revision label): a new snapshot with them.
  b.applyAddresses(A(workloadAddress('Kubernetes//Pod/default/legacy', '10.244.2.6', true, 'legacy', { canonical_name: 'legacy', canonical_revision: 'v2', cluster_id: 'east' })));
  t.is(published.length, before + 2);
  t.like(endpoint(WEB_V2, '10.244.2.6').workload, { canonicalName: 'legacy', canonicalRevision: 'v2', clusterId: 'east' });
  // It goes away: plain again.
  b.applyAddresses(batch<AddressInfo>(ADDRESS_TYPE_URL, [], ['Kubernetes//Pod/default/legacy']));
  t.is(published.length, before + 3);
  t.deepEqual(endpoint(WEB_V2, '10.244.2.6').transport, { kind: 'plain' });
  t.is(endpoint(WEB_V2, '10.244.2.6').workload, undefined);
  // Services are accepted and change nothing.
  b.applyAddresses(A({ type: 'service', service: { namespace: 'default', hostname: 'web.default.svc.cluster.local' } }));
  t.is(published.length, before + 3);
});

test('what did not change is the same object in the next snapshot (the data path compares by identity)', (t) => {
  const { b, published } = builder();
  b.applyAddresses(A(workloadAddress('Kubernetes//Pod/default/web-v2', '10.244.2.6', true)));
  feedAll(b);
  const [first] = published;
  b.applyLoadAssignments(E(WEB_V1, ['10.244.1.5', '10.244.1.8']));
  const second = b.current()!;
  t.not(second, first);
  t.not(second.clusters.get(WEB_V1), first!.clusters.get(WEB_V1));
  for (const name of [WEB_V2, WEB_ALL, DB_CLUSTER]) t.is(second.clusters.get(name), first!.clusters.get(name), name);
  for (const [key, binding] of second.bindings) t.is(first!.bindings.get(key), binding, key);
  // An Address change rebuilds only the clusters holding that IP.
  b.applyAddresses(A(workloadAddress('Kubernetes//Pod/default/web-v2', '10.244.2.6', false)));
  const third = b.current()!;
  t.not(third.clusters.get(WEB_V2), second.clusters.get(WEB_V2));
  t.not(third.clusters.get(WEB_ALL), second.clusters.get(WEB_ALL), 'web-all holds 10.244.2.6 too');
  t.is(third.clusters.get(WEB_V1), second.clusters.get(WEB_V1));
  t.is(third.clusters.get(DB_CLUSTER), second.clusters.get(DB_CLUSTER));
  t.deepEqual(third.clusters.get(WEB_V2)!.endpoints[0]!.transport, { kind: 'plain' });
  // A route change rebuilds the bindings using it, not the TCP-only one.
  b.applyRouteConfigurations(R(webRoutes([{ name: WEB_V1, weight: 1 }, { name: WEB_V2, weight: 1 }])));
  const fourth = b.current()!;
  t.not(fourth.bindings.get(`${WEB_VIP}:80`), third.bindings.get(`${WEB_VIP}:80`));
  t.is(fourth.bindings.get(`${DB_VIP}:5432`), third.bindings.get(`${DB_VIP}:5432`));
});

test('a missing reference holds the snapshot back for the initial fetch timeout, then it is built without it', (t) => {
  const { b, published, clock } = builder();
  b.applyListeners(L());
  b.applyRouteConfigurations(R());
  b.applyClusters(C(WEB_V1, WEB_ALL, DB_CLUSTER));
  b.applyLoadAssignments(E(WEB_V1, ['10.244.1.5']));
  b.applyLoadAssignments(E(WEB_ALL, ['10.244.1.5']));
  t.is(published.length, 0);
  t.deepEqual(b.pending().sort(), [`Cluster "${WEB_V2}"`, `ClusterLoadAssignment "${DB_CLUSTER}"`].sort());
  t.is(clock.nextTimerDelay(), 15_000);
  clock.advance(14_999);
  t.is(published.length, 0);
  clock.advance(1);
  t.is(published.length, 1);
  const s = b.current()!;
  t.false(s.clusters.has(WEB_V2), 'a cluster that never came is absent (503 NC)');
  t.deepEqual(s.clusters.get(DB_CLUSTER)!.endpoints, [], 'a load assignment that never came: no endpoints');
  t.deepEqual(b.pending().sort(), [`Cluster "${WEB_V2}"`, `ClusterLoadAssignment "${DB_CLUSTER}"`].sort());
  // When it comes, it is used, and its own load assignment is waited for (its own timeout).
  b.applyClusters(C(WEB_V2));
  t.is(published.length, 1);
  b.applyLoadAssignments(E(WEB_V2, ['10.244.2.6']));
  t.is(published.length, 2);
  t.deepEqual(b.current()!.clusters.get(WEB_V2)!.endpoints.map((e) => e.ip), ['10.244.2.6']);
  t.is(b.current()!.version, '2');
});

test('a missing route configuration becomes an empty route table after the timeout', (t) => {
  const { b, clock } = builder();
  b.applyListeners(L());
  b.applyClusters(C(WEB_ALL, DB_CLUSTER));
  b.applyLoadAssignments(E(WEB_ALL, []));
  b.applyLoadAssignments(E(DB_CLUSTER, []));
  t.is(b.current(), undefined);
  clock.advance(15_000);
  const table = b.current()!.bindings.get(`${WEB_VIP}:80`)!.http!.routeTable;
  t.deepEqual(table, { name: WEB_CHAIN, virtualHosts: [] });
});

test('changes to resources the listener does not reference publish nothing', (t) => {
  const { b, published } = builder();
  feedAll(b);
  t.is(published.length, 1);
  b.applyRouteConfigurations(R({ ...webRoutes(), name: 'unrelated' }));
  b.applyClusters(C('outbound|1||unrelated'));
  b.applyLoadAssignments(E('outbound|1||unrelated', ['10.1.1.1']));
  b.applyListeners(batch(LISTENER_TYPE_URL, [['waypoint/other/other', compileListener(roundTrip(T.listener, { ...listener(), name: 'waypoint/other/other' }))]]));
  t.is(published.length, 1);
  // A referenced one does.
  b.applyLoadAssignments(E(WEB_V1, ['10.244.1.5', '10.244.1.8']));
  t.is(published.length, 2);
  t.is(b.current()!.clusters.get(WEB_V1)!.endpoints.length, 2);
});

test('the wanted names follow route changes and drop what is no longer referenced', (t) => {
  const { b, published } = builder();
  feedAll(b);
  b.applyRouteConfigurations(R(webRoutes([{ name: WEB_V1, weight: 100 }])));
  t.is(published.length, 2);
  t.deepEqual(b.wanted().get(CLUSTER_TYPE_URL), [DB_CLUSTER, WEB_ALL, WEB_V1].sort());
  t.deepEqual(b.wanted().get(CLUSTER_LOAD_ASSIGNMENT_TYPE_URL), [DB_CLUSTER, WEB_ALL, WEB_V1].sort());
  t.false(b.current()!.clusters.has(WEB_V2), 'an unreferenced cluster leaves the snapshot');
  // The xDS client drops the unsubscribed resources through the handlers: nothing changes.
  b.applyClusters(batch<ClusterSpec>(CLUSTER_TYPE_URL, [], [WEB_V2]));
  b.applyLoadAssignments(batch<CompiledLoadAssignment>(CLUSTER_LOAD_ASSIGNMENT_TYPE_URL, [], [WEB_V2]));
  t.is(published.length, 2);
});

test('a removed referenced resource is waited for again; a removed listener unbinds everything at once', (t) => {
  const { b, published, clock } = builder();
  feedAll(b);
  b.applyLoadAssignments(batch<CompiledLoadAssignment>(CLUSTER_LOAD_ASSIGNMENT_TYPE_URL, [], [WEB_V1]));
  t.is(published.length, 1, 'held back while the assignment is missing');
  clock.advance(15_000);
  t.is(published.length, 2);
  t.deepEqual(b.current()!.clusters.get(WEB_V1)!.endpoints, []);
  b.applyListeners(batch<CompiledListener>(LISTENER_TYPE_URL, [], [LISTENER]));
  t.is(published.length, 3);
  t.is(b.current()!.bindings.size, 0);
  t.is(b.current()!.clusters.size, 0);
  t.deepEqual(b.wanted().get(ROUTE_CONFIGURATION_TYPE_URL), []);
  t.deepEqual(b.wanted().get(CLUSTER_TYPE_URL), []);
});

test('listeners: a throwing one does not stop the others; unsubscribing works; closed builders refuse batches', async (t) => {
  const { b, published, clock } = builder();
  const seen: [string, string | undefined][] = [];
  b.on('change', () => {
    throw new Error('listener bug');
  });
  const record = (s: WaypointSnapshot, previous: WaypointSnapshot | undefined): void => void seen.push([s.version, previous?.version]);
  b.on('change', record);
  const once: string[] = [];
  b.once('change', (s) => once.push(s.version));
  feedAll(b);
  t.deepEqual(seen, [['1', undefined]]);
  t.is(published.length, 1);
  b.off('change', record);
  b.applyLoadAssignments(E(WEB_V1, ['10.244.1.9']));
  t.deepEqual(seen, [['1', undefined]]);
  t.deepEqual(once, ['1'], 'a once listener runs once');
  t.is(published.length, 2);
  // A pending timer is cancelled by close.
  b.applyLoadAssignments(batch<CompiledLoadAssignment>(CLUSTER_LOAD_ASSIGNMENT_TYPE_URL, [], [WEB_V1]));
  t.is(clock.pendingTimers, 1);
  await b.close();
  t.is(clock.pendingTimers, 0);
  t.is(b.listenerCount('change'), 0);
  t.throws(() => b.applyListeners(L()), { message: /closed/ });
  t.throws(() => b.applyAddresses(A(workloadAddress('u/x', '10.1.1.1', true))), { message: /closed/ });
  t.throws(() => new WaypointSnapshotBuilder({ listenerName: '', identity: IDENTITY }), { instanceOf: RangeError });
});
