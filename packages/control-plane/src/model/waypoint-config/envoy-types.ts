/**
 * The Envoy v3 messages the control plane emits for waypoints, as plain objects in protobufjs's shape
 * (snake_case field names, enums by name, wrapper types as `{ value }`, `google.protobuf.Any` as
 * `{ type_url, value }` with the nested message already encoded). Only the fields of the waypoint
 * contract (`docs/waypoint.md`) are declared: anything else would be a field no waypoint reads.
 */
import type { ProtoStruct } from '@ambit/protos';

export interface Any {
  readonly type_url: string;
  readonly value: Buffer;
}

export interface Duration {
  readonly seconds: number;
  readonly nanos?: number;
}

export interface UInt32Value {
  readonly value: number;
}

export interface CidrRange {
  readonly address_prefix: string;
  readonly prefix_len: UInt32Value;
}

export interface RegexMatcher {
  readonly google_re2: Record<string, never>;
  readonly regex: string;
}

/** envoy.type.matcher.v3.StringMatcher. */
export type StringMatcher =
  | { readonly exact: string; readonly ignore_case?: boolean }
  | { readonly prefix: string; readonly ignore_case?: boolean }
  | { readonly suffix: string; readonly ignore_case?: boolean }
  | { readonly contains: string; readonly ignore_case?: boolean }
  | { readonly safe_regex: RegexMatcher };

/** envoy.config.route.v3.HeaderMatcher. */
export interface HeaderMatcher {
  readonly name: string;
  readonly string_match?: StringMatcher;
  readonly present_match?: boolean;
  readonly invert_match?: boolean;
}

export interface QueryParameterMatcher {
  readonly name: string;
  readonly string_match?: StringMatcher;
  readonly present_match?: boolean;
}

export interface FractionalPercent {
  readonly numerator: number;
  readonly denominator: 'HUNDRED' | 'TEN_THOUSAND' | 'MILLION';
}

export interface HeaderValueOption {
  readonly header: { readonly key: string; readonly value: string };
  readonly append_action: 'APPEND_IF_EXISTS_OR_ADD' | 'OVERWRITE_IF_EXISTS_OR_ADD';
}

// ---- Listener ----

export interface Filter {
  readonly name: string;
  readonly typed_config: Any;
}

export interface FilterChain {
  readonly name: string;
  readonly filter_chain_match: {
    readonly prefix_ranges: readonly CidrRange[];
    /** Absent: every port (Envoy's meaning), as for a workload address. */
    readonly destination_port?: UInt32Value;
    readonly application_protocols?: readonly string[];
  };
  readonly filters: readonly Filter[];
}

export interface Listener {
  readonly name: string;
  readonly address: { readonly socket_address: { readonly address: string; readonly port_value: number } };
  readonly filter_chains: readonly FilterChain[];
}

export interface HttpConnectionManager {
  readonly stat_prefix: string;
  readonly rds: { readonly route_config_name: string; readonly config_source: { readonly ads: Record<string, never>; readonly resource_api_version: 'V3' } };
  readonly normalize_path: { readonly value: boolean };
  readonly merge_slashes: boolean;
  readonly http_filters: readonly Filter[];
}

export interface TcpProxy {
  readonly stat_prefix: string;
  readonly cluster: string;
}

// ---- RBAC ----

export interface MetadataMatcher {
  readonly filter: string;
  readonly path: readonly { readonly key: string }[];
  readonly value: { readonly string_match: StringMatcher } | { readonly list_match: { readonly one_of: { readonly string_match: StringMatcher } } };
}

export type Permission =
  | { readonly any: true }
  | { readonly and_rules: { readonly rules: readonly Permission[] } }
  | { readonly or_rules: { readonly rules: readonly Permission[] } }
  | { readonly not_rule: Permission }
  | { readonly header: HeaderMatcher }
  | { readonly url_path: { readonly path: StringMatcher } }
  | { readonly destination_port: number }
  | { readonly destination_ip: CidrRange };

export type Principal =
  | { readonly any: true }
  | { readonly and_ids: { readonly ids: readonly Principal[] } }
  | { readonly or_ids: { readonly ids: readonly Principal[] } }
  | { readonly not_id: Principal }
  | { readonly authenticated: { readonly principal_name: StringMatcher } }
  | { readonly direct_remote_ip: CidrRange }
  | { readonly remote_ip: CidrRange }
  | { readonly header: HeaderMatcher }
  | { readonly metadata: MetadataMatcher };

export interface RbacPolicy {
  readonly permissions: readonly Permission[];
  readonly principals: readonly Principal[];
}

/** envoy.config.rbac.v3.RBAC (what both the HTTP and the network RBAC filters carry in `rules`). */
export interface RbacRules {
  readonly action: 'ALLOW' | 'DENY';
  readonly policies: Readonly<Record<string, RbacPolicy>>;
}

// ---- JWT ----

export interface JwtProvider {
  readonly issuer: string;
  readonly audiences?: readonly string[];
  readonly local_jwks: { readonly inline_string: string };
  readonly from_headers?: readonly { readonly name: string; readonly value_prefix?: string }[];
  readonly from_params?: readonly string[];
  readonly forward?: boolean;
}

export interface JwtAuthentication {
  readonly providers: Readonly<Record<string, JwtProvider>>;
  readonly rules: readonly {
    readonly match: { readonly prefix: string };
    readonly requires: {
      readonly requires_any: { readonly requirements: readonly ({ readonly provider_name: string } | { readonly allow_missing: Record<string, never> })[] };
    };
  }[];
}

// ---- Routes ----

export interface RouteMatch {
  readonly prefix?: string;
  readonly path?: string;
  readonly path_separated_prefix?: string;
  readonly safe_regex?: RegexMatcher;
  readonly case_sensitive?: { readonly value: boolean };
  readonly headers?: readonly HeaderMatcher[];
  readonly query_parameters?: readonly QueryParameterMatcher[];
}

export interface RetryPolicy {
  readonly retry_on: string;
  readonly num_retries: UInt32Value;
  readonly per_try_timeout?: Duration;
  readonly retry_back_off?: { readonly base_interval: Duration; readonly max_interval?: Duration };
  /** Field 7: the statuses `retriable-status-codes` in `retry_on` retries. */
  readonly retriable_status_codes?: readonly number[];
}

export type HashPolicy =
  | { readonly header: { readonly header_name: string }; readonly terminal?: boolean }
  | { readonly query_parameter: { readonly name: string }; readonly terminal?: boolean }
  | { readonly cookie: { readonly name: string; readonly path?: string }; readonly terminal?: boolean }
  | { readonly connection_properties: { readonly source_ip: boolean }; readonly terminal?: boolean };

export interface WeightedClusterEntry {
  readonly name: string;
  readonly weight: UInt32Value;
  readonly request_headers_to_add?: readonly HeaderValueOption[];
  readonly request_headers_to_remove?: readonly string[];
  readonly response_headers_to_add?: readonly HeaderValueOption[];
  readonly response_headers_to_remove?: readonly string[];
}

export interface RouteAction {
  readonly cluster?: string;
  readonly weighted_clusters?: { readonly clusters: readonly WeightedClusterEntry[] };
  readonly timeout: Duration;
  readonly retry_policy?: RetryPolicy;
  readonly request_mirror_policies?: readonly { readonly cluster: string; readonly runtime_fraction: { readonly default_value: FractionalPercent } }[];
  readonly prefix_rewrite?: string;
  readonly regex_rewrite?: { readonly pattern: RegexMatcher; readonly substitution: string };
  readonly host_rewrite_literal?: string;
  readonly hash_policy?: readonly HashPolicy[];
}

export interface RedirectAction {
  readonly scheme_redirect?: string;
  readonly host_redirect?: string;
  readonly port_redirect?: number;
  readonly path_redirect?: string;
  readonly prefix_rewrite?: string;
  readonly response_code: 'MOVED_PERMANENTLY' | 'FOUND' | 'SEE_OTHER' | 'TEMPORARY_REDIRECT' | 'PERMANENT_REDIRECT';
  readonly strip_query?: boolean;
}

export interface Route {
  readonly name: string;
  readonly match: RouteMatch;
  readonly route?: RouteAction;
  readonly redirect?: RedirectAction;
  readonly direct_response?: { readonly status: number; readonly body?: { readonly inline_string: string } };
  readonly request_headers_to_add?: readonly HeaderValueOption[];
  readonly request_headers_to_remove?: readonly string[];
  readonly response_headers_to_add?: readonly HeaderValueOption[];
  readonly response_headers_to_remove?: readonly string[];
  readonly typed_per_filter_config?: Readonly<Record<string, Any>>;
}

export interface VirtualHost {
  readonly name: string;
  readonly domains: readonly string[];
  readonly routes: readonly Route[];
}

export interface RouteConfiguration {
  readonly name: string;
  readonly virtual_hosts: readonly VirtualHost[];
}

export interface HttpFault {
  readonly delay?: { readonly fixed_delay: Duration; readonly percentage: FractionalPercent };
  readonly abort?: { readonly http_status: number; readonly percentage: FractionalPercent };
}

// ---- Clusters and endpoints ----

export interface CircuitBreakerThresholds {
  readonly max_connections?: UInt32Value;
  readonly max_pending_requests?: UInt32Value;
  readonly max_requests?: UInt32Value;
  readonly max_retries?: UInt32Value;
}

export interface OutlierDetection {
  readonly consecutive_5xx: UInt32Value;
  readonly consecutive_gateway_failure: UInt32Value;
  readonly interval: Duration;
  readonly base_ejection_time: Duration;
  readonly max_ejection_percent: UInt32Value;
}

/** A service port's cluster: endpoints from the ClusterLoadAssignment of the same name. */
export interface EdsCluster {
  readonly name: string;
  readonly type: 'EDS';
  readonly eds_cluster_config: { readonly eds_config: { readonly ads: Record<string, never>; readonly resource_api_version: 'V3' }; readonly service_name: string };
  readonly connect_timeout: Duration;
  readonly lb_policy: 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' | 'RING_HASH' | 'MAGLEV';
  readonly circuit_breakers?: { readonly thresholds: readonly CircuitBreakerThresholds[] };
  readonly outlier_detection?: OutlierDetection;
  readonly typed_extension_protocol_options: Readonly<Record<string, Any>>;
  readonly metadata: { readonly filter_metadata: { readonly istio: ProtoStruct } };
}

/** The cluster of workload-addressed traffic: no endpoints, each connection goes where it was addressed. */
export interface OriginalDstCluster {
  readonly name: string;
  readonly type: 'ORIGINAL_DST';
  readonly connect_timeout: Duration;
  readonly lb_policy: 'CLUSTER_PROVIDED';
  readonly typed_extension_protocol_options: Readonly<Record<string, Any>>;
}

export type Cluster = EdsCluster | OriginalDstCluster;

export interface LbEndpoint {
  readonly endpoint: { readonly address: { readonly socket_address: { readonly address: string; readonly port_value: number } } };
  readonly health_status: 'HEALTHY' | 'UNHEALTHY';
  readonly load_balancing_weight: UInt32Value;
}

export interface LocalityLbEndpoints {
  readonly locality?: { readonly region?: string; readonly zone?: string; readonly sub_zone?: string };
  readonly lb_endpoints: readonly LbEndpoint[];
}

export interface ClusterLoadAssignment {
  readonly cluster_name: string;
  readonly endpoints: readonly LocalityLbEndpoints[];
}
