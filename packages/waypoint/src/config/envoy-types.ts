/**
 * The shapes of the decoded Envoy messages the waypoint reads, as `envoyCodec()` produces them: snake_case
 * field names, enums as their names (a value the protos do not know stays a number), 64-bit integers as
 * numbers, absent fields omitted (so a proto3 enum or scalar at its zero value is absent too), oneofs with
 * a discriminator field naming the member that is set. Only the fields the waypoint reads or refuses are
 * declared; `docs/waypoint.md` says what each means.
 */
import type { ProtoAny, ProtoDuration } from '@ambit/protos';

export type { ProtoAny, ProtoDuration };

/** An enum field: its name, or the number protobufjs leaves when the name is unknown. */
export type EnumValue<T extends string> = T | number;

export interface UInt32Value {
  value?: number;
}

export interface BoolValue {
  value?: boolean;
}

export interface FractionalPercent {
  numerator?: number;
  denominator?: EnumValue<'HUNDRED' | 'TEN_THOUSAND' | 'MILLION'>;
}

export interface RuntimeFractionalPercent {
  default_value?: FractionalPercent;
  runtime_key?: string;
}

// ---- google.protobuf.Struct: protobufjs's built-in definition names its fields in camelCase ----

export interface StructValue {
  nullValue?: EnumValue<'NULL_VALUE'>;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: Struct;
  listValue?: { values?: StructValue[] };
  kind?: string;
}

export interface Struct {
  fields?: Record<string, StructValue>;
}

export interface Metadata {
  filter_metadata?: Record<string, Struct>;
}

// ---- Matchers ----

export interface RegexMatcher {
  regex?: string;
  google_re2?: { max_program_size?: UInt32Value };
}

export interface StringMatcher {
  exact?: string;
  prefix?: string;
  suffix?: string;
  safe_regex?: RegexMatcher;
  contains?: string;
  custom?: unknown;
  ignore_case?: boolean;
  match_pattern?: string;
}

export interface Int64Range {
  start?: number;
  end?: number;
}

export interface HeaderMatcher {
  name?: string;
  exact_match?: string;
  safe_regex_match?: RegexMatcher;
  range_match?: Int64Range;
  present_match?: boolean;
  prefix_match?: string;
  suffix_match?: string;
  contains_match?: string;
  string_match?: StringMatcher;
  header_match_specifier?: string;
  invert_match?: boolean;
  treat_missing_header_as_empty?: boolean;
}

export interface QueryParameterMatcher {
  name?: string;
  string_match?: StringMatcher;
  present_match?: boolean;
  query_parameter_match_specifier?: string;
}

export interface ValueMatcher {
  null_match?: unknown;
  double_match?: { exact?: number; range?: unknown; match_pattern?: string };
  string_match?: StringMatcher;
  bool_match?: boolean;
  present_match?: boolean;
  list_match?: { one_of?: ValueMatcher; match_pattern?: string };
  or_match?: unknown;
  match_pattern?: string;
}

export interface MetadataMatcher {
  filter?: string;
  path?: { key?: string; segment?: string }[];
  value?: ValueMatcher;
  invert?: boolean;
}

export interface CidrRange {
  address_prefix?: string;
  prefix_len?: UInt32Value;
}

// ---- Routes ----

export interface HeaderValueOption {
  header?: { key?: string; value?: string; raw_value?: Buffer };
  append?: BoolValue;
  append_action?: EnumValue<'APPEND_IF_EXISTS_OR_ADD' | 'ADD_IF_ABSENT' | 'OVERWRITE_IF_EXISTS_OR_ADD' | 'OVERWRITE_IF_EXISTS'>;
  keep_empty_value?: boolean;
}

/** The header-mutation fields shared by VirtualHost, Route and ClusterWeight. */
export interface HeaderMutationFields {
  request_headers_to_add?: HeaderValueOption[];
  request_headers_to_remove?: string[];
  response_headers_to_add?: HeaderValueOption[];
  response_headers_to_remove?: string[];
}

export interface RouteMatch {
  prefix?: string;
  path?: string;
  safe_regex?: RegexMatcher;
  connect_matcher?: unknown;
  path_separated_prefix?: string;
  path_match_policy?: unknown;
  path_specifier?: string;
  case_sensitive?: BoolValue;
  runtime_fraction?: unknown;
  headers?: HeaderMatcher[];
  query_parameters?: QueryParameterMatcher[];
  grpc?: unknown;
  tls_context?: unknown;
  dynamic_metadata?: unknown[];
}

export interface ClusterWeight extends HeaderMutationFields {
  name?: string;
  cluster_header?: string;
  weight?: UInt32Value;
  typed_per_filter_config?: Record<string, ProtoAny>;
}

export interface RetryPolicy {
  retry_on?: string;
  num_retries?: UInt32Value;
  per_try_timeout?: ProtoDuration;
  per_try_idle_timeout?: ProtoDuration;
  retry_back_off?: { base_interval?: ProtoDuration; max_interval?: ProtoDuration };
  retriable_status_codes?: number[];
  retry_host_predicate?: unknown[];
  retry_priority?: unknown;
  host_selection_retry_max_attempts?: number;
}

export interface HashPolicy {
  header?: { header_name?: string; regex_rewrite?: unknown };
  cookie?: { name?: string; ttl?: ProtoDuration; path?: string };
  connection_properties?: { source_ip?: boolean };
  query_parameter?: { name?: string };
  filter_state?: unknown;
  terminal?: boolean;
  policy_specifier?: string;
}

export interface RequestMirrorPolicy {
  cluster?: string;
  cluster_header?: string;
  runtime_fraction?: RuntimeFractionalPercent;
  trace_sampled?: BoolValue;
}

export interface RegexMatchAndSubstitute {
  pattern?: RegexMatcher;
  substitution?: string;
}

export interface RouteAction {
  cluster?: string;
  cluster_header?: string;
  weighted_clusters?: { clusters?: ClusterWeight[]; total_weight?: UInt32Value; runtime_key_prefix?: string };
  cluster_specifier_plugin?: string;
  inline_cluster_specifier_plugin?: unknown;
  cluster_specifier?: string;
  prefix_rewrite?: string;
  regex_rewrite?: RegexMatchAndSubstitute;
  path_rewrite_policy?: unknown;
  host_rewrite_literal?: string;
  auto_host_rewrite?: BoolValue;
  host_rewrite_header?: string;
  host_rewrite_path_regex?: unknown;
  host_rewrite_specifier?: string;
  timeout?: ProtoDuration;
  idle_timeout?: ProtoDuration;
  retry_policy?: RetryPolicy;
  request_mirror_policies?: RequestMirrorPolicy[];
  hash_policy?: HashPolicy[];
}

export interface RedirectAction {
  https_redirect?: boolean;
  scheme_redirect?: string;
  host_redirect?: string;
  port_redirect?: number;
  path_redirect?: string;
  prefix_rewrite?: string;
  regex_rewrite?: RegexMatchAndSubstitute;
  response_code?: EnumValue<'MOVED_PERMANENTLY' | 'FOUND' | 'SEE_OTHER' | 'TEMPORARY_REDIRECT' | 'PERMANENT_REDIRECT'>;
  strip_query?: boolean;
}

export interface DataSource {
  filename?: string;
  inline_bytes?: Buffer;
  inline_string?: string;
  environment_variable?: string;
  specifier?: string;
}

export interface DirectResponseAction {
  status?: number;
  body?: DataSource;
}

export interface Route extends HeaderMutationFields {
  name?: string;
  match?: RouteMatch;
  route?: RouteAction;
  redirect?: RedirectAction;
  direct_response?: DirectResponseAction;
  filter_action?: unknown;
  non_forwarding_action?: unknown;
  action?: string;
  typed_per_filter_config?: Record<string, ProtoAny>;
}

export interface VirtualHost extends HeaderMutationFields {
  name?: string;
  domains?: string[];
  routes?: Route[];
  require_tls?: EnumValue<'NONE' | 'EXTERNAL_ONLY' | 'ALL'>;
  typed_per_filter_config?: Record<string, ProtoAny>;
}

export interface RouteConfiguration extends HeaderMutationFields {
  name?: string;
  virtual_hosts?: VirtualHost[];
  vhds?: unknown;
}

// ---- Fault ----

export interface HTTPFault {
  delay?: { fixed_delay?: ProtoDuration; header_delay?: unknown; percentage?: FractionalPercent; fault_delay_secifier?: string };
  abort?: { http_status?: number; grpc_status?: number; header_abort?: unknown; percentage?: FractionalPercent; error_type?: string };
  upstream_cluster?: string;
  headers?: HeaderMatcher[];
  downstream_nodes?: string[];
  max_active_faults?: UInt32Value;
  response_rate_limit?: unknown;
}

// ---- Clusters and endpoints ----

export interface CircuitBreakerThresholds {
  priority?: EnumValue<'DEFAULT' | 'HIGH'>;
  max_connections?: UInt32Value;
  max_pending_requests?: UInt32Value;
  max_requests?: UInt32Value;
  max_retries?: UInt32Value;
}

export interface OutlierDetection {
  consecutive_5xx?: UInt32Value;
  interval?: ProtoDuration;
  base_ejection_time?: ProtoDuration;
  max_ejection_percent?: UInt32Value;
  enforcing_consecutive_5xx?: UInt32Value;
  consecutive_gateway_failure?: UInt32Value;
  enforcing_consecutive_gateway_failure?: UInt32Value;
  split_external_local_origin_errors?: boolean;
}

export interface Cluster {
  name?: string;
  type?: EnumValue<'STATIC' | 'STRICT_DNS' | 'LOGICAL_DNS' | 'EDS' | 'ORIGINAL_DST'>;
  cluster_type?: unknown;
  cluster_discovery_type?: string;
  eds_cluster_config?: { eds_config?: { ads?: unknown; config_source_specifier?: string }; service_name?: string };
  connect_timeout?: ProtoDuration;
  lb_policy?: EnumValue<'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RING_HASH' | 'RANDOM' | 'MAGLEV' | 'CLUSTER_PROVIDED' | 'LOAD_BALANCING_POLICY_CONFIG'>;
  load_balancing_policy?: unknown;
  circuit_breakers?: { thresholds?: CircuitBreakerThresholds[] };
  outlier_detection?: OutlierDetection;
  typed_extension_protocol_options?: Record<string, ProtoAny>;
  metadata?: Metadata;
  load_assignment?: unknown;
  transport_socket?: unknown;
  original_dst_lb_config?: OriginalDstLbConfig;
  cleanup_interval?: ProtoDuration;
}

export interface OriginalDstLbConfig {
  use_http_header?: boolean;
  http_header_name?: string;
  upstream_port_override?: UInt32Value;
  metadata_key?: unknown;
}

export interface HttpProtocolOptions {
  explicit_http_config?: { http_protocol_options?: unknown; http2_protocol_options?: unknown; http3_protocol_options?: unknown; protocol_config?: string };
  use_downstream_protocol_config?: { http_protocol_options?: unknown; http2_protocol_options?: unknown };
  auto_config?: unknown;
  upstream_protocol_options?: string;
}

export interface SocketAddress {
  protocol?: EnumValue<'TCP' | 'UDP'>;
  address?: string;
  port_value?: number;
  named_port?: string;
  port_specifier?: string;
  resolver_name?: string;
  ipv4_compat?: boolean;
}

export interface EnvoyAddress {
  socket_address?: SocketAddress;
  pipe?: unknown;
  envoy_internal_address?: unknown;
  address?: string;
}

export interface LbEndpoint {
  endpoint?: { address?: EnvoyAddress; hostname?: string };
  endpoint_name?: string;
  host_identifier?: string;
  health_status?: EnumValue<'UNKNOWN' | 'HEALTHY' | 'UNHEALTHY' | 'DRAINING' | 'TIMEOUT' | 'DEGRADED'>;
  load_balancing_weight?: UInt32Value;
  metadata?: Metadata;
}

export interface LocalityLbEndpoints {
  locality?: { region?: string; zone?: string; sub_zone?: string };
  lb_endpoints?: LbEndpoint[];
  load_balancing_weight?: UInt32Value;
  priority?: number;
}

export interface ClusterLoadAssignment {
  cluster_name?: string;
  endpoints?: LocalityLbEndpoints[];
  named_endpoints?: Record<string, unknown>;
  policy?: unknown;
}

// ---- Listener and its filters ----

export interface Filter {
  name?: string;
  typed_config?: ProtoAny;
  config_discovery?: unknown;
  config_type?: string;
}

export interface FilterChainMatch {
  destination_port?: UInt32Value;
  prefix_ranges?: CidrRange[];
  address_suffix?: string;
  suffix_len?: UInt32Value;
  direct_source_prefix_ranges?: CidrRange[];
  source_type?: EnumValue<'ANY' | 'SAME_IP_OR_LOOPBACK' | 'EXTERNAL'>;
  source_prefix_ranges?: CidrRange[];
  source_ports?: number[];
  server_names?: string[];
  transport_protocol?: string;
  application_protocols?: string[];
}

export interface FilterChain {
  filter_chain_match?: FilterChainMatch;
  filters?: Filter[];
  name?: string;
  transport_socket?: unknown;
}

export interface Listener {
  name?: string;
  address?: EnvoyAddress;
  filter_chains?: FilterChain[];
  default_filter_chain?: FilterChain;
  listener_filters?: Filter[];
}

export interface HttpFilter {
  name?: string;
  typed_config?: ProtoAny;
  config_discovery?: unknown;
  is_optional?: boolean;
  disabled?: boolean;
  config_type?: string;
}

export interface HttpConnectionManager {
  codec_type?: EnumValue<'AUTO' | 'HTTP1' | 'HTTP2' | 'HTTP3'>;
  stat_prefix?: string;
  rds?: { config_source?: { ads?: unknown; config_source_specifier?: string }; route_config_name?: string };
  route_config?: RouteConfiguration;
  scoped_routes?: unknown;
  route_specifier?: string;
  http_filters?: HttpFilter[];
  normalize_path?: BoolValue;
  merge_slashes?: boolean;
  path_with_escaped_slashes_action?: EnumValue<'IMPLEMENTATION_SPECIFIC_DEFAULT' | 'KEEP_UNCHANGED' | 'REJECT_REQUEST' | 'UNESCAPE_AND_REDIRECT' | 'UNESCAPE_AND_FORWARD'>;
}

export interface TcpProxy {
  stat_prefix?: string;
  cluster?: string;
  weighted_clusters?: unknown;
  on_demand?: unknown;
  cluster_specifier?: string;
}

// ---- RBAC ----

export interface Permission {
  and_rules?: { rules?: Permission[] };
  or_rules?: { rules?: Permission[] };
  any?: boolean;
  header?: HeaderMatcher;
  url_path?: { path?: StringMatcher; rule?: string };
  destination_ip?: CidrRange;
  destination_port?: number;
  destination_port_range?: { start?: number; end?: number };
  metadata?: MetadataMatcher;
  not_rule?: Permission;
  requested_server_name?: StringMatcher;
  matcher?: unknown;
  uri_template?: unknown;
  rule?: string;
}

export interface Principal {
  and_ids?: { ids?: Principal[] };
  or_ids?: { ids?: Principal[] };
  any?: boolean;
  authenticated?: { principal_name?: StringMatcher };
  source_ip?: CidrRange;
  direct_remote_ip?: CidrRange;
  remote_ip?: CidrRange;
  header?: HeaderMatcher;
  url_path?: unknown;
  metadata?: MetadataMatcher;
  filter_state?: unknown;
  not_id?: Principal;
  identifier?: string;
}

export interface RbacPolicy {
  permissions?: Permission[];
  principals?: Principal[];
  condition?: unknown;
  checked_condition?: unknown;
}

export interface RbacRules {
  action?: EnumValue<'ALLOW' | 'DENY' | 'LOG'>;
  policies?: Record<string, RbacPolicy>;
  audit_logging_options?: unknown;
}

/** envoy.extensions.filters.http.rbac.v3.RBAC and envoy.extensions.filters.network.rbac.v3.RBAC (the fields both share). */
export interface RbacFilter {
  rules?: RbacRules;
  matcher?: unknown;
  shadow_rules?: RbacRules;
  shadow_matcher?: unknown;
  stat_prefix?: string;
  rules_stat_prefix?: string;
  enforcement_type?: EnumValue<'ONE_TIME_ON_FIRST_BYTE' | 'CONTINUOUS'>;
}

// ---- JWT ----

export interface JwtHeader {
  name?: string;
  value_prefix?: string;
}

export interface JwtProvider {
  issuer?: string;
  audiences?: string[];
  subjects?: unknown;
  remote_jwks?: unknown;
  local_jwks?: DataSource;
  jwks_source_specifier?: string;
  forward?: boolean;
  from_headers?: JwtHeader[];
  from_params?: string[];
  from_cookies?: string[];
  forward_payload_header?: string;
  payload_in_metadata?: string;
  clock_skew_seconds?: number;
  claim_to_headers?: unknown[];
  max_lifetime?: ProtoDuration;
  require_expiration?: boolean;
}

export interface JwtRequirement {
  provider_name?: string;
  provider_and_audiences?: unknown;
  requires_any?: { requirements?: JwtRequirement[] };
  requires_all?: { requirements?: JwtRequirement[] };
  allow_missing_or_failed?: unknown;
  allow_missing?: unknown;
  requires_type?: string;
}

export interface JwtAuthentication {
  providers?: Record<string, JwtProvider>;
  rules?: { match?: RouteMatch; requires?: JwtRequirement; requirement_name?: string }[];
  requirement_map?: Record<string, unknown>;
  filter_state_rules?: unknown;
  bypass_cors_preflight?: boolean;
}
