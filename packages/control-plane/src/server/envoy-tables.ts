/**
 * The waypoints' Envoy resources as served tables: Listener, RouteConfiguration, Cluster and
 * ClusterLoadAssignment, each encoded once per snapshot (nested `typed_config` values are already
 * encoded `Any`s in the model's objects, with their own type URLs) and diffed like the Istio types, so
 * that a stream is sent only the resources whose bytes changed. Waypoints subscribe to them by name
 * (listener → routes → clusters → endpoints); wildcard subscriptions work too.
 */
import { envoyCodec, TYPE_URL_PREFIX } from '@ambit/protos';
import type { MeshSnapshot } from '../model/snapshot.js';
import type { WaypointResources } from '../model/waypoint-config/build.js';
import { diffTables, TableBuilder, type EncodeProblem, type ResourceTable, type TableDiff } from './resource-table.js';

export const LISTENER_TYPE_URL = `${TYPE_URL_PREFIX}envoy.config.listener.v3.Listener`;
export const ROUTE_TYPE_URL = `${TYPE_URL_PREFIX}envoy.config.route.v3.RouteConfiguration`;
export const CLUSTER_TYPE_URL = `${TYPE_URL_PREFIX}envoy.config.cluster.v3.Cluster`;
export const ENDPOINT_TYPE_URL = `${TYPE_URL_PREFIX}envoy.config.endpoint.v3.ClusterLoadAssignment`;

/** The Envoy types served, in the order a waypoint subscribes to them. */
export const ENVOY_TYPES: readonly string[] = Object.freeze([LISTENER_TYPE_URL, ROUTE_TYPE_URL, CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL]);

const EMPTY: ReadonlyMap<string, object> = new Map();
const NO_CHANGE: TableDiff = Object.freeze({ upserted: [], removed: [] });

function resourcesOf(waypoints: WaypointResources | undefined, typeUrl: string): ReadonlyMap<string, object> {
  if (waypoints === undefined) return EMPTY;
  switch (typeUrl) {
    case LISTENER_TYPE_URL:
      return waypoints.listeners;
    case ROUTE_TYPE_URL:
      return waypoints.routes;
    case CLUSTER_TYPE_URL:
      return waypoints.clusters;
    default:
      return waypoints.endpoints;
  }
}

export class EnvoyTables {
  readonly #builders = new Map<string, TableBuilder<object>>(ENVOY_TYPES.map((typeUrl) => [typeUrl, new TableBuilder(envoyCodec<object>(typeUrl))]));

  /** One table per Envoy type for `snapshot`; resources that cannot be encoded are reported in `problems`. */
  build(snapshot: MeshSnapshot, problems: EncodeProblem[]): ReadonlyMap<string, ResourceTable> {
    const tables = new Map<string, ResourceTable>();
    for (const [typeUrl, builder] of this.#builders) tables.set(typeUrl, builder.build(resourcesOf(snapshot.waypoints, typeUrl), problems));
    return tables;
  }
}

/** What changed per Envoy type between two sets of tables. */
export function diffEnvoyTables(previous: ReadonlyMap<string, ResourceTable>, next: ReadonlyMap<string, ResourceTable>): Map<string, TableDiff> {
  const out = new Map<string, TableDiff>();
  for (const [typeUrl, table] of next) {
    const before = previous.get(typeUrl);
    // The builder hands back the same table when the type's resources did not change.
    out.set(typeUrl, before === table ? NO_CHANGE : diffTables(before, table));
  }
  return out;
}
