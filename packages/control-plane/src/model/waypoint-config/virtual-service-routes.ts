/**
 * VirtualService → Envoy routes of a waypoint's HTTP chains, as Istio translates `http` routes.
 *
 * A VirtualService applies to the Services its `hosts` name (short names are in its own namespace,
 * `*.suffix` and `*` match by suffix) when it serves the mesh (`gateways` empty or holding `mesh`). Where
 * several name one Service, the oldest wins and the others are reported. Routes keep their order, the
 * first match wins, and a request that matches none gets Envoy's 404, as with Istio (no catch-all is
 * added). A match with `port` applies to that service port's chain only.
 *
 * A destination that cannot be resolved (no such Service, port or subset) is reported and left out; a
 * route left without destinations answers 503, as Envoy answers for a route to a missing cluster.
 */
import type { VirtualServiceObject, VsDestination, VsHttpRoute, VsMatch } from '../../input/traffic-objects.js';
import type { ModelContext } from '../context.js';
import type { ServiceInfo } from '../services.js';
import { resolveHost } from './destination-rules.js';
import {
  FILTER_FAULT,
  TYPE_FAULT,
  addHeader,
  duration,
  headerMutations,
  packAny,
  percentPpm,
  redirectCode,
  regex,
  setHeader,
  specMatcher,
  type HeaderMutations,
} from './envoy-builders.js';
import type { HeaderMatcher, HttpFault, RedirectAction, Route, RouteAction, RouteMatch } from './envoy-types.js';
import type { RouteContext } from './gateway-api-routes.js';
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

/** Which VirtualService (if any) routes each Service hostname. */
export function indexVirtualServices(ctx: ModelContext, boundHostnames: readonly string[]): Map<string, VirtualServiceObject> {
  const out = new Map<string, VirtualServiceObject>();
  const ranked = ctx.virtualServices
    .map((vs, order) => ({ vs, order }))
    .filter(({ vs }) => vs.gateways.length === 0 || vs.gateways.includes('mesh'))
    .sort((a, b) => (a.vs.metadata.creationTimestamp ?? Infinity) - (b.vs.metadata.creationTimestamp ?? Infinity) || a.order - b.order)
    .map(({ vs }) => vs);
  const used = new Set<VirtualServiceObject>();
  for (const hostname of boundHostnames) {
    for (const vs of ranked) {
      if (!vs.hosts.some((h) => hostMatches(resolveHost(h, vs.metadata.namespace, ctx.options.domainSuffix), hostname, h))) continue;
      const winner = out.get(hostname);
      if (winner === undefined) {
        out.set(hostname, vs);
        used.add(vs);
      } else {
        ctx.report(vs, ['spec', 'hosts'], `VirtualService ${winner.metadata.namespace}/${winner.metadata.name} already routes ${hostname} (the older one wins); this one is not applied to it`);
      }
    }
  }
  for (const vs of ctx.virtualServices) {
    if (!used.has(vs) && (vs.gateways.length === 0 || vs.gateways.includes('mesh'))) {
      ctx.report(vs, ['spec', 'hosts'], 'routes no Service whose traffic goes through a waypoint; nothing applies it');
    }
  }
  return out;
}

function hostMatches(resolved: string, hostname: string, written: string): boolean {
  if (written === '*') return true;
  if (written.startsWith('*.')) return hostname.endsWith(written.slice(1));
  return resolved === hostname;
}

/** The Envoy routes of `vs` for the chain of `rc.binding`. */
export function virtualServiceRoutes(rc: RouteContext, vs: VirtualServiceObject, servicesByHostname: ReadonlyMap<string, ServiceInfo>): Route[] {
  const out: Route[] = [];
  const port = rc.binding.port.port;
  for (const http of vs.http) {
    if (http.match.length === 0) out.push(buildRoute(rc, vs, http, undefined, 0, servicesByHostname));
    http.match.forEach((m, i) => {
      if (m.port === undefined || m.port === port) out.push(buildRoute(rc, vs, http, m, i, servicesByHostname));
    });
  }
  return out;
}

function routeMatch(m: VsMatch | undefined): RouteMatch {
  if (m === undefined) return { prefix: '/' };
  const caseless = m.ignoreUriCase;
  let path: RouteMatch;
  if (m.uri === undefined) path = { prefix: '/' };
  else if (m.uri.kind === 'exact') path = { path: m.uri.value };
  else if (m.uri.kind === 'prefix') path = { prefix: m.uri.value };
  else path = { safe_regex: regex(m.uri.value) };
  const headers: HeaderMatcher[] = [
    ...m.headers.map((h) => ({ name: h.name, string_match: specMatcher(h.match.kind, h.match.value) })),
    ...m.withoutHeaders.map((h) => ({ name: h.name, string_match: specMatcher(h.match.kind, h.match.value), invert_match: true })),
  ];
  if (m.method !== undefined) headers.push({ name: ':method', string_match: specMatcher(m.method.kind, m.method.value) });
  const queries = m.queryParams.map((q) => ({ name: q.name, string_match: specMatcher(q.match.kind, q.match.value) }));
  return {
    ...path,
    ...(caseless && m.uri !== undefined ? { case_sensitive: { value: false } } : {}),
    ...(headers.length > 0 ? { headers } : {}),
    ...(queries.length > 0 ? { query_parameters: queries } : {}),
  };
}

function buildRoute(rc: RouteContext, vs: VirtualServiceObject, http: VsHttpRoute, m: VsMatch | undefined, matchIndex: number, services: ReadonlyMap<string, ServiceInfo>): Route {
  const name = `${vs.metadata.namespace}/${vs.metadata.name}.${http.name ?? http.index}.${matchIndex}`;
  const match = routeMatch(m);
  const mutations = http.headers !== undefined ? mutationsOf(http.headers) : {};
  const fault = faultConfig(http);
  const extras = { ...mutations, ...(fault !== undefined ? { typed_per_filter_config: { [FILTER_FAULT]: fault } } : {}) };
  if (http.redirect !== undefined) return { name, match, redirect: redirectAction(http.redirect), ...extras };
  if (http.directResponse !== undefined) {
    const { status, body } = http.directResponse;
    return { name, match, direct_response: { status, ...(body !== undefined ? { body: { inline_string: body } } : {}) }, ...extras };
  }
  const where = ['spec', 'http', http.index, 'route'];
  const targets: WeightedTarget[] = [];
  for (const d of http.route) {
    const weight = d.weight ?? 100;
    if (weight === 0) continue;
    const cluster = resolveDestination(rc, vs, d.destination, [...where, d.index, 'destination'], services);
    if (cluster !== undefined) targets.push({ cluster, weight, mutations: d.headers !== undefined ? mutationsOf(d.headers) : {} });
  }
  if (targets.length === 0) return { ...directResponse(name, match, 503, 'no cluster for this route'), ...extras };
  const { action: specifier, mutations: targetMutations } = clusterSpecifier(targets);
  const hash = sharedHashPolicy(rc.clusters, targets);
  if (hash.conflict) rc.ctx.report(vs, where, 'the destinations ask for different consistent hashing (DestinationRule loadBalancer); the route hashes on nothing');
  const action: RouteAction = {
    ...specifier,
    timeout: duration(http.timeoutMs ?? NO_TIMEOUT_MS),
    ...retries(http),
    ...mirrors(rc, vs, http, services),
    ...rewrite(http, m),
    ...(hash.policy !== undefined ? { hash_policy: hash.policy } : {}),
  };
  return { name, match, route: action, ...mergeMutations(mutations, targetMutations), ...(fault !== undefined ? { typed_per_filter_config: { [FILTER_FAULT]: fault } } : {}) };
}

/** A destination's cluster name, or undefined (reported) when it does not resolve. */
function resolveDestination(rc: RouteContext, vs: VirtualServiceObject, d: VsDestination, path: (string | number)[], services: ReadonlyMap<string, ServiceInfo>): string | undefined {
  const hostname = resolveHost(d.host, vs.metadata.namespace, rc.ctx.options.domainSuffix);
  const service = services.get(hostname);
  if (service === undefined) {
    rc.ctx.report(vs, [...path, 'host'], `${hostname} is not a Service of this mesh; requests for it get 503`);
    return undefined;
  }
  let port = d.port;
  if (port === undefined) {
    const ports = service.object.ports.filter((p) => p.protocol === 'TCP');
    if (ports.length === 1) port = ports[0]!.port;
    else if (service === rc.binding.service) port = rc.binding.port.port;
    else {
      rc.ctx.report(vs, [...path, 'port'], `is required: ${hostname} has ${ports.length} ports`);
      return undefined;
    }
  }
  const request = rc.clusters.request(service, port, d.subset ?? '');
  if (!request.ok) {
    rc.ctx.report(vs, path, `${request.reason}; requests for it get 503`);
    return undefined;
  }
  return request.name;
}

function mutationsOf(spec: NonNullable<VsHttpRoute['headers']>): HeaderMutations {
  const side = (ops: NonNullable<VsHttpRoute['headers']>['request']) => ({
    add: [...ops.set.map((h) => setHeader(h.name, h.value)), ...ops.add.map((h) => addHeader(h.name, h.value))],
    remove: [...ops.remove],
  });
  return headerMutations(side(spec.request), side(spec.response));
}

function faultConfig(http: VsHttpRoute): ReturnType<typeof packAny> | undefined {
  if (http.fault === undefined) return undefined;
  const { delay, abort } = http.fault;
  const fault: HttpFault = {
    ...(delay !== undefined ? { delay: { fixed_delay: duration(delay.fixedDelayMs), percentage: percentPpm(delay.percent) } } : {}),
    ...(abort !== undefined ? { abort: { http_status: abort.httpStatus, percentage: percentPpm(abort.percent) } } : {}),
  };
  return packAny(TYPE_FAULT, fault);
}

function retries(http: VsHttpRoute): Pick<RouteAction, 'retry_policy'> {
  if (http.retries === undefined) return { retry_policy: DEFAULT_RETRY };
  const { attempts, retryOn, retriableStatusCodes, perTryTimeoutMs, backoffMs } = http.retries;
  const policy = retryPolicy({
    retryOn,
    retriableStatusCodes,
    attempts,
    ...(perTryTimeoutMs !== undefined ? { perTryTimeoutMs } : {}),
    ...(backoffMs !== undefined ? { backoffMs } : {}),
  });
  return policy === undefined ? {} : { retry_policy: policy };
}

function mirrors(rc: RouteContext, vs: VirtualServiceObject, http: VsHttpRoute, services: ReadonlyMap<string, ServiceInfo>): Pick<RouteAction, 'request_mirror_policies'> {
  const out: NonNullable<RouteAction['request_mirror_policies']>[number][] = [];
  for (const mirror of http.mirrors) {
    const cluster = resolveDestination(rc, vs, mirror.destination, ['spec', 'http', http.index, 'mirror'], services);
    if (cluster !== undefined) out.push({ cluster, runtime_fraction: { default_value: percentPpm(mirror.percent) } });
  }
  return out.length > 0 ? { request_mirror_policies: out } : {};
}

/** Istio's `rewrite.uri` replaces what the URI match matched: the prefix of a prefix match, else the whole path. */
function rewrite(http: VsHttpRoute, m: VsMatch | undefined): Pick<RouteAction, 'prefix_rewrite' | 'regex_rewrite' | 'host_rewrite_literal'> {
  const spec = http.rewrite;
  if (spec === undefined) return {};
  let path: Pick<RouteAction, 'prefix_rewrite' | 'regex_rewrite'> = {};
  if (spec.uriRegex !== undefined) path = { regex_rewrite: { pattern: regex(spec.uriRegex.match), substitution: spec.uriRegex.rewrite } };
  else if (spec.uri !== undefined) {
    const kind = m?.uri?.kind;
    path = kind === 'exact' || kind === 'regex' ? { regex_rewrite: { pattern: regex('^.*$'), substitution: spec.uri } } : { prefix_rewrite: spec.uri };
  }
  return { ...path, ...(spec.authority !== undefined ? { host_rewrite_literal: spec.authority } : {}) };
}


function redirectAction(r: NonNullable<VsHttpRoute['redirect']>): RedirectAction {
  return {
    ...(r.scheme !== undefined ? { scheme_redirect: r.scheme } : {}),
    ...(r.authority !== undefined ? { host_redirect: r.authority } : {}),
    ...(r.port !== undefined ? { port_redirect: r.port } : {}),
    ...(r.uri !== undefined ? { path_redirect: r.uri } : {}),
    response_code: redirectCode(r.redirectCode),
  };
}
