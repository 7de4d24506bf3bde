/**
 * What a route does: forward (`RouteAction`), redirect (`RedirectAction`) or answer itself
 * (`DirectResponseAction`), and its per-route fault (`HTTPFault` in `typed_per_filter_config`).
 */
import type { DirectResponseAction, FaultPolicy, ForwardAction, HashPolicy, MirrorPolicy, RedirectAction, RetryCondition, RetryPolicy, WeightedCluster } from './types.js';
import type * as envoy from './envoy-types.js';
import { invalid, join } from './errors.js';
import { compileHeaderMutations } from './header-mutation.js';
import { compileRewrite } from './regex.js';
import { regexOf } from './string-matcher.js';
import { durationMs, enumOf, fractionToPpm, list, optionalDurationMs, refuseFields, uint32, unpackTyped } from './values.js';

/** Envoy's route timeout when the route does not set one. */
export const DEFAULT_ROUTE_TIMEOUT_MS = 15_000;
/** Envoy's retry defaults: one retry, 25 ms backoff base, a maximum of ten times the base. */
export const DEFAULT_NUM_RETRIES = 1;
export const DEFAULT_RETRY_BACKOFF_BASE_MS = 25;
/** Envoy's limit on a direct response body (`max_direct_response_body_size_bytes`). */
export const MAX_DIRECT_RESPONSE_BODY_BYTES = 4096;

export const FAULT_FILTER = 'envoy.filters.http.fault';
const FAULT_TYPE = 'envoy.extensions.filters.http.fault.v3.HTTPFault';

const RETRY_ON: readonly RetryCondition[] = ['5xx', 'gateway-error', 'reset', 'connect-failure', 'retriable-4xx', 'retriable-status-codes'];

function compileRetry(r: envoy.RetryPolicy, at: string): RetryPolicy {
  refuseFields(r, ['retry_host_predicate', 'retry_priority', 'per_try_idle_timeout'], at);
  const on = new Set<RetryCondition>();
  for (const token of (r.retry_on ?? '').split(',')) {
    const t = token.trim();
    if (t === '') continue;
    if (!(RETRY_ON as readonly string[]).includes(t)) invalid(join(at, 'retry_on'), `unsupported condition ${JSON.stringify(t)} (supported: ${RETRY_ON.join(', ')})`);
    on.add(t as RetryCondition);
  }
  // No condition at all is valid, as in Envoy: nothing is retried, and the per-try timeout still bounds the
  // one attempt. A control plane produces it from a policy whose conditions are all ones it cannot express.
  // Kept even without `retriable-status-codes` in retry_on (Envoy accepts that; the list is then inert).
  const statusCodes = new Set<number>();
  for (const [i, code] of list(r.retriable_status_codes).entries()) {
    if (!Number.isInteger(code) || code < 100 || code > 599) invalid(join(at, `retriable_status_codes[${i}]`), `${code} is not an HTTP status 100-599`);
    statusCodes.add(code);
  }
  const baseMs = optionalDurationMs(r.retry_back_off?.base_interval, join(at, 'retry_back_off.base_interval'), DEFAULT_RETRY_BACKOFF_BASE_MS);
  if (baseMs <= 0) invalid(join(at, 'retry_back_off.base_interval'), 'must be greater than 0');
  const maxMs = optionalDurationMs(r.retry_back_off?.max_interval, join(at, 'retry_back_off.max_interval'), baseMs * 10);
  if (maxMs < baseMs) invalid(join(at, 'retry_back_off.max_interval'), `${maxMs} ms is below base_interval ${baseMs} ms`);
  return Object.freeze({
    on: Object.freeze(on),
    statusCodes: Object.freeze(statusCodes),
    numRetries: uint32(r.num_retries, DEFAULT_NUM_RETRIES),
    perTryTimeoutMs: optionalDurationMs(r.per_try_timeout, join(at, 'per_try_timeout'), 0),
    backoffBaseMs: baseMs,
    backoffMaxMs: maxMs,
  });
}

function clusterName(name: string | undefined, at: string): string {
  if (name === undefined || name === '') invalid(at, 'is empty');
  return name;
}

function compileMirror(m: envoy.RequestMirrorPolicy, at: string): MirrorPolicy {
  refuseFields(m, ['cluster_header'], at);
  const cluster = clusterName(m.cluster, join(at, 'cluster'));
  // No runtime here: a runtime_key is ignored and its default_value applies. Absent means every request.
  const fraction = m.runtime_fraction?.default_value;
  const ppm = fraction === undefined ? 1_000_000 : fractionToPpm(fraction, join(at, 'runtime_fraction.default_value'));
  return Object.freeze({ cluster, ppm });
}

function compileHashPolicy(h: envoy.HashPolicy, at: string): HashPolicy {
  const terminal = h.terminal === true;
  switch (h.policy_specifier) {
    case 'header': {
      refuseFields(h.header ?? {}, ['regex_rewrite'], join(at, 'header'));
      const name = (h.header?.header_name ?? '').toLowerCase();
      if (name === '') invalid(join(at, 'header.header_name'), 'is empty');
      return Object.freeze({ kind: 'header', name, terminal });
    }
    case 'query_parameter': {
      const name = h.query_parameter?.name ?? '';
      if (name === '') invalid(join(at, 'query_parameter.name'), 'is empty');
      return Object.freeze({ kind: 'query', name, terminal });
    }
    case 'cookie': {
      // With a ttl Envoy would generate the cookie; the waypoint only hashes cookies the client sends.
      refuseFields(h.cookie ?? {}, ['ttl', 'path'], join(at, 'cookie'), 'is not supported (the waypoint does not generate cookies)');
      const name = h.cookie?.name ?? '';
      if (name === '') invalid(join(at, 'cookie.name'), 'is empty');
      return Object.freeze({ kind: 'cookie', name, terminal });
    }
    case 'connection_properties':
      if (h.connection_properties?.source_ip !== true) invalid(join(at, 'connection_properties.source_ip'), 'must be true');
      return Object.freeze({ kind: 'source-ip', terminal });
    case undefined:
    default:
      return invalid(at, `unsupported hash policy ${JSON.stringify(h.policy_specifier ?? 'none')} (supported: header, query_parameter, cookie, connection_properties)`);
  }
}

function compileWeightedClusters(w: NonNullable<envoy.RouteAction['weighted_clusters']>, at: string): { clusters: readonly WeightedCluster[]; total: number } {
  refuseFields(w, ['runtime_key_prefix'], at);
  const out: WeightedCluster[] = [];
  let total = 0;
  for (const [i, c] of list(w.clusters).entries()) {
    const where = join(at, `clusters[${i}]`);
    refuseFields(c, ['cluster_header', 'typed_per_filter_config'], where);
    const cluster = clusterName(c.name, join(where, 'name'));
    const weight = uint32(c.weight, 0);
    total += weight;
    // A zero weight is never picked; leaving it out keeps the picker's loop short.
    if (weight === 0) continue;
    out.push(Object.freeze({ cluster, weight, ...compileHeaderMutations(c, where) }));
  }
  if (w.total_weight !== undefined && uint32(w.total_weight, 0) !== total) invalid(join(at, 'total_weight'), `${uint32(w.total_weight, 0)} is not the sum of the weights (${total})`);
  if (total === 0) invalid(at, 'the weights add up to 0');
  if (total > 0xffffffff) invalid(at, `the weights add up to ${total}, more than 2^32-1`);
  return { clusters: Object.freeze(out), total };
}

/** Compiles `Route.route` at `at`; `pathSpecifier` is the route's match kind (rewrites depend on it). */
export function compileForwardAction(a: envoy.RouteAction, pathSpecifier: string | undefined, at: string): ForwardAction {
  refuseFields(a, ['cluster_header', 'cluster_specifier_plugin', 'inline_cluster_specifier_plugin', 'path_rewrite_policy', 'host_rewrite_header', 'host_rewrite_path_regex', 'idle_timeout'], at);
  if (a.auto_host_rewrite?.value === true) invalid(join(at, 'auto_host_rewrite'), 'is not supported by the waypoint');
  let clusters: readonly WeightedCluster[];
  let totalWeight: number;
  if (a.cluster_specifier === 'cluster') {
    const cluster = clusterName(a.cluster, join(at, 'cluster'));
    clusters = Object.freeze([Object.freeze({ cluster, weight: 1, ...compileHeaderMutations({}, at) })]);
    totalWeight = 1;
  } else if (a.cluster_specifier === 'weighted_clusters' && a.weighted_clusters !== undefined) {
    const w = compileWeightedClusters(a.weighted_clusters, join(at, 'weighted_clusters'));
    clusters = w.clusters;
    totalWeight = w.total;
  } else {
    return invalid(at, 'sets neither cluster nor weighted_clusters');
  }

  const prefixRewrite = a.prefix_rewrite;
  if (prefixRewrite !== undefined && a.regex_rewrite !== undefined) invalid(at, 'sets both prefix_rewrite and regex_rewrite');
  if (prefixRewrite !== undefined) checkPrefixMatch(pathSpecifier, join(at, 'prefix_rewrite'));
  let regexRewrite: ForwardAction['regexRewrite'];
  if (a.regex_rewrite !== undefined) {
    const where = join(at, 'regex_rewrite');
    const pattern = regexOf(a.regex_rewrite.pattern, join(where, 'pattern'));
    const substitution = a.regex_rewrite.substitution ?? '';
    regexRewrite = Object.freeze({ pattern: compileRewrite(pattern, substitution, join(where, 'pattern.regex'), join(where, 'substitution')), substitution });
  }
  const hostRewrite = a.host_rewrite_literal;
  if (hostRewrite !== undefined && !/^[a-z0-9.\-:[\]]+$/i.test(hostRewrite)) invalid(join(at, 'host_rewrite_literal'), `${JSON.stringify(hostRewrite)} is not a host`);

  return Object.freeze({
    kind: 'forward',
    clusters,
    totalWeight,
    timeoutMs: optionalDurationMs(a.timeout, join(at, 'timeout'), DEFAULT_ROUTE_TIMEOUT_MS),
    retry: a.retry_policy === undefined ? undefined : compileRetry(a.retry_policy, join(at, 'retry_policy')),
    mirrors: Object.freeze(list(a.request_mirror_policies).map((m, i) => compileMirror(m, join(at, `request_mirror_policies[${i}]`)))),
    prefixRewrite,
    regexRewrite,
    hostRewrite,
    hashPolicies: Object.freeze(list(a.hash_policy).map((h, i) => compileHashPolicy(h, join(at, `hash_policy[${i}]`)))),
  });
}

/** `prefix_rewrite` replaces the matched prefix: the route must match one (Gateway API's ReplacePrefixMatch needs PathPrefix too). */
function checkPrefixMatch(pathSpecifier: string | undefined, at: string): void {
  if (pathSpecifier !== 'prefix' && pathSpecifier !== 'path_separated_prefix') invalid(at, `needs a prefix or path_separated_prefix match, not ${pathSpecifier ?? 'none'}`);
}

const REDIRECT_CODES = { MOVED_PERMANENTLY: 301, FOUND: 302, SEE_OTHER: 303, TEMPORARY_REDIRECT: 307, PERMANENT_REDIRECT: 308 } as const;

/** Compiles `Route.redirect` at `at`; `pathSpecifier` is the route's match kind (`prefix_rewrite` needs a prefix). */
export function compileRedirect(r: envoy.RedirectAction, pathSpecifier: string | undefined, at: string): RedirectAction {
  refuseFields(r, ['regex_rewrite'], at);
  if (r.prefix_rewrite !== undefined) checkPrefixMatch(pathSpecifier, join(at, 'prefix_rewrite'));
  // https_redirect/scheme_redirect and path_redirect/prefix_rewrite are oneofs: the wire holds one of each.
  const scheme = r.https_redirect === true ? 'https' : r.scheme_redirect?.toLowerCase();
  if (scheme !== undefined && !/^[a-z][a-z0-9+.-]*$/.test(scheme)) invalid(join(at, 'scheme_redirect'), `${JSON.stringify(scheme)} is not a URI scheme`);
  const portRedirect = r.port_redirect ?? 0;
  if (!Number.isInteger(portRedirect) || portRedirect < 0 || portRedirect > 65535) invalid(join(at, 'port_redirect'), `port ${portRedirect} is out of range 0-65535`);
  if (r.path_redirect !== undefined && !r.path_redirect.startsWith('/')) invalid(join(at, 'path_redirect'), `${JSON.stringify(r.path_redirect)} does not start with "/"`);
  if (r.host_redirect !== undefined && !/^[a-z0-9.\-[\]:]+$/i.test(r.host_redirect)) invalid(join(at, 'host_redirect'), `${JSON.stringify(r.host_redirect)} is not a host`);
  const code = enumOf(r.response_code, 'MOVED_PERMANENTLY', Object.keys(REDIRECT_CODES) as (keyof typeof REDIRECT_CODES)[], join(at, 'response_code'));
  return Object.freeze({
    kind: 'redirect',
    status: REDIRECT_CODES[code],
    scheme,
    host: r.host_redirect,
    port: portRedirect === 0 ? undefined : portRedirect,
    path: r.path_redirect,
    prefixRewrite: r.prefix_rewrite,
    stripQuery: r.strip_query === true,
  });
}

/** Compiles `Route.direct_response` at `at`. */
export function compileDirectResponse(d: envoy.DirectResponseAction, at: string): DirectResponseAction {
  const status = d.status ?? 0;
  if (!Number.isInteger(status) || status < 200 || status > 599) invalid(join(at, 'status'), `${status} is not an HTTP status 200-599`);
  let body = '';
  if (d.body !== undefined) {
    refuseFields(d.body, ['filename', 'environment_variable'], join(at, 'body'), 'is not supported (the body must be inline)');
    body = d.body.inline_string ?? d.body.inline_bytes?.toString('utf8') ?? '';
  }
  const size = Buffer.byteLength(body);
  if (size > MAX_DIRECT_RESPONSE_BODY_BYTES) invalid(join(at, 'body'), `${size} bytes is more than ${MAX_DIRECT_RESPONSE_BODY_BYTES}`);
  return Object.freeze({ kind: 'direct-response', status, body });
}

/** Compiles the fault filter's per-route config (`typed_per_filter_config["envoy.filters.http.fault"]`). */
export function compileFault(any: envoy.ProtoAny, at: string): FaultPolicy | undefined {
  const f = unpackTyped<envoy.HTTPFault>(any, FAULT_TYPE, at);
  refuseFields(f, ['upstream_cluster', 'downstream_nodes', 'max_active_faults', 'response_rate_limit'], at);
  if (list(f.headers).length > 0) invalid(join(at, 'headers'), 'is not supported (match on the route instead)');
  let delay: FaultPolicy['delay'];
  if (f.delay !== undefined) {
    const where = join(at, 'delay');
    refuseFields(f.delay, ['header_delay'], where);
    if (f.delay.fixed_delay === undefined) invalid(join(where, 'fixed_delay'), 'is required');
    if (f.delay.percentage === undefined) invalid(join(where, 'percentage'), 'is required');
    delay = Object.freeze({ fixedMs: durationMs(f.delay.fixed_delay, join(where, 'fixed_delay')), ppm: fractionToPpm(f.delay.percentage, join(where, 'percentage')) });
  }
  let abort: FaultPolicy['abort'];
  if (f.abort !== undefined) {
    const where = join(at, 'abort');
    refuseFields(f.abort, ['grpc_status', 'header_abort'], where);
    const status = f.abort.http_status ?? 0;
    if (!Number.isInteger(status) || status < 200 || status > 599) invalid(join(where, 'http_status'), `${status} is not an HTTP status 200-599`);
    if (f.abort.percentage === undefined) invalid(join(where, 'percentage'), 'is required');
    abort = Object.freeze({ status, ppm: fractionToPpm(f.abort.percentage, join(where, 'percentage')) });
  }
  if (delay === undefined && abort === undefined) return undefined;
  return Object.freeze({ ...(delay === undefined ? {} : { delay }), ...(abort === undefined ? {} : { abort }) });
}
