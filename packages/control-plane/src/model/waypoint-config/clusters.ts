/**
 * Clusters: `outbound|<port>|<subset>|<hostname>`, one per (Service, port, subset) that some waypoint's
 * route, mirror or TCP proxy names, with the DestinationRule's settings; and, for a waypoint that takes
 * workload traffic, `inbound-pod|*||<namespace>/<name>`: Envoy's ORIGINAL_DST cluster, which sends each
 * connection to the address it was sent to (a workload address accepts every port, so no endpoint list
 * could name the port; Istio's waypoint does the same with its `encap` cluster).
 *
 * Defaults are Envoy's and Istio's: round robin, a 10 s connect timeout, no circuit-breaker thresholds
 * (the waypoint applies Envoy's 1024 for each), no outlier detection. An `outlierDetection` block turns
 * detection on with Istio's defaults for what it leaves out (5 consecutive 5xx, gateway errors off, 10 s
 * interval, 30 s base ejection, at most 10 % ejected).
 *
 * Endpoints are not known here (they follow pods); each cluster leaves an `EndpointSpec` saying which
 * pods and which port feed its load assignment.
 */
import { toProtoStruct } from '@ambit/xds';
import type { ServicePort } from '../../input/objects.js';
import type { LoadBalancerSettings, TrafficPolicySettings } from '../../input/traffic-objects.js';
import type { ServiceInfo } from '../services.js';
import { portProtocol } from './bindings.js';
import type { DestinationRuleIndex } from './destination-rules.js';
import { effectiveSettings } from './destination-rules.js';
import { TYPE_HTTP_PROTOCOL_OPTIONS, duration, packAny } from './envoy-builders.js';
import type { CircuitBreakerThresholds, Cluster, EdsCluster, HashPolicy, OriginalDstCluster } from './envoy-types.js';
import type { Waypoint } from '../waypoints.js';

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const ISTIO_OUTLIER_DEFAULTS = { consecutive5xxErrors: 5, consecutiveGatewayErrors: 0, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 10 };

/** Which pods, on which port, make up a cluster's endpoints. */
export interface EndpointSpec {
  readonly clusterName: string;
  /** The service's resource name (`namespace/hostname`), the key of workloads' `services` maps. */
  readonly serviceKey: string;
  readonly servicePort: number;
  /** Subset labels a pod must carry; undefined for the whole service. */
  readonly subsetLabels?: Readonly<Record<string, string>>;
  /** `publishNotReadyAddresses`: every endpoint counts as healthy. */
  readonly allHealthy: boolean;
}

export type ClusterRequest = { readonly ok: true; readonly name: string } | { readonly ok: false; readonly reason: string };

export function clusterName(port: number, subset: string, hostname: string): string {
  return `outbound|${port}|${subset}|${hostname}`;
}

/** The ORIGINAL_DST cluster of a waypoint's workload-addressed traffic: `inbound-pod|*||<namespace>/<name>`. */
export function originalDstClusterName(waypoint: Pick<Waypoint, 'namespace' | 'name'>): string {
  return `inbound-pod|*||${waypoint.namespace}/${waypoint.name}`;
}

export class ClusterSet {
  readonly #rules: DestinationRuleIndex;
  readonly #requested = new Map<string, { service: ServiceInfo; port: ServicePort; subset: string }>();
  readonly #originalDst = new Set<string>();

  constructor(rules: DestinationRuleIndex) {
    this.#rules = rules;
  }

  /** Names (and so creates) the cluster for `service` port `port` and `subset` ('' for none). */
  request(service: ServiceInfo, port: number, subset = ''): ClusterRequest {
    const servicePort = service.object.ports.find((p) => p.port === port && p.protocol === 'TCP');
    if (servicePort === undefined) {
      const ports = service.object.ports.map((p) => p.port).join(', ');
      return { ok: false, reason: `Service ${service.object.metadata.namespace}/${service.object.metadata.name} has no port ${port} (its ports: ${ports || 'none'})` };
    }
    if (subset !== '' && this.#rules.get(service.hostname)?.subsets.find((s) => s.name === subset) === undefined) {
      return { ok: false, reason: `no DestinationRule for ${service.hostname} defines subset ${JSON.stringify(subset)}` };
    }
    const name = clusterName(port, subset, service.hostname);
    if (!this.#requested.has(name)) this.#requested.set(name, { service, port: servicePort, subset });
    return { ok: true, name };
  }

  /** The default cluster of a bound service port (always exists: the port is the service's). */
  forPort(service: ServiceInfo, port: ServicePort): string {
    const name = clusterName(port.port, '', service.hostname);
    if (!this.#requested.has(name)) this.#requested.set(name, { service, port, subset: '' });
    return name;
  }

  /** Names (and so creates) the ORIGINAL_DST cluster of `waypoint`'s workload-addressed traffic. */
  originalDestination(waypoint: Waypoint): string {
    const name = originalDstClusterName(waypoint);
    this.#originalDst.add(name);
    return name;
  }

  /** The route hash policy a cluster asks for (consistent hashing), or undefined. */
  hashPolicy(name: string): HashPolicy[] | undefined {
    const entry = this.#requested.get(name);
    if (entry === undefined) return undefined;
    const rule = this.#rules.get(entry.service.hostname);
    const subset = rule?.subsets.find((s) => s.name === entry.subset);
    const hash = effectiveSettings(rule, entry.port.port, subset).loadBalancer?.consistentHash;
    return hash === undefined ? undefined : [hashPolicyOf(hash.key)];
  }

  /** Every requested cluster, sorted by name, and what feeds each one's endpoints. */
  build(): { clusters: Map<string, Cluster>; endpointSpecs: EndpointSpec[] } {
    const clusters = new Map<string, Cluster>();
    const endpointSpecs: EndpointSpec[] = [];
    for (const name of [...this.#requested.keys(), ...this.#originalDst].sort()) {
      const requested = this.#requested.get(name);
      if (requested === undefined) {
        clusters.set(name, originalDstCluster(name));
        continue;
      }
      const { service, port, subset } = requested;
      const rule = this.#rules.get(service.hostname);
      const subsetSpec = rule?.subsets.find((s) => s.name === subset);
      const settings = effectiveSettings(rule, port.port, subsetSpec);
      clusters.set(name, buildCluster(name, service, port, subset, settings));
      endpointSpecs.push({
        clusterName: name,
        serviceKey: service.resourceName,
        servicePort: port.port,
        ...(subsetSpec !== undefined ? { subsetLabels: subsetSpec.labels } : {}),
        allHealthy: service.object.publishNotReadyAddresses,
      });
    }
    return { clusters, endpointSpecs };
  }
}

function hashPolicyOf(key: NonNullable<LoadBalancerSettings['consistentHash']>['key']): HashPolicy {
  switch (key.kind) {
    case 'header':
      return { header: { header_name: key.name } };
    case 'query':
      return { query_parameter: { name: key.name } };
    case 'cookie':
      return { cookie: { name: key.name, ...(key.path !== undefined ? { path: key.path } : {}) } };
    case 'source-ip':
      return { connection_properties: { source_ip: true } };
  }
}

/**
 * Istio's defaults, no DestinationRule (those name services, not workloads). The port was not declared
 * anywhere, so the upstream speaks the client's protocol, as for an undeclared service port.
 */
function originalDstCluster(name: string): OriginalDstCluster {
  return {
    name,
    type: 'ORIGINAL_DST',
    connect_timeout: duration(DEFAULT_CONNECT_TIMEOUT_MS),
    lb_policy: 'CLUSTER_PROVIDED',
    typed_extension_protocol_options: { [TYPE_HTTP_PROTOCOL_OPTIONS]: packAny(TYPE_HTTP_PROTOCOL_OPTIONS, { use_downstream_protocol_config: {} }) },
  };
}

function lbPolicy(lb: LoadBalancerSettings | undefined): EdsCluster['lb_policy'] {
  if (lb?.consistentHash !== undefined) return lb.consistentHash.table === 'maglev' ? 'MAGLEV' : 'RING_HASH';
  return lb?.simple ?? 'ROUND_ROBIN';
}

function circuitBreakers(settings: TrafficPolicySettings): EdsCluster['circuit_breakers'] {
  const pool = settings.connectionPool;
  if (pool === undefined) return undefined;
  const thresholds: { -readonly [K in keyof CircuitBreakerThresholds]: CircuitBreakerThresholds[K] } = {};
  if (pool.maxConnections !== undefined) thresholds.max_connections = { value: pool.maxConnections };
  if (pool.http1MaxPendingRequests !== undefined) thresholds.max_pending_requests = { value: pool.http1MaxPendingRequests };
  if (pool.http2MaxRequests !== undefined) thresholds.max_requests = { value: pool.http2MaxRequests };
  if (pool.maxRetries !== undefined) thresholds.max_retries = { value: pool.maxRetries };
  return Object.keys(thresholds).length > 0 ? { thresholds: [thresholds] } : undefined;
}

function protocolOptions(port: ServicePort, settings: TrafficPolicySettings): object {
  const protocol = portProtocol(port);
  if (settings.connectionPool?.useClientProtocol !== true) {
    if (protocol === 'http2') return { explicit_http_config: { http2_protocol_options: {} } };
    if (protocol === 'http') return { explicit_http_config: { http_protocol_options: {} } };
  }
  return { use_downstream_protocol_config: {} };
}

function buildCluster(name: string, service: ServiceInfo, port: ServicePort, subset: string, settings: TrafficPolicySettings): EdsCluster {
  const od = settings.outlierDetection;
  const breakers = circuitBreakers(settings);
  const metadata = {
    host: service.hostname,
    name: service.object.metadata.name,
    namespace: service.object.metadata.namespace,
    ...(subset !== '' ? { subset } : {}),
  };
  return {
    name,
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: name },
    connect_timeout: duration(settings.connectionPool?.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS),
    lb_policy: lbPolicy(settings.loadBalancer),
    ...(breakers !== undefined ? { circuit_breakers: breakers } : {}),
    ...(od !== undefined
      ? {
          outlier_detection: {
            consecutive_5xx: { value: od.consecutive5xxErrors ?? ISTIO_OUTLIER_DEFAULTS.consecutive5xxErrors },
            consecutive_gateway_failure: { value: od.consecutiveGatewayErrors ?? ISTIO_OUTLIER_DEFAULTS.consecutiveGatewayErrors },
            interval: duration(od.intervalMs ?? ISTIO_OUTLIER_DEFAULTS.intervalMs),
            base_ejection_time: duration(od.baseEjectionTimeMs ?? ISTIO_OUTLIER_DEFAULTS.baseEjectionTimeMs),
            max_ejection_percent: { value: od.maxEjectionPercent ?? ISTIO_OUTLIER_DEFAULTS.maxEjectionPercent },
          },
        }
      : {}),
    typed_extension_protocol_options: { [TYPE_HTTP_PROTOCOL_OPTIONS]: packAny(TYPE_HTTP_PROTOCOL_OPTIONS, protocolOptions(port, settings)) },
    metadata: { filter_metadata: { istio: toProtoStruct({ services: [metadata] }) } },
  };
}
