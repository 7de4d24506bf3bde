export { protoDir, loadProtoPackage, LOADER_OPTIONS } from './load.js';
export type { LoadedPackage } from './load.js';
export { caServiceDefinition, CA_SERVICE_NAME, IMPERSONATED_IDENTITY_KEY } from './ca.js';
export type { IstioCertificateRequest, IstioCertificateResponse, ProtoStruct, ProtoValue } from './ca.js';
export { loadRoot, MessageCodec, ProtoDecodeError, TO_OBJECT_OPTIONS } from './messages.js';
export { DEFAULT_INTERNER_ENTRIES, StringInterner, compactMessage } from './compact.js';
export {
  ADDRESS_TYPE_URL,
  AUTHORIZATION_TYPE_URL,
  istioRoot,
  addressCodecInstance as addressCodec,
  authorizationCodecInstance as authorizationCodec,
} from './istio.js';
export type {
  Address,
  ApplicationTunnel,
  AppProtocol,
  Authorization,
  AuthorizationAction,
  AuthorizationScope,
  CidrAddress,
  Clause,
  Extension,
  GatewayAddress,
  HealthPolicy,
  IPFamilies,
  LoadBalancing,
  LoadBalancingMode,
  LoadBalancingScope,
  Locality,
  Match,
  NamespacedHostname,
  NetworkAddress,
  NetworkMode,
  Port,
  PortList,
  Rule,
  Service,
  ServiceAccountMatch,
  StringMatch,
  TunnelProtocol,
  WeightedWaypoint,
  Workload,
  WorkloadStatus,
  WorkloadType,
} from './istio.js';
export {
  ADS_PROTO_FILE,
  ADS_SERVICE_NAME,
  TYPE_URL_PREFIX,
  UnknownProtoTypeError,
  adsServiceDefinition,
  envoyCodec,
  envoyIncludeDirs,
  envoyRoot,
  unpackAny,
} from './envoy.js';
export type {
  ControlPlane,
  DeltaDiscoveryRequest,
  DeltaDiscoveryResponse,
  DeltaResource,
  DiscoveryRequest,
  DiscoveryResponse,
  EnvoyLocality,
  EnvoyNode,
  ProtoAny,
  ProtoDuration,
  RpcStatus,
} from './envoy.js';
