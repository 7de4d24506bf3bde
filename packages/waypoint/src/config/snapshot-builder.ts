/**
 * The single writer of the waypoint's configuration: holds the last accepted (already compiled) Listener,
 * RouteConfigurations, Clusters, ClusterLoadAssignments and Addresses, follows the references between
 * them (Listener → route configurations → clusters → load assignments, endpoints → addresses), and
 * publishes a new frozen `WaypointSnapshot` when something it uses changed and every reference resolves.
 *
 * A reference that does not resolve holds the snapshot back, for at most the initial-fetch timeout
 * (Envoy's 15 s) from when it was first missed; after that the snapshot is built without it: a missing
 * route configuration is an empty route table (404), a missing cluster is absent (503 `NC`), a missing
 * load assignment is a cluster without endpoints (503 `UH`).
 *
 * It also says which names the xDS client should ask for (`wanted()`), which follows from what it holds:
 * the xDS glue (`WaypointXdsUpdater`) turns changes of it into subscribe/unsubscribe calls.
 */
import { EventEmitter } from 'node:events';
import { ADDRESS_TYPE_URL } from '@ambit/protos';
import type { Rejection, ResourceBatch } from '@ambit/xds';
import { realClock, type Clock, type Timer } from '@ambit/mesh-core/lifecycle';
import { silentLogger, type Logger } from '@ambit/mesh-core/telemetry';
import type { Binding, Cluster, Endpoint, HttpChain, RouteTable, WaypointSnapshot } from './types.js';
import { HBONE_PORT, type AddressInfo, type WorkloadInfo } from './address.js';
import type { ClusterSpec } from './cluster.js';
import { ImmutableMap } from './immutable-map.js';
import { resolveBinding, type BindingSpec, type CompiledListener } from './listener.js';
import type { CompiledLoadAssignment } from './load-assignment.js';
import type { CompiledRouteConfiguration } from './route-config.js';
import { TYPE_URL_PREFIX } from './values.js';

export const LISTENER_TYPE_URL = `${TYPE_URL_PREFIX}envoy.config.listener.v3.Listener`;
export const ROUTE_CONFIGURATION_TYPE_URL = `${TYPE_URL_PREFIX}envoy.config.route.v3.RouteConfiguration`;
export const CLUSTER_TYPE_URL = `${TYPE_URL_PREFIX}envoy.config.cluster.v3.Cluster`;
export const CLUSTER_LOAD_ASSIGNMENT_TYPE_URL = `${TYPE_URL_PREFIX}envoy.config.endpoint.v3.ClusterLoadAssignment`;
export { ADDRESS_TYPE_URL };

/** Envoy's default `initial_fetch_timeout`. */
export const DEFAULT_INITIAL_FETCH_TIMEOUT_MS = 15_000;

export interface SnapshotBuilderOptions {
  /** The Listener to follow: `waypoint/<gateway namespace>/<gateway name>`. */
  readonly listenerName: string;
  /** This waypoint's own identity, carried into every snapshot. */
  readonly identity: string;
  readonly initialFetchTimeoutMs?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

/** Called with each published snapshot and the one it replaced (undefined for the first). */
export type WaypointSnapshotListener = (current: WaypointSnapshot, previous: WaypointSnapshot | undefined) => void;

/** The builder's events: `change` after every published snapshot. */
export interface WaypointSnapshotEvents {
  change: [current: WaypointSnapshot, previous: WaypointSnapshot | undefined];
}

const NO_REJECTIONS: readonly Rejection[] = Object.freeze([]);
const EMPTY_NAMES: readonly string[] = Object.freeze([]);
const WILDCARD: readonly string[] = Object.freeze(['*']);

/** What a binding was built from (see `#builtBindings`). */
interface BuiltBinding {
  readonly spec: BindingSpec;
  readonly table: RouteTable | undefined;
  readonly binding: Binding;
}

/** What a cluster was built from. */
interface BuiltCluster {
  readonly spec: ClusterSpec;
  readonly assignment: CompiledLoadAssignment | undefined;
  /** An ORIGINAL_DST cluster's targets. */
  readonly targets: ReadonlyMap<string, Endpoint> | undefined;
  readonly cluster: Cluster;
}

/** ORIGINAL_DST targets as built, and the listener's every-port IPs they were built for. */
interface BuiltTargets {
  readonly ips: readonly string[];
  readonly map: ReadonlyMap<string, Endpoint>;
}

/** A reference that did not resolve: `RouteConfiguration "name"`. */
type MissingKey = string;

/**
 * Also the data path's snapshot source: `current()` and the `change` event. A listener that throws is
 * logged and does not affect the others, the published snapshot, or the ACK of the response applied.
 */
export class WaypointSnapshotBuilder extends EventEmitter<WaypointSnapshotEvents> {
  readonly #listenerName: string;
  readonly #identity: string;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #listeners = new Map<string, CompiledListener>();
  readonly #routes = new Map<string, CompiledRouteConfiguration>();
  readonly #clusters = new Map<string, ClusterSpec>();
  readonly #assignments = new Map<string, CompiledLoadAssignment>();
  readonly #addresses = new Map<string, AddressInfo>();
  /** Workloads by canonical IP, kept in step with `#addresses`. */
  readonly #workloadsByIp = new Map<string, WorkloadInfo>();
  /** The endpoint IPs the current snapshot uses: an Address change elsewhere needs no rebuild. */
  #endpointIps = new Set<string>();
  /** IPs whose Address changed since the last build: the clusters holding them are rebuilt. */
  readonly #dirtyIps = new Set<string>();
  /**
   * What the last build made from which inputs. An output whose inputs are the same objects is reused, so
   * consumers that compare by identity (the data path's cluster manager) see only what really changed.
   */
  #builtClusters = new Map<string, BuiltCluster>();
  #builtBindings = new Map<string, BuiltBinding>();
  #builtTargets: BuiltTargets | undefined;
  readonly #emptyTables = new Map<string, RouteTable>();
  /** When each still-missing reference was first missed. */
  readonly #missingSince = new Map<MissingKey, number>();
  #timer: Timer | undefined;
  #current: WaypointSnapshot | undefined;
  #generation = 0;
  #closed = false;

  constructor(options: SnapshotBuilderOptions) {
    super();
    if (options.listenerName === '') throw new RangeError('listenerName is empty');
    this.#listenerName = options.listenerName;
    this.#identity = options.identity;
    this.#timeoutMs = options.initialFetchTimeoutMs ?? DEFAULT_INITIAL_FETCH_TIMEOUT_MS;
    this.#clock = options.clock ?? realClock;
    this.#logger = (options.logger ?? silentLogger()).child({ component: 'waypoint-config' });
  }

  /** The last published snapshot; undefined until the first one. The data path reads it once per request. */
  current(): WaypointSnapshot | undefined {
    return this.#current;
  }

  /** References not resolved yet, e.g. `Cluster "outbound|80||web.default.svc.cluster.local"` (for readiness and logs). */
  pending(): string[] {
    return [...this.#missing()];
  }

  /** The names to ask the server for, per type URL, following the references of what is held. */
  wanted(): ReadonlyMap<string, readonly string[]> {
    const routes = this.#wantedRoutes();
    const clusters = this.#wantedClusters(routes);
    return new Map<string, readonly string[]>([
      [LISTENER_TYPE_URL, [this.#listenerName]],
      [ROUTE_CONFIGURATION_TYPE_URL, routes],
      [CLUSTER_TYPE_URL, clusters],
      [CLUSTER_LOAD_ASSIGNMENT_TYPE_URL, this.#wantedAssignments(clusters)],
      [ADDRESS_TYPE_URL, WILDCARD],
    ]);
  }

  // ---- xDS handlers: each applies a batch and returns no rejection (the compilers rejected already) ----

  applyListeners(batch: ResourceBatch<CompiledListener>): readonly Rejection[] {
    const touched = this.#apply(this.#listeners, batch);
    this.#changed(touched.has(this.#listenerName));
    return NO_REJECTIONS;
  }

  applyRouteConfigurations(batch: ResourceBatch<CompiledRouteConfiguration>): readonly Rejection[] {
    const wanted = new Set(this.#wantedRoutes());
    const touched = this.#apply(this.#routes, batch);
    this.#changed(intersects(touched, wanted));
    return NO_REJECTIONS;
  }

  applyClusters(batch: ResourceBatch<ClusterSpec>): readonly Rejection[] {
    const wanted = new Set(this.#wantedClusters(this.#wantedRoutes()));
    const touched = this.#apply(this.#clusters, batch);
    this.#changed(intersects(touched, wanted));
    return NO_REJECTIONS;
  }

  applyLoadAssignments(batch: ResourceBatch<CompiledLoadAssignment>): readonly Rejection[] {
    const wanted = new Set(this.#wantedAssignments(this.#wantedClusters(this.#wantedRoutes())));
    const touched = this.#apply(this.#assignments, batch);
    this.#changed(intersects(touched, wanted));
    return NO_REJECTIONS;
  }

  applyAddresses(batch: ResourceBatch<AddressInfo>): readonly Rejection[] {
    this.#checkOpen();
    let affects = false;
    const forget = (name: string): void => {
      const old = this.#addresses.get(name);
      if (old?.kind !== 'workload') return;
      for (const ip of old.workload.addresses) {
        if (this.#workloadsByIp.get(ip) === old.workload) this.#workloadsByIp.delete(ip);
        if (this.#endpointIps.has(ip)) {
          affects = true;
          this.#dirtyIps.add(ip);
        }
      }
    };
    for (const name of batch.removals) {
      forget(name);
      this.#addresses.delete(name);
    }
    for (const u of batch.upserts) {
      forget(u.name);
      this.#addresses.set(u.name, u.resource);
      if (u.resource.kind !== 'workload') continue;
      for (const ip of u.resource.workload.addresses) {
        this.#workloadsByIp.set(ip, u.resource.workload);
        if (this.#endpointIps.has(ip)) {
          affects = true;
          this.#dirtyIps.add(ip);
        }
      }
    }
    this.#changed(affects);
    return NO_REJECTIONS;
  }

  /** Stops the timer and drops the `change` listeners; later batches throw (the xDS client NACKs them). */
  close(): Promise<void> {
    this.destroy();
    return Promise.resolve();
  }

  destroy(): void {
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.removeAllListeners('change');
  }

  // ---- internals ----

  #checkOpen(): void {
    if (this.#closed) throw new Error('the waypoint snapshot builder is closed');
  }

  #apply<T>(held: Map<string, T>, batch: ResourceBatch<T>): Set<string> {
    this.#checkOpen();
    const touched = new Set<string>();
    for (const name of batch.removals) if (held.delete(name)) touched.add(name);
    for (const u of batch.upserts) {
      held.set(u.name, u.resource);
      touched.add(u.name);
    }
    return touched;
  }

  #listener(): CompiledListener | undefined {
    return this.#listeners.get(this.#listenerName);
  }

  #wantedRoutes(): readonly string[] {
    return this.#listener()?.routeConfigNames ?? EMPTY_NAMES;
  }

  #wantedClusters(routes: readonly string[]): readonly string[] {
    const names = new Set<string>(this.#listener()?.tcpClusters ?? EMPTY_NAMES);
    for (const r of routes) for (const c of this.#routes.get(r)?.clusterNames ?? EMPTY_NAMES) names.add(c);
    return [...names].sort();
  }

  #wantedAssignments(clusters: readonly string[]): readonly string[] {
    const names = new Set<string>();
    for (const c of clusters) {
      const spec = this.#clusters.get(c);
      if (spec !== undefined && 'edsServiceName' in spec) names.add(spec.edsServiceName);
    }
    return [...names].sort();
  }

  /** Every reference of the current listener that does not resolve. */
  #missing(): Set<MissingKey> {
    const missing = new Set<MissingKey>();
    if (this.#listener() === undefined) {
      missing.add(`Listener ${JSON.stringify(this.#listenerName)}`);
      return missing;
    }
    const routes = this.#wantedRoutes();
    for (const r of routes) if (!this.#routes.has(r)) missing.add(`RouteConfiguration ${JSON.stringify(r)}`);
    const clusters = this.#wantedClusters(routes);
    for (const c of clusters) if (!this.#clusters.has(c)) missing.add(`Cluster ${JSON.stringify(c)}`);
    for (const a of this.#wantedAssignments(clusters)) if (!this.#assignments.has(a)) missing.add(`ClusterLoadAssignment ${JSON.stringify(a)}`);
    return missing;
  }

  #changed(relevant: boolean): void {
    if (relevant) this.#tryBuild();
  }

  /** Builds and publishes if nothing missing is still within its initial-fetch timeout; else waits. */
  #tryBuild(): void {
    const now = this.#clock.now();
    const missing = this.#missing();
    for (const key of [...this.#missingSince.keys()]) if (!missing.has(key)) this.#missingSince.delete(key);
    let earliestDue = Infinity;
    for (const key of missing) {
      let since = this.#missingSince.get(key);
      if (since === undefined) {
        since = now;
        this.#missingSince.set(key, since);
      }
      const due = since + this.#timeoutMs;
      if (due > now) earliestDue = Math.min(earliestDue, due);
    }
    this.#timer?.cancel();
    this.#timer = undefined;
    if (this.#listener() === undefined) {
      // Nothing to build before the listener arrives; once it is removed, nothing is bound any more.
      if (this.#current !== undefined) this.#publish(this.#build());
      return;
    }
    if (earliestDue !== Infinity) {
      this.#timer = this.#clock.setTimeout(() => {
        this.#timer = undefined;
        if (!this.#closed) this.#tryBuild();
      }, earliestDue - now, { keepAlive: false });
      this.#logger.debug({ missing: [...missing] }, 'waiting for referenced resources before building a snapshot');
      return;
    }
    if (missing.size > 0) this.#logger.warn({ missing: [...missing] }, 'building a snapshot without resources that did not arrive within the initial fetch timeout');
    this.#publish(this.#build());
  }

  #build(): WaypointSnapshot {
    const listener = this.#listener();
    const bindings = new Map<string, Binding>();
    const clusters = new Map<string, Cluster>();
    const endpointIps = new Set<string>();
    const builtBindings = new Map<string, BuiltBinding>();
    const builtClusters = new Map<string, BuiltCluster>();
    if (listener !== undefined) {
      for (const [key, spec] of listener.bindings) {
        const table = spec.http === undefined ? undefined : this.#routeTable(spec.http.routeConfigName);
        const previous = this.#builtBindings.get(key);
        let binding: Binding;
        if (previous !== undefined && previous.spec === spec && previous.table === table) {
          binding = previous.binding;
        } else {
          let http: HttpChain | undefined;
          if (spec.http !== undefined && table !== undefined) {
            const { routeConfigName: _name, ...chain } = spec.http;
            http = Object.freeze({ ...chain, routeTable: table });
          }
          binding = resolveBinding(spec, http);
        }
        bindings.set(key, binding);
        builtBindings.set(key, { spec, table, binding });
      }
      for (const name of this.#wantedClusters(this.#wantedRoutes())) {
        const spec = this.#clusters.get(name);
        if (spec === undefined) continue;
        if ('originalDestination' in spec) {
          const targets = this.#originalTargets(listener.anyPortIps);
          const previous = this.#builtClusters.get(name);
          const cluster =
            previous !== undefined && previous.spec === spec && previous.targets === targets
              ? previous.cluster
              : Object.freeze({ ...spec, endpoints: NO_ENDPOINTS, originalDestination: Object.freeze({ ...spec.originalDestination, targets }) });
          for (const ip of listener.anyPortIps) endpointIps.add(ip);
          clusters.set(name, cluster);
          builtClusters.set(name, { spec, assignment: undefined, targets, cluster });
          continue;
        }
        const assignment = this.#assignments.get(spec.edsServiceName);
        const previous = this.#builtClusters.get(name);
        let cluster: Cluster;
        if (previous !== undefined && previous.spec === spec && previous.assignment === assignment && !this.#touchesDirty(assignment)) {
          cluster = previous.cluster;
        } else {
          const { edsServiceName: _eds, ...rest } = spec;
          cluster = Object.freeze({ ...rest, endpoints: Object.freeze((assignment?.endpoints ?? []).map((e) => this.#endpoint(e))) });
        }
        for (const e of cluster.endpoints) endpointIps.add(e.ip);
        clusters.set(name, cluster);
        builtClusters.set(name, { spec, assignment, targets: undefined, cluster });
      }
    }
    this.#endpointIps = endpointIps;
    this.#builtBindings = builtBindings;
    this.#builtClusters = builtClusters;
    this.#dirtyIps.clear();
    this.#generation += 1;
    return Object.freeze({
      version: String(this.#generation),
      identity: this.#identity,
      bindings: new ImmutableMap(bindings),
      clusters: new ImmutableMap(clusters),
    });
  }

  /** The route table of `name`, or (past the initial-fetch timeout) a shared empty one. */
  #routeTable(name: string): RouteTable {
    const held = this.#routes.get(name)?.table;
    if (held !== undefined) {
      this.#emptyTables.delete(name);
      return held;
    }
    let empty = this.#emptyTables.get(name);
    if (empty === undefined) {
      empty = Object.freeze({ name, virtualHosts: Object.freeze([]) });
      this.#emptyTables.set(name, empty);
    }
    return empty;
  }

  /**
   * Where ORIGINAL_DST clusters may send: the IPs the listener binds on every port that have a workload
   * Address, each with how to reach it. The same map while neither the IPs nor their Addresses changed.
   */
  #originalTargets(ips: readonly string[]): ReadonlyMap<string, Endpoint> {
    const last = this.#builtTargets;
    if (last !== undefined && last.ips === ips && !ips.some((ip) => this.#dirtyIps.has(ip))) return last.map;
    const map = new Map<string, Endpoint>();
    for (const ip of ips) {
      // No Address, no target: the identity to expect is unknown, and plain text would skip mTLS.
      if (this.#workloadsByIp.has(ip)) map.set(ip, this.#endpoint({ ip, port: 0, weight: 1, healthy: true, locality: NO_LOCALITY }));
    }
    const built = { ips, map: new ImmutableMap(map) };
    this.#builtTargets = built;
    return built.map;
  }

  #touchesDirty(assignment: CompiledLoadAssignment | undefined): boolean {
    if (assignment === undefined || this.#dirtyIps.size === 0) return false;
    for (const e of assignment.endpoints) if (this.#dirtyIps.has(e.ip)) return true;
    return false;
  }

  #endpoint(e: Omit<Endpoint, 'transport' | 'workload'>): Endpoint {
    const w = this.#workloadsByIp.get(e.ip);
    const transport: Endpoint['transport'] = w?.hbone === true ? Object.freeze({ kind: 'hbone', identity: w.identity, hbonePort: HBONE_PORT }) : PLAIN;
    const workload: Endpoint['workload'] =
      w === undefined
        ? undefined
        : Object.freeze({ name: w.name, namespace: w.namespace, serviceAccount: w.serviceAccount, canonicalName: w.canonicalName, canonicalRevision: w.canonicalRevision, clusterId: w.clusterId });
    return Object.freeze({ ...e, transport, workload });
  }

  #publish(next: WaypointSnapshot): void {
    const previous = this.#current;
    this.#current = next;
    this.#logger.debug({ version: next.version, bindings: next.bindings.size, clusters: next.clusters.size }, 'published waypoint snapshot');
    // Not `emit`: a throwing listener would abort the others and fail the xDS handler (a NACK).
    for (const listener of this.rawListeners('change') as WaypointSnapshotListener[]) {
      try {
        listener.call(this, next, previous);
      } catch (err) {
        this.#logger.error({ err, version: next.version }, 'a snapshot listener threw; the snapshot stays published');
      }
    }
  }
}

const PLAIN: Endpoint['transport'] = Object.freeze({ kind: 'plain' });
const NO_ENDPOINTS: readonly Endpoint[] = Object.freeze([]);
const NO_LOCALITY: Endpoint['locality'] = Object.freeze({ region: '', zone: '', subZone: '' });

function intersects(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  for (const x of a) if (b.has(x)) return true;
  return false;
}
