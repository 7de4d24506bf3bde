/**
 * The typed Kubernetes objects the decoders produce: only the fields the model uses, already validated
 * and defaulted the way the API server would (namespace `default`, service account `default`, a missing
 * `targetPort` equal to `port`, …). Every object remembers where it came from, so the model can point its
 * own diagnostics at the right file, document and field.
 */
import type { PathSegment } from './field.js';
import type { GrpcRouteObject, HttpRouteObject } from './route-objects.js';
import type { DestinationRuleObject, VirtualServiceObject } from './traffic-objects.js';

export interface SourceRef {
  readonly file: string;
  readonly document: number;
  /** Path of the object inside the document (empty for a whole document). */
  readonly path: readonly PathSegment[];
  /** 1-based line of each field path the model may point at, filled in by the parser. */
  readonly lineOf: (path: readonly PathSegment[]) => number | undefined;
}

export interface OwnerReference {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly controller: boolean;
}

export interface ObjectMeta {
  readonly name: string;
  /** `''` for cluster-scoped kinds. */
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly uid?: string;
  /** Milliseconds since the epoch, when given: Istio lets the oldest of conflicting policies win. */
  readonly creationTimestamp?: number;
  readonly ownerReferences: readonly OwnerReference[];
}

/** What every typed object has: its kind, apiVersion, metadata and where it came from. */
export interface Base<K extends string> {
  readonly kind: K;
  readonly apiVersion: string;
  readonly metadata: ObjectMeta;
  readonly source: SourceRef;
}

export type NamespaceObject = Base<'Namespace'>;
export type NodeObject = Base<'Node'>;
export type ServiceAccountObject = Base<'ServiceAccount'>;

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

export interface ContainerPort {
  readonly name?: string;
  readonly containerPort: number;
  readonly protocol: 'TCP' | 'UDP' | 'SCTP';
}

export interface PodObject extends Base<'Pod'> {
  readonly nodeName?: string;
  readonly serviceAccountName: string;
  readonly hostNetwork: boolean;
  readonly phase: PodPhase;
  /** `status.podIPs` (or `[status.podIP]`), primary first; empty when not yet assigned. */
  readonly podIPs: readonly string[];
  readonly ready: boolean;
  /** All containers' declared ports, for resolving a Service's named `targetPort`. */
  readonly containerPorts: readonly ContainerPort[];
}

export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';

export interface ServicePort {
  readonly name?: string;
  readonly port: number;
  /** A number, or the name of a container port resolved per pod. */
  readonly targetPort: number | string;
  readonly protocol: 'TCP' | 'UDP' | 'SCTP';
  readonly appProtocol?: string;
}

export interface ServiceObject extends Base<'Service'> {
  readonly type: ServiceType;
  /** Empty for headless services and services without an allocated IP. */
  readonly clusterIPs: readonly string[];
  readonly headless: boolean;
  readonly ports: readonly ServicePort[];
  /** Undefined when the Service has no selector (its endpoints are managed by hand). */
  readonly selector?: Readonly<Record<string, string>>;
  readonly ipFamilies: ReadonlyArray<'IPv4' | 'IPv6'>;
  readonly trafficDistribution?: string;
  readonly internalTrafficPolicy?: 'Cluster' | 'Local';
  readonly publishNotReadyAddresses: boolean;
}

export interface PolicyTargetRef {
  readonly group: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
}

export interface AuthorizationSource {
  readonly principals?: readonly string[];
  readonly notPrincipals?: readonly string[];
  readonly requestPrincipals?: readonly string[];
  readonly notRequestPrincipals?: readonly string[];
  readonly namespaces?: readonly string[];
  readonly notNamespaces?: readonly string[];
  readonly serviceAccounts?: readonly string[];
  readonly notServiceAccounts?: readonly string[];
  readonly ipBlocks?: readonly string[];
  readonly notIpBlocks?: readonly string[];
  readonly remoteIpBlocks?: readonly string[];
  readonly notRemoteIpBlocks?: readonly string[];
}

export interface AuthorizationOperation {
  readonly hosts?: readonly string[];
  readonly notHosts?: readonly string[];
  readonly ports?: readonly string[];
  readonly notPorts?: readonly string[];
  readonly methods?: readonly string[];
  readonly notMethods?: readonly string[];
  readonly paths?: readonly string[];
  readonly notPaths?: readonly string[];
}

export interface AuthorizationCondition {
  readonly key: string;
  readonly values?: readonly string[];
  readonly notValues?: readonly string[];
}

export interface AuthorizationRule {
  readonly from: readonly AuthorizationSource[];
  readonly to: readonly AuthorizationOperation[];
  readonly when: readonly AuthorizationCondition[];
}

export type AuthorizationPolicyAction = 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';

export interface AuthorizationPolicyObject extends Base<'AuthorizationPolicy'> {
  /** `spec.selector.matchLabels`; undefined when there is no selector (namespace or mesh wide). */
  readonly selector?: Readonly<Record<string, string>>;
  /** `spec.targetRefs` plus the older `spec.targetRef`: such policies belong to waypoints, not ztunnel. */
  readonly targetRefs: readonly PolicyTargetRef[];
  readonly action: AuthorizationPolicyAction;
  readonly provider?: string;
  /** Empty when `rules` is absent: such an ALLOW policy allows nothing, such a DENY policy denies nothing. */
  readonly rules: readonly AuthorizationRule[];
  readonly dryRun: boolean;
}

export type MtlsMode = 'UNSET' | 'DISABLE' | 'PERMISSIVE' | 'STRICT';

export interface PeerAuthenticationObject extends Base<'PeerAuthentication'> {
  readonly selector?: Readonly<Record<string, string>>;
  readonly mode: MtlsMode;
  /** Port number → mode, sorted by port. */
  readonly portLevelMtls: ReadonlyArray<readonly [number, MtlsMode]>;
}

export interface GatewayListener {
  readonly name: string;
  readonly port: number;
  readonly protocol: string;
  /** `allowedRoutes.namespaces.from`, default `Same`. */
  readonly allowedFrom: 'All' | 'Same' | 'Selector';
  readonly allowedSelector?: Readonly<Record<string, string>>;
}

export interface GatewayAddressStatus {
  readonly type: 'IPAddress' | 'Hostname';
  readonly value: string;
}

export interface GatewayObject extends Base<'Gateway'> {
  readonly gatewayClassName: string;
  readonly listeners: readonly GatewayListener[];
  readonly statusAddresses: readonly GatewayAddressStatus[];
}

/** One `jwtRules` entry of a RequestAuthentication: a token issuer and how to find and check its tokens. */
export interface JwtRule {
  readonly issuer: string;
  /** Accepted `aud` values; empty means any audience. */
  readonly audiences: readonly string[];
  /** The issuer's keys: a JWKS document as JSON text (validated). */
  readonly jwks: string;
  /** Where the token is looked for; empty (with `fromParams` empty) means `Authorization: Bearer`. */
  readonly fromHeaders: readonly { readonly name: string; readonly prefix?: string }[];
  readonly fromParams: readonly string[];
  readonly forwardOriginalToken: boolean;
}

export interface RequestAuthenticationObject extends Base<'RequestAuthentication'> {
  readonly selector?: Readonly<Record<string, string>>;
  /** Only policies with targetRefs reach a waypoint. */
  readonly targetRefs: readonly PolicyTargetRef[];
  readonly jwtRules: readonly JwtRule[];
}

/** Every kind the input understands; `kind` discriminates. */
export type InputObject =
  | NamespaceObject
  | NodeObject
  | ServiceAccountObject
  | PodObject
  | ServiceObject
  | AuthorizationPolicyObject
  | PeerAuthenticationObject
  | GatewayObject
  | HttpRouteObject
  | GrpcRouteObject
  | RequestAuthenticationObject
  | DestinationRuleObject
  | VirtualServiceObject;

export type InputKind = InputObject['kind'];

/** `Kind/namespace/name` (cluster-scoped: `Kind/name`): the identity used for duplicates and last-valid. */
export function objectKey(kind: string, namespace: string, name: string): string {
  return namespace.length > 0 ? `${kind}/${namespace}/${name}` : `${kind}/${name}`;
}
