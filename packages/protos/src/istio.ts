/**
 * TypeScript shapes of Istio's ambient messages as our codecs produce them (`keepCase`, enums as names,
 * bytes as Buffer, 64-bit integers as numbers, oneofs with their discriminator, absent fields omitted).
 * Field names and numbers are in `proto/istio/{workload,security}/*.proto`.
 */
import type protobuf from 'protobufjs';
import { loadRoot, MessageCodec } from './messages.js';

export type TunnelProtocol = 'NONE' | 'HBONE' | 'LEGACY_ISTIO_MTLS';
export type WorkloadStatus = 'HEALTHY' | 'UNHEALTHY';
export type WorkloadType = 'DEPLOYMENT' | 'CRONJOB' | 'POD' | 'JOB';
export type AppProtocol = 'UNKNOWN' | 'HTTP11' | 'HTTP2' | 'GRPC' | 'TCP' | 'TLS';
export type IPFamilies = 'AUTOMATIC' | 'IPV4_ONLY' | 'IPV6_ONLY' | 'DUAL';
export type NetworkMode = 'STANDARD' | 'HOST_NETWORK';
export type LoadBalancingScope = 'UNSPECIFIED_SCOPE' | 'REGION' | 'ZONE' | 'SUBZONE' | 'NODE' | 'CLUSTER' | 'NETWORK';
export type LoadBalancingMode = 'UNSPECIFIED_MODE' | 'STRICT' | 'FAILOVER' | 'PASSTHROUGH';
export type HealthPolicy = 'ONLY_HEALTHY' | 'ALLOW_ALL';

export interface NetworkAddress {
  network?: string;
  address?: Buffer;
  length?: number;
}

export interface NamespacedHostname {
  namespace?: string;
  hostname?: string;
}

export interface GatewayAddress {
  hostname?: NamespacedHostname;
  address?: NetworkAddress;
  destination?: 'hostname' | 'address';
  hbone_mtls_port?: number;
}

export interface Port {
  service_port?: number;
  target_port?: number;
  app_protocol?: AppProtocol;
}

export interface PortList {
  ports?: Port[];
}

export interface Locality {
  region?: string;
  zone?: string;
  subzone?: string;
}

export interface LoadBalancing {
  routing_preference?: LoadBalancingScope[];
  mode?: LoadBalancingMode;
  health_policy?: HealthPolicy;
}

export interface ApplicationTunnel {
  protocol?: 'NONE' | 'PROXY';
  port?: number;
}

export interface Extension {
  name?: string;
  config?: { type_url?: string; value?: Buffer };
}

export interface WeightedWaypoint {
  destination?: GatewayAddress;
  weight?: number;
}

export interface Workload {
  uid?: string;
  name?: string;
  namespace?: string;
  addresses?: Buffer[];
  hostname?: string;
  network?: string;
  tunnel_protocol?: TunnelProtocol;
  trust_domain?: string;
  service_account?: string;
  waypoint?: GatewayAddress;
  network_gateway?: GatewayAddress;
  node?: string;
  canonical_name?: string;
  canonical_revision?: string;
  workload_type?: WorkloadType;
  workload_name?: string;
  native_tunnel?: boolean;
  application_tunnel?: ApplicationTunnel;
  services?: Record<string, PortList>;
  authorization_policies?: string[];
  status?: WorkloadStatus;
  cluster_id?: string;
  locality?: Locality;
  network_mode?: NetworkMode;
  extensions?: Extension[];
  capacity?: { value?: number };
}

export interface Service {
  name?: string;
  namespace?: string;
  hostname?: string;
  addresses?: NetworkAddress[];
  ports?: Port[];
  subject_alt_names?: string[];
  waypoint?: GatewayAddress;
  load_balancing?: LoadBalancing;
  ip_families?: IPFamilies;
  extensions?: Extension[];
  canonical?: boolean;
  ingress_use_waypoint?: boolean;
  weighted_waypoints?: WeightedWaypoint[];
  visibility?: 'PUBLIC' | 'NAMESPACE';
}

export interface Address {
  workload?: Workload;
  service?: Service;
  type?: 'workload' | 'service';
}

export type AuthorizationScope = 'GLOBAL' | 'NAMESPACE' | 'WORKLOAD_SELECTOR';
export type AuthorizationAction = 'ALLOW' | 'DENY';

export interface StringMatch {
  exact?: string;
  prefix?: string;
  suffix?: string;
  presence?: Record<string, never>;
  match_type?: 'exact' | 'prefix' | 'suffix' | 'presence';
}

export interface ServiceAccountMatch {
  namespace?: string;
  serviceAccount?: string;
}

export interface CidrAddress {
  address?: Buffer;
  length?: number;
}

export interface Match {
  namespaces?: StringMatch[];
  not_namespaces?: StringMatch[];
  service_accounts?: ServiceAccountMatch[];
  not_service_accounts?: ServiceAccountMatch[];
  principals?: StringMatch[];
  not_principals?: StringMatch[];
  source_ips?: CidrAddress[];
  not_source_ips?: CidrAddress[];
  destination_ips?: CidrAddress[];
  not_destination_ips?: CidrAddress[];
  destination_ports?: number[];
  not_destination_ports?: number[];
  extensions?: Extension[];
}

export interface Clause {
  matches?: Match[];
}

export interface Rule {
  clauses?: Clause[];
}

export interface Authorization {
  name?: string;
  namespace?: string;
  scope?: AuthorizationScope;
  action?: AuthorizationAction;
  rules?: Rule[];
  dry_run?: boolean;
  extensions?: Extension[];
}

export const ADDRESS_TYPE_URL = 'type.googleapis.com/istio.workload.Address';
export const AUTHORIZATION_TYPE_URL = 'type.googleapis.com/istio.security.Authorization';

let root: protobuf.Root | undefined;

/** The protobufjs Root holding Istio's ambient protos (loaded once). */
export function istioRoot(): protobuf.Root {
  root ??= loadRoot(['istio/workload/workload.proto', 'istio/security/authorization.proto', 'istio/v1/auth/ca.proto']);
  return root;
}

let addressCodec: MessageCodec<Address> | undefined;
let authorizationCodec: MessageCodec<Authorization> | undefined;

export function addressCodecInstance(): MessageCodec<Address> {
  addressCodec ??= new MessageCodec<Address>(istioRoot(), 'istio.workload.Address');
  return addressCodec;
}

export function authorizationCodecInstance(): MessageCodec<Authorization> {
  authorizationCodec ??= new MessageCodec<Authorization>(istioRoot(), 'istio.security.Authorization');
  return authorizationCodec;
}
