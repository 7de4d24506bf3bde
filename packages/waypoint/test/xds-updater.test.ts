/**
 * The waypoint's configuration over a real xDS stream: a delta ADS server on loopback, the real
 * `XdsClient`, `WaypointXdsUpdater` and `WaypointSnapshotBuilder`.
 */
import test, { type ExecutionContext } from 'ava';
import { addressCodec, ADDRESS_TYPE_URL } from '@ambit/protos';
import { XdsClient } from '@ambit/xds';
import {
  CLUSTER_LOAD_ASSIGNMENT_TYPE_URL,
  CLUSTER_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_CONFIGURATION_TYPE_URL,
  WaypointSnapshotBuilder,
} from '../src/config/snapshot-builder.js';
import type { ForwardAction, WaypointSnapshot } from '../src/config/types.js';
import { WaypointXdsUpdater } from '../src/config/xds-updater.js';
import { MiniAdsServer, type Nack } from './support/ads-server.js';
import { encode, T } from './support/envoy.js';
import { DB_CLUSTER, edsCluster, LISTENER, listener, loadAssignment, WEB_ALL, WEB_CHAIN, WEB_V1, WEB_V2, WEB_VIP, webRoutes, workloadAddress } from './support/fixtures.js';

const IDENTITY = 'spiffe://cluster.local/ns/default/sa/waypoint';
const CLUSTERS = [WEB_V1, WEB_V2, WEB_ALL, DB_CLUSTER];

async function until<T>(what: string, get: () => T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = get();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

interface Setup {
  server: MiniAdsServer;
  client: XdsClient;
  builder: WaypointSnapshotBuilder;
  updater: WaypointXdsUpdater;
  snapshots: WaypointSnapshot[];
}

async function setup(t: ExecutionContext): Promise<Setup> {
  const server = await MiniAdsServer.start();
  t.teardown(() => server.close());
  server.set(LISTENER_TYPE_URL, LISTENER, encode(T.listener, listener()));
  server.set(ROUTE_CONFIGURATION_TYPE_URL, WEB_CHAIN, encode(T.route, webRoutes()));
  for (const c of CLUSTERS) server.set(CLUSTER_TYPE_URL, c, encode(T.cluster, edsCluster(c)));
  server.set(CLUSTER_LOAD_ASSIGNMENT_TYPE_URL, WEB_V1, encode(T.cla, loadAssignment(WEB_V1, ['10.244.1.5'])));
  server.set(CLUSTER_LOAD_ASSIGNMENT_TYPE_URL, WEB_V2, encode(T.cla, loadAssignment(WEB_V2, ['10.244.2.6'])));
  server.set(CLUSTER_LOAD_ASSIGNMENT_TYPE_URL, WEB_ALL, encode(T.cla, loadAssignment(WEB_ALL, ['10.244.1.5', '10.244.2.6'])));
  server.set(CLUSTER_LOAD_ASSIGNMENT_TYPE_URL, DB_CLUSTER, encode(T.cla, loadAssignment(DB_CLUSTER, ['10.244.3.7'], 5432)));
  server.set(ADDRESS_TYPE_URL, 'Kubernetes//Pod/default/web-v1', addressCodec().encode(workloadAddress('Kubernetes//Pod/default/web-v1', '10.244.1.5', true)));
  // A resource the waypoint never asks for, to show it is not sent.
  server.set(CLUSTER_TYPE_URL, 'outbound|1||unrelated', encode(T.cluster, edsCluster('outbound|1||unrelated')));

  const client = new XdsClient({ target: server.target, node: { id: 'waypoint~10.244.0.9~waypoint-7d9f.default~default.svc.cluster.local' } });
  t.teardown(() => client.destroy());
  const builder = new WaypointSnapshotBuilder({ listenerName: LISTENER, identity: IDENTITY });
  t.teardown(() => builder.destroy());
  const snapshots: WaypointSnapshot[] = [];
  builder.on('change', (s) => snapshots.push(s));
  const updater = new WaypointXdsUpdater({ client, builder });
  t.teardown(() => updater.destroy());
  client.start();
  return { server, client, builder, updater, snapshots };
}

function nextNack(server: MiniAdsServer): Promise<Nack> {
  return new Promise((resolve) => server.once('nack', resolve));
}

test('the waypoint follows Listener → routes → clusters → endpoints by name and builds its snapshot', async (t) => {
  const { server, builder, updater, snapshots } = await setup(t);
  const s = await until('the first snapshot', () => builder.current());
  // Nothing was published before every reference resolved: the first snapshot is complete.
  const first = snapshots[0]!;
  t.deepEqual([...first.clusters.keys()].sort(), [...CLUSTERS].sort());
  for (const c of first.clusters.values()) t.true(c.endpoints.length > 0, c.name);
  t.is(s.identity, IDENTITY);
  t.true(s.bindings.has(`${WEB_VIP}:80`));
  t.deepEqual([...s.clusters.keys()].sort(), [...CLUSTERS].sort());
  const endpoint = s.clusters.get(WEB_V1)!.endpoints[0]!;
  // The Address may land after the load assignment: wait for the snapshot that has it.
  const hbone = await until('the HBONE endpoint', () => {
    const e = builder.current()!.clusters.get(WEB_V1)!.endpoints[0]!;
    return e.transport.kind === 'hbone' ? e : undefined;
  });
  t.deepEqual(hbone.transport, { kind: 'hbone', identity: 'spiffe://cluster.local/ns/default/sa/web', hbonePort: 15008 });
  t.is(endpoint.ip, '10.244.1.5');
  const subs = updater.subscriptions();
  t.deepEqual(subs.get(LISTENER_TYPE_URL), [LISTENER]);
  t.deepEqual(subs.get(ROUTE_CONFIGURATION_TYPE_URL), [WEB_CHAIN]);
  t.deepEqual(subs.get(CLUSTER_TYPE_URL), [...CLUSTERS].sort());
  t.deepEqual(subs.get(CLUSTER_LOAD_ASSIGNMENT_TYPE_URL), [...CLUSTERS].sort());
  t.deepEqual(subs.get(ADDRESS_TYPE_URL), ['*']);
  t.deepEqual(server.subscribed(CLUSTER_TYPE_URL), [...CLUSTERS].sort(), 'asked by name, never by wildcard');
  t.deepEqual(server.nacks, []);
});

test('an invalid resource is NACKed with resource, field and reason; the last good snapshot keeps serving', async (t) => {
  const { server, builder } = await setup(t);
  const good = await until('the first snapshot', () => builder.current());
  const nack = nextNack(server);
  server.set(
    ROUTE_CONFIGURATION_TYPE_URL,
    WEB_CHAIN,
    encode(T.route, { name: WEB_CHAIN, virtual_hosts: [{ name: 'web', domains: ['*'], routes: [{ match: { safe_regex: { regex: '/(?=admin)' } }, route: { cluster: WEB_V1 } }] }] }),
  );
  const { typeUrl, error } = await nack;
  t.is(typeUrl, ROUTE_CONFIGURATION_TYPE_URL);
  t.true(
    error.includes(`RouteConfiguration "${WEB_CHAIN}": virtual_hosts[0].routes[0].match.safe_regex.regex: look-ahead is not supported`),
    error,
  );
  t.is(builder.current(), good, 'nothing was applied');
  // A broken Listener is refused the same way, naming the field inside the filter's typed_config.
  const listenerNack = nextNack(server);
  server.set(LISTENER_TYPE_URL, LISTENER, encode(T.listener, { ...listener(), filter_chains: [], default_filter_chain: { name: 'x' } }));
  t.regex((await listenerNack).error, new RegExp(`Listener "${LISTENER.replace(/\//g, '\\/')}": default_filter_chain: is not supported`));
  t.is(builder.current(), good);
  // A fixed version is applied.
  server.set(ROUTE_CONFIGURATION_TYPE_URL, WEB_CHAIN, encode(T.route, webRoutes([{ name: WEB_V1, weight: 50 }, { name: WEB_V2, weight: 50 }])));
  const next = await until('the fixed snapshot', () => (builder.current() !== good ? builder.current() : undefined));
  const action = next.bindings.get(`${WEB_VIP}:80`)!.http!.routeTable.virtualHosts[0]!.routes[0]!.action as ForwardAction;
  t.deepEqual(action.clusters.map((c) => c.weight), [50, 50]);
});

test('subscriptions follow the routes: clusters no longer referenced are unsubscribed with their endpoints', async (t) => {
  const { server, builder, updater } = await setup(t);
  await until('the first snapshot', () => builder.current());
  server.set(ROUTE_CONFIGURATION_TYPE_URL, WEB_CHAIN, encode(T.route, webRoutes([{ name: WEB_V1, weight: 100 }])));
  await until('v2 unsubscribed', () => !server.subscribed(CLUSTER_TYPE_URL).includes(WEB_V2) && !server.subscribed(CLUSTER_LOAD_ASSIGNMENT_TYPE_URL).includes(WEB_V2));
  t.false(builder.current()!.clusters.has(WEB_V2));
  t.deepEqual(updater.subscriptions().get(CLUSTER_TYPE_URL), [DB_CLUSTER, WEB_ALL, WEB_V1].sort());
  t.true(server.requests.some((r) => r.type_url === CLUSTER_TYPE_URL && (r.resource_names_unsubscribe ?? []).includes(WEB_V2)));
  // And back: v2 is asked for again and returns to the snapshot.
  server.set(ROUTE_CONFIGURATION_TYPE_URL, WEB_CHAIN, encode(T.route, webRoutes()));
  const back = await until('v2 back with its endpoints', () => (builder.current()!.clusters.get(WEB_V2)?.endpoints.length === 1 ? builder.current() : undefined));
  t.is(back.clusters.get(WEB_V2)!.endpoints[0]!.ip, '10.244.2.6');
});

test('after close the updater refuses batches, which the client NACKs', async (t) => {
  const { server, builder, updater } = await setup(t);
  const before = await until('the first snapshot', () => builder.current());
  await updater.close();
  const nack = nextNack(server);
  server.set(CLUSTER_LOAD_ASSIGNMENT_TYPE_URL, WEB_V1, encode(T.cla, loadAssignment(WEB_V1, ['10.244.1.9'])));
  t.regex((await nack).error, /the waypoint xDS updater is closed/);
  t.is(builder.current(), before);
});
