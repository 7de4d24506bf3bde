import test, { type ExecutionContext } from 'ava';
import type * as envoy from '../src/config/envoy-types.js';
import { WaypointConfigError } from '../src/config/errors.js';
import { compileListener, findBinding } from '../src/config/listener.js';
import { any, roundTrip, T } from './support/envoy.js';
import { chainMatch, DB_CHAIN, DB_CLUSTER, DB_HOST, DB_VIP, hcm, LISTENER, listener, tcpProxy, WEB_ALL, WEB_CHAIN, WEB_HOST, WEB_VIP } from './support/fixtures.js';

const l = (value: object): envoy.Listener => roundTrip<envoy.Listener>(T.listener, value);

function oneChain(chain: object): envoy.Listener {
  return l({ name: LISTENER, filter_chains: [{ name: WEB_CHAIN, filter_chain_match: chainMatch(WEB_VIP, 80, true), ...chain }] });
}

function httpFilters(filters: object[], hcmExtra: object = {}): envoy.Listener {
  return l({
    name: LISTENER,
    filter_chains: [
      {
        name: WEB_CHAIN,
        filter_chain_match: chainMatch(WEB_VIP, 80, true),
        filters: [{ name: 'hcm', typed_config: any(T.hcm, { stat_prefix: 's', rds: { route_config_name: 'r', config_source: { ads: {} } }, http_filters: filters, ...hcmExtra }) }],
      },
    ],
  });
}

const router = { name: 'envoy.filters.http.router', typed_config: any(T.router, {}) };
const jwtFilter = { name: 'envoy.filters.http.jwt_authn', typed_config: any(T.jwt, {}) };
const faultFilter = { name: 'envoy.filters.http.fault', typed_config: any(T.fault, {}) };
const rbac = (action: 'ALLOW' | 'DENY'): object => ({ name: 'envoy.filters.http.rbac', typed_config: any(T.httpRbac, { rules: { action, policies: {} } }) });

function rejects(t: ExecutionContext, value: envoy.Listener, path: string, detail: RegExp, resourceName = ''): void {
  const err = t.throws(() => compileListener(value, resourceName), { instanceOf: WaypointConfigError });
  t.is(err?.resourceType, 'Listener');
  t.is(err?.path, path);
  t.regex(err?.detail ?? '', detail);
}

test('a listener compiles to bindings keyed ip:port; a port with both chains is sniffed', (t) => {
  const compiled = compileListener(l(listener()), LISTENER);
  t.is(compiled.name, LISTENER);
  t.deepEqual([...compiled.bindings.keys()], [`${WEB_VIP}:80`, `${DB_VIP}:5432`]);
  t.deepEqual(compiled.routeConfigNames, [WEB_CHAIN]);
  t.deepEqual(compiled.tcpClusters, [DB_CLUSTER, WEB_ALL].sort());
  const web = compiled.bindings.get(`${WEB_VIP}:80`)!;
  t.is(web.name, WEB_CHAIN);
  t.is(web.destinationService, WEB_HOST);
  t.is(web.http?.kind, 'http');
  t.is(web.http?.routeConfigName, WEB_CHAIN);
  t.is(web.http?.statPrefix, WEB_CHAIN);
  t.deepEqual(web.http?.pathNormalization, { normalize: true, mergeSlashes: true });
  t.true(web.http?.jwt.empty);
  t.false(web.http?.rbac.empty);
  t.is(web.tcp?.cluster, WEB_ALL);
  t.true(web.tcp?.rbac.empty);
  const db = compiled.bindings.get(`${DB_VIP}:5432`)!;
  t.is(db.http, undefined);
  t.is(db.name, DB_CHAIN);
  t.is(db.destinationService, DB_HOST);
  t.true(Object.isFrozen(compiled) && Object.isFrozen(web) && Object.isFrozen(web.http) && Object.isFrozen(web.tcp));
});

test("the chain's RBAC filter is compiled with the listener: /admin is denied", (t) => {
  const web = compileListener(l(listener())).bindings.get(`${WEB_VIP}:80`)!;
  const request = { method: 'GET', path: '/admin', query: '', host: WEB_HOST, headers: new Map(), scheme: 'http' };
  const conn = { sourcePrincipal: undefined, sourceIp: '10.0.0.1', destinationIp: WEB_VIP, destinationPort: 80 };
  t.deepEqual(web.http?.rbac.evaluate(request, conn, undefined), { allowed: false, policy: 'deny-admin', reason: 'matched DENY policy "deny-admin"' });
  t.true(web.http?.rbac.evaluate({ ...request, path: '/public' }, conn, undefined).allowed);
});

test('IPv6 addresses and several addresses per chain; defaults of normalization are off', (t) => {
  const compiled = compileListener(
    l({
      name: LISTENER,
      filter_chains: [
        {
          name: 'inbound-pod|8080|http|fd00::5',
          filter_chain_match: { destination_port: { value: 8080 }, prefix_ranges: [{ address_prefix: 'FD00:0:0::5', prefix_len: { value: 128 } }, { address_prefix: '10.1.0.5', prefix_len: { value: 32 } }], application_protocols: ['h2c', 'http/1.1'] },
          filters: [hcm('r', [], { normalize_path: undefined, merge_slashes: false })],
        },
      ],
    }),
  );
  t.deepEqual([...compiled.bindings.keys()], ['[fd00::5]:8080', '10.1.0.5:8080']);
  const b = compiled.bindings.get('[fd00::5]:8080')!;
  t.is(b.destinationService, 'fd00::5');
  t.deepEqual(b.http?.pathNormalization, { normalize: false, mergeSlashes: false });
});

test('a chain without destination_port binds its addresses on every port, keyed by the bare IP', (t) => {
  const podMatch = (http: boolean): object => ({
    prefix_ranges: [{ address_prefix: '10.244.1.50', prefix_len: { value: 32 } }, { address_prefix: 'FD00::50', prefix_len: { value: 128 } }],
    ...(http ? { application_protocols: ['http/1.1', 'h2c'] } : {}),
  });
  const compiled = compileListener(
    l(
      listener([
        { name: 'inbound-pod|*|http|10.244.1.50', filter_chain_match: podMatch(true), filters: [hcm('inbound-pod|*|http|shop/waypoint')] },
        { name: 'inbound-pod|*|tcp|10.244.1.50', filter_chain_match: podMatch(false), filters: [tcpProxy('inbound-pod|*||shop/waypoint')] },
      ]),
    ),
  );
  t.deepEqual([...compiled.bindings.keys()], [`${WEB_VIP}:80`, `${DB_VIP}:5432`, '10.244.1.50', 'fd00::50']);
  t.deepEqual(compiled.anyPortIps, ['10.244.1.50', 'fd00::50']);
  t.deepEqual(compiled.routeConfigNames, [WEB_CHAIN, 'inbound-pod|*|http|shop/waypoint'].sort());
  t.true(compiled.tcpClusters.includes('inbound-pod|*||shop/waypoint'));
  const pod = compiled.bindings.get('10.244.1.50')!;
  t.is(pod.name, 'inbound-pod|*|http|10.244.1.50');
  t.is(pod.destinationService, '10.244.1.50');
  t.is(pod.http?.routeConfigName, 'inbound-pod|*|http|shop/waypoint');
  t.is(pod.tcp?.cluster, 'inbound-pod|*||shop/waypoint');
  t.deepEqual(compiled.bindings.get('fd00::50'), pod);
  // A listener of service ports only binds nothing on every port.
  t.deepEqual(compileListener(l(listener())).anyPortIps, []);
  // Both kinds for one address on every port, each once: a second HTTP chain for it is refused.
  rejects(
    t,
    l({
      name: LISTENER,
      filter_chains: [
        { name: 'a', filter_chain_match: podMatch(true), filters: [hcm('r')] },
        { name: 'b', filter_chain_match: podMatch(true), filters: [hcm('r')] },
      ],
    }),
    'filter_chains[1].filter_chain_match',
    /10\.244\.1\.50 already has a HTTP chain/,
  );
});

test('findBinding: the exact ip:port binding first, then the IP bound on every port, else none', (t) => {
  const exact = { name: 'exact' };
  const wide = { name: 'wide' };
  const bindings = new Map([
    ['10.0.0.5:8080', exact],
    ['10.0.0.5', wide],
    ['fd00::5', wide],
  ]);
  t.is(findBinding(bindings, '10.0.0.5:8080', '10.0.0.5'), exact);
  t.is(findBinding(bindings, '10.0.0.5:9090', '10.0.0.5'), wide);
  t.is(findBinding(bindings, '[fd00::5]:1', 'fd00::5'), wide);
  t.is(findBinding(bindings, '10.0.0.6:8080', '10.0.0.6'), undefined);
  // Only an exact binding on a port: another port of that IP is not bound.
  t.is(findBinding(new Map([['10.0.0.5:8080', exact]]), '10.0.0.5:80', '10.0.0.5'), undefined);
});

test('http filters in Istio order compile: jwt_authn, rbac DENY, rbac ALLOW, fault, router', (t) => {
  const compiled = compileListener(httpFilters([jwtFilter, rbac('DENY'), rbac('ALLOW'), faultFilter, router]));
  const http = compiled.bindings.get(`${WEB_VIP}:80`)!.http!;
  t.false(http.rbac.empty);
  t.is(http.rbac.evaluate({ method: 'GET', path: '/', query: '', host: 'h', headers: new Map(), scheme: 'http' }, { sourcePrincipal: undefined, sourceIp: '1.1.1.1', destinationIp: WEB_VIP, destinationPort: 80 }, undefined).allowed, false);
  // An RBAC filter without rules may sit anywhere among the RBAC filters.
  const noRules = { name: 'envoy.filters.http.rbac', typed_config: any(T.httpRbac, {}) };
  t.notThrows(() => compileListener(httpFilters([noRules, rbac('DENY'), noRules, rbac('ALLOW'), router])));
});

test('TCP chains take network RBAC filters before tcp_proxy', (t) => {
  const nrbac = (action: 'ALLOW' | 'DENY', port: number): object => ({
    name: 'envoy.filters.network.rbac',
    typed_config: any(T.networkRbac, { stat_prefix: 'r', rules: { action, policies: { p: { permissions: [{ destination_port: port }], principals: [{ any: true }] } } } }),
  });
  const compiled = compileListener(l({ name: LISTENER, filter_chains: [{ name: DB_CHAIN, filter_chain_match: chainMatch(DB_VIP, 5432, false), filters: [nrbac('DENY', 22), nrbac('ALLOW', 5432), tcpProxy(DB_CLUSTER)] }] }));
  const tcp = compiled.bindings.get(`${DB_VIP}:5432`)!.tcp!;
  t.true(tcp.rbac.evaluate({ sourcePrincipal: undefined, sourceIp: '1.1.1.1', destinationIp: DB_VIP, destinationPort: 5432 }).allowed);
  t.false(tcp.rbac.evaluate({ sourcePrincipal: undefined, sourceIp: '1.1.1.1', destinationIp: DB_VIP, destinationPort: 22 }).allowed);
  rejects(
    t,
    l({ name: LISTENER, filter_chains: [{ name: DB_CHAIN, filter_chain_match: chainMatch(DB_VIP, 5432, false), filters: [nrbac('ALLOW', 1), nrbac('DENY', 2), tcpProxy(DB_CLUSTER)] }] }),
    'filter_chains[0].filters[1]',
    /out of order/,
  );
  rejects(
    t,
    l({ name: LISTENER, filter_chains: [{ name: DB_CHAIN, filter_chain_match: chainMatch(DB_VIP, 5432, false), filters: [tcpProxy('x'), tcpProxy(DB_CLUSTER)] }] }),
    'filter_chains[0].filters[0].typed_config.type_url',
    /cannot precede tcp_proxy/,
  );
});

test('listener-level and filter-chain rejections', (t) => {
  rejects(t, l({}), 'name', /is empty/);
  rejects(t, l({ name: LISTENER }), 'name', /does not match the resource name "other"/, 'other');
  rejects(t, l({ name: LISTENER, default_filter_chain: { filters: [] } }), 'default_filter_chain', /only bound destinations/);
  rejects(t, l({ name: LISTENER, filter_chains: [{ filter_chain_match: chainMatch(WEB_VIP, 80, true), filters: [hcm('r')] }] }), 'filter_chains[0].name', /is empty/);
  rejects(t, oneChain({ filter_chain_match: undefined, filters: [hcm('r')] }), 'filter_chains[0].filter_chain_match', /is required/);
  rejects(t, oneChain({ filter_chain_match: { destination_port: { value: 0 }, prefix_ranges: [{ address_prefix: WEB_VIP, prefix_len: { value: 32 } }] }, filters: [hcm('r')] }), 'filter_chains[0].filter_chain_match.destination_port', /out of range/);
  rejects(t, oneChain({ filter_chain_match: { destination_port: { value: 80 } }, filters: [hcm('r')] }), 'filter_chains[0].filter_chain_match.prefix_ranges', /is empty/);
  rejects(t, oneChain({ filter_chain_match: { destination_port: { value: 80 }, prefix_ranges: [{ address_prefix: '10.96.0.0', prefix_len: { value: 16 } }] }, filters: [hcm('r')] }), 'filter_chains[0].filter_chain_match.prefix_ranges[0].prefix_len', /16 is not 32/);
  rejects(t, oneChain({ filter_chain_match: { destination_port: { value: 80 }, prefix_ranges: [{ address_prefix: 'web', prefix_len: { value: 32 } }] }, filters: [hcm('r')] }), 'filter_chains[0].filter_chain_match.prefix_ranges[0].address_prefix', /not an IP address/);
  rejects(t, oneChain({ filter_chain_match: { ...chainMatch(WEB_VIP, 80, true), server_names: ['x'] }, filters: [hcm('r')] }), 'filter_chains[0].filter_chain_match.server_names', /not supported/);
  rejects(t, oneChain({ filter_chain_match: { ...chainMatch(WEB_VIP, 80, true), transport_protocol: 'tls' }, filters: [hcm('r')] }), 'filter_chains[0].filter_chain_match.transport_protocol', /not supported/);
  rejects(t, oneChain({ filter_chain_match: { ...chainMatch(WEB_VIP, 80, true), source_type: 'EXTERNAL' }, filters: [hcm('r')] }), 'filter_chains[0].filter_chain_match.source_type', /unsupported value "EXTERNAL"/);
  rejects(t, oneChain({ filter_chain_match: { ...chainMatch(WEB_VIP, 80, false), application_protocols: ['h2'] }, filters: [hcm('r')] }), 'filter_chains[0].filter_chain_match.application_protocols', /neither \[http\/1.1, h2c\]/);
  rejects(t, oneChain({ filters: [] }), 'filter_chains[0].filters', /is empty/);
  rejects(t, oneChain({ filters: [hcm('r'), hcm('s')] }), 'filter_chains[0].filters', /exactly one filter/);
  rejects(t, oneChain({ filters: [tcpProxy('c')] }), 'filter_chains[0].filters[0].typed_config.type_url', /is not envoy.extensions.filters.network.http_connection_manager/);
  rejects(t, oneChain({ filters: [{ name: 'x' }] }), 'filter_chains[0].filters[0].typed_config', /is missing/);
  rejects(t, oneChain({ transport_socket: { name: 'tls' }, filters: [hcm('r')] }), 'filter_chains[0].transport_socket', /HBONE is terminated/);
  rejects(
    t,
    l({ name: LISTENER, filter_chains: [{ name: DB_CHAIN, filter_chain_match: chainMatch(DB_VIP, 5432, false), filters: [hcm('r')] }] }),
    'filter_chains[0].filters[0].typed_config.type_url',
    /is not envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy/,
  );
  rejects(
    t,
    l({
      name: LISTENER,
      filter_chains: [
        { name: 'a', filter_chain_match: chainMatch(DB_VIP, 5432, false), filters: [tcpProxy('x')] },
        { name: 'b', filter_chain_match: chainMatch(DB_VIP, 5432, false), filters: [tcpProxy('y')] },
      ],
    }),
    'filter_chains[1].filter_chain_match',
    /10.96.0.20:5432 already has a TCP chain/,
  );
  rejects(
    t,
    l({
      name: LISTENER,
      filter_chains: [
        { name: 'a', filter_chain_match: chainMatch(DB_VIP, 5432, false), filters: [tcpProxy('x')] },
        { name: 'a', filter_chain_match: chainMatch(WEB_VIP, 5432, false), filters: [tcpProxy('y')] },
      ],
    }),
    'filter_chains[1].name',
    /names another chain too/,
  );
  const tcp = (config: object): envoy.Listener =>
    l({ name: LISTENER, filter_chains: [{ name: DB_CHAIN, filter_chain_match: chainMatch(DB_VIP, 5432, false), filters: [{ name: 'tcp', typed_config: any(T.tcpProxy, config) }] }] });
  rejects(t, tcp({ cluster: 'c' }), 'filter_chains[0].filters[0].typed_config.stat_prefix', /is empty/);
  rejects(t, tcp({ stat_prefix: 's' }), 'filter_chains[0].filters[0].typed_config.cluster', /is empty/);
  rejects(t, tcp({ stat_prefix: 's', weighted_clusters: { clusters: [] } }), 'filter_chains[0].filters[0].typed_config.weighted_clusters', /not supported/);
});

test('HttpConnectionManager and http filter rejections', (t) => {
  const at = 'filter_chains[0].filters[0].typed_config';
  const h = (config: object): envoy.Listener => oneChain({ filters: [{ name: 'hcm', typed_config: any(T.hcm, config) }] });
  rejects(t, h({ stat_prefix: 's', route_config: { name: 'inline' }, http_filters: [router] }), at, /must use rds/);
  rejects(t, h({ stat_prefix: 's', rds: { route_config_name: 'r' }, http_filters: [router] }), `${at}.rds.config_source`, /must be ads/);
  rejects(t, h({ stat_prefix: 's', rds: { config_source: { ads: {} } }, http_filters: [router] }), `${at}.rds.route_config_name`, /is empty/);
  rejects(t, h({ rds: { route_config_name: 'r', config_source: { ads: {} } }, http_filters: [router] }), `${at}.stat_prefix`, /is empty/);
  rejects(t, h({ stat_prefix: 's', codec_type: 'HTTP3', rds: { route_config_name: 'r', config_source: { ads: {} } }, http_filters: [router] }), `${at}.codec_type`, /unsupported value "HTTP3"/);
  rejects(
    t,
    h({ stat_prefix: 's', path_with_escaped_slashes_action: 'UNESCAPE_AND_FORWARD', rds: { route_config_name: 'r', config_source: { ads: {} } }, http_filters: [router] }),
    `${at}.path_with_escaped_slashes_action`,
    /unsupported value "UNESCAPE_AND_FORWARD"/,
  );
  const f = `${at}.http_filters`;
  rejects(t, httpFilters([]), f, /the router filter is required/);
  rejects(t, httpFilters([jwtFilter]), f, /has no router filter/);
  rejects(t, httpFilters([router, faultFilter]), `${f}[0]`, /the router filter must be last/);
  rejects(t, httpFilters([rbac('ALLOW'), rbac('DENY'), router]), `${f}[1]`, /out of order/);
  rejects(t, httpFilters([rbac('DENY'), jwtFilter, router]), `${f}[1]`, /out of order/);
  rejects(t, httpFilters([faultFilter, faultFilter, router]), `${f}[1]`, /a second fault filter/);
  rejects(t, httpFilters([{ ...faultFilter, is_optional: true }, router]), `${f}[0].is_optional`, /every filter is required/);
  rejects(t, httpFilters([{ ...faultFilter, disabled: true }, router]), `${f}[0].disabled`, /not supported/);
  rejects(t, httpFilters([{ name: 'x', typed_config: any(T.tcpProxy, {}) }, router]), `${f}[0].typed_config.type_url`, /unsupported http filter envoy.extensions.filters.network.tcp_proxy/);
  rejects(t, httpFilters([{ name: 'f', typed_config: any(T.fault, { abort: { http_status: 503, percentage: { numerator: 1 } } }) }, router]), `${f}[0].typed_config`, /must be empty/);
  rejects(
    t,
    httpFilters([{ name: 'rbac', typed_config: any(T.httpRbac, { rules: { policies: { p: { permissions: [{ url_path: { path: { safe_regex: { regex: '(a)\\1' } } } }], principals: [{ any: true }] } } } }) }, router]),
    `${f}[0].typed_config.rules.policies["p"].permissions[0].url_path.path.safe_regex.regex`,
    /back-reference/,
  );
  rejects(t, httpFilters([{ name: 'jwt', typed_config: any(T.jwt, { providers: { p: { issuer: 'i' } }, rules: [{ match: { prefix: '/' }, requires: { provider_name: 'p' } }] }) }, router]), `${f}[0].typed_config.providers["p"].local_jwks`, /is required/);
  rejects(t, httpFilters([{ name: 'rbac', typed_config: { type_url: `type.googleapis.com/${T.httpRbac}`, value: Buffer.from([0x0a, 0x05]) } }, router]), `${f}[0].typed_config`, /cannot decode/);
  const err = t.throws(() => compileListener(httpFilters([faultFilter, jwtFilter, router])), { instanceOf: WaypointConfigError });
  t.is(err?.message, `Listener "${LISTENER}": ${f}[1]: is out of order (the order is jwt_authn, rbac DENY, rbac ALLOW, fault, router)`);
});
