/**
 * The waypoint's configuration snapshot: what the data path reads, and the only thing it reads.
 *
 * Data flows one way. The xDS client hands validated Envoy resources (Listener, RouteConfiguration,
 * Cluster, ClusterLoadAssignment) and Istio Address resources to the snapshot builder, which resolves the
 * references between them and *compiles* them into the objects below: matchers are closures built once,
 * policies are evaluators, JWT providers hold imported keys. A snapshot is immutable; a change builds a new
 * one and the data path picks it up for the next request (requests in flight keep the one they started
 * with). Nothing here parses or validates at request time.
 *
 * The wire contract (which Envoy fields are read and what they mean) is in `docs/waypoint.md`.
 */

// ---------------------------------------------------------------------------------------------------
// Requests as policy and routing see them
// ---------------------------------------------------------------------------------------------------

/**
 * One HTTP request, after normalization, as routing and policy see it. Header names are lower case;
 * a header sent several times keeps every value in order (never joined: joining lets `a` + `a` slip past
 * a matcher for `a`, Envoy CVE-2026-26308).
 */
export interface RequestAttributes {
  /** `:method` as received, unchanged (matching upper-cases it: see `MethodMatcher`). */
  readonly method: string;
  /** Normalized path without the query (see `PathNormalization`). */
  readonly path: string;
  /** The raw query string without `?`, or '' when absent. */
  readonly query: string;
  /** `:authority` / Host, lower case, port kept as sent. */
  readonly host: string;
  /** Every header by lower-case name; pseudo-headers are not included (see the fields above). */
  readonly headers: HeaderLookup;
  /** `http` or `https` as the client used it (always `http` inside HBONE unless `x-forwarded-proto`). */
  readonly scheme: string;
}

/** Every value of a header, in order, by lower-case name (a `Map` is one). */
export interface HeaderLookup {
  get(name: string): readonly string[] | undefined;
}

/** The connection a request arrived on: who the client proved to be, and where it was going. */
export interface ConnectionAttributes {
  /** The client's SPIFFE identity from its certificate (`spiffe://td/ns/n/sa/s`), or undefined. */
  readonly sourcePrincipal: string | undefined;
  /** The client's address, from the HBONE `Forwarded: for=` header when present, else the peer address. */
  readonly sourceIp: string;
  /** The original destination from `:authority` of the CONNECT: the service VIP or pod IP… */
  readonly destinationIp: string;
  /** …and its port. */
  readonly destinationPort: number;
}

/** What a verified JWT contributes to a request, for policy. */
export interface RequestAuthentication {
  /** `<iss>/<sub>`, Istio's `request.auth.principal`. */
  readonly principal: string;
  /** The token's payload, as decoded (claims may be strings, numbers, arrays or objects). */
  readonly claims: Readonly<Record<string, unknown>>;
  /** The JWT provider (issuer name in the config) that verified it. */
  readonly provider: string;
}

// ---------------------------------------------------------------------------------------------------
// Matchers (compiled)
// ---------------------------------------------------------------------------------------------------

/** A compiled envoy.type.matcher.v3.StringMatcher (exact, prefix, suffix, contains, safe_regex; ignore_case). */
export interface StringMatcher {
  matches(value: string): boolean;
  /** For config dumps and denial logs. */
  readonly description: string;
}

/**
 * A compiled envoy.config.route.v3.HeaderMatcher. `values` are all the values of the header (absent: []).
 * `mode` says how to read several values: `any` (the matcher holds if one value does) and `all` (it holds
 * only if every value does). Routing uses `any`; policy uses the mode that fails closed (see RbacPolicySet).
 */
export interface HeaderMatcher {
  readonly name: string;
  matches(values: readonly string[], mode: 'any' | 'all'): boolean;
  readonly description: string;
}

/** A compiled envoy.config.route.v3.QueryParameterMatcher over the request's parsed query. */
export interface QueryParameterMatcher {
  readonly name: string;
  matches(query: ReadonlyMap<string, readonly string[]>): boolean;
}

/** How a route matches the path (envoy RouteMatch path_specifier), already compiled. */
export interface PathMatcher {
  matches(path: string): boolean;
  readonly description: string;
  /**
   * The configured prefix of a `prefix` or `path_separated_prefix` matcher (undefined for `path` and
   * `safe_regex`): `prefix_rewrite` (route and redirect) replaces that many leading characters of the path.
   */
  readonly prefix: string | undefined;
}

// ---------------------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------------------

/** A request header operation list (Envoy `*_headers_to_add` / `*_headers_to_remove`). */
export interface HeaderMutation {
  readonly set: readonly { readonly name: string; readonly value: string; readonly append: boolean }[];
  readonly remove: readonly string[];
}

export interface WeightedCluster {
  readonly cluster: string;
  readonly weight: number;
  readonly requestHeaders: HeaderMutation;
  readonly responseHeaders: HeaderMutation;
}

/** An Envoy `retry_on` condition the waypoint implements (see `route/retry-on.ts` for what each covers). */
export type RetryCondition = '5xx' | 'gateway-error' | 'reset' | 'connect-failure' | 'retriable-4xx' | 'retriable-status-codes';

export interface RetryPolicy {
  /** Which failures are retried. */
  readonly on: ReadonlySet<RetryCondition>;
  /**
   * Envoy `retriable_status_codes` (100-599): the statuses `retriable-status-codes` retries. Inert when `on`
   * lacks that condition, as in Envoy.
   */
  readonly statusCodes: ReadonlySet<number>;
  /** Retries after the first attempt. */
  readonly numRetries: number;
  /** 0 = none (the route timeout bounds all attempts together). */
  readonly perTryTimeoutMs: number;
  /** Exponential backoff with full jitter between attempts (Envoy default 25 ms base, 10× max). */
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
}

export interface MirrorPolicy {
  readonly cluster: string;
  /** Fraction of requests mirrored, in parts per million (Envoy FractionalPercent normalized). */
  readonly ppm: number;
}

export interface FaultPolicy {
  readonly delay?: { readonly fixedMs: number; readonly ppm: number };
  readonly abort?: { readonly status: number; readonly ppm: number };
}

export type HashPolicy =
  | { readonly kind: 'header'; readonly name: string; readonly terminal: boolean }
  | { readonly kind: 'query'; readonly name: string; readonly terminal: boolean }
  | { readonly kind: 'cookie'; readonly name: string; readonly terminal: boolean }
  | { readonly kind: 'source-ip'; readonly terminal: boolean };

export interface ForwardAction {
  readonly kind: 'forward';
  /** One entry for a plain `cluster`, several for `weighted_clusters`. Weights are > 0. */
  readonly clusters: readonly WeightedCluster[];
  readonly totalWeight: number;
  /** 0 = no timeout. Envoy's default route timeout is 15 s; the translator fills it in when unset. */
  readonly timeoutMs: number;
  readonly retry: RetryPolicy | undefined;
  readonly mirrors: readonly MirrorPolicy[];
  /** Replace the matched prefix (prefix routes only) … */
  readonly prefixRewrite: string | undefined;
  /** … or rewrite with a regex (`pattern` compiled, `substitution` with \1 groups). */
  readonly regexRewrite: { readonly pattern: RegExp; readonly substitution: string } | undefined;
  readonly hostRewrite: string | undefined;
  readonly hashPolicies: readonly HashPolicy[];
}

export interface RedirectAction {
  readonly kind: 'redirect';
  readonly status: 301 | 302 | 303 | 307 | 308;
  readonly scheme: string | undefined;
  readonly host: string | undefined;
  readonly port: number | undefined;
  /** Replace the whole path … */
  readonly path: string | undefined;
  /** … or only the matched prefix. */
  readonly prefixRewrite: string | undefined;
  readonly stripQuery: boolean;
}

export interface DirectResponseAction {
  readonly kind: 'direct-response';
  readonly status: number;
  readonly body: string;
}

export type RouteAction = ForwardAction | RedirectAction | DirectResponseAction;

export interface Route {
  readonly name: string;
  readonly path: PathMatcher;
  /** Matched against `RequestAttributes.path`; methods arrive as a `:method` header matcher. */
  readonly headers: readonly HeaderMatcher[];
  readonly queryParameters: readonly QueryParameterMatcher[];
  readonly action: RouteAction;
  readonly requestHeaders: HeaderMutation;
  readonly responseHeaders: HeaderMutation;
  /** From typed_per_filter_config `envoy.filters.http.fault`. */
  readonly fault: FaultPolicy | undefined;
}

export interface VirtualHost {
  readonly name: string;
  /** Envoy domain matching: exact, `*.suffix`, `prefix.*`, `*`; ports ignored when the domain has none. */
  readonly domains: readonly string[];
  /** In order; the first match wins. */
  readonly routes: readonly Route[];
  readonly requestHeaders: HeaderMutation;
  readonly responseHeaders: HeaderMutation;
}

export interface RouteTable {
  readonly name: string;
  readonly virtualHosts: readonly VirtualHost[];
}

// ---------------------------------------------------------------------------------------------------
// Policy
// ---------------------------------------------------------------------------------------------------

export type RbacDecision =
  | { readonly allowed: true; readonly policy: string | undefined }
  | { readonly allowed: false; readonly policy: string | undefined; readonly reason: string };

/**
 * The RBAC filters of one filter chain (Istio emits a DENY filter then an ALLOW filter), compiled.
 * Semantics (Istio's): a DENY policy that matches denies; else, if there is no ALLOW policy the request is
 * allowed; else one ALLOW policy must match. Method names compare upper-cased; a header with several
 * values matches a DENY rule if any value matches and an ALLOW rule only if every value does (negations
 * flip the mode), so repeated headers can only make a request *more* likely to be denied.
 */
export interface RbacPolicySet {
  evaluate(request: RequestAttributes, connection: ConnectionAttributes, auth: RequestAuthentication | undefined): RbacDecision;
  /** No policy at all: the data path may skip evaluation. */
  readonly empty: boolean;
}

/** L4-only policy for TCP passthrough chains (envoy.filters.network.rbac). */
export interface NetworkRbacPolicySet {
  evaluate(connection: ConnectionAttributes): RbacDecision;
  readonly empty: boolean;
}

export type JwtOutcome =
  /** No token was presented (allowed: policy may still require a principal). */
  | { readonly kind: 'missing' }
  | { readonly kind: 'verified'; readonly auth: RequestAuthentication }
  /** A token was presented and failed: the request is refused with 401 and this reason. */
  | { readonly kind: 'failed'; readonly reason: string };

/** The compiled envoy.filters.http.jwt_authn of one chain (RequestAuthentication). */
export interface JwtAuthenticator {
  /** Finds the token (Authorization: Bearer by default, or the configured headers/params) and verifies it. */
  authenticate(request: RequestAttributes): Promise<JwtOutcome>;
  /** The headers to strip before forwarding (the token, unless `forward: true`). */
  readonly stripHeaders: readonly string[];
  readonly empty: boolean;
}

// ---------------------------------------------------------------------------------------------------
// Listener: what is bound to this waypoint, and how each destination is handled
// ---------------------------------------------------------------------------------------------------

export interface PathNormalization {
  /** RFC 3986 dot-segment removal and percent-decoding of unreserved characters (Envoy normalize_path). */
  readonly normalize: boolean;
  /** Collapse `//` into `/` (Envoy merge_slashes). */
  readonly mergeSlashes: boolean;
}

export interface HttpChain {
  readonly kind: 'http';
  readonly statPrefix: string;
  readonly routeTable: RouteTable;
  readonly jwt: JwtAuthenticator;
  readonly rbac: RbacPolicySet;
  readonly pathNormalization: PathNormalization;
}

export interface TcpChain {
  readonly kind: 'tcp';
  readonly statPrefix: string;
  readonly cluster: string;
  readonly rbac: NetworkRbacPolicySet;
}

/**
 * A destination (service VIP or workload IP, port) bound to this waypoint, and its filter chains: an HTTP
 * chain (Envoy `filter_chain_match.application_protocols: [http/1.1, h2c]`), a TCP chain (no application
 * protocol), or both when the port's protocol is not declared and the waypoint sniffs the first bytes.
 * At least one is set.
 */
export interface Binding {
  /** Istio style: `inbound-vip|80|http|reviews.default.svc.cluster.local` (the HTTP chain's name if any). */
  readonly name: string;
  /** The service hostname (or workload name) for telemetry (`destination_service`). */
  readonly destinationService: string;
  readonly http: HttpChain | undefined;
  readonly tcp: TcpChain | undefined;
}

// ---------------------------------------------------------------------------------------------------
// Clusters and endpoints
// ---------------------------------------------------------------------------------------------------

/** `cluster-provided`: an ORIGINAL_DST cluster, whose host is the request's destination (no balancing). */
export type LbPolicy = 'round-robin' | 'least-request' | 'random' | 'ring-hash' | 'maglev' | 'cluster-provided';

export interface CircuitBreaker {
  readonly maxConnections: number;
  readonly maxPendingRequests: number;
  readonly maxRequests: number;
  readonly maxRetries: number;
}

export interface OutlierDetection {
  /** 0 = off. */
  readonly consecutive5xx: number;
  /** 0 = off. 502, 503, 504 and connect failures. */
  readonly consecutiveGatewayErrors: number;
  readonly intervalMs: number;
  /** Ejection lasts base × number of times ejected. */
  readonly baseEjectionMs: number;
  readonly maxEjectionPercent: number;
}

/** What telemetry says about the workload behind an endpoint (istio.workload.Workload fields, '' when unset). */
export interface EndpointWorkload {
  readonly name: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  /** `canonical_name` (the `service.istio.io/canonical-name` or `app` label): `destination_app`. */
  readonly canonicalName: string;
  /** `canonical_revision` (the `service.istio.io/canonical-revision` or `version` label): `destination_version`. */
  readonly canonicalRevision: string;
  /** `cluster_id` (istiod's `CLUSTER_ID`, `Kubernetes` by default): `destination_cluster`. */
  readonly clusterId: string;
}

export interface Endpoint {
  readonly ip: string;
  readonly port: number;
  readonly weight: number;
  readonly healthy: boolean;
  readonly locality: { readonly region: string; readonly zone: string; readonly subZone: string };
  /**
   * How to reach it: `hbone` (the workload is in the mesh: HBONE to `ip:15008` with `:authority ip:port`,
   * expecting `identity`) or `plain` (not in the mesh). Taken from the Address resources.
   */
  readonly transport: { readonly kind: 'hbone'; readonly identity: string; readonly hbonePort: number } | { readonly kind: 'plain' };
  /** For telemetry (`destination_workload`, `destination_app`, …), from the workload's Address; undefined when none is held. */
  readonly workload: EndpointWorkload | undefined;
}

export interface Cluster {
  /** Istio style: `outbound|9080|v1|reviews.default.svc.cluster.local`. */
  readonly name: string;
  /** The service hostname for telemetry, and the subset ('' for none). */
  readonly serviceHost: string;
  readonly subset: string;
  readonly connectTimeoutMs: number;
  readonly lbPolicy: LbPolicy;
  /** `downstream`: the protocol the client used (Envoy use_downstream_protocol_config). */
  readonly protocol: 'http1' | 'http2' | 'downstream';
  readonly circuitBreaker: CircuitBreaker;
  readonly outlierDetection: OutlierDetection | undefined;
  /** Empty for an ORIGINAL_DST cluster. */
  readonly endpoints: readonly Endpoint[];
  /** Set for an Envoy ORIGINAL_DST cluster (see `OriginalDestination`); absent for EDS clusters. */
  readonly originalDestination?: OriginalDestination;
}

/**
 * An ORIGINAL_DST cluster (Envoy's `lb_policy: CLUSTER_PROVIDED`): no endpoint list. A request goes to the
 * address its tunnel was sent to (the CONNECT `:authority`, `ip:port`), on the port it was sent to; the
 * control plane uses it for workload-addressed traffic, whose bindings take every port. The IP must be one
 * the listener binds for every port and have a workload Address (anything else is `UH`): a request cannot
 * be sent somewhere the listener does not bind, nor in plain text to an address whose identity is unknown.
 */
export interface OriginalDestination {
  /** By canonical IP: how to reach it (its `port` is 0: the request's port is used). */
  readonly targets: ReadonlyMap<string, Endpoint>;
  /** A host unused this long is forgotten (Envoy `cleanup_interval`). */
  readonly cleanupIntervalMs: number;
}

// ---------------------------------------------------------------------------------------------------
// The snapshot
// ---------------------------------------------------------------------------------------------------

export interface WaypointSnapshot {
  /** Changes whenever any input does; for logs and config_dump. */
  readonly version: string;
  /** This waypoint's own identity (`spiffe://…/ns/<ns>/sa/<gateway name>`). */
  readonly identity: string;
  /**
   * Bound destinations by `ip:port` (IPv6 as `[ip]:port`), one per address of each bound service port,
   * and by the bare canonical IP for an address bound on every port (a workload's). A tunnel takes the
   * exact binding first, then the IP-wide one (`findBinding`).
   */
  readonly bindings: ReadonlyMap<string, Binding>;
  readonly clusters: ReadonlyMap<string, Cluster>;
}
