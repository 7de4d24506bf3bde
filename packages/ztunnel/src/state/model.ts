/**
 * The ztunnel's model of the mesh: what the decoders make of Istio's `Address` resources, immutable once
 * built. Addresses are text (`state/ip.ts` form); maps are keyed as xDS keys them (`namespace/hostname`
 * for services, `network/ip` for addresses). Policies are in `authz/policy.ts`.
 */
import type { AppProtocol, IPFamilies, LoadBalancingMode, LoadBalancingScope, WorkloadType } from '@ambit/protos';
import type { Identity } from '@ambit/mesh-core/identity';

export type TunnelProtocol = 'NONE' | 'HBONE';
export type HealthStatus = 'HEALTHY' | 'UNHEALTHY';
export type NetworkMode = 'STANDARD' | 'HOST_NETWORK';

/** An address within a network (`network` is `''` for the default network). */
export interface NetworkAddress {
  readonly network: string;
  readonly address: string;
}

/** Where a waypoint or network gateway is reached, and its HBONE port. */
export type GatewayAddress =
  | { readonly kind: 'address'; readonly address: NetworkAddress; readonly hboneMtlsPort: number }
  | { readonly kind: 'hostname'; readonly namespace: string; readonly hostname: string; readonly hboneMtlsPort: number };

export interface Locality {
  readonly region: string;
  readonly zone: string;
  readonly subzone: string;
}

export interface ApplicationTunnel {
  readonly protocol: 'NONE' | 'PROXY';
  /** The port the tunnel is accepted on; absent means the target port. */
  readonly port?: number;
}

export interface Workload {
  /** Unique key, e.g. `Kubernetes//Pod/default/sleep-1`; also the xDS resource name. */
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  /** IP addresses, in the form sockets report them. May be empty for hostname-only workloads. */
  readonly addresses: readonly string[];
  readonly hostname: string;
  readonly network: string;
  readonly tunnelProtocol: TunnelProtocol;
  /** `trust_domain` (default `cluster.local`). */
  readonly trustDomain: string;
  /** `service_account` (default `default`). */
  readonly serviceAccount: string;
  /** `spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>`. */
  readonly identity: Identity;
  readonly waypoint?: GatewayAddress;
  readonly networkGateway?: GatewayAddress;
  /** Kubernetes node name; `''` when not known. */
  readonly node: string;
  readonly canonicalName: string;
  readonly canonicalRevision: string;
  readonly workloadType: WorkloadType;
  readonly workloadName: string;
  readonly nativeTunnel: boolean;
  readonly applicationTunnel?: ApplicationTunnel;
  /**
   * The services selecting this workload (`namespace/hostname`), each with its port map: service port →
   * target port on this workload (which wins over the service's own target port).
   */
  readonly services: ReadonlyMap<string, ReadonlyMap<number, number>>;
  /** Keys (`namespace/name`) of the selector policies that apply to this workload. */
  readonly authorizationPolicies: readonly string[];
  readonly status: HealthStatus;
  readonly clusterId: string;
  readonly locality: Locality;
  readonly networkMode: NetworkMode;
  /** Relative weight for load balancing (default 1). */
  readonly capacity: number;
}

export interface ServicePort {
  readonly servicePort: number;
  /** 0 when the service does not say (a named target port resolved per workload, or none). */
  readonly targetPort: number;
  readonly appProtocol: AppProtocol;
}

export interface LoadBalancing {
  readonly routingPreference: readonly LoadBalancingScope[];
  readonly mode: LoadBalancingMode;
  readonly healthPolicy: 'ONLY_HEALTHY' | 'ALLOW_ALL';
}

export interface WeightedWaypoint {
  readonly destination: GatewayAddress;
  readonly weight: number;
}

export interface Service {
  /** `namespace/hostname`; also the xDS resource name. */
  readonly key: string;
  readonly name: string;
  readonly namespace: string;
  readonly hostname: string;
  /** Virtual IPs, one or more per network. */
  readonly vips: readonly NetworkAddress[];
  readonly ports: readonly ServicePort[];
  readonly subjectAltNames: readonly string[];
  readonly waypoint?: GatewayAddress;
  readonly weightedWaypoints: readonly WeightedWaypoint[];
  readonly loadBalancing?: LoadBalancing;
  readonly ipFamilies: IPFamilies;
  readonly canonical: boolean;
  readonly ingressUseWaypoint: boolean;
  readonly visibility: 'PUBLIC' | 'NAMESPACE';
}

/** One workload behind a service, with its port map for that service. */
export interface Endpoint {
  readonly workload: Workload;
  /** Service port → target port on this workload (from the workload's `services` entry). */
  readonly ports: ReadonlyMap<number, number>;
}

/** One Address resource after decoding. */
export type AddressResource =
  | { readonly kind: 'workload'; readonly workload: Workload }
  | { readonly kind: 'service'; readonly service: Service };
