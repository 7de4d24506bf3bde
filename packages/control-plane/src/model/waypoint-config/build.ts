/**
 * The waypoints' configuration in Envoy's types, as `docs/waypoint.md` specifies it: for each waypoint
 * Gateway a Listener `waypoint/<namespace>/<name>` with filter chains for every Service port bound to it
 * and, when it takes workload traffic, for every workload bound to it (workload-bindings.ts); a
 * RouteConfiguration per service HTTP chain (and one shared by the waypoint's workload chains), and the
 * Clusters and ClusterLoadAssignments they name.
 *
 * Everything but the endpoints and the workload chains depends on non-pod objects only, and is built once
 * per such set of objects (`buildWaypointFrame`, inside the model's frame); endpoints and workload chains
 * follow pods (`waypointResources`). Resources are keyed by name and sorted, so equal input gives equal
 * output.
 */
import type { Address } from '@ambit/protos';
import type { ModelContext } from '../context.js';
import type { ServiceInfo } from '../services.js';
import type { Waypoint, WaypointIndex } from '../waypoints.js';
import { chainName, collectBindings, hasHttpChain, hasTcpChain, type Binding } from './bindings.js';
import { ClusterSet, type EndpointSpec } from './clusters.js';
import { DestinationRuleIndex } from './destination-rules.js';
import {
  FILTER_FAULT,
  FILTER_HCM,
  FILTER_JWT,
  FILTER_NETWORK_RBAC,
  FILTER_RBAC,
  FILTER_ROUTER,
  FILTER_TCP_PROXY,
  TYPE_FAULT,
  TYPE_HCM,
  TYPE_HTTP_RBAC,
  TYPE_JWT,
  TYPE_NETWORK_RBAC,
  TYPE_ROUTER,
  TYPE_TCP_PROXY,
  cidrRange,
  duration,
  packAny,
} from './envoy-builders.js';
import type { Cluster, ClusterLoadAssignment, Filter, FilterChain, HttpConnectionManager, Listener, Route, RouteConfiguration } from './envoy-types.js';
import { buildEndpoints, type WorkloadsPatch } from './endpoints.js';
import { gatewayAddressKey, withWorkloadChains, type WorkloadBindingFrame, type WorkloadChainTemplate } from './workload-bindings.js';
import { attachGatewayRoutes, gatewayApiRoutes, type GatewayRouteIndex, type RouteContext } from './gateway-api-routes.js';
import { jwtAuthentication } from './jwt.js';
import { PolicyTargets } from './policy-targets.js';
import { rbacFilters } from './rbac.js';
import { DEFAULT_RETRY, NO_TIMEOUT_MS } from './route-actions.js';
import { indexVirtualServices, virtualServiceRoutes } from './virtual-service-routes.js';
import type { AuthorizationPolicyObject, RequestAuthenticationObject } from '../../input/objects.js';
import type { VirtualServiceObject } from '../../input/traffic-objects.js';

/** Every waypoint resource of a snapshot, by resource name. */
export interface WaypointResources {
  readonly listeners: ReadonlyMap<string, Listener>;
  readonly routes: ReadonlyMap<string, RouteConfiguration>;
  readonly clusters: ReadonlyMap<string, Cluster>;
  readonly endpoints: ReadonlyMap<string, ClusterLoadAssignment>;
  /** Each waypoint's SPIFFE identity (its service account is the Gateway's name), by `namespace/name`. */
  readonly identities: ReadonlyMap<string, string>;
}

/** What does not depend on pods. */
export interface WaypointFrame {
  readonly listeners: ReadonlyMap<string, Listener>;
  readonly routes: ReadonlyMap<string, RouteConfiguration>;
  readonly clusters: ReadonlyMap<string, Cluster>;
  readonly identities: ReadonlyMap<string, string>;
  readonly endpointSpecs: readonly EndpointSpec[];
  /** What workload-addressed chains are made of, for the waypoints that take workload traffic. */
  readonly workloads: WorkloadBindingFrame;
}

/** The HTTP filter chain's protocols: what the waypoint recognizes as HTTP after sniffing. */
const HTTP_PROTOCOLS = ['http/1.1', 'h2c'];

interface Builders {
  readonly ctx: ModelContext;
  readonly clusters: ClusterSet;
  readonly servicesByKey: ReadonlyMap<string, ServiceInfo>;
  readonly servicesByHostname: ReadonlyMap<string, ServiceInfo>;
  readonly gatewayRoutes: GatewayRouteIndex;
  readonly virtualServices: ReadonlyMap<string, VirtualServiceObject>;
  readonly authorization: PolicyTargets<AuthorizationPolicyObject>;
  readonly authentication: PolicyTargets<RequestAuthenticationObject>;
  readonly routes: Map<string, RouteConfiguration>;
}

export function buildWaypointFrame(ctx: ModelContext, waypointIndex: WaypointIndex, services: readonly ServiceInfo[]): WaypointFrame {
  const waypoints = waypointIndex.all();
  const waypointsByKey = new Map<string, Waypoint>(waypoints.map((w) => [`${w.namespace}/${w.name}`, w]));
  const servicesByKey = new Map(services.map((s) => [s.resourceName, s]));
  const servicesByHostname = new Map(services.map((s) => [s.hostname, s]));
  const bindings = collectBindings(waypoints, services);
  const boundHostnames = [...new Set([...bindings.values()].flatMap((list) => list.map((b) => b.service.hostname)))];
  const b: Builders = {
    ctx,
    clusters: new ClusterSet(new DestinationRuleIndex(ctx, new Map(services.map((s) => [s.hostname, s.object.metadata.namespace])))),
    servicesByKey,
    servicesByHostname,
    gatewayRoutes: attachGatewayRoutes(ctx, servicesByKey, waypointsByKey),
    virtualServices: indexVirtualServices(ctx, boundHostnames),
    authorization: new PolicyTargets(
      ctx,
      ctx.authorizationPolicies.filter((p) => p.targetRefs.length > 0),
      servicesByKey,
      waypointsByKey,
    ),
    authentication: new PolicyTargets(ctx, targetedAuthentications(ctx), servicesByKey, waypointsByKey),
    routes: new Map(),
  };
  const listeners = new Map<string, Listener>();
  const identities = new Map<string, string>();
  const templates = new Map<string, WorkloadChainTemplate>();
  const byAddress = new Map<string, string>();
  for (const waypoint of waypoints) {
    const key = `${waypoint.namespace}/${waypoint.name}`;
    const chains: FilterChain[] = [];
    for (const binding of bindings.get(key) ?? []) {
      if (hasHttpChain(binding.protocol)) chains.push(httpChain(b, binding));
      if (hasTcpChain(binding.protocol)) chains.push(tcpChain(b, binding));
    }
    const addressKey = gatewayAddressKey(waypoint.address);
    if ((waypoint.traffic === 'workload' || waypoint.traffic === 'all') && addressKey !== undefined) {
      templates.set(key, workloadTemplate(b, waypoint));
      // Two waypoints given one address cannot be told apart by the workloads naming it: the first keeps it.
      if (!byAddress.has(addressKey)) byAddress.set(addressKey, key);
    }
    const name = `waypoint/${key}`;
    listeners.set(name, {
      name,
      address: { socket_address: { address: '0.0.0.0', port_value: waypoint.address.hbone_mtls_port ?? 15008 } },
      filter_chains: chains,
    });
    identities.set(key, `spiffe://${ctx.options.trustDomain}/ns/${waypoint.namespace}/sa/${waypoint.name}`);
  }
  const { clusters, endpointSpecs } = b.clusters.build();
  const routes = new Map([...b.routes.keys()].sort().map((name) => [name, b.routes.get(name)!]));
  return { listeners, routes, clusters, identities, endpointSpecs, workloads: { templates, byAddress, httpProtocols: HTTP_PROTOCOLS } };
}

/**
 * The frame's resources with the endpoints of the current workloads; `patch` (what changed since the
 * workloads of the previous computation) lets the endpoints cost what changed.
 */
export function waypointResources(frame: WaypointFrame, ctx: ModelContext, addresses: ReadonlyMap<string, Address>, patch?: WorkloadsPatch): WaypointResources {
  return {
    listeners: withWorkloadChains(frame.listeners, frame.workloads, addresses, patch),
    routes: frame.routes,
    clusters: frame.clusters,
    endpoints: buildEndpoints(frame.endpointSpecs, ctx.pods, addresses, patch),
    identities: frame.identities,
  };
}

/** RequestAuthentications a waypoint applies; the others (selector or namespace-wide) are for sidecars. */
function targetedAuthentications(ctx: ModelContext): RequestAuthenticationObject[] {
  const out: RequestAuthenticationObject[] = [];
  for (const policy of ctx.requestAuthentications) {
    if (policy.targetRefs.length > 0) out.push(policy);
    else {
      ctx.report(policy, ['spec'], 'has no targetRefs: in ambient mode only a waypoint verifies tokens, and it applies RequestAuthentications bound to it with targetRefs; this one applies to nothing');
    }
  }
  return out;
}

/** What a chain enforces: the RequestAuthentications and AuthorizationPolicies bound to its destination. */
interface ChainPolicies {
  readonly authentication: readonly RequestAuthenticationObject[];
  readonly authorization: readonly AuthorizationPolicyObject[];
}

function httpChain(b: Builders, binding: Binding): FilterChain {
  const name = chainName(binding, 'http');
  const policies = { authentication: b.authentication.forBinding(binding), authorization: b.authorization.forBinding(binding) };
  return {
    name,
    filter_chain_match: {
      prefix_ranges: binding.vips.map(cidrRange),
      destination_port: { value: binding.port.port },
      application_protocols: HTTP_PROTOCOLS,
    },
    filters: [connectionManager(b, name, `${binding.service.hostname}:${binding.port.port}`, routesFor(b, binding), policies)],
  };
}

/**
 * The HTTP connection manager of a chain, with its route configuration `name` (registered here; the
 * manager's stat prefix too): JWT, the RBAC filters (DENY, then ALLOW), the fault filter when a route
 * has a fault, the router.
 */
function connectionManager(b: Builders, name: string, virtualHost: string, routes: Route[], policies: ChainPolicies): Filter {
  b.routes.set(name, { name, virtual_hosts: [{ name: virtualHost, domains: ['*'], routes }] });
  const filters: Filter[] = [];
  const jwt = jwtAuthentication(b.ctx, policies.authentication);
  if (jwt !== undefined) filters.push({ name: FILTER_JWT, typed_config: packAny(TYPE_JWT, jwt) });
  const rbac = rbacFilters(b.ctx, policies.authorization, false);
  if (rbac.deny !== undefined) filters.push({ name: FILTER_RBAC, typed_config: packAny(TYPE_HTTP_RBAC, { rules: rbac.deny }) });
  if (rbac.allow !== undefined) filters.push({ name: FILTER_RBAC, typed_config: packAny(TYPE_HTTP_RBAC, { rules: rbac.allow }) });
  if (routes.some((r) => r.typed_per_filter_config?.[FILTER_FAULT] !== undefined)) {
    // Empty: the fault itself is configured per route.
    filters.push({ name: FILTER_FAULT, typed_config: packAny(TYPE_FAULT, {}) });
  }
  filters.push({ name: FILTER_ROUTER, typed_config: packAny(TYPE_ROUTER, {}) });
  const hcm: HttpConnectionManager = {
    stat_prefix: name,
    rds: { route_config_name: name, config_source: { ads: {}, resource_api_version: 'V3' } },
    normalize_path: { value: true },
    merge_slashes: true,
    http_filters: filters,
  };
  return { name: FILTER_HCM, typed_config: packAny(TYPE_HCM, hcm) };
}

function tcpChain(b: Builders, binding: Binding): FilterChain {
  const name = chainName(binding, 'tcp');
  const cluster = b.clusters.forPort(binding.service, binding.port);
  return {
    name,
    filter_chain_match: { prefix_ranges: binding.vips.map(cidrRange), destination_port: { value: binding.port.port } },
    filters: tcpFilters(b, name, b.authorization.forBinding(binding), cluster, binding.protocol === 'tcp'),
  };
}

/**
 * A TCP chain's filters: network RBAC (DENY, then ALLOW; L4 rules only), then the TCP proxy to `cluster`.
 * `reportHttp` false keeps quiet about HTTP attributes the chain cannot enforce (see `rbacFilters`).
 */
function tcpFilters(b: Builders, name: string, policies: readonly AuthorizationPolicyObject[], cluster: string, reportHttp: boolean): Filter[] {
  const filters: Filter[] = [];
  const rbac = rbacFilters(b.ctx, policies, true, reportHttp);
  if (rbac.deny !== undefined) filters.push({ name: FILTER_NETWORK_RBAC, typed_config: packAny(TYPE_NETWORK_RBAC, { stat_prefix: name, rules: rbac.deny }) });
  if (rbac.allow !== undefined) filters.push({ name: FILTER_NETWORK_RBAC, typed_config: packAny(TYPE_NETWORK_RBAC, { stat_prefix: name, rules: rbac.allow }) });
  filters.push({ name: FILTER_TCP_PROXY, typed_config: packAny(TYPE_TCP_PROXY, { stat_prefix: name, cluster }) });
  return filters;
}

/**
 * The filters every workload chain of `waypoint` carries, built as a service port's are: the waypoint-wide
 * policies (a pod is no policy target), and one route, without timeout or retries (Istio's inbound
 * route for a pod), to the waypoint's ORIGINAL_DST cluster. The port is not declared, so there is an HTTP
 * chain and a TCP chain and the waypoint sniffs; policy HTTP fields on the TCP chain fail closed quietly.
 */
function workloadTemplate(b: Builders, waypoint: Waypoint): WorkloadChainTemplate {
  const key = `${waypoint.namespace}/${waypoint.name}`;
  const cluster = b.clusters.originalDestination(waypoint);
  const policies = { authentication: b.authentication.forWaypoint(waypoint), authorization: b.authorization.forWaypoint(waypoint) };
  const routes: Route[] = [{ name: 'default', match: { prefix: '/' }, route: { cluster, timeout: duration(NO_TIMEOUT_MS) } }];
  return {
    http: [connectionManager(b, workloadRouteName(waypoint), `${key}:*`, routes, policies)],
    tcp: tcpFilters(b, `inbound-pod|*|tcp|${key}`, policies.authorization, cluster, false),
  };
}

/** The route configuration (and stat prefix) shared by a waypoint's workload HTTP chains. */
export function workloadRouteName(waypoint: Pick<Waypoint, 'namespace' | 'name'>): string {
  return `inbound-pod|*|http|${waypoint.namespace}/${waypoint.name}`;
}

/** HTTPRoute/GRPCRoute routes when any attach; else the VirtualService's; else one route to the service. */
function routesFor(b: Builders, binding: Binding): Route[] {
  const rc: RouteContext = { ctx: b.ctx, binding, clusters: b.clusters, servicesByKey: b.servicesByKey };
  const attached = b.gatewayRoutes.forBinding(binding);
  const vs = b.virtualServices.get(binding.service.hostname);
  if (attached.length > 0) {
    if (vs !== undefined) {
      b.ctx.report(
        vs,
        ['spec', 'hosts'],
        `Gateway API routes already route ${binding.service.hostname}; mixing them with a VirtualService is undefined in Istio, so this VirtualService is not applied to it`,
      );
    }
    return gatewayApiRoutes(rc, attached);
  }
  if (vs !== undefined) return virtualServiceRoutes(rc, vs, b.servicesByHostname);
  const cluster = b.clusters.forPort(binding.service, binding.port);
  const hash = b.clusters.hashPolicy(cluster);
  return [
    {
      name: 'default',
      match: { prefix: '/' },
      route: { cluster, timeout: duration(NO_TIMEOUT_MS), retry_policy: DEFAULT_RETRY, ...(hash !== undefined ? { hash_policy: hash } : {}) },
    },
  ];
}
