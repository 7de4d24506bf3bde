/**
 * envoy.config.route.v3.RouteConfiguration → `RouteTable`, plus the clusters it names (what the waypoint
 * subscribes to next).
 */
import type { Route, RouteAction, RouteTable, VirtualHost } from './types.js';
import type * as envoy from './envoy-types.js';
import { compileResource, invalid, join } from './errors.js';
import { compileHeaderMutations } from './header-mutation.js';
import { compileHeaderMatcher, compilePathMatcher, compileQueryMatcher } from './request-matchers.js';
import { compileDirectResponse, compileFault, compileForwardAction, compileRedirect, FAULT_FILTER } from './route-action.js';
import { list, refuseFields } from './values.js';

export const ROUTE_CONFIGURATION_TYPE = 'envoy.config.route.v3.RouteConfiguration';

/** A compiled RouteConfiguration and the clusters its routes name (forward targets and mirrors). */
export interface CompiledRouteConfiguration {
  readonly table: RouteTable;
  /** Sorted, without duplicates. */
  readonly clusterNames: readonly string[];
}

/** Checks one virtual-host domain (Envoy's rules: one wildcard, only at either end, or `*` alone). */
function checkDomain(domain: string, at: string): string {
  const d = domain.toLowerCase();
  if (d === '') invalid(at, 'is empty');
  if (d === '*') return d;
  const stars = d.split('*').length - 1;
  if (stars > 1 || (stars === 1 && !d.startsWith('*') && !d.endsWith('*'))) invalid(at, `${JSON.stringify(domain)}: a wildcard may appear once, at the start or the end`);
  if (!/^[a-z0-9.*\-:[\]_]+$/.test(d)) invalid(at, `${JSON.stringify(domain)} is not a host name`);
  return d;
}

function compileRoute(r: envoy.Route, at: string, clusters: Set<string>): Route {
  refuseFields(r, ['filter_action', 'non_forwarding_action'], at);
  const match = r.match;
  if (match === undefined) invalid(join(at, 'match'), 'is required');
  const matchAt = join(at, 'match');
  refuseFields(match, ['runtime_fraction', 'grpc', 'tls_context'], matchAt);
  if (list(match.dynamic_metadata).length > 0) invalid(join(matchAt, 'dynamic_metadata'), 'is not supported by the waypoint');
  const path = compilePathMatcher(match, matchAt);
  const headers = Object.freeze(list(match.headers).map((h, i) => compileHeaderMatcher(h, join(matchAt, `headers[${i}]`))));
  const queryParameters = Object.freeze(list(match.query_parameters).map((q, i) => compileQueryMatcher(q, join(matchAt, `query_parameters[${i}]`))));

  let action: RouteAction;
  switch (r.action) {
    case 'route': {
      const forward = compileForwardAction(r.route ?? {}, match.path_specifier, join(at, 'route'));
      for (const c of forward.clusters) clusters.add(c.cluster);
      for (const m of forward.mirrors) clusters.add(m.cluster);
      action = forward;
      break;
    }
    case 'redirect':
      action = compileRedirect(r.redirect ?? {}, match.path_specifier, join(at, 'redirect'));
      break;
    case 'direct_response':
      action = compileDirectResponse(r.direct_response ?? {}, join(at, 'direct_response'));
      break;
    case undefined:
    default:
      return invalid(at, 'sets none of route, redirect, direct_response');
  }

  let fault: Route['fault'];
  for (const [filter, any] of Object.entries(r.typed_per_filter_config ?? {})) {
    const where = join(at, `typed_per_filter_config[${JSON.stringify(filter)}]`);
    if (filter !== FAULT_FILTER) invalid(where, `per-route config is supported only for ${FAULT_FILTER}`);
    fault = compileFault(any, where);
  }
  return Object.freeze({ name: r.name ?? '', path, headers, queryParameters, action, ...compileHeaderMutations(r, at), fault });
}

function compileVirtualHost(v: envoy.VirtualHost, at: string, seenDomains: Map<string, string>, clusters: Set<string>): VirtualHost {
  const name = v.name ?? '';
  if (name === '') invalid(join(at, 'name'), 'is empty');
  const requireTls = v.require_tls ?? 'NONE';
  if (requireTls !== 'NONE') invalid(join(at, 'require_tls'), 'is not supported (the waypoint is reached over HBONE)');
  if (Object.keys(v.typed_per_filter_config ?? {}).length > 0) invalid(join(at, 'typed_per_filter_config'), 'is not supported on a virtual host (set it per route)');
  const domains = list(v.domains).map((d, i) => {
    const where = join(at, `domains[${i}]`);
    const domain = checkDomain(d, where);
    const owner = seenDomains.get(domain);
    if (owner !== undefined) invalid(where, `${JSON.stringify(domain)} is already a domain of virtual host ${JSON.stringify(owner)}`);
    seenDomains.set(domain, name);
    return domain;
  });
  if (domains.length === 0) invalid(join(at, 'domains'), 'is empty');
  const routes = list(v.routes).map((r, i) => compileRoute(r, join(at, `routes[${i}]`), clusters));
  return Object.freeze({ name, domains: Object.freeze(domains), routes: Object.freeze(routes), ...compileHeaderMutations(v, at) });
}

/**
 * Compiles a RouteConfiguration. `resourceName` is the xDS name ('' in state of the world); the message's
 * own `name` must agree with it. Throws `WaypointConfigError`.
 */
export function compileRouteConfiguration(rc: envoy.RouteConfiguration, resourceName = ''): CompiledRouteConfiguration {
  const name = rc.name ?? '';
  return compileResource('RouteConfiguration', name || resourceName, () => {
    if (name === '') invalid('name', 'is empty');
    if (resourceName !== '' && resourceName !== name) invalid('name', `${JSON.stringify(name)} does not match the resource name ${JSON.stringify(resourceName)}`);
    refuseFields(rc, ['vhds'], '');
    for (const field of ['request_headers_to_add', 'request_headers_to_remove', 'response_headers_to_add', 'response_headers_to_remove'] as const) {
      if (list<unknown>(rc[field]).length > 0) invalid(field, 'is not supported on the route configuration (set it on the virtual host)');
    }
    const seenDomains = new Map<string, string>();
    const clusters = new Set<string>();
    const virtualHosts = list(rc.virtual_hosts).map((v, i) => compileVirtualHost(v, `virtual_hosts[${i}]`, seenDomains, clusters));
    return Object.freeze({
      table: Object.freeze({ name, virtualHosts: Object.freeze(virtualHosts) }),
      clusterNames: Object.freeze([...clusters].sort()),
    });
  });
}
