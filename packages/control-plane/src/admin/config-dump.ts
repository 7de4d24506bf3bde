/**
 * `/debug/config_dump`: everything the control plane is serving and to whom, in one JSON document.
 *
 * - `snapshot`: version, input diagnostics, resources that could not be encoded;
 * - `addresses` / `authorizations`: every served resource as `{ name, version, aliases?, resource }`, the
 *   resource readable (IPs as text, identities spelled out);
 * - `listeners` / `routes` / `clusters` / `endpoints`: the waypoints' Envoy resources, nested `Any`s
 *   unpacked with their `@type`;
 * - `nodes`: the identities each node's ztunnel may obtain from the CA;
 * - `waypoints`: each waypoint's identity (what its token may obtain);
 * - `clients`: connected xDS streams (node id and metadata, subscriptions, last ACK/NACK per type);
 * - `ca`: trust domain, roots, token counts, issuance counters;
 * - `server`: listen address, serving names and identity.
 * Tokens never appear.
 */
import { parseCertificate, splitPemChain } from '@ambit/mesh-core/identity';
import { addressCodec, authorizationCodec, envoyCodec } from '@ambit/protos';
import type { CaCounters } from '../ca/counting-ca.js';
import type { ResourceTable } from '../server/resource-table.js';
import type { JsonValue } from '../server/struct-json.js';
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL } from '../server/envoy-tables.js';
import type { XdsServer } from '../server/xds-server.js';
import { readableEnvoy } from './readable-envoy.js';
import { readableAddress, readableAuthorization } from './readable.js';

export interface CaDumpSource {
  readonly trustDomain: string;
  readonly rootsPem: readonly string[];
  counters(): CaCounters;
  /** Static tokens from the token file. */
  readonly staticTokens: number;
  /** Nodes with a generated token. */
  nodesWithTokens(): readonly string[];
  /** Waypoints (`namespace/name`) whose generated token is accepted. */
  waypointsWithTokens?(): readonly string[];
}

export interface ServerDumpSource {
  readonly listen: string;
  readonly serverNames: readonly string[];
  readonly identity: string;
  readonly xdsRequireToken: boolean;
  readonly clusterId: string;
  readonly rootCertPath?: string;
}

export interface ConfigDumpSources {
  readonly xds: XdsServer;
  readonly ca: CaDumpSource;
  readonly server: ServerDumpSource;
}

function resources(table: ResourceTable, decode: (bytes: Buffer) => Record<string, JsonValue>): JsonValue[] {
  const out: JsonValue[] = [];
  for (const entry of [...table.entries.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    out.push({ name: entry.name, version: entry.version, ...(entry.aliases.length ? { aliases: [...entry.aliases] } : {}), resource: decode(entry.bytes) });
  }
  return out;
}

function envoyResources(served: XdsServer['served'], typeUrl: string): JsonValue[] {
  const table = served.envoy.get(typeUrl);
  if (table === undefined) return [];
  const codec = envoyCodec<object>(typeUrl);
  return resources(table, (b) => readableEnvoy(codec.decode(b)));
}

/** The config_dump document. Resources are shown as served (decoded from the bytes sent on the wire). */
export function configDump(sources: ConfigDumpSources): JsonValue {
  const served = sources.xds.served;
  const snapshot = served.snapshot;
  const nodes: Record<string, JsonValue> = {};
  for (const node of [...snapshot.identitiesByNode.keys()].sort()) nodes[node] = [...snapshot.identitiesByNode.get(node)!].sort();
  const ca = sources.ca;
  const roots = splitPemChain([...ca.rootsPem]).map((pem) => {
    const c = parseCertificate(pem);
    return { subject: c.x509.subject.replace(/\n/g, ', '), notAfter: c.notAfter.toISOString(), sha256: c.x509.fingerprint256 };
  });
  return {
    snapshot: {
      version: snapshot.version,
      diagnostics: snapshot.diagnostics.map((d) => ({ ...d })) as unknown as JsonValue,
      encodeProblems: served.encodeProblems.map((p) => ({ ...p })),
    },
    addresses: resources(served.addresses, (b) => readableAddress(addressCodec().decode(b))),
    authorizations: resources(served.authorizations, (b) => readableAuthorization(authorizationCodec().decode(b))),
    listeners: envoyResources(served, LISTENER_TYPE_URL),
    routes: envoyResources(served, ROUTE_TYPE_URL),
    clusters: envoyResources(served, CLUSTER_TYPE_URL),
    endpoints: envoyResources(served, ENDPOINT_TYPE_URL),
    nodes,
    waypoints: Object.fromEntries(snapshot.waypoints?.identities ?? []),
    clients: sources.xds.clients() as unknown as JsonValue,
    ca: {
      trustDomain: ca.trustDomain,
      roots,
      tokens: { static: ca.staticTokens, nodes: [...ca.nodesWithTokens()], waypoints: [...(ca.waypointsWithTokens?.() ?? [])] },
      counters: ca.counters() as unknown as JsonValue,
    },
    server: { ...sources.server, serverNames: [...sources.server.serverNames] },
  };
}
