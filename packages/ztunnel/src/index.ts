// Configuration.
export {
  parseConfig,
  ENV,
  DEFAULT_PORTS,
  DEFAULT_PACKET_MARK,
  DEFAULT_POOL_MAX_STREAMS_PER_CONNECTION,
  DEFAULT_POOL_UNUSED_RELEASE_TIMEOUT_MS,
  DEFAULT_HTTP2_STREAM_WINDOW_SIZE,
  DEFAULT_HTTP2_CONNECTION_WINDOW_SIZE,
  DEFAULT_HTTP2_FRAME_SIZE,
  DEFAULT_WORKER_THREADS,
} from './config.js';
export type { Config, Ports, Http2Config } from './config.js';
// The defaults ztunnel shares with the waypoint, exported here under the names ztunnel has always had.
export { DEFAULT_CLUSTER_ID } from '@ambit/mesh-core/identity';
export {
  drainDeadlineFromGrace,
  DEFAULT_XDS_ADDRESS_IN_CLUSTER,
  DEFAULT_XDS_ADDRESS_OUTSIDE_CLUSTER,
  DEFAULT_ROOT_CERT_PATH,
  DEFAULT_AUTH_TOKEN_PATH,
  DEFAULT_TRUST_DOMAIN,
  DEFAULT_SECRET_TTL_MS,
  DEFAULT_CONNECTION_TERMINATION_DEADLINE_MS,
  DEFAULT_LOG_LEVEL,
  LOG_LEVELS,
} from '@ambit/mesh-core/process';
export type { LogLevel } from '@ambit/mesh-core/process';
export { parseDuration, parseServerAddress } from './config-parse.js';
export type { Env } from './config-parse.js';
export { ConfigError, LocalConfigError, StateClosedError, AuthzRequestError, WorkerError } from './errors.js';
// State.
export {
  StateStore,
  ProxySnapshot,
  XdsStateUpdater,
  STATE_TYPE_URLS,
  addressResourceType,
  authorizationResourceType,
  addressResourceName,
  decodeAddress,
  DEFAULT_SERVICE_ACCOUNT,
  GLOBAL_GROUP,
  EMPTY_GROUP,
  Cidr,
  formatIp,
  formatIndexIp,
  canonicalIp,
  parseIpWords,
  networkAddressKey,
  ipToBytes,
  parseLocalConfig,
  loadLocalConfig,
  applyLocalConfig,
  snapshotDump,
} from './state/index.js';
export type {
  AddressResource,
  ApplicationTunnel,
  Endpoint,
  GatewayAddress,
  Generations,
  HealthStatus,
  IpFamily,
  LoadBalancing,
  LocalConfig,
  Locality,
  NetworkAddress,
  NetworkMode,
  PolicyGroup,
  Service,
  ServiceDump,
  ServicePort,
  SnapshotDump,
  SnapshotListener,
  StateStoreOptions,
  StateUpdate,
  TunnelProtocol,
  TypeChanges,
  WeightedWaypoint,
  Workload,
  WorkloadDump,
  XdsStateUpdaterOptions,
} from './state/index.js';
// Authorization.
export { Authorizer, authorize, describeDecision, compilePolicy, policyMatches } from './authz/index.js';
export type {
  AuthorizerOptions,
  AuthzDecision,
  AuthzReason,
  AuthzRequest,
  Policy,
  PolicyClause,
  PolicyMatch,
  PolicyRule,
  ServiceAccountMatcher,
  StringMatcher,
  StringMatchType,
} from './authz/index.js';
// Data path.
export { Proxy, DEFAULT_HBONE_PORT, DEFAULT_CERTIFICATE_WAIT_MS } from './proxy/proxy.js';
export type { ProxyOptions, ProxyServers, ProxyState } from './proxy/proxy.js';
export type { HostPort, UpstreamDialer, SnapshotSource } from './proxy/context.js';
export { routeOutbound, formatHostPort } from './proxy/route.js';
export type { OutboundRoute, HboneRoute, PassthroughRoute, RefusedRoute, RouteOptions, Target } from './proxy/route.js';
export { selectEndpoint, endpointTargetPort, workloadAddress } from './proxy/load-balance.js';
export type { Random, SelectedEndpoint } from './proxy/load-balance.js';
export { ConnectionManager, describeClose } from './proxy/connection-manager.js';
export type { AuthorizedAs, CloseReason, TrackedConnection } from './proxy/connection-manager.js';
export { LoopbackJoiner } from './proxy/loopback.js';
export type { SocketPair } from './proxy/loopback.js';
export { baggageOf, newTraceparent } from './proxy/headers.js';
export { CertificateWaitError, ProxyClosedError } from './proxy/errors.js';
export type { ConnectionRecord, Direction, ResponseFlag, SecurityPolicy } from './proxy/record.js';
// Telemetry, lifecycle, app.
export { ProxyMetrics, tcpLabels, TCP_LABEL_NAMES } from './metrics.js';
export type { TcpLabels, TcpLabelName } from './metrics.js';
export { AccessLog, accessLogFields } from './access-log.js';
export type { ConnectionOutcome } from './access-log.js';
export { drain } from './drain.js';
export type { DrainOutcome, DrainSteps } from './drain.js';
export { Readiness } from './readiness.js';
export type { ReadinessCheck, ReadinessStatus } from './readiness.js';
export { LocalWorkloads } from './local-workloads.js';
export type { CaptureControl, CapturedWorkload, HeldCertificate, LocalWorkloadsOptions, WorkloadSecrets, WorkloadState } from './local-workloads.js';
export { HttpEndpoint, statsRoutes } from '@ambit/mesh-core/admin';
export { adminRoutes, readinessRoutes } from './admin/endpoints.js';
export { Ztunnel } from './app.js';
export type { CaptureLifecycle, DataPathPlan, EndpointAddress, Listeners, SyncStatus, ZtunnelCommonOptions, ZtunnelOptions } from './app.js';
export { createProxy, ThreadDataPath } from './data-path.js';
export type { DataPath, DataPathStats, ProxyParts } from './data-path.js';
// Worker threads (docs/ztunnel.md, "More cores").
export { WireMirror, WireDecoder, keepingBytes, splitWired } from './state/wire.js';
export type { WireChanges, WireListener, WireResource, WireUpdate, Wired } from './state/wire.js';
export { WorkerPool, DEFAULT_RESTART_DELAY_MS, DEFAULT_REQUEST_TIMEOUT_MS } from './workers/worker-pool.js';
export type { WorkerPoolOptions } from './workers/worker-pool.js';
export { ReplicaCertificates } from './workers/replica-certificates.js';
export type { CertificateMessage, WorkerInit, WorkerListen } from './workers/protocol.js';
