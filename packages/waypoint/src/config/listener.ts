/**
 * envoy.config.listener.v3.Listener → the waypoint's bindings: for every destination (`ip:port`) a filter
 * chain matches, its HTTP chain (HttpConnectionManager: route configuration name, JWT, RBAC, path
 * normalization) and/or its TCP chain (TcpProxy with network RBAC). Route tables are joined in by the
 * snapshot builder once the named RouteConfigurations arrive.
 *
 * A chain without `destination_port` matches every port (Envoy's meaning), as the control plane binds a
 * workload address: its bindings are keyed by the bare IP, and a tunnel takes an exact `ip:port` binding
 * before the IP-wide one (`findBinding`).
 */
import type { Binding, HttpChain, JwtAuthenticator, PathNormalization, TcpChain } from './types.js';
import type * as envoy from './envoy-types.js';
import { addressKey, canonicalIp } from '../policy/cidr.js';
import { compileJwtAuthentication, JWT_AUTHN_TYPE, NO_JWT, type JwtOptions } from '../policy/jwt.js';
import { compileRbacFilter, HTTP_RBAC_TYPE, NETWORK_RBAC_TYPE, networkRbacPolicySet, rbacPolicySet, type RbacFilterRules } from '../policy/rbac.js';
import { compileResource, invalid, join, within } from './errors.js';
import { enumOf, list, port, refuseFields, TYPE_URL_PREFIX, uint32, unpackTyped } from './values.js';

export const LISTENER_TYPE = 'envoy.config.listener.v3.Listener';
export const HCM_TYPE = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const TCP_PROXY_TYPE = 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
export const ROUTER_TYPE = 'envoy.extensions.filters.http.router.v3.Router';
const FAULT_TYPE = 'envoy.extensions.filters.http.fault.v3.HTTPFault';

/** The application protocols that mark a filter chain as the HTTP one. */
export const HTTP_APPLICATION_PROTOCOLS: readonly string[] = Object.freeze(['http/1.1', 'h2c']);
const HTTP_SORTED = [...HTTP_APPLICATION_PROTOCOLS].sort();

/** An HTTP chain before its route table is resolved. */
export type HttpChainSpec = Omit<HttpChain, 'routeTable'> & { readonly routeConfigName: string };

export interface BindingSpec {
  readonly name: string;
  readonly destinationService: string;
  readonly http: HttpChainSpec | undefined;
  readonly tcp: TcpChain | undefined;
}

export interface CompiledListener {
  readonly name: string;
  /** By `ip:port` (IPv6 `[ip]:port`), or by the bare canonical IP for every port. */
  readonly bindings: ReadonlyMap<string, BindingSpec>;
  /** Sorted: the IPs bound on every port (the keys of `bindings` without a port). */
  readonly anyPortIps: readonly string[];
  /** Sorted, without duplicates: what to subscribe to next. */
  readonly routeConfigNames: readonly string[];
  /** Clusters named by TCP chains (HTTP chains name theirs through route configurations). */
  readonly tcpClusters: readonly string[];
}

type ChainSpec = { readonly kind: 'http'; readonly chain: HttpChainSpec } | { readonly kind: 'tcp'; readonly chain: TcpChain };

/** `inbound-vip|80|http|reviews.default.svc.cluster.local` → the hostname; `inbound-pod|…|<ip>` → the ip. */
function destinationServiceOf(chainName: string): string {
  const parts = chainName.split('|');
  return parts.length === 4 && (parts[0] === 'inbound-vip' || parts[0] === 'inbound-pod') && parts[3] !== '' ? parts[3]! : chainName;
}

function typeOf(any: envoy.ProtoAny | undefined, at: string): string {
  const url = any?.type_url ?? '';
  if (!url.startsWith(TYPE_URL_PREFIX)) invalid(join(at, 'typed_config'), url === '' ? 'is missing' : `${JSON.stringify(url)} is not a type URL`);
  return url.slice(TYPE_URL_PREFIX.length);
}

/** The http filter order Istio emits; each kind's rank must not decrease along the list. */
const RANK = { jwt: 0, deny: 1, allow: 2, fault: 3, router: 4 } as const;

function compileHttpFilters(filters: readonly envoy.HttpFilter[], at: string, jwtOptions: JwtOptions): { jwt: JwtAuthenticator; rbac: RbacFilterRules[] } {
  let jwt: JwtAuthenticator = NO_JWT;
  const rbac: RbacFilterRules[] = [];
  let rank = -1;
  const seen = new Set<string>();
  const place = (r: number, once: string | undefined, where: string): void => {
    if (r < rank) invalid(where, 'is out of order (the order is jwt_authn, rbac DENY, rbac ALLOW, fault, router)');
    if (once !== undefined) {
      if (seen.has(once)) invalid(where, `a second ${once} filter`);
      seen.add(once);
    }
    rank = r;
  };
  if (filters.length === 0) invalid(at, 'is empty (the router filter is required)');
  for (const [i, f] of filters.entries()) {
    const where = join(at, `[${i}]`);
    if (f.is_optional === true) invalid(join(where, 'is_optional'), 'is not supported (every filter is required)');
    if (f.disabled === true) invalid(join(where, 'disabled'), 'is not supported');
    refuseFields(f, ['config_discovery'], where);
    const type = typeOf(f.typed_config, where);
    const configAt = join(where, 'typed_config');
    switch (type) {
      case JWT_AUTHN_TYPE: {
        place(RANK.jwt, 'jwt_authn', where);
        const config = unpackTyped<envoy.JwtAuthentication>(f.typed_config, JWT_AUTHN_TYPE, configAt);
        jwt = within(configAt, () => compileJwtAuthentication(config, jwtOptions));
        break;
      }
      case HTTP_RBAC_TYPE: {
        const rules = compileRbacFilter(unpackTyped<envoy.RbacFilter>(f.typed_config, HTTP_RBAC_TYPE, configAt), configAt, false);
        // A filter without rules enforces nothing and may sit anywhere among the RBAC filters.
        if (rules !== undefined) {
          place(rules.action === 'DENY' ? RANK.deny : RANK.allow, undefined, where);
          rbac.push(rules);
        } else {
          place(Math.max(rank, RANK.deny), undefined, where);
        }
        break;
      }
      case FAULT_TYPE: {
        place(RANK.fault, 'fault', where);
        const fault = unpackTyped<envoy.HTTPFault>(f.typed_config, FAULT_TYPE, configAt);
        if (Object.keys(fault).length > 0) invalid(configAt, 'must be empty (faults are configured per route in typed_per_filter_config)');
        break;
      }
      case ROUTER_TYPE:
        place(RANK.router, 'router', where);
        if (i !== filters.length - 1) invalid(where, 'the router filter must be last');
        break;
      default:
        invalid(join(where, 'typed_config.type_url'), `unsupported http filter ${type} (supported: jwt_authn, rbac, fault, router)`);
    }
  }
  if (!seen.has('router')) invalid(at, 'has no router filter (it must be last)');
  return { jwt, rbac };
}

function compileHttpChain(filter: envoy.Filter, at: string, jwtOptions: JwtOptions): HttpChainSpec {
  const configAt = join(at, 'typed_config');
  const hcm = unpackTyped<envoy.HttpConnectionManager>(filter.typed_config, HCM_TYPE, configAt);
  refuseFields(hcm, ['scoped_routes'], configAt);
  if (hcm.route_specifier !== 'rds') invalid(configAt, 'must use rds (an inline route_config is not supported)');
  const rds = hcm.rds!;
  if (rds.config_source?.config_source_specifier !== 'ads') invalid(join(configAt, 'rds.config_source'), 'must be ads');
  const routeConfigName = rds.route_config_name ?? '';
  if (routeConfigName === '') invalid(join(configAt, 'rds.route_config_name'), 'is empty');
  const statPrefix = hcm.stat_prefix ?? '';
  if (statPrefix === '') invalid(join(configAt, 'stat_prefix'), 'is empty');
  enumOf(hcm.codec_type, 'AUTO', ['AUTO', 'HTTP1', 'HTTP2'], join(configAt, 'codec_type'));
  // Escaped slashes stay as they are (`%2F` is data); the other actions would change what the
  // upstream receives in ways policy would then have to follow.
  enumOf(hcm.path_with_escaped_slashes_action, 'IMPLEMENTATION_SPECIFIC_DEFAULT', ['IMPLEMENTATION_SPECIFIC_DEFAULT', 'KEEP_UNCHANGED'], join(configAt, 'path_with_escaped_slashes_action'));
  const pathNormalization: PathNormalization = Object.freeze({ normalize: hcm.normalize_path?.value === true, mergeSlashes: hcm.merge_slashes === true });
  const { jwt, rbac } = compileHttpFilters(list(hcm.http_filters), join(configAt, 'http_filters'), jwtOptions);
  return Object.freeze({ kind: 'http', statPrefix, routeConfigName, jwt, rbac: rbacPolicySet(rbac), pathNormalization });
}

function compileTcpChain(filters: readonly envoy.Filter[], at: string): TcpChain {
  const rbac: RbacFilterRules[] = [];
  let rank: number = RANK.deny;
  for (const [i, f] of filters.slice(0, -1).entries()) {
    const where = join(at, `filters[${i}]`);
    const type = typeOf(f.typed_config, where);
    if (type !== NETWORK_RBAC_TYPE) invalid(join(where, 'typed_config.type_url'), `${type} cannot precede tcp_proxy (only ${NETWORK_RBAC_TYPE} can)`);
    const configAt = join(where, 'typed_config');
    const rules = compileRbacFilter(unpackTyped<envoy.RbacFilter>(f.typed_config, NETWORK_RBAC_TYPE, configAt), configAt, true);
    if (rules === undefined) continue;
    const r = rules.action === 'DENY' ? RANK.deny : RANK.allow;
    if (r < rank) invalid(where, 'is out of order (DENY filters come before ALLOW filters)');
    rank = r;
    rbac.push(rules);
  }
  const lastAt = join(at, `filters[${filters.length - 1}]`);
  const configAt = join(lastAt, 'typed_config');
  const proxy = unpackTyped<envoy.TcpProxy>(filters[filters.length - 1]!.typed_config, TCP_PROXY_TYPE, configAt);
  refuseFields(proxy, ['weighted_clusters', 'on_demand'], configAt);
  const statPrefix = proxy.stat_prefix ?? '';
  if (statPrefix === '') invalid(join(configAt, 'stat_prefix'), 'is empty');
  const cluster = proxy.cluster ?? '';
  if (cluster === '') invalid(join(configAt, 'cluster'), 'is empty');
  return Object.freeze({ kind: 'tcp', statPrefix, cluster, rbac: networkRbacPolicySet(rbac) });
}

/**
 * The destinations a chain matches: every prefix range (a full-length address) with the port, or the bare
 * address when the chain has no `destination_port` (every port).
 */
function chainKeys(match: envoy.FilterChainMatch | undefined, at: string): string[] {
  if (match === undefined) invalid(at, 'is required (prefix_ranges, and destination_port unless every port is meant)');
  refuseFields(match, ['address_suffix', 'suffix_len', 'transport_protocol'], at);
  for (const field of ['direct_source_prefix_ranges', 'source_prefix_ranges', 'source_ports', 'server_names'] as const) {
    if (list<unknown>(match[field]).length > 0) invalid(join(at, field), 'is not supported by the waypoint');
  }
  enumOf(match.source_type, 'ANY', ['ANY'], join(at, 'source_type'));
  const p = match.destination_port === undefined ? undefined : port(uint32(match.destination_port, 0), join(at, 'destination_port'));
  const ranges = list(match.prefix_ranges);
  if (ranges.length === 0) invalid(join(at, 'prefix_ranges'), 'is empty (each bound address is listed)');
  return ranges.map((r, i) => {
    const where = join(at, `prefix_ranges[${i}]`);
    const ip = canonicalIp(r.address_prefix ?? '');
    if (ip === undefined) invalid(join(where, 'address_prefix'), `${JSON.stringify(r.address_prefix ?? '')} is not an IP address`);
    const full = ip.includes(':') ? 128 : 32;
    const len = uint32(r.prefix_len, 0);
    if (len !== full) invalid(join(where, 'prefix_len'), `${len} is not ${full} (each range is one bound address)`);
    return p === undefined ? ip : addressKey(ip, p);
  });
}

/**
 * The binding a tunnel to `ip:port` takes: the one bound to exactly `exactKey` (`addressKey(ip, port)`),
 * else the one bound to `ip` on every port. `ip` must be canonical (`canonicalIp`), as the keys are.
 */
export function findBinding<B>(bindings: ReadonlyMap<string, B>, exactKey: string, ip: string): B | undefined {
  return bindings.get(exactKey) ?? bindings.get(ip);
}

function chainKind(match: envoy.FilterChainMatch | undefined, at: string): 'http' | 'tcp' {
  const protocols = list(match?.application_protocols);
  if (protocols.length === 0) return 'tcp';
  const sorted = [...protocols].sort();
  if (sorted.length === HTTP_SORTED.length && sorted.every((p, i) => p === HTTP_SORTED[i])) return 'http';
  return invalid(join(at, 'application_protocols'), `${JSON.stringify(protocols)} is neither [http/1.1, h2c] (HTTP) nor empty (TCP)`);
}

function compileChain(chain: envoy.FilterChain, at: string, jwtOptions: JwtOptions): { name: string; keys: string[]; anyPort: boolean; spec: ChainSpec } {
  const name = chain.name ?? '';
  if (name === '') invalid(join(at, 'name'), 'is empty');
  refuseFields(chain, ['transport_socket'], at, 'is not supported (HBONE is terminated before the chain)');
  const keys = chainKeys(chain.filter_chain_match, join(at, 'filter_chain_match'));
  const anyPort = chain.filter_chain_match?.destination_port === undefined;
  const kind = chainKind(chain.filter_chain_match, join(at, 'filter_chain_match'));
  const filters = list(chain.filters);
  if (filters.length === 0) invalid(join(at, 'filters'), 'is empty');
  if (kind === 'http') {
    if (filters.length !== 1) invalid(join(at, 'filters'), `an HTTP chain has exactly one filter (http_connection_manager), not ${filters.length}`);
    const type = typeOf(filters[0]!.typed_config, join(at, 'filters[0]'));
    if (type !== HCM_TYPE) invalid(join(at, 'filters[0].typed_config.type_url'), `${type} is not ${HCM_TYPE} (the chain matches HTTP)`);
    return { name, keys, anyPort, spec: { kind: 'http', chain: compileHttpChain(filters[0]!, join(at, 'filters[0]'), jwtOptions) } };
  }
  const type = typeOf(filters[filters.length - 1]!.typed_config, join(at, `filters[${filters.length - 1}]`));
  if (type !== TCP_PROXY_TYPE) invalid(join(at, `filters[${filters.length - 1}].typed_config.type_url`), `${type} is not ${TCP_PROXY_TYPE} (a chain without application protocols is TCP)`);
  return { name, keys, anyPort, spec: { kind: 'tcp', chain: compileTcpChain(filters, at) } };
}

/**
 * Compiles a Listener. `resourceName` is the xDS name ('' in state of the world). Throws
 * `WaypointConfigError`. `jwtOptions.now` is the clock JWT verification uses.
 */
export function compileListener(l: envoy.Listener, resourceName = '', jwtOptions: JwtOptions = {}): CompiledListener {
  const name = l.name ?? '';
  return compileResource('Listener', name || resourceName, () => {
    if (name === '') invalid('name', 'is empty');
    if (resourceName !== '' && resourceName !== name) invalid('name', `${JSON.stringify(name)} does not match the resource name ${JSON.stringify(resourceName)}`);
    refuseFields(l, ['default_filter_chain'], '', 'is not supported (the waypoint serves only bound destinations)');
    const building = new Map<string, { name: string; destinationService: string; http: HttpChainSpec | undefined; tcp: TcpChain | undefined }>();
    const chainNames = new Set<string>();
    const routeConfigNames = new Set<string>();
    const tcpClusters = new Set<string>();
    const anyPortIps = new Set<string>();
    for (const [i, chain] of list(l.filter_chains).entries()) {
      const at = `filter_chains[${i}]`;
      const compiled = compileChain(chain, at, jwtOptions);
      if (chainNames.has(compiled.name)) invalid(join(at, 'name'), `${JSON.stringify(compiled.name)} names another chain too`);
      chainNames.add(compiled.name);
      if (compiled.spec.kind === 'http') routeConfigNames.add(compiled.spec.chain.routeConfigName);
      else tcpClusters.add(compiled.spec.chain.cluster);
      if (compiled.anyPort) for (const key of compiled.keys) anyPortIps.add(key);
      for (const key of compiled.keys) {
        const binding = building.get(key) ?? { name: compiled.name, destinationService: destinationServiceOf(compiled.name), http: undefined, tcp: undefined };
        if (binding[compiled.spec.kind] !== undefined) invalid(join(at, 'filter_chain_match'), `${key} already has a ${compiled.spec.kind.toUpperCase()} chain`);
        if (compiled.spec.kind === 'http') {
          binding.http = compiled.spec.chain;
          // The binding is named after its HTTP chain when it has one.
          binding.name = compiled.name;
          binding.destinationService = destinationServiceOf(compiled.name);
        } else {
          binding.tcp = compiled.spec.chain;
        }
        building.set(key, binding);
      }
    }
    const bindings = new Map<string, BindingSpec>();
    for (const [key, b] of building) bindings.set(key, Object.freeze({ ...b }));
    return Object.freeze({
      name,
      bindings,
      anyPortIps: Object.freeze([...anyPortIps].sort()),
      routeConfigNames: Object.freeze([...routeConfigNames].sort()),
      tcpClusters: Object.freeze([...tcpClusters].sort()),
    });
  });
}

/** A resolved binding, for the snapshot builder: the HTTP chain with its route table. */
export function resolveBinding(spec: BindingSpec, http: HttpChain | undefined): Binding {
  return Object.freeze({ name: spec.name, destinationService: spec.destinationService, http, tcp: spec.tcp });
}
