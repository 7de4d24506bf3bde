/**
 * Gateway API HTTPRoute and GRPCRoute → Envoy routes of a waypoint's HTTP chains.
 *
 * Attachment (`attachGatewayRoutes`): a route attaches to a Service (GAMMA; optionally one `port` or
 * `sectionName`) whose traffic goes through a waypoint, or to a waypoint Gateway (every Service bound to
 * it whose hostname matches the route's `hostnames`, all when there are none) that admits the route's
 * namespace. Consumer routes (a Service in another namespace) only apply to clients of the route's
 * namespace, which the destination-side waypoint cannot tell apart: reported, not applied.
 *
 * Translation (`gatewayApiRoutes`): every match of every rule becomes one Envoy route, ordered by Gateway
 * API precedence across all the routes of the chain: exact paths first, then regular expressions, then
 * prefixes (Gateway API leaves regular expressions' place open; this is Envoy Gateway's order, and it keeps
 * the catch-all `/` last), longer paths first, then method matches, more header matches, more query
 * matches; then the older route, then `namespace/name`, then rule and match order. A request that
 * matches none gets Envoy's 404, as Gateway API requires.
 */
import type { GrpcRouteObject, GrpcRouteRule, HttpRouteMatch, HttpRouteObject, HttpRouteRule, PathModifier, RouteFilter } from '../../input/route-objects.js';
import type { ModelContext } from '../context.js';
import type { ServiceInfo } from '../services.js';
import { waypointAdmits, type Waypoint } from '../waypoints.js';
import type { Binding } from './bindings.js';
import type { ClusterSet } from './clusters.js';
import {
  addHeader,
  duration,
  escapeRegex,
  fractionPpm,
  headerMutations,
  redirectCode,
  regex,
  setHeader,
  specMatcher,
  type HeaderMutations,
} from './envoy-builders.js';
import type { HeaderMatcher, QueryParameterMatcher, RedirectAction, Route, RouteAction, RouteMatch } from './envoy-types.js';
import {
  DEFAULT_RETRY,
  NO_TIMEOUT_MS,
  clusterSpecifier,
  directResponse,
  mergeMutations,
  retryPolicy,
  sharedHashPolicy,
  type WeightedTarget,
} from './route-actions.js';

type AnyRoute = HttpRouteObject | GrpcRouteObject;

interface Attachment {
  readonly route: AnyRoute;
  /** For Service parents: the port number or name it is limited to. */
  readonly port?: number;
  readonly sectionName?: string;
}

export interface GatewayRouteIndex {
  /** The routes attached to a binding, each once. */
  forBinding(binding: Binding): AnyRoute[];
}

/** Resolves every route's parents once, reporting those that cannot be honoured. */
export function attachGatewayRoutes(ctx: ModelContext, servicesByKey: ReadonlyMap<string, ServiceInfo>, waypoints: ReadonlyMap<string, Waypoint>): GatewayRouteIndex {
  const byService = new Map<string, Attachment[]>();
  const byWaypoint = new Map<string, AnyRoute[]>();
  const suffix = `svc.${ctx.options.domainSuffix}`;
  for (const route of [...ctx.httpRoutes, ...ctx.grpcRoutes]) {
    const routeNs = route.metadata.namespace;
    for (const parent of route.parentRefs) {
      const where = ['spec', 'parentRefs', parent.index];
      if (parent.kind === 'Service') {
        const key = `${parent.namespace}/${parent.name}.${parent.namespace}.${suffix}`;
        const service = servicesByKey.get(key);
        if (service === undefined) {
          ctx.report(route, where, `Service ${parent.namespace}/${parent.name} does not exist; the route is not applied to it`);
          continue;
        }
        if (parent.namespace !== routeNs) {
          ctx.report(route, where, `a consumer route (Service in namespace ${parent.namespace}, route in ${routeNs}) applies only to clients in ${routeNs}, which a waypoint cannot tell apart; it is not applied`);
          continue;
        }
        if (service.waypoint === undefined) {
          ctx.report(route, where, `Service ${parent.namespace}/${parent.name} does not use a waypoint (istio.io/use-waypoint); nothing applies this route`);
          continue;
        }
        if (parent.port !== undefined && !service.object.ports.some((p) => p.port === parent.port)) {
          ctx.report(route, [...where, 'port'], `Service ${parent.namespace}/${parent.name} has no port ${parent.port}; the route is not applied to it`);
          continue;
        }
        if (parent.sectionName !== undefined && !service.object.ports.some((p) => p.name === parent.sectionName)) {
          ctx.report(route, [...where, 'sectionName'], `Service ${parent.namespace}/${parent.name} has no port named ${parent.sectionName}; the route is not applied to it`);
          continue;
        }
        const list = byService.get(key) ?? [];
        list.push({ route, ...(parent.port !== undefined ? { port: parent.port } : {}), ...(parent.sectionName !== undefined ? { sectionName: parent.sectionName } : {}) });
        byService.set(key, list);
      } else {
        const key = `${parent.namespace}/${parent.name}`;
        const waypoint = waypoints.get(key);
        if (waypoint === undefined) {
          ctx.report(route, where, `Gateway ${key} is not a ready waypoint (class istio-waypoint with an address); the route is not applied to it`);
          continue;
        }
        if (!waypointAdmits(ctx, waypoint, routeNs)) {
          ctx.report(route, where, `waypoint ${key} does not admit routes from namespace ${routeNs} (allowedRoutes ${waypoint.allowedFrom}); the route is not applied to it`);
          continue;
        }
        const list = byWaypoint.get(key) ?? [];
        list.push(route);
        byWaypoint.set(key, list);
      }
    }
  }
  return {
    forBinding(binding) {
      const out = new Set<AnyRoute>();
      for (const a of byService.get(binding.service.resourceName) ?? []) {
        if (a.port !== undefined && a.port !== binding.port.port) continue;
        if (a.sectionName !== undefined && a.sectionName !== binding.port.name) continue;
        out.add(a.route);
      }
      for (const route of byWaypoint.get(`${binding.waypoint.namespace}/${binding.waypoint.name}`) ?? []) {
        if (route.hostnames.length === 0 || route.hostnames.some((h) => hostnameMatches(h, binding.service.hostname))) out.add(route);
      }
      return [...out];
    },
  };
}

function hostnameMatches(pattern: string, hostname: string): boolean {
  return pattern.startsWith('*.') ? hostname.endsWith(pattern.slice(1)) : pattern === hostname;
}

/** What the chain's routes need besides the route objects. */
export interface RouteContext {
  readonly ctx: ModelContext;
  readonly binding: Binding;
  readonly clusters: ClusterSet;
  readonly servicesByKey: ReadonlyMap<string, ServiceInfo>;
}

interface Entry {
  readonly route: AnyRoute;
  readonly rule: HttpRouteRule | GrpcRouteRule;
  readonly matchIndex: number;
  readonly match: RouteMatch;
  /** Precedence: exact 0, regex 1, prefix 2; then longer first. */
  readonly pathRank: number;
  readonly pathLength: number;
  readonly method: boolean;
  readonly headers: number;
  readonly queries: number;
  /** The matched prefix when the path match is a prefix (for ReplacePrefixMatch). */
  readonly prefix?: string;
}

/** The Envoy routes of `routes` for the chain of `rc.binding`, in Gateway API precedence order. */
export function gatewayApiRoutes(rc: RouteContext, routes: readonly AnyRoute[]): Route[] {
  const entries: Entry[] = [];
  for (const route of routes) {
    if (route.kind === 'HTTPRoute') {
      for (const rule of route.rules) rule.matches.forEach((m, i) => entries.push(httpEntry(route, rule, m, i)));
    } else {
      for (const rule of route.rules) rule.matches.forEach((m, i) => entries.push(grpcEntry(route, rule, m, i)));
    }
  }
  entries.sort(comparePrecedence);
  return entries.map((entry) => buildRoute(rc, entry));
}

function comparePrecedence(a: Entry, b: Entry): number {
  return (
    a.pathRank - b.pathRank ||
    b.pathLength - a.pathLength ||
    Number(b.method) - Number(a.method) ||
    b.headers - a.headers ||
    b.queries - a.queries ||
    (a.route.metadata.creationTimestamp ?? Infinity) - (b.route.metadata.creationTimestamp ?? Infinity) ||
    compareText(`${a.route.metadata.namespace}/${a.route.metadata.name}`, `${b.route.metadata.namespace}/${b.route.metadata.name}`) ||
    compareText(a.route.kind, b.route.kind) ||
    a.rule.index - b.rule.index ||
    a.matchIndex - b.matchIndex
  );
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function headerMatchers(matches: readonly { type: 'Exact' | 'RegularExpression'; name: string; value: string }[]): HeaderMatcher[] {
  return matches.map((h) => ({ name: h.name, string_match: specMatcher(h.type === 'Exact' ? 'exact' : 'regex', h.value) }));
}

function httpEntry(route: HttpRouteObject, rule: HttpRouteRule, m: HttpRouteMatch, matchIndex: number): Entry {
  let path: Pick<RouteMatch, 'prefix' | 'path' | 'path_separated_prefix' | 'safe_regex'>;
  let pathRank: number;
  let prefix: string | undefined;
  switch (m.path.type) {
    case 'Exact':
      path = { path: m.path.value };
      pathRank = 0;
      break;
    case 'PathPrefix': {
      // Gateway API prefixes match whole segments, and `/foo/` means the same as `/foo`.
      const trimmed = m.path.value.replace(/\/+$/, '');
      path = trimmed === '' ? { prefix: '/' } : { path_separated_prefix: trimmed };
      pathRank = 2;
      prefix = trimmed;
      break;
    }
    case 'RegularExpression':
      path = { safe_regex: regex(m.path.value) };
      pathRank = 1;
      break;
  }
  const headers = headerMatchers(m.headers);
  if (m.method !== undefined) headers.push({ name: ':method', string_match: { exact: m.method } });
  const queries: QueryParameterMatcher[] = m.queryParams.map((q) => ({ name: q.name, string_match: specMatcher(q.type === 'Exact' ? 'exact' : 'regex', q.value) }));
  return {
    route,
    rule,
    matchIndex,
    match: { ...path, ...(headers.length > 0 ? { headers } : {}), ...(queries.length > 0 ? { query_parameters: queries } : {}) },
    pathRank,
    pathLength: m.path.value.length,
    method: m.method !== undefined,
    headers: m.headers.length,
    queries: m.queryParams.length,
    ...(prefix !== undefined ? { prefix } : {}),
  };
}

function grpcEntry(route: GrpcRouteObject, rule: GrpcRouteRule, m: GrpcRouteRule['matches'][number], matchIndex: number): Entry {
  const method = m.method;
  let path: Pick<RouteMatch, 'prefix' | 'path' | 'safe_regex'>;
  let pathRank = 2;
  if (method === undefined) {
    path = { prefix: '/' };
  } else if (method.type === 'Exact') {
    if (method.service !== undefined && method.method !== undefined) {
      path = { path: `/${method.service}/${method.method}` };
      pathRank = 0;
    } else if (method.service !== undefined) {
      path = { prefix: `/${method.service}/` };
    } else {
      path = { safe_regex: regex(`/[^/]+/${escapeRegex(method.method!)}`) };
      pathRank = 1;
    }
  } else {
    path = { safe_regex: regex(`/${method.service ?? '[^/]+'}/${method.method ?? '[^/]+'}`) };
    pathRank = 1;
  }
  const headers = headerMatchers(m.headers);
  return {
    route,
    rule,
    matchIndex,
    match: { ...path, ...(headers.length > 0 ? { headers } : {}) },
    pathRank,
    pathLength: (method?.service?.length ?? 0) + (method?.method?.length ?? 0),
    method: false,
    headers: m.headers.length,
    queries: 0,
  };
}

function routeName(entry: Entry): string {
  const { namespace, name } = entry.route.metadata;
  return `${namespace}/${name}.${entry.rule.index}.${entry.matchIndex}`;
}

function modifierOps(filters: readonly RouteFilter[]): HeaderMutations {
  const request = { add: [] as ReturnType<typeof setHeader>[], remove: [] as string[] };
  const response = { add: [] as ReturnType<typeof setHeader>[], remove: [] as string[] };
  for (const f of filters) {
    if (f.type !== 'RequestHeaderModifier' && f.type !== 'ResponseHeaderModifier') continue;
    const target = f.type === 'RequestHeaderModifier' ? request : response;
    for (const h of f.modifier.set) target.add.push(setHeader(h.name, h.value));
    for (const h of f.modifier.add) target.add.push(addHeader(h.name, h.value));
    target.remove.push(...f.modifier.remove);
  }
  return headerMutations(request, response);
}

/** The backends a rule can send to; problems are reported on the route. */
function targets(rc: RouteContext, route: AnyRoute, rule: HttpRouteRule | GrpcRouteRule): WeightedTarget[] {
  const out: WeightedTarget[] = [];
  for (const backend of rule.backendRefs) {
    if (backend.weight === 0) continue;
    const cluster = resolveBackend(rc, route, backend, ['spec', 'rules', rule.index, 'backendRefs', backend.index]);
    if (cluster !== undefined) out.push({ cluster, weight: backend.weight, mutations: modifierOps(backend.filters) });
  }
  return out;
}

function resolveBackend(rc: RouteContext, route: AnyRoute, backend: { name: string; namespace: string; port: number }, path: (string | number)[]): string | undefined {
  const { ctx } = rc;
  if (backend.namespace !== route.metadata.namespace) {
    ctx.report(route, path, `a backend in another namespace (${backend.namespace}) needs a ReferenceGrant, which is not supported; requests for it get 500`);
    return undefined;
  }
  const key = `${backend.namespace}/${backend.name}.${backend.namespace}.svc.${ctx.options.domainSuffix}`;
  const service = rc.servicesByKey.get(key);
  if (service === undefined) {
    ctx.report(route, path, `Service ${backend.namespace}/${backend.name} does not exist; requests for it get 500`);
    return undefined;
  }
  const request = rc.clusters.request(service, backend.port);
  if (!request.ok) {
    ctx.report(route, path, `${request.reason}; requests for it get 500`);
    return undefined;
  }
  return request.name;
}

function buildRoute(rc: RouteContext, entry: Entry): Route {
  const { route, rule, match } = entry;
  const name = routeName(entry);
  const filters = rule.filters;
  const mutations = modifierOps(filters);
  const redirect = filters.find((f) => f.type === 'RequestRedirect');
  if (redirect !== undefined) {
    return { name, match, redirect: redirectAction(redirect, entry.prefix), ...mutations };
  }
  const backends = targets(rc, route, rule);
  if (backends.length === 0) {
    // Gateway API: no usable backend (none listed, all invalid, or all weighted 0) answers 500.
    return { ...directResponse(name, match, 500, 'no usable backend for this route'), ...mutations };
  }
  const { action: specifier, mutations: targetMutations } = clusterSpecifier(backends);
  const hash = sharedHashPolicy(rc.clusters, backends);
  if (hash.conflict) {
    rc.ctx.report(route, ['spec', 'rules', rule.index, 'backendRefs'], 'the backends ask for different consistent hashing (DestinationRule loadBalancer); the route hashes on nothing');
  }
  const action: RouteAction = {
    ...specifier,
    timeout: duration('requestTimeoutMs' in rule ? (rule.requestTimeoutMs ?? NO_TIMEOUT_MS) : NO_TIMEOUT_MS),
    ...retryOf(rc, route, rule),
    ...mirrorsOf(rc, route, rule),
    ...rewriteOf(filters, entry.prefix),
    ...(hash.policy !== undefined ? { hash_policy: hash.policy } : {}),
  };
  return { name, match, route: action, ...mergeMutations(mutations, targetMutations) };
}

function retryOf(rc: RouteContext, route: AnyRoute, rule: HttpRouteRule | GrpcRouteRule): Pick<RouteAction, 'retry_policy'> {
  if (!('retry' in rule) || rule.retry === undefined) {
    const perTry = 'backendRequestTimeoutMs' in rule ? rule.backendRequestTimeoutMs : undefined;
    return { retry_policy: perTry !== undefined && perTry > 0 ? { ...DEFAULT_RETRY, per_try_timeout: duration(perTry) } : DEFAULT_RETRY };
  }
  const { codes, attempts, backoffMs } = rule.retry;
  // GEP-1731: a retry stanza also retries connection errors.
  const retryOn = new Set<string>(['connect-failure', 'reset']);
  const unsupported: number[] = [];
  const gateway: number[] = codes.filter((c) => c === 502 || c === 503 || c === 504);
  const other5xx = codes.filter((c) => c >= 500 && c <= 599 && !gateway.includes(c));
  if (other5xx.length > 0) retryOn.add('5xx');
  else if (gateway.length > 0) retryOn.add('gateway-error');
  for (const c of codes) {
    if (c === 409) retryOn.add('retriable-4xx');
    else if (c < 500) unsupported.push(c);
  }
  const where = ['spec', 'rules', rule.index, 'retry', 'codes'];
  if (unsupported.length > 0) rc.ctx.report(route, where, `status ${unsupported.join(', ')} cannot be retried by the waypoint (it retries 5xx, 502/503/504 and 409); not retried`);
  const retried = retryOn.has('5xx') ? '5xx' : retryOn.has('gateway-error') ? '502, 503 and 504' : undefined;
  const exact = retryOn.has('5xx') ? false : gateway.length === 0 || gateway.length === 3;
  if (retried !== undefined && !exact) rc.ctx.report(route, where, `the waypoint retries status classes: every ${retried} response is retried, not only ${codes.filter((c) => c >= 500).join(', ')}`);
  const perTry = 'backendRequestTimeoutMs' in rule ? rule.backendRequestTimeoutMs : undefined;
  const policy = retryPolicy({
    retryOn: [...retryOn],
    attempts: attempts ?? 2,
    ...(perTry !== undefined && perTry > 0 ? { perTryTimeoutMs: perTry } : {}),
    ...(backoffMs !== undefined ? { backoffMs } : {}),
  });
  return policy === undefined ? {} : { retry_policy: policy };
}

function mirrorsOf(rc: RouteContext, route: AnyRoute, rule: HttpRouteRule | GrpcRouteRule): Pick<RouteAction, 'request_mirror_policies'> {
  const policies: NonNullable<RouteAction['request_mirror_policies']>[number][] = [];
  rule.filters.forEach((f) => {
    if (f.type !== 'RequestMirror') return;
    const index = rule.filters.indexOf(f);
    const cluster = resolveBackend(rc, route, f.backendRef, ['spec', 'rules', rule.index, 'filters', index, 'requestMirror', 'backendRef']);
    if (cluster === undefined) return;
    const fraction = f.fraction ?? { numerator: 100, denominator: 100 };
    policies.push({ cluster, runtime_fraction: { default_value: fractionPpm(fraction.numerator, fraction.denominator) } });
  });
  return policies.length > 0 ? { request_mirror_policies: policies } : {};
}

/** ReplacePrefixMatch as Envoy rewrites: a plain prefix swap, except where that would leave a double slash. */
function prefixRewrite(prefix: string, replacement: string): Pick<RouteAction, 'prefix_rewrite' | 'regex_rewrite'> {
  if (prefix === '') {
    // A `/` prefix: every path; put the replacement in front of the whole path.
    return { regex_rewrite: { pattern: regex('^/'), substitution: replacement.endsWith('/') ? replacement : `${replacement}/` } };
  }
  if (replacement.endsWith('/')) {
    // `/foo` → `/`: `/foo/bar` must become `/bar`, not `//bar`.
    return { regex_rewrite: { pattern: regex(`^${escapeRegex(prefix)}/?`), substitution: replacement } };
  }
  return { prefix_rewrite: replacement };
}

function pathRewrite(path: PathModifier, prefix: string | undefined): Pick<RouteAction, 'prefix_rewrite' | 'regex_rewrite'> {
  if (path.type === 'ReplaceFullPath') return { regex_rewrite: { pattern: regex('^/.*$'), substitution: path.value } };
  return prefixRewrite(prefix ?? '', path.value);
}

function rewriteOf(filters: readonly RouteFilter[], prefix: string | undefined): Pick<RouteAction, 'prefix_rewrite' | 'regex_rewrite' | 'host_rewrite_literal'> {
  const rewrite = filters.find((f) => f.type === 'URLRewrite');
  if (rewrite === undefined) return {};
  return {
    ...(rewrite.path !== undefined ? pathRewrite(rewrite.path, prefix) : {}),
    ...(rewrite.hostname !== undefined ? { host_rewrite_literal: rewrite.hostname } : {}),
  };
}


function redirectAction(filter: Extract<RouteFilter, { type: 'RequestRedirect' }>, prefix: string | undefined): RedirectAction {
  let path: Pick<RedirectAction, 'path_redirect' | 'prefix_rewrite'> = {};
  if (filter.path?.type === 'ReplaceFullPath') path = { path_redirect: filter.path.value };
  else if (filter.path?.type === 'ReplacePrefixMatch') {
    // Redirects have no regex form: the matched prefix (whole segments, no trailing slash) is swapped as
    // text, so the replacement loses its trailing slash (`/foo/bar` → `/new/bar`, never `/new//bar`),
    // except after the root prefix `/`, where it needs one (`/bar` → `/new/bar`).
    const bare = filter.path.value.replace(/\/+$/, '');
    path = { prefix_rewrite: prefix === '' || prefix === undefined ? `${bare}/` : bare };
  }
  // Gateway API: a scheme without a port redirects to that scheme's well-known port.
  const port = filter.port ?? (filter.scheme === 'https' ? 443 : filter.scheme === 'http' ? 80 : undefined);
  return {
    ...(filter.scheme !== undefined ? { scheme_redirect: filter.scheme } : {}),
    ...(filter.hostname !== undefined ? { host_redirect: filter.hostname } : {}),
    ...(port !== undefined ? { port_redirect: port } : {}),
    ...path,
    response_code: redirectCode(filter.statusCode),
  };
}

