/** @ambit/waypoint: the per-namespace L7 proxy. */
export type {
  Binding,
  CircuitBreaker,
  Cluster,
  ConnectionAttributes,
  DirectResponseAction,
  Endpoint,
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
export type { Address, SnapshotSource, WaypointOptions } from './app.js';
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
