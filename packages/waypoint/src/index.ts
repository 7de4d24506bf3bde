/** @ambit/waypoint: the per-namespace L7 proxy. */
export type {
  Binding,
  CircuitBreaker,
  Cluster,
  ConnectionAttributes,
  DirectResponseAction,
  Endpoint,
  EndpointWorkload,
  FaultPolicy,
  ForwardAction,
  HashPolicy,
  HeaderMatcher,
  HeaderMutation,
  HttpChain,
  JwtAuthenticator,
  JwtOutcome,
  LbPolicy,
  MirrorPolicy,
  NetworkRbacPolicySet,
  OutlierDetection,
  PathMatcher,
  PathNormalization,
  QueryParameterMatcher,
  RbacDecision,
  RbacPolicySet,
  RedirectAction,
  RequestAttributes,
  RequestAuthentication,
  RetryCondition,
  RetryPolicy,
  Route,
  RouteAction,
  RouteTable,
  StringMatcher,
  TcpChain,
  VirtualHost,
  WaypointSnapshot,
  WeightedCluster,
} from './config/types.js';

// The data path (wpproxy): app, proxy, upstream, route, telemetry.
export { Waypoint } from './app.js';
export type { Address, SnapshotSource, WaypointCertificateSource, WaypointOptions } from './app.js';
export { DEFAULT_LIMITS } from './proxy/context.js';
export type { ProxyContext, ProxyLimits, TunnelContext } from './proxy/context.js';
export { Downstream } from './proxy/downstream.js';
export type { DownstreamOptions } from './proxy/downstream.js';
export { classify as classifyFirstBytes } from './proxy/sniff.js';
export { ClusterManager } from './upstream/cluster-manager.js';
export { Connector } from './upstream/connector.js';
export { UpstreamError } from './upstream/errors.js';
export type { ResponseFlag, UpstreamErrorCode } from './upstream/errors.js';
export { createLoadBalancer } from './upstream/load-balancer.js';
export type { LoadBalancer, RandomSource } from './upstream/load-balancer.js';
export { Host } from './upstream/host.js';
export { parseTarget, removeDotSegments } from './route/path.js';
export type { ParsedTarget, TargetError } from './route/path.js';
export { selectRoute, selectVirtualHost } from './route/select.js';
export { HttpMetrics, HTTP_LABEL_NAMES } from './telemetry/metrics.js';
export type { HttpLabels } from './telemetry/metrics.js';
export { AccessLog } from './telemetry/access-log.js';
export type { RequestLogRecord } from './telemetry/access-log.js';

// ---- Configuration: Envoy resources → WaypointSnapshot (wpconfig) ----
export { FieldError, WaypointConfigError } from './config/errors.js';
export { compileFullMatch, compileRewrite } from './config/regex.js';
export { compileStringMatcher } from './config/string-matcher.js';
export { compileHeaderMatcher, compilePathMatcher, compileQueryMatcher } from './config/request-matchers.js';
export { compileHeaderMutation, NO_HEADER_MUTATION } from './config/header-mutation.js';
export { DEFAULT_ROUTE_TIMEOUT_MS, DEFAULT_NUM_RETRIES, DEFAULT_RETRY_BACKOFF_BASE_MS, MAX_DIRECT_RESPONSE_BODY_BYTES } from './config/route-action.js';
export { compileRouteConfiguration } from './config/route-config.js';
export type { CompiledRouteConfiguration } from './config/route-config.js';
export { compileCluster, DEFAULT_CIRCUIT_BREAKER, DEFAULT_CONNECT_TIMEOUT_MS } from './config/cluster.js';
export type { ClusterSpec } from './config/cluster.js';
export { compileLoadAssignment } from './config/load-assignment.js';
export type { CompiledLoadAssignment, EndpointSpec } from './config/load-assignment.js';
export { compileListener, HTTP_APPLICATION_PROTOCOLS } from './config/listener.js';
export type { BindingSpec, CompiledListener, HttpChainSpec } from './config/listener.js';
export { compileAddress, addressName, HBONE_PORT } from './config/address.js';
export type { AddressInfo, WorkloadInfo } from './config/address.js';
export { ImmutableMap } from './config/immutable-map.js';
export {
  WaypointSnapshotBuilder,
  DEFAULT_INITIAL_FETCH_TIMEOUT_MS,
  LISTENER_TYPE_URL,
  ROUTE_CONFIGURATION_TYPE_URL,
  CLUSTER_TYPE_URL,
  CLUSTER_LOAD_ASSIGNMENT_TYPE_URL,
} from './config/snapshot-builder.js';
export type { SnapshotBuilderOptions, WaypointSnapshotEvents, WaypointSnapshotListener } from './config/snapshot-builder.js';
export { listenerResourceType, routeConfigurationResourceType, clusterResourceType, loadAssignmentResourceType, addressResourceType } from './config/resource-types.js';
export { WaypointXdsUpdater, WaypointUpdaterClosedError } from './config/xds-updater.js';
export type { WaypointXdsUpdaterOptions } from './config/xds-updater.js';
// ---- Policy: RBAC, JWT (wpconfig) ----
export { compileRbacFilter, rbacPolicySet, networkRbacPolicySet, NO_RBAC, NO_NETWORK_RBAC } from './policy/rbac.js';
export type { RbacFilterRules } from './policy/rbac.js';
export { compileJwtAuthentication, NO_JWT, DEFAULT_CLOCK_SKEW_SECONDS } from './policy/jwt.js';
export type { JwtOptions } from './policy/jwt.js';
export { compileJwks, JWT_ALGORITHMS } from './policy/jwks.js';
export type { JwksKey, JwtAlgorithm } from './policy/jwks.js';
export { Cidr, addressKey, canonicalIp, formatIp, parseIp } from './policy/cidr.js';
