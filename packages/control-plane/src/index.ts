export { MeshModel, ModelOptionsError, DEFAULT_DEBOUNCE_MS } from './model/mesh-model.js';
export type { MeshModelOptions } from './model/mesh-model.js';
export { DEFAULT_MODEL_OPTIONS } from './model/options.js';
export type { ModelOptions } from './model/options.js';
export type { MeshSnapshot, InputDiagnostic, SnapshotSource } from './model/snapshot.js';
export { ComputeCache, computeMesh } from './model/compute.js';
export type { MeshContent } from './model/compute.js';
export { STATIC_STRICT_POLICY_NAME, CONVERTED_PEER_AUTHENTICATION_PREFIX } from './model/peer-authentication.js';
export { InputLoader, InputError, listInputFiles } from './input/loader.js';
export type { InputLoaderOptions } from './input/loader.js';
export type { Timers } from './input/watcher.js';
export type { InputSet } from './input/input-set.js';
export { KindRegistry } from './input/registry.js';
export type { KindDecoder, DecodeContext } from './input/registry.js';
export { defaultRegistry } from './input/kinds/index.js';
export type {
  InputObject,
  InputKind,
  ObjectMeta,
  SourceRef,
  NamespaceObject,
  NodeObject,
  ServiceAccountObject,
  PodObject,
  ServiceObject,
  AuthorizationPolicyObject,
  PeerAuthenticationObject,
  GatewayObject,
  RequestAuthenticationObject,
  JwtRule,
} from './input/objects.js';
export type { HttpRouteObject, GrpcRouteObject } from './input/route-objects.js';
export type { DestinationRuleObject, VirtualServiceObject } from './input/traffic-objects.js';
// Serving: delta xDS, the CA, admin, and the assembled control plane.
export { XdsServer, SERVED_TYPES } from './server/xds-server.js';
export { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, ENVOY_TYPES, LISTENER_TYPE_URL, ROUTE_TYPE_URL } from './server/envoy-tables.js';
export type { WaypointResources } from './model/waypoint-config/build.js';
export type { XdsServerOptions, ServedSnapshot } from './server/xds-server.js';
export type { StreamStatus, TypeStatus, AckRecord, NackRecord } from './server/delta-stream.js';
export { XdsServerError } from './server/errors.js';
export type { XdsServerErrorCode } from './server/errors.js';
export { createXdsServerMetrics } from './server/metrics.js';
export type { XdsServerMetrics } from './server/metrics.js';
export { ControlPlane } from './app.js';
export type { ControlPlaneOptions } from './app.js';
export { ConfigError, HelpRequested, FLAGS, parseConfig, parseHostPort, usage } from './config.js';
export type { CaFileConfig, ControlPlaneConfig, HostPort, LogLevel } from './config.js';
export { MeshAuthenticator, nodeMayImpersonate } from './ca/authenticator.js';
export { TokenFileError, isNodeToken, loadTokenFile, parseTokenFile } from './ca/tokens.js';
export type { NodeTokenSpec, TokenSpec, WorkloadTokenSpec } from './ca/tokens.js';
export { NodeTokenStore } from './ca/node-tokens.js';
export { WaypointTokenStore } from './ca/waypoint-tokens.js';
export { CA_KEY_FILE, CaMaterialError, ROOT_CERT_FILE, generatedCaMaterial, loadCaMaterial, writeRootCert } from './ca/ca-material.js';
export type { CaFiles } from './ca/ca-material.js';
export { DEFAULT_SERVER_NAMES, controlPlaneIdentity, issueControlPlaneCertificate } from './ca/serving-cert.js';
export type { ControlPlaneCertificate } from './ca/serving-cert.js';
export { CountingCertificateAuthority } from './ca/counting-ca.js';
export type { CaCounters } from './ca/counting-ca.js';
export { AdminServer } from './admin/admin-server.js';
export type { AdminServerOptions, Readiness } from './admin/admin-server.js';
export { configDump } from './admin/config-dump.js';
export type { CaDumpSource, ConfigDumpSources, ServerDumpSource } from './admin/config-dump.js';
