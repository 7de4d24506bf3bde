/**
 * envoy.config.cluster.v3.Cluster → everything of a `Cluster` except its endpoints, which come from the
 * ClusterLoadAssignment named by `edsServiceName` and are joined in by the snapshot builder. An
 * ORIGINAL_DST cluster (Envoy's: `lb_policy: CLUSTER_PROVIDED`, no load assignment) has no endpoints: each
 * request goes to the address its tunnel was sent to; the builder joins in which addresses those may be.
 */
import type { CircuitBreaker, Cluster, LbPolicy, OutlierDetection } from './types.js';
import type * as envoy from './envoy-types.js';
import { compileResource, invalid, join } from './errors.js';
import { enumOf, list, optionalDurationMs, refuseFields, uint32, unpackTyped } from './values.js';

export const CLUSTER_TYPE = 'envoy.config.cluster.v3.Cluster';
export const HTTP_PROTOCOL_OPTIONS_KEY = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

/** Envoy's defaults. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
export const DEFAULT_CIRCUIT_BREAKER: CircuitBreaker = Object.freeze({ maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 });
export const DEFAULT_OUTLIER = Object.freeze({ consecutive5xx: 5, intervalMs: 10_000, baseEjectionMs: 30_000, maxEjectionPercent: 10 });
/** Envoy's `cleanup_interval` default: how long an ORIGINAL_DST host may stay unused. */
export const DEFAULT_CLEANUP_INTERVAL_MS = 5_000;

/** A compiled Cluster without endpoints: an EDS cluster names its load assignment, an ORIGINAL_DST one has none. */
export type ClusterSpec = Omit<Cluster, 'endpoints' | 'originalDestination'> &
  (
    | {
        /** The ClusterLoadAssignment to subscribe to (`eds_cluster_config.service_name`, else the cluster name). */
        readonly edsServiceName: string;
      }
    | { readonly originalDestination: { readonly cleanupIntervalMs: number } }
  );

const LB_POLICIES: Record<string, LbPolicy> = {
  ROUND_ROBIN: 'round-robin',
  LEAST_REQUEST: 'least-request',
  RANDOM: 'random',
  RING_HASH: 'ring-hash',
  MAGLEV: 'maglev',
};

function compileCircuitBreaker(c: envoy.Cluster['circuit_breakers'], at: string): CircuitBreaker {
  let found: envoy.CircuitBreakerThresholds | undefined;
  for (const [i, t] of list(c?.thresholds).entries()) {
    const priority = enumOf(t.priority, 'DEFAULT', ['DEFAULT', 'HIGH'], join(at, `thresholds[${i}].priority`));
    // HIGH-priority routes do not exist in the waypoint: their thresholds would never apply.
    if (priority !== 'DEFAULT') continue;
    if (found !== undefined) invalid(join(at, `thresholds[${i}]`), 'a second DEFAULT-priority threshold');
    found = t;
  }
  if (found === undefined) return DEFAULT_CIRCUIT_BREAKER;
  const d = DEFAULT_CIRCUIT_BREAKER;
  return Object.freeze({
    maxConnections: uint32(found.max_connections, d.maxConnections),
    maxPendingRequests: uint32(found.max_pending_requests, d.maxPendingRequests),
    maxRequests: uint32(found.max_requests, d.maxRequests),
    maxRetries: uint32(found.max_retries, d.maxRetries),
  });
}

/** An `enforcing_*` percentage: only all (100) or nothing (0) can be honoured; `fallback` when absent. */
function enforcing(v: envoy.UInt32Value | undefined, fallback: boolean, at: string): boolean {
  if (v === undefined) return fallback;
  const n = v.value ?? 0;
  if (n !== 0 && n !== 100) invalid(at, `${n}% is not supported (0 or 100)`);
  return n === 100;
}

function compileOutlier(o: envoy.OutlierDetection, at: string): OutlierDetection {
  if (o.split_external_local_origin_errors === true) invalid(join(at, 'split_external_local_origin_errors'), 'is not supported by the waypoint');
  const d = DEFAULT_OUTLIER;
  // 5xx detection is on by default (Envoy enforces it at 100%). Gateway-failure detection is off unless
  // configured: Envoy's enforcing default for it is 0, but a control plane that sets the count means it.
  const consecutive5xx = enforcing(o.enforcing_consecutive_5xx, true, join(at, 'enforcing_consecutive_5xx')) ? uint32(o.consecutive_5xx, d.consecutive5xx) : 0;
  const gatewayConfigured = o.consecutive_gateway_failure !== undefined;
  const consecutiveGatewayErrors = enforcing(o.enforcing_consecutive_gateway_failure, gatewayConfigured, join(at, 'enforcing_consecutive_gateway_failure'))
    ? uint32(o.consecutive_gateway_failure, 5)
    : 0;
  const intervalMs = optionalDurationMs(o.interval, join(at, 'interval'), d.intervalMs);
  if (intervalMs <= 0) invalid(join(at, 'interval'), 'must be greater than 0');
  const baseEjectionMs = optionalDurationMs(o.base_ejection_time, join(at, 'base_ejection_time'), d.baseEjectionMs);
  if (baseEjectionMs <= 0) invalid(join(at, 'base_ejection_time'), 'must be greater than 0');
  const maxEjectionPercent = uint32(o.max_ejection_percent, d.maxEjectionPercent);
  if (maxEjectionPercent > 100) invalid(join(at, 'max_ejection_percent'), `${maxEjectionPercent} is above 100`);
  return Object.freeze({ consecutive5xx, consecutiveGatewayErrors, intervalMs, baseEjectionMs, maxEjectionPercent });
}

function compileProtocol(options: Record<string, envoy.ProtoAny> | undefined, at: string): Cluster['protocol'] {
  let protocol: Cluster['protocol'] = 'http1';
  for (const [key, any] of Object.entries(options ?? {})) {
    const where = join(at, `[${JSON.stringify(key)}]`);
    if (key !== HTTP_PROTOCOL_OPTIONS_KEY) invalid(where, `unsupported protocol options (supported: ${HTTP_PROTOCOL_OPTIONS_KEY})`);
    const o = unpackTyped<envoy.HttpProtocolOptions>(any, HTTP_PROTOCOL_OPTIONS_KEY, where);
    switch (o.upstream_protocol_options) {
      case 'explicit_http_config': {
        const config = o.explicit_http_config?.protocol_config;
        if (config === 'http_protocol_options') protocol = 'http1';
        else if (config === 'http2_protocol_options') protocol = 'http2';
        else invalid(join(where, 'explicit_http_config'), `unsupported protocol ${JSON.stringify(config ?? 'none')} (supported: http_protocol_options, http2_protocol_options)`);
        break;
      }
      case 'use_downstream_protocol_config':
        protocol = 'downstream';
        break;
      case undefined:
        break;
      default:
        invalid(where, `unsupported ${JSON.stringify(o.upstream_protocol_options)} (supported: explicit_http_config, use_downstream_protocol_config)`);
    }
  }
  return protocol;
}

/** `metadata.filter_metadata.istio.services[0]` → host and subset; falls back to the Istio cluster name. */
function serviceOf(c: envoy.Cluster, name: string, at: string): { serviceHost: string; subset: string } {
  const istio = c.metadata?.filter_metadata?.['istio'];
  const services = istio?.fields?.['services'];
  if (services !== undefined) {
    const first = services.listValue?.values?.[0]?.structValue?.fields;
    const host = first?.['host']?.stringValue ?? '';
    if (host === '') invalid(join(at, 'metadata.filter_metadata.istio.services[0].host'), 'is missing or not a string');
    return { serviceHost: host, subset: first?.['subset']?.stringValue ?? '' };
  }
  // `outbound|<port>|<subset>|<host>`, Istio's cluster names.
  const parts = name.split('|');
  if (parts.length === 4 && parts[0] === 'outbound') return { serviceHost: parts[3]!, subset: parts[2]! };
  return { serviceHost: '', subset: '' };
}

/** Compiles a Cluster. `resourceName` is the xDS name ('' in state of the world). Throws `WaypointConfigError`. */
export function compileCluster(c: envoy.Cluster, resourceName = ''): ClusterSpec {
  const name = c.name ?? '';
  return compileResource('Cluster', name || resourceName, () => {
    if (name === '') invalid('name', 'is empty');
    if (resourceName !== '' && resourceName !== name) invalid('name', `${JSON.stringify(name)} does not match the resource name ${JSON.stringify(resourceName)}`);
    refuseFields(c, ['cluster_type', 'load_assignment', 'load_balancing_policy'], '');
    if (c.cluster_discovery_type !== 'type' || (c.type !== 'EDS' && c.type !== 'ORIGINAL_DST')) {
      invalid('type', `${JSON.stringify(c.type ?? 'STATIC')} is not supported (the waypoint's clusters are EDS or ORIGINAL_DST)`);
    }
    const connectTimeoutMs = optionalDurationMs(c.connect_timeout, 'connect_timeout', DEFAULT_CONNECT_TIMEOUT_MS);
    if (connectTimeoutMs <= 0) invalid('connect_timeout', 'must be greater than 0');
    const common = {
      name,
      ...serviceOf(c, name, ''),
      connectTimeoutMs,
      protocol: compileProtocol(c.typed_extension_protocol_options, 'typed_extension_protocol_options'),
      circuitBreaker: compileCircuitBreaker(c.circuit_breakers, 'circuit_breakers'),
      outlierDetection: c.outlier_detection === undefined ? undefined : compileOutlier(c.outlier_detection, 'outlier_detection'),
    };
    if (c.type === 'ORIGINAL_DST') return Object.freeze({ ...common, lbPolicy: 'cluster-provided', originalDestination: compileOriginalDst(c) });
    if (c.original_dst_lb_config !== undefined) invalid('original_dst_lb_config', 'is only for ORIGINAL_DST clusters');
    const eds = c.eds_cluster_config;
    if (eds?.eds_config !== undefined && eds.eds_config.config_source_specifier !== 'ads') invalid('eds_cluster_config.eds_config', 'must be ads');
    const lb = enumOf(c.lb_policy, 'ROUND_ROBIN', Object.keys(LB_POLICIES), 'lb_policy');
    return Object.freeze({ ...common, lbPolicy: LB_POLICIES[lb]!, edsServiceName: eds?.service_name || name });
  });
}

/**
 * The ORIGINAL_DST part, as Envoy accepts it: the cluster picks the host itself (`CLUSTER_PROVIDED`), has
 * no endpoints, and takes the destination from the connection (no header, no port override: the waypoint
 * honours neither). `cleanup_interval`: how long an unused host is kept.
 */
function compileOriginalDst(c: envoy.Cluster): { readonly cleanupIntervalMs: number } {
  enumOf(c.lb_policy, 'ROUND_ROBIN', ['CLUSTER_PROVIDED'], 'lb_policy');
  refuseFields(c, ['eds_cluster_config'], '', 'is not allowed on an ORIGINAL_DST cluster (it has no endpoints)');
  const o = c.original_dst_lb_config;
  if (o !== undefined) {
    if (o.use_http_header === true) invalid('original_dst_lb_config.use_http_header', 'is not supported (the destination is the tunnel\'s)');
    refuseFields(o, ['http_header_name', 'upstream_port_override', 'metadata_key'], 'original_dst_lb_config');
  }
  const cleanupIntervalMs = optionalDurationMs(c.cleanup_interval, 'cleanup_interval', DEFAULT_CLEANUP_INTERVAL_MS);
  if (cleanupIntervalMs <= 0) invalid('cleanup_interval', 'must be greater than 0');
  return Object.freeze({ cleanupIntervalMs });
}
