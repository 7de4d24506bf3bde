import test, { type ExecutionContext } from 'ava';
import { WaypointConfigError } from '../src/config/errors.js';
import type * as envoy from '../src/config/envoy-types.js';
import { NO_HEADER_MUTATION } from '../src/config/header-mutation.js';
import { compileRouteConfiguration } from '../src/config/route-config.js';
import type { DirectResponseAction, ForwardAction, RedirectAction, Route } from '../src/config/types.js';
import { any, roundTrip, T } from './support/envoy.js';

const NAME = 'inbound-vip|80|http|web.default.svc.cluster.local';
const C = 'outbound|80||web.default.svc.cluster.local';

function routeConfig(routes: object[], extra: object = {}, vhost: object = {}): envoy.RouteConfiguration {
  return roundTrip<envoy.RouteConfiguration>(T.route, { name: NAME, virtual_hosts: [{ name: 'web', domains: ['*'], routes, ...vhost }], ...extra });
}

function onlyRoute(route: object): Route {
  return compileRouteConfiguration(routeConfig([route])).table.virtualHosts[0]!.routes[0]!;
}

function forward(route: object): ForwardAction {
  const r = onlyRoute({ match: { prefix: '/' }, ...route });
  if (r.action.kind !== 'forward') throw new Error('not a forward action');
  return r.action;
}

function rejects(t: ExecutionContext, rc: envoy.RouteConfiguration, path: string, detail: RegExp, name = NAME): void {
  const err = t.throws(() => compileRouteConfiguration(rc), { instanceOf: WaypointConfigError });
  t.is(err?.code, 'WP_ERR_CONFIG');
  t.is(err?.resourceType, 'RouteConfiguration');
  t.is(err?.resourceName, name);
  t.is(err?.path, path);
  t.regex(err?.detail ?? '', detail);
  t.true(err?.message.startsWith(`RouteConfiguration ${JSON.stringify(name)}: ${path}: `));
}

test('a route configuration compiles to a frozen route table and lists the clusters it names', (t) => {
  const compiled = compileRouteConfiguration(
    routeConfig(
      [
        {
          name: 'split',
          match: { prefix: '/api', headers: [{ name: ':method', string_match: { exact: 'GET' } }], query_parameters: [{ name: 'v', present_match: true }] },
          route: {
            weighted_clusters: {
              clusters: [
                { name: 'b', weight: { value: 90 } },
                { name: 'a', weight: { value: 10 }, request_headers_to_add: [{ header: { key: 'x-v', value: 'a' } }] },
                { name: 'never', weight: { value: 0 } },
              ],
            },
            request_mirror_policies: [{ cluster: 'mirror', runtime_fraction: { default_value: { numerator: 25 } } }],
          },
        },
        { match: { prefix: '/' }, route: { cluster: C } },
      ],
      {},
      { domains: ['web.default.svc.cluster.local', 'web', '*.Web.Example', 'web.*'] },
    ),
    NAME,
  );
  const { table, clusterNames } = compiled;
  t.is(table.name, NAME);
  t.deepEqual(clusterNames, ['a', 'b', 'mirror', 'never', C].filter((n) => n !== 'never').sort());
  const vhost = table.virtualHosts[0]!;
  t.deepEqual(vhost.domains, ['web.default.svc.cluster.local', 'web', '*.web.example', 'web.*']);
  const [split, fallback] = vhost.routes;
  t.is(split!.name, 'split');
  t.true(split!.path.matches('/api/x'));
  t.true(split!.headers[0]!.matches(['get'], 'any'));
  t.is(split!.queryParameters.length, 1);
  const action = split!.action as ForwardAction;
  t.deepEqual(
    action.clusters.map((c) => [c.cluster, c.weight]),
    [
      ['b', 90],
      ['a', 10],
    ],
  );
  t.is(action.totalWeight, 100);
  t.deepEqual(action.clusters[1]!.requestHeaders.set, [{ name: 'x-v', value: 'a', append: true }]);
  t.deepEqual(action.mirrors, [{ cluster: 'mirror', ppm: 250_000 }]);
  t.is(action.timeoutMs, 15_000, "Envoy's default route timeout");
  t.is(action.retry, undefined);
  t.is(split!.fault, undefined);
  t.is(fallback!.name, '');
  t.deepEqual((fallback!.action as ForwardAction).clusters.map((c) => c.cluster), [C]);
  for (const o of [compiled, table, vhost, vhost.routes, split, action, action.clusters, action.clusters[0], action.mirrors]) t.true(Object.isFrozen(o));
});

test('retry policy: retriable_status_codes over the wire, with the retriable-status-codes condition or without it (inert, as in Envoy)', (t) => {
  const codes = forward({ route: { cluster: C, retry_policy: { retry_on: 'connect-failure,retriable-status-codes', retriable_status_codes: [409, 503, 409, 100, 599] } } }).retry!;
  t.deepEqual([...codes.on], ['connect-failure', 'retriable-status-codes']);
  t.deepEqual([...codes.statusCodes], [409, 503, 100, 599], 'duplicates once, in order');
  t.true(Object.isFrozen(codes.statusCodes));
  const inert = forward({ route: { cluster: C, retry_policy: { retry_on: '5xx', retriable_status_codes: [409] } } }).retry!;
  t.deepEqual([...inert.on], ['5xx']);
  t.deepEqual([...inert.statusCodes], [409]);
  const alone = forward({ route: { cluster: C, retry_policy: { retry_on: 'retriable-status-codes' } } }).retry!;
  t.deepEqual([...alone.on], ['retriable-status-codes']);
  t.is(alone.statusCodes.size, 0);
});

test('route actions: timeouts, retries, rewrites, hash policies', (t) => {
  t.is(forward({ route: { cluster: C, timeout: { seconds: 0 } } }).timeoutMs, 0);
  t.is(forward({ route: { cluster: C, timeout: { seconds: 2, nanos: 500_000_001 } } }).timeoutMs, 2501);
  const retry = forward({ route: { cluster: C, retry_policy: { retry_on: '5xx, reset,connect-failure', per_try_timeout: { seconds: 1 } } } }).retry!;
  t.deepEqual([...retry.on], ['5xx', 'reset', 'connect-failure']);
  t.is(retry.numRetries, 1, "Envoy's default");
  t.is(retry.perTryTimeoutMs, 1000);
  t.is(retry.backoffBaseMs, 25);
  t.is(retry.backoffMaxMs, 250);
  const custom = forward({
    route: { cluster: C, retry_policy: { retry_on: 'gateway-error,retriable-4xx', num_retries: { value: 3 }, retry_back_off: { base_interval: { nanos: 100_000_000 }, max_interval: { seconds: 2 } } } },
  }).retry!;
  t.is(custom.numRetries, 3);
  t.is(custom.backoffBaseMs, 100);
  t.is(custom.backoffMaxMs, 2000);
  t.deepEqual([...custom.statusCodes], [], 'no retriable_status_codes: an empty set');
  // No condition (e.g. Istio's retryOn held only conditions the control plane cannot express): valid, as in
  // Envoy; nothing is retried and the per-try timeout still bounds the attempt.
  const none = forward({ route: { cluster: C, retry_policy: { retry_on: ' , ', per_try_timeout: { seconds: 2 } } } }).retry!;
  t.is(none.on.size, 0);
  t.is(none.perTryTimeoutMs, 2000);
  t.is(forward({ route: { cluster: C, prefix_rewrite: '/v2/' } }).prefixRewrite, '/v2/');
  const rx = forward({ route: { cluster: C, regex_rewrite: { pattern: { regex: '^/old/(.*)$' }, substitution: '/new/\\1' } } }).regexRewrite!;
  t.is(rx.substitution, '/new/\\1');
  t.is('/old/x'.replace(rx.pattern, '/new/$1'), '/new/x');
  t.is(forward({ route: { cluster: C, host_rewrite_literal: 'other.svc' } }).hostRewrite, 'other.svc');
  t.deepEqual(
    forward({
      route: {
        cluster: C,
        hash_policy: [
          { header: { header_name: 'X-User' } },
          { query_parameter: { name: 'u' }, terminal: true },
          { cookie: { name: 'session' } },
          { connection_properties: { source_ip: true } },
        ],
      },
    }).hashPolicies,
    [
      { kind: 'header', name: 'x-user', terminal: false },
      { kind: 'query', name: 'u', terminal: true },
      { kind: 'cookie', name: 'session', terminal: false },
      { kind: 'source-ip', terminal: false },
    ],
  );
  t.deepEqual(forward({ route: { cluster: C, request_mirror_policies: [{ cluster: 'm' }] } }).mirrors, [{ cluster: 'm', ppm: 1_000_000 }]);
  t.deepEqual(forward({ route: { cluster: C, request_mirror_policies: [{ cluster: 'm', runtime_fraction: { default_value: { numerator: 5, denominator: 'TEN_THOUSAND' } } }] } }).mirrors, [
    { cluster: 'm', ppm: 500 },
  ]);
  t.deepEqual(forward({ route: { cluster: C, request_mirror_policies: [{ cluster: 'm', runtime_fraction: { default_value: { numerator: 7, denominator: 'MILLION' } } }] } }).mirrors, [{ cluster: 'm', ppm: 7 }]);
  t.deepEqual(forward({ route: { cluster: C, request_mirror_policies: [{ cluster: 'm', runtime_fraction: { default_value: { numerator: 500 } } }] } }).mirrors, [{ cluster: 'm', ppm: 1_000_000 }]);
});

test('redirects and direct responses', (t) => {
  const r = onlyRoute({ match: { prefix: '/' }, redirect: { https_redirect: true, host_redirect: 'new.example', port_redirect: 8443, path_redirect: '/x', strip_query: true, response_code: 'PERMANENT_REDIRECT' } })
    .action as RedirectAction;
  t.deepEqual(r, { kind: 'redirect', status: 308, scheme: 'https', host: 'new.example', port: 8443, path: '/x', prefixRewrite: undefined, stripQuery: true });
  const d = onlyRoute({ match: { prefix: '/' }, redirect: { prefix_rewrite: '/new' } }).action as RedirectAction;
  t.is(d.status, 301);
  t.is(d.scheme, undefined);
  t.is(d.port, undefined);
  t.is(d.prefixRewrite, '/new');
  t.is((onlyRoute({ match: { prefix: '/' }, redirect: { scheme_redirect: 'HTTP', response_code: 'FOUND' } }).action as RedirectAction).scheme, 'http');
  for (const [code, status] of [['SEE_OTHER', 303], ['TEMPORARY_REDIRECT', 307]] as const) {
    t.is((onlyRoute({ match: { prefix: '/' }, redirect: { response_code: code } }).action as RedirectAction).status, status);
  }
  t.deepEqual(onlyRoute({ match: { prefix: '/' }, direct_response: { status: 418, body: { inline_string: 'teapot' } } }).action as DirectResponseAction, {
    kind: 'direct-response',
    status: 418,
    body: 'teapot',
  });
  t.is((onlyRoute({ match: { prefix: '/' }, direct_response: { status: 204 } }).action as DirectResponseAction).body, '');
  t.is((onlyRoute({ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_bytes: Buffer.from('hi') } } }).action as DirectResponseAction).body, 'hi');
});

test('header mutations: append actions, removals, %% escapes; empty ones are shared', (t) => {
  const route = onlyRoute({
    match: { prefix: '/' },
    route: { cluster: C },
    request_headers_to_add: [
      { header: { key: 'X-Add', value: '1' }, append_action: 'APPEND_IF_EXISTS_OR_ADD' },
      { header: { key: 'x-set', value: '100%%' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
      { header: { key: 'x-old', value: 'v' }, append: { value: false } },
      { header: { key: 'x-raw', raw_value: Buffer.from('bytes') } },
    ],
    request_headers_to_remove: ['X-Internal'],
    response_headers_to_add: [{ header: { key: 'x-served-by', value: 'waypoint' } }],
  });
  t.deepEqual(route.requestHeaders, {
    set: [
      { name: 'x-add', value: '1', append: true },
      { name: 'x-set', value: '100%', append: false },
      { name: 'x-old', value: 'v', append: false },
      { name: 'x-raw', value: 'bytes', append: true },
    ],
    remove: ['x-internal'],
  });
  t.deepEqual(route.responseHeaders, { set: [{ name: 'x-served-by', value: 'waypoint', append: true }], remove: [] });
  t.true(Object.isFrozen(route.requestHeaders.set[0]));
  const plain = onlyRoute({ match: { prefix: '/' }, route: { cluster: C } });
  t.is(plain.requestHeaders, NO_HEADER_MUTATION);
  const vhost = compileRouteConfiguration(routeConfig([], {}, { response_headers_to_remove: ['server'] })).table.virtualHosts[0]!;
  t.deepEqual(vhost.responseHeaders.remove, ['server']);
});

test('per-route fault from typed_per_filter_config', (t) => {
  const fault = onlyRoute({
    match: { prefix: '/' },
    route: { cluster: C },
    typed_per_filter_config: {
      'envoy.filters.http.fault': any(T.fault, {
        delay: { fixed_delay: { seconds: 1 }, percentage: { numerator: 50 } },
        abort: { http_status: 503, percentage: { numerator: 10, denominator: 'TEN_THOUSAND' } },
      }),
    },
  }).fault;
  t.deepEqual(fault, { delay: { fixedMs: 1000, ppm: 500_000 }, abort: { status: 503, ppm: 1000 } });
  const empty = onlyRoute({ match: { prefix: '/' }, route: { cluster: C }, typed_per_filter_config: { 'envoy.filters.http.fault': any(T.fault, {}) } }).fault;
  t.is(empty, undefined);
});

test('route configuration rejections name the resource, field and reason', (t) => {
  const r = (route: object): envoy.RouteConfiguration => routeConfig([{ match: { prefix: '/' }, ...route }]);
  const at = 'virtual_hosts[0].routes[0]';
  rejects(t, roundTrip(T.route, { virtual_hosts: [] }), 'name', /is empty/, '');
  rejects(t, routeConfig([{ match: { safe_regex: { regex: 'a(?=b)' } }, route: { cluster: C } }]), `${at}.match.safe_regex.regex`, /look-ahead is not supported/);
  rejects(t, routeConfig([{ route: { cluster: C } }]), `${at}.match`, /is required/);
  rejects(t, routeConfig([{ match: { prefix: '/', grpc: {} }, route: { cluster: C } }]), `${at}.match.grpc`, /not supported/);
  rejects(t, routeConfig([{ match: { prefix: '/', dynamic_metadata: [{ filter: 'x' }] }, route: { cluster: C } }]), `${at}.match.dynamic_metadata`, /not supported/);
  rejects(t, routeConfig([{ match: { prefix: '/', headers: [{ name: 'x y' }] }, route: { cluster: C } }]), `${at}.match.headers[0].name`, /not a valid header name/);
  rejects(t, routeConfig([{ match: { prefix: '/', query_parameters: [{ name: 'q' }] }, route: { cluster: C } }]), `${at}.match.query_parameters[0]`, /neither/);
  rejects(t, r({}), at, /sets none of route, redirect, direct_response/);
  rejects(t, r({ route: {} }), `${at}.route`, /sets neither cluster nor weighted_clusters/);
  rejects(t, r({ route: { cluster_header: 'x' } }), `${at}.route.cluster_header`, /not supported/);
  rejects(t, r({ route: { cluster: '' } }), `${at}.route.cluster`, /is empty/);
  rejects(t, r({ route: { weighted_clusters: { clusters: [{ name: 'a', weight: { value: 0 } }] } } }), `${at}.route.weighted_clusters`, /add up to 0/);
  rejects(t, r({ route: { weighted_clusters: { clusters: [{ name: '', weight: { value: 1 } }] } } }), `${at}.route.weighted_clusters.clusters[0].name`, /is empty/);
  rejects(t, r({ route: { weighted_clusters: { clusters: [{ name: 'a', weight: { value: 1 } }], total_weight: { value: 100 } } } }), `${at}.route.weighted_clusters.total_weight`, /not the sum/);
  rejects(t, r({ route: { weighted_clusters: { clusters: [{ name: 'a', weight: { value: 1 }, typed_per_filter_config: { x: any(T.fault, {}) } }] } } }), `${at}.route.weighted_clusters.clusters[0].typed_per_filter_config`, /not supported/);
  rejects(t, r({ route: { cluster: C, timeout: { seconds: -1 } } }), `${at}.route.timeout.seconds`, /non-negative/);
  rejects(t, r({ route: { cluster: C, timeout: { seconds: 9_999_999 } } }), `${at}.route.timeout`, /longest supported duration/);
  rejects(t, r({ route: { cluster: C, retry_policy: { retry_on: '5xx,refused-stream' } } }), `${at}.route.retry_policy.retry_on`, /unsupported condition "refused-stream"/);
  rejects(t, r({ route: { cluster: C, retry_policy: { retry_on: 'retriable-status-codes', retriable_status_codes: [409, 600] } } }), `${at}.route.retry_policy.retriable_status_codes[1]`, /^600 is not an HTTP status 100-599$/);
  rejects(t, r({ route: { cluster: C, retry_policy: { retry_on: 'retriable-status-codes', retriable_status_codes: [99] } } }), `${at}.route.retry_policy.retriable_status_codes[0]`, /^99 is not an HTTP status 100-599$/);
  rejects(t, r({ route: { cluster: C, retry_policy: { retry_on: 'retriable-status-codes', retriable_status_codes: [4_294_967_295] } } }), `${at}.route.retry_policy.retriable_status_codes[0]`, /^4294967295 is not/);
  rejects(t, r({ route: { cluster: C, retry_policy: { retry_on: '5xx', retry_back_off: { base_interval: { seconds: 0 } } } } }), `${at}.route.retry_policy.retry_back_off.base_interval`, /greater than 0/);
  rejects(t, r({ route: { cluster: C, retry_policy: { retry_on: '5xx', retry_back_off: { base_interval: { seconds: 2 }, max_interval: { seconds: 1 } } } } }), `${at}.route.retry_policy.retry_back_off.max_interval`, /below base_interval/);
  rejects(t, r({ route: { cluster: C, request_mirror_policies: [{ cluster: '' }] } }), `${at}.route.request_mirror_policies[0].cluster`, /is empty/);
  // An enum value the protos do not know arrives as a number.
  const unknownDenominator = r({ route: { cluster: C, request_mirror_policies: [{ cluster: 'm', runtime_fraction: { default_value: { numerator: 1 } } }] } });
  unknownDenominator.virtual_hosts![0]!.routes![0]!.route!.request_mirror_policies![0]!.runtime_fraction!.default_value!.denominator = 7;
  rejects(t, unknownDenominator, `${at}.route.request_mirror_policies[0].runtime_fraction.default_value.denominator`, /unknown value 7/);
  rejects(t, r({ route: { cluster: C, prefix_rewrite: '/a', regex_rewrite: { pattern: { regex: 'a' }, substitution: 'b' } } }), `${at}.route`, /both prefix_rewrite and regex_rewrite/);
  rejects(t, routeConfig([{ match: { safe_regex: { regex: '/a' } }, route: { cluster: C, prefix_rewrite: '/b' } }]), `${at}.route.prefix_rewrite`, /needs a prefix or path_separated_prefix match, not safe_regex/);
  rejects(t, routeConfig([{ match: { path: '/a' }, route: { cluster: C, prefix_rewrite: '/b' } }]), `${at}.route.prefix_rewrite`, /not path/);
  rejects(t, routeConfig([{ match: { path: '/a' }, redirect: { prefix_rewrite: '/b' } }]), `${at}.redirect.prefix_rewrite`, /not path/);
  t.is(compileRouteConfiguration(routeConfig([{ match: { path_separated_prefix: '/a' }, route: { cluster: C, prefix_rewrite: '/b' } }])).table.virtualHosts[0]!.routes[0]!.path.prefix, '/a');
  rejects(t, r({ route: { cluster: C, regex_rewrite: { pattern: { regex: '(a)' }, substitution: '\\2' } } }), `${at}.route.regex_rewrite.substitution`, /group \\2/);
  rejects(t, r({ route: { cluster: C, regex_rewrite: { pattern: { regex: '(a' }, substitution: '' } } }), `${at}.route.regex_rewrite.pattern.regex`, /unterminated group/);
  rejects(t, r({ route: { cluster: C, host_rewrite_literal: 'bad host/' } }), `${at}.route.host_rewrite_literal`, /not a host/);
  rejects(t, r({ route: { cluster: C, auto_host_rewrite: { value: true } } }), `${at}.route.auto_host_rewrite`, /not supported/);
  rejects(t, r({ route: { cluster: C, hash_policy: [{ header: { header_name: '' } }] } }), `${at}.route.hash_policy[0].header.header_name`, /is empty/);
  rejects(t, r({ route: { cluster: C, hash_policy: [{ query_parameter: {} }] } }), `${at}.route.hash_policy[0].query_parameter.name`, /is empty/);
  rejects(t, r({ route: { cluster: C, hash_policy: [{ cookie: { name: 'c', ttl: { seconds: 1 } } }] } }), `${at}.route.hash_policy[0].cookie.ttl`, /does not generate cookies/);
  rejects(t, r({ route: { cluster: C, hash_policy: [{ cookie: {} }] } }), `${at}.route.hash_policy[0].cookie.name`, /is empty/);
  rejects(t, r({ route: { cluster: C, hash_policy: [{ connection_properties: {} }] } }), `${at}.route.hash_policy[0].connection_properties.source_ip`, /must be true/);
  rejects(t, r({ route: { cluster: C, hash_policy: [{ filter_state: { key: 'k' } }] } }), `${at}.route.hash_policy[0]`, /unsupported hash policy "filter_state"/);
  rejects(t, r({ redirect: { path_redirect: 'a' } }), `${at}.redirect.path_redirect`, /does not start with/);
  rejects(t, r({ redirect: { scheme_redirect: '1x' } }), `${at}.redirect.scheme_redirect`, /not a URI scheme/);
  rejects(t, r({ redirect: { host_redirect: 'a b' } }), `${at}.redirect.host_redirect`, /not a host/);
  rejects(t, r({ redirect: { port_redirect: 70000 } }), `${at}.redirect.port_redirect`, /out of range/);
  const unknownCode = r({ redirect: {} });
  unknownCode.virtual_hosts![0]!.routes![0]!.redirect!.response_code = 9;
  rejects(t, unknownCode, `${at}.redirect.response_code`, /unsupported value 9/);
  rejects(t, r({ redirect: { regex_rewrite: { pattern: { regex: 'a' }, substitution: 'b' } } }), `${at}.redirect.regex_rewrite`, /not supported/);
  rejects(t, r({ direct_response: { status: 100 } }), `${at}.direct_response.status`, /not an HTTP status/);
  rejects(t, r({ direct_response: { status: 200, body: { filename: '/etc/passwd' } } }), `${at}.direct_response.body.filename`, /must be inline/);
  rejects(t, r({ direct_response: { status: 200, body: { inline_string: 'x'.repeat(4097) } } }), `${at}.direct_response.body`, /4097 bytes is more than 4096/);
  rejects(t, r({ route: { cluster: C }, request_headers_to_add: [{ header: { key: ':path', value: '/x' } }] }), `${at}.request_headers_to_add[0].header.key`, /cannot be modified/);
  rejects(t, r({ route: { cluster: C }, request_headers_to_remove: ['host'] }), `${at}.request_headers_to_remove[0]`, /cannot be modified/);
  rejects(t, r({ route: { cluster: C }, request_headers_to_add: [{ header: { key: 'x', value: '%DOWNSTREAM_REMOTE_ADDRESS%' } }] }), `${at}.request_headers_to_add[0].header.value`, /%COMMAND%/);
  rejects(t, r({ route: { cluster: C }, request_headers_to_add: [{ header: { key: 'x', value: 'a\r\nb' } }] }), `${at}.request_headers_to_add[0].header.value`, /CR, LF or NUL/);
  rejects(t, r({ route: { cluster: C }, request_headers_to_add: [{ header: { key: 'x', value: 'a' }, append_action: 'ADD_IF_ABSENT' }] }), `${at}.request_headers_to_add[0].append_action`, /unsupported value "ADD_IF_ABSENT"/);
  rejects(t, r({ route: { cluster: C }, request_headers_to_add: [{ header: { key: 'x', value: 'a' }, append: { value: true }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }] }), `${at}.request_headers_to_add[0]`, /both append/);
  rejects(t, r({ route: { cluster: C }, request_headers_to_add: [{ header: { key: 'x', value: 'a', raw_value: Buffer.from('b') } }] }), `${at}.request_headers_to_add[0].header`, /both value and raw_value/);
  rejects(t, r({ route: { cluster: C }, typed_per_filter_config: { 'envoy.filters.http.rbac': any(T.httpRbac, {}) } }), `${at}.typed_per_filter_config["envoy.filters.http.rbac"]`, /only for envoy.filters.http.fault/);
  const fault = (config: object): envoy.RouteConfiguration => r({ route: { cluster: C }, typed_per_filter_config: { 'envoy.filters.http.fault': any(T.fault, config) } });
  const fat = `${at}.typed_per_filter_config["envoy.filters.http.fault"]`;
  rejects(t, fault({ delay: { percentage: { numerator: 1 } } }), `${fat}.delay.fixed_delay`, /is required/);
  rejects(t, fault({ delay: { fixed_delay: { seconds: 1 } } }), `${fat}.delay.percentage`, /is required/);
  rejects(t, fault({ delay: { header_delay: {}, percentage: { numerator: 1 } } }), `${fat}.delay.header_delay`, /not supported/);
  rejects(t, fault({ abort: { http_status: 600, percentage: { numerator: 1 } } }), `${fat}.abort.http_status`, /not an HTTP status/);
  rejects(t, fault({ abort: { http_status: 503 } }), `${fat}.abort.percentage`, /is required/);
  rejects(t, fault({ abort: { grpc_status: 14, percentage: { numerator: 1 } } }), `${fat}.abort.grpc_status`, /not supported/);
  rejects(t, fault({ max_active_faults: { value: 1 } }), `${fat}.max_active_faults`, /not supported/);
  rejects(t, fault({ headers: [{ name: 'x', present_match: true }] }), `${fat}.headers`, /match on the route/);
  rejects(t, r({ route: { cluster: C }, typed_per_filter_config: { 'envoy.filters.http.fault': any(T.router, {}) } }), `${fat}.type_url`, /is not type.googleapis.com\/envoy.extensions.filters.http.fault.v3.HTTPFault/);
  rejects(t, r({ route: { cluster: C }, typed_per_filter_config: { 'envoy.filters.http.fault': { type_url: `type.googleapis.com/${T.fault}`, value: Buffer.from([0xff, 0xff]) } } }), fat, /cannot decode/);
});

test('virtual host and route configuration level rejections', (t) => {
  rejects(t, routeConfig([], {}, { name: '' }), 'virtual_hosts[0].name', /is empty/);
  rejects(t, routeConfig([], {}, { domains: [] }), 'virtual_hosts[0].domains', /is empty/);
  rejects(t, routeConfig([], {}, { domains: ['a.*.b'] }), 'virtual_hosts[0].domains[0]', /wildcard may appear once/);
  rejects(t, routeConfig([], {}, { domains: ['*a*'] }), 'virtual_hosts[0].domains[0]', /wildcard may appear once/);
  rejects(t, routeConfig([], {}, { domains: ['a b'] }), 'virtual_hosts[0].domains[0]', /not a host name/);
  rejects(t, routeConfig([], {}, { domains: [''] }), 'virtual_hosts[0].domains[0]', /is empty/);
  rejects(t, routeConfig([], {}, { require_tls: 'ALL' }), 'virtual_hosts[0].require_tls', /not supported/);
  rejects(t, routeConfig([], {}, { typed_per_filter_config: { 'envoy.filters.http.fault': any(T.fault, {}) } }), 'virtual_hosts[0].typed_per_filter_config', /set it per route/);
  rejects(
    t,
    roundTrip(T.route, {
      name: NAME,
      virtual_hosts: [
        { name: 'a', domains: ['web'] },
        { name: 'b', domains: ['WEB'] },
      ],
    }),
    'virtual_hosts[1].domains[0]',
    /already a domain of virtual host "a"/,
  );
  rejects(t, routeConfig([], { request_headers_to_add: [{ header: { key: 'x', value: 'y' } }] }), 'request_headers_to_add', /set it on the virtual host/);
  rejects(t, routeConfig([], { vhds: {} }), 'vhds', /not supported/);
  const mismatch = t.throws(() => compileRouteConfiguration(routeConfig([]), 'other'), { instanceOf: WaypointConfigError });
  t.regex(mismatch?.message ?? '', /name: ".*" does not match the resource name "other"/);
});
