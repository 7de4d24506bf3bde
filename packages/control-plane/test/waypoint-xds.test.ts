/**
 * A waypoint's view of the control plane: the real `@ambit/xds` client over real gRPC against the real
 * model (YAML on disk) and XdsServer, subscribing by name the way the waypoint does (Listener →
 * RouteConfiguration → Cluster → ClusterLoadAssignment), then seeing an HTTPRoute edit arrive as one
 * updated RouteConfiguration and nothing else. A wildcard subscription to an Envoy type works too.
 */
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import test, { type ExecutionContext } from 'ava';
import { envoyCodec, unpackAny } from '@ambit/protos';
import { XdsClient, codecResourceType, type NackEvent, type ResourceBatch } from '@ambit/xds';
import { Registry } from 'prom-client';
import { MeshModel } from '../src/model/mesh-model.js';
import type { EdsCluster as Cluster, ClusterLoadAssignment, Listener, RouteConfiguration } from '../src/model/waypoint-config/envoy-types.js';
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL } from '../src/server/envoy-tables.js';
import { XdsServer } from '../src/server/xds-server.js';
import { RawDeltaStream, adsClient, names } from './fixtures/ads-client.js';
import { bindInsecure, capturingLogger } from './fixtures/harness.js';
import { EXAMPLE } from './helpers.js';

const WAYPOINT_EXAMPLE = path.join(path.dirname(EXAMPLE), 'waypoint.yaml');
const LISTENER_NAME = 'waypoint/shop/waypoint';
const REVIEWS_ROUTE = 'inbound-vip|9080|http|reviews.shop.svc.cluster.local';

class Recorded<T> {
  readonly batches: ResourceBatch<T>[] = [];
  readonly state = new Map<string, T>();
  constructor(readonly wake: () => void) {}
  readonly handle = (batch: ResourceBatch<T>): void => {
    this.batches.push(batch);
    for (const u of batch.upserts) this.state.set(u.name, u.resource);
    for (const name of batch.removals) this.state.delete(name);
    this.wake();
  };
}

interface Plane {
  dir: string;
  model: MeshModel;
  xds: XdsServer;
  address: string;
}

/** The model over a copy of deploy/examples/waypoint.yaml, served by an XdsServer on insecure loopback gRPC. */
async function startPlane(t: ExecutionContext): Promise<Plane> {
  const dir = await mkdtemp(path.join(tmpdir(), 'cp-waypoint-xds-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await copyFile(WAYPOINT_EXAMPLE, path.join(dir, 'mesh.yaml'));
  const model = await MeshModel.load(dir);
  t.teardown(() => model.destroy());
  const { logger } = capturingLogger('warn');
  const xds = new XdsServer({ source: model, logger, registry: new Registry() });
  const server = new grpc.Server();
  xds.register(server);
  const port = await bindInsecure(server);
  t.teardown(() => {
    xds.destroy();
    server.forceShutdown();
  });
  return { dir, model, xds, address: `127.0.0.1:${port}` };
}

function waypointClient(t: ExecutionContext, address: string) {
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const w of [...waiters]) w();
  };
  const client = new XdsClient({ target: address, node: { id: 'waypoint~10.244.1.2~waypoint-7d9c5b7f6-k2lqz.shop~shop.svc.cluster.local' } });
  t.teardown(() => client.close());
  const listeners = new Recorded<Listener>(wake);
  const routes = new Recorded<RouteConfiguration>(wake);
  const clusters = new Recorded<Cluster>(wake);
  const endpoints = new Recorded<ClusterLoadAssignment>(wake);
  const nacks: NackEvent[] = [];
  client.addType(codecResourceType(envoyCodec<Listener>(LISTENER_TYPE_URL)), listeners.handle);
  client.addType(codecResourceType(envoyCodec<RouteConfiguration>(ROUTE_TYPE_URL)), routes.handle);
  client.addType(codecResourceType(envoyCodec<Cluster>(CLUSTER_TYPE_URL)), clusters.handle);
  client.addType(codecResourceType(envoyCodec<ClusterLoadAssignment>(ENDPOINT_TYPE_URL)), endpoints.handle);
  client.on('nack', (e) => {
    nacks.push(e);
    wake();
  });
  client.on('ack', wake);
  const until = (condition: () => boolean, what: string): Promise<void> => {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      // A guard against a hang, not a timing assertion.
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}`));
      }, 20_000);
      const check = (): void => {
        if (!condition()) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve();
      };
      waiters.add(check);
    });
  };
  return { client, listeners, routes, clusters, endpoints, nacks, until };
}

/** What a listener's HTTP chains name: route configurations; its TCP chains name clusters. */
function namedByListener(listener: Listener): { routes: string[]; clusters: string[] } {
  const routes: string[] = [];
  const clusters: string[] = [];
  for (const chain of listener.filter_chains) {
    for (const filter of chain.filters) {
      const config = unpackAny<Record<string, unknown>>(filter.typed_config);
      if (filter.name === 'envoy.filters.network.http_connection_manager') routes.push((config['rds'] as { route_config_name: string }).route_config_name);
      if (filter.name === 'envoy.filters.network.tcp_proxy') clusters.push(config['cluster'] as string);
    }
  }
  return { routes, clusters };
}

function namedByRoutes(configs: Iterable<RouteConfiguration>): string[] {
  const out = new Set<string>();
  for (const config of configs) {
    for (const route of config.virtual_hosts.flatMap((v) => v.routes)) {
      if (route.route?.cluster !== undefined) out.add(route.route.cluster);
      for (const w of route.route?.weighted_clusters?.clusters ?? []) out.add(w.name);
      for (const m of route.route?.request_mirror_policies ?? []) out.add(m.cluster);
    }
  }
  return [...out].sort();
}

function responses(xds: XdsServer, typeUrl: string): number {
  return xds.clients()[0]?.types.find((x) => x.typeUrl === typeUrl)?.responses ?? 0;
}

test('a waypoint subscribes by name step by step, and an HTTPRoute edit arrives as one updated RouteConfiguration only', async (t) => {
  const p = await startPlane(t);
  const c = waypointClient(t, p.address);
  c.client.start();

  c.client.subscribe(LISTENER_TYPE_URL, [LISTENER_NAME]);
  await c.until(() => c.listeners.state.has(LISTENER_NAME), 'the listener');
  const listener = c.listeners.state.get(LISTENER_NAME)!;
  const named = namedByListener(listener);
  t.deepEqual(named.routes.sort(), [
    'inbound-vip|9080|http|reviews-v1.shop.svc.cluster.local',
    'inbound-vip|9080|http|reviews-v2.shop.svc.cluster.local',
    REVIEWS_ROUTE,
  ]);

  c.client.subscribe(ROUTE_TYPE_URL, named.routes);
  await c.until(() => named.routes.every((n) => c.routes.state.has(n)), 'the route configurations');
  const clusterNames = [...new Set([...namedByRoutes(c.routes.state.values()), ...named.clusters])].sort();
  t.deepEqual(clusterNames, ['outbound|9080||reviews-v1.shop.svc.cluster.local', 'outbound|9080||reviews-v2.shop.svc.cluster.local']);

  c.client.subscribe(CLUSTER_TYPE_URL, clusterNames);
  await c.until(() => clusterNames.every((n) => c.clusters.state.has(n)), 'the clusters');
  const edsNames = [...c.clusters.state.values()].map((cl) => cl.eds_cluster_config.service_name).sort();
  t.deepEqual(edsNames, clusterNames);

  c.client.subscribe(ENDPOINT_TYPE_URL, edsNames);
  await c.until(() => edsNames.every((n) => c.endpoints.state.has(n)), 'the load assignments');
  t.deepEqual(
    c.endpoints.state.get(clusterNames[0]!)!.endpoints.flatMap((l) => l.lb_endpoints.map((e) => e.endpoint.address.socket_address)),
    [{ address: '10.244.1.21', port_value: 9080, port_specifier: 'port_value' }],
  );
  // Only what was asked for arrived: by name, not wildcard.
  t.deepEqual([...c.listeners.state.keys()], [LISTENER_NAME]);
  t.deepEqual(c.nacks, []);
  const split = c.routes.state.get(REVIEWS_ROUTE)!.virtual_hosts[0]!.routes[1]!;
  t.deepEqual(split.route?.weighted_clusters?.clusters.map((w) => w.weight), [{ value: 90 }, { value: 10 }]);

  // Edit the split on disk and reload: the server pushes the one changed RouteConfiguration.
  const before = { listener: responses(p.xds, LISTENER_TYPE_URL), route: responses(p.xds, ROUTE_TYPE_URL), cluster: responses(p.xds, CLUSTER_TYPE_URL), eds: responses(p.xds, ENDPOINT_TYPE_URL) };
  const batchesBefore = { listeners: c.listeners.batches.length, routes: c.routes.batches.length, clusters: c.clusters.batches.length, endpoints: c.endpoints.batches.length };
  const file = path.join(p.dir, 'mesh.yaml');
  const text = await readFile(file, 'utf8');
  await writeFile(file, text.replace('weight: 90', 'weight: 50').replace('weight: 10', 'weight: 50'));
  const next = await p.model.reload();
  t.deepEqual(next.diagnostics, []);
  // The server pushes synchronously when the model publishes: its counts are final for this snapshot.
  t.deepEqual(
    { listener: responses(p.xds, LISTENER_TYPE_URL), route: responses(p.xds, ROUTE_TYPE_URL), cluster: responses(p.xds, CLUSTER_TYPE_URL), eds: responses(p.xds, ENDPOINT_TYPE_URL) },
    { ...before, route: before.route + 1 },
  );
  await c.until(() => c.routes.batches.length === batchesBefore.routes + 1, 'the updated route configuration');
  const update = c.routes.batches.at(-1)!;
  t.deepEqual(update.upserts.map((u) => u.name), [REVIEWS_ROUTE]);
  t.deepEqual(update.removals, []);
  t.deepEqual(
    c.routes.state.get(REVIEWS_ROUTE)!.virtual_hosts[0]!.routes[1]!.route?.weighted_clusters?.clusters.map((w) => w.weight),
    [{ value: 50 }, { value: 50 }],
  );
  t.deepEqual(
    { listeners: c.listeners.batches.length, clusters: c.clusters.batches.length, endpoints: c.endpoints.batches.length },
    { listeners: batchesBefore.listeners, clusters: batchesBefore.clusters, endpoints: batchesBefore.endpoints },
  );
  t.deepEqual(c.nacks, []);
});

test('Envoy types answer wildcard subscriptions too; a name that does not exist is answered as removed', async (t) => {
  const p = await startPlane(t);
  const client = adsClient(p.address);
  t.teardown(() => client.close());
  const s = new RawDeltaStream(client);
  s.send({ node: { id: 'waypoint~1' }, type_url: CLUSTER_TYPE_URL });
  const all = await s.next();
  t.deepEqual(names(all), ['outbound|9080||reviews-v1.shop.svc.cluster.local', 'outbound|9080||reviews-v2.shop.svc.cluster.local']);
  t.is(all.resources?.[0]?.resource?.type_url, CLUSTER_TYPE_URL);
  s.ack(all);
  s.send({ type_url: LISTENER_TYPE_URL, resource_names_subscribe: ['waypoint/shop/nowhere'] });
  const missing = await s.next();
  t.deepEqual(missing.resources ?? [], []);
  t.deepEqual(missing.removed_resources, ['waypoint/shop/nowhere']);
  s.close();
});
