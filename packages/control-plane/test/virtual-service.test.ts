/**
 * VirtualService: the decoder's checks, and its translation into a waypoint's routes (matches, weights and
 * subsets, redirects, direct responses, rewrites, timeouts, retries, fault percentages, mirrors, headers).
 */
import test from 'ava';
import { defaultRegistry } from '../src/input/kinds/index.js';
import { parseFile } from '../src/input/parse-file.js';
import { envoyCodec } from '@ambit/protos';
import type { RouteConfiguration } from '../src/model/waypoint-config/envoy-types.js';
import { ROUTE_TYPE_URL } from '../src/server/envoy-tables.js';
import { cluster, destinationRule, httpChain, httpRoute, httpFilters, problems, routeConfig, routes, service, virtualService, waypointMesh } from './fixtures/waypoint-mesh.js';

function diagnostics(spec: string): [string, string, string][] {
  const text = `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: vs, namespace: shop}\nspec:\n${spec}\n`;
  const result = parseFile('vs.yaml', text, defaultRegistry());
  if (!result.ok) throw new Error('YAML did not parse');
  const errors = result.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0 && result.documents[0]?.object !== undefined) throw new Error('a document with errors was decoded');
  return result.diagnostics.map((d) => [d.severity, d.path, d.message]);
}

const http = (route: string): string => `  hosts: [reviews]\n  http: [${route}]`;
const TO_V1 = 'route: [{destination: {host: reviews-v1}}]';

test('decoder: what the waypoint cannot honour is refused with the reason', (t) => {
  t.deepEqual(diagnostics('  hosts: []\n  http: []'), [['error', 'spec.hosts', 'must name at least one host']]);
  t.deepEqual(diagnostics('  hosts: [reviews]\n  tcp: [{route: [{destination: {host: db}}]}]'), [
    ['error', 'spec.tcp', 'tcp routes are not supported by the waypoint; route that traffic with http routes or leave it to the default'],
  ]);
  t.deepEqual(diagnostics(http(`{delegate: {name: x}, ${TO_V1}}`)), [['error', 'spec.http[0].delegate', 'is not supported by the waypoint']]);
  t.deepEqual(diagnostics(http(`{match: [{sourceLabels: {app: a}, uri: {prefix: api}}], ${TO_V1}}`)), [
    ['error', 'spec.http[0].match[0].sourceLabels', 'is not supported by the waypoint as a match condition'],
    ['error', 'spec.http[0].match[0].uri', '"api" must start with "/"'],
  ]);
  t.deepEqual(diagnostics(http(`{match: [{uri: {exact: /a, prefix: /b}}], ${TO_V1}}`)), [
    ['error', 'spec.http[0].match[0].uri', 'sets exact and prefix; set exactly one of exact, prefix or regex'],
  ]);
  t.deepEqual(diagnostics(http(`{match: [{queryParams: {q: {prefix: a}}}], ${TO_V1}}`)), [
    ['error', 'spec.http[0].match[0].queryParams.q', 'query parameters match exact or regex, not prefix'],
  ]);
  t.deepEqual(diagnostics(http('{}')), [['error', 'spec.http[0]', 'must set route, redirect or directResponse']]);
  t.deepEqual(diagnostics(http(`{redirect: {uri: /x}, ${TO_V1}}`)), [['error', 'spec.http[0]', 'sets route and redirect; a route does exactly one of them']]);
  t.deepEqual(diagnostics(http('{route: [{destination: {host: a}, weight: 60}, {destination: {host: b}, weight: 30}]}')), [
    ['error', 'spec.http[0].route', 'weights must add up to 100, got 90'],
  ]);
  t.deepEqual(diagnostics(http('{route: [{destination: {host: a}, weight: 60}, {destination: {host: b}}]}')), [
    ['error', 'spec.http[0].route[1].weight', 'is required when a route has several destinations'],
  ]);
  t.deepEqual(diagnostics(http('{route: [{destination: {host: "*.shop"}}]}')), [['error', 'spec.http[0].route[0].destination.host', 'a destination must name one service, not a wildcard']]);
  t.deepEqual(diagnostics(http('{redirect: {uri: /x, derivePort: FROM_PROTOCOL_DEFAULT}, rewrite: {uri: /y}}')), [
    ['error', 'spec.http[0].redirect.derivePort', 'is not supported by the waypoint; set port'],
    ['error', 'spec.http[0].rewrite', 'only applies to a route with destinations'],
  ]);
  t.deepEqual(diagnostics(http('{redirect: {redirectCode: 300}}')), [['error', 'spec.http[0].redirect.redirectCode', 'must be one of 301, 302, 303, 307, 308, got 300']]);
  t.deepEqual(diagnostics(http('{directResponse: {status: 200, body: {bytes: aGk=}}}')), [['error', 'spec.http[0].directResponse.body.bytes', 'is not supported by the waypoint; use string']]);
  t.deepEqual(diagnostics(http(`{retries: {attempts: 2, retryOn: "5xx,bogus"}, ${TO_V1}}`)), [
    [
      'error',
      'spec.http[0].retries.retryOn',
      '"bogus" is not a retry condition or an HTTP status code (supported: 5xx, gateway-error, reset, connect-failure, retriable-4xx, retriable-status-codes, or a status code 100-599)',
    ],
  ]);
  t.deepEqual(diagnostics(http(`{retries: {attempts: 2, retryOn: "5xx,refused-stream,503,unavailable"}, ${TO_V1}}`)), [
    [
      'warning',
      'spec.http[0].retries.retryOn',
      'refused-stream, unavailable are not implemented by the waypoint and dropped (supported: 5xx, gateway-error, reset, connect-failure, retriable-4xx, retriable-status-codes, or a status code 100-599)',
    ],
  ]);
  t.deepEqual(diagnostics(http(`{fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 1}}, delay: {exponentialDelay: 1s}}, ${TO_V1}}`)), [
    ['error', 'spec.http[0].fault.delay.exponentialDelay', 'is not supported by the waypoint; use fixedDelay'],
    ['error', 'spec.http[0].fault.delay.fixedDelay', 'is required'],
    ['warning', 'spec.http[0].fault.delay', 'has no percentage: Istio injects this fault into no request; set percentage.value (0-100)'],
    ['error', 'spec.http[0].fault.abort.grpcStatus', 'is not supported by the waypoint; use httpStatus'],
    ['error', 'spec.http[0].fault.abort.httpStatus', 'is required'],
  ]);
  t.deepEqual(diagnostics(http(`{fault: {abort: {httpStatus: 503, percentage: {value: 120}}}, ${TO_V1}}`)), [
    ['error', 'spec.http[0].fault.abort.percentage.value', 'must be between 0 and 100, got 120'],
  ]);
  t.deepEqual(diagnostics(http(`{mirrorPercentage: {value: 5}, timeout: 1 minute, ${TO_V1}}`)), [
    ['error', 'spec.http[0].timeout', '"1 minute" is not a duration such as "10s", "1.5s", "1m30s" or "100ms"'],
    ['error', 'spec.http[0].mirrorPercentage', 'needs mirror'],
  ]);
});

const svcs = [
  service('reviews', '10.96.0.10', [
    { name: 'http', port: 80 },
    { name: 'http-admin', port: 8080 },
  ]),
  service('reviews-v1', '10.96.0.11'),
  service('reviews-v2', '10.96.0.12'),
  service('shadow', '10.96.0.13'),
];

test('matches: uri forms (case-insensitive too), headers present and absent, method, query parameters, port', (t) => {
  const mesh = waypointMesh(
    ...svcs,
    virtualService(
      'vs',
      `  hosts: [reviews]
  http:
    - name: matched
      match:
        - {uri: {exact: /a}, ignoreUriCase: true}
        - uri: {regex: "/r/[0-9]+"}
          headers: {X-User: {prefix: adm}}
          withoutHeaders: {x-debug: {exact: "1"}}
          method: {exact: GET}
          queryParams: {v: {regex: "[12]"}}
        - {uri: {prefix: /admin}, port: 8080}
      ${TO_V1}
    - ${TO_V1}`,
    ),
  );
  t.deepEqual(problems(mesh), []);
  t.deepEqual(
    routes(mesh, httpChain('reviews')).map((r) => [r.name, r.match]),
    [
      ['shop/vs.matched.0', { path: '/a', case_sensitive: { value: false } }],
      [
        'shop/vs.matched.1',
        {
          safe_regex: { google_re2: {}, regex: '/r/[0-9]+' },
          headers: [
            { name: 'x-user', string_match: { prefix: 'adm' } },
            { name: 'x-debug', string_match: { exact: '1' }, invert_match: true },
            { name: ':method', string_match: { exact: 'GET' } },
          ],
          query_parameters: [{ name: 'v', string_match: { safe_regex: { google_re2: {}, regex: '[12]' } } }],
        },
      ],
      ['shop/vs.1.0', { prefix: '/' }],
    ],
  );
  // The port-8080 match applies to that port's chain only.
  t.deepEqual(
    routes(mesh, httpChain('reviews', 8080)).map((r) => r.name),
    ['shop/vs.matched.0', 'shop/vs.matched.1', 'shop/vs.matched.2', 'shop/vs.1.0'],
  );
});

test('destinations: weights, subsets, short and full host names, ports; per-destination headers', (t) => {
  const mesh = waypointMesh(
    ...svcs,
    destinationRule('reviews-v2', '  host: reviews-v2\n  subsets: [{name: canary, labels: {track: canary}}]'),
    virtualService(
      'vs',
      `  hosts: [reviews.shop.svc.cluster.local]
  http:
    - route:
        - destination: {host: reviews-v1, port: {number: 80}}
          weight: 75
          headers: {request: {set: {x-version: v1}}}
        - destination: {host: reviews-v2.shop.svc.cluster.local, subset: canary}
          weight: 25`,
    ),
  );
  t.deepEqual(problems(mesh), []);
  t.deepEqual(routes(mesh, httpChain('reviews'))[0]?.route?.weighted_clusters, {
    clusters: [
      { name: cluster('reviews-v1'), weight: { value: 75 }, request_headers_to_add: [{ header: { key: 'x-version', value: 'v1' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }] },
      { name: cluster('reviews-v2', 80, 'canary'), weight: { value: 25 } },
    ],
  });
  // The route was on port 80 and 8080 alike; the destination of the same service defaults to the chain's port.
  const self = waypointMesh(...svcs, virtualService('self', '  hosts: [reviews]\n  http: [{route: [{destination: {host: reviews}}]}]'));
  t.is(routes(self, httpChain('reviews', 8080))[0]?.route?.cluster, cluster('reviews', 8080));
});

test('redirects, direct responses, rewrites and headers', (t) => {
  const mesh = waypointMesh(
    ...svcs,
    virtualService(
      'vs',
      `  hosts: [reviews]
  http:
    - match: [{uri: {prefix: /old}}]
      redirect: {uri: /new, authority: new.example.com, port: 8443, scheme: https, redirectCode: 308}
    - match: [{uri: {exact: /ping}}]
      directResponse: {status: 200, body: {string: pong}}
    - match: [{uri: {prefix: /api}}]
      rewrite: {uri: /v2, authority: internal}
      headers: {request: {set: {x-a: "1"}, add: {x-b: "2"}, remove: [x-c]}, response: {remove: [server]}}
      ${TO_V1}
    - match: [{uri: {exact: /exact}}]
      rewrite: {uri: /other}
      ${TO_V1}
    - match: [{uri: {prefix: /re}}]
      rewrite: {uriRegexRewrite: {match: "^/re/(.*)$", rewrite: "/\\\\1"}}
      ${TO_V1}`,
    ),
  );
  t.deepEqual(problems(mesh), []);
  const [redirect, direct, api, exact, re] = routes(mesh, httpChain('reviews'));
  t.deepEqual(redirect?.redirect, { scheme_redirect: 'https', host_redirect: 'new.example.com', port_redirect: 8443, path_redirect: '/new', response_code: 'PERMANENT_REDIRECT' });
  t.deepEqual(direct?.direct_response, { status: 200, body: { inline_string: 'pong' } });
  t.is(api?.route?.prefix_rewrite, '/v2');
  t.is(api?.route?.host_rewrite_literal, 'internal');
  t.deepEqual(api?.request_headers_to_add, [
    { header: { key: 'x-a', value: '1' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
    { header: { key: 'x-b', value: '2' }, append_action: 'APPEND_IF_EXISTS_OR_ADD' },
  ]);
  t.deepEqual(api?.request_headers_to_remove, ['x-c']);
  t.deepEqual(api?.response_headers_to_remove, ['server']);
  // An exact match's rewrite replaces the whole path.
  t.deepEqual(exact?.route?.regex_rewrite, { pattern: { google_re2: {}, regex: '^.*$' }, substitution: '/other' });
  t.deepEqual(re?.route?.regex_rewrite, { pattern: { google_re2: {}, regex: '^/re/(.*)$' }, substitution: '/\\1' });
});

test('timeouts, retries, fault injection by percentage and mirroring', (t) => {
  const mesh = waypointMesh(
    ...svcs,
    virtualService(
      'vs',
      `  hosts: [reviews]
  http:
    - match: [{uri: {prefix: /slow}}]
      timeout: 2.5s
      retries: {attempts: 3, perTryTimeout: 500ms, retryOn: "5xx,connect-failure", backoff: 50ms}
      fault:
        delay: {fixedDelay: 1s, percentage: {value: 0.5}}
        abort: {httpStatus: 503, percentage: {value: 10}}
      mirror: {host: shadow}
      mirrorPercentage: {value: 12.5}
      ${TO_V1}
    - match: [{uri: {prefix: /once}}]
      retries: {attempts: 0}
      mirrors: [{destination: {host: shadow}}, {destination: {host: reviews-v2}, percentage: {value: 1}}]
      ${TO_V1}
    - ${TO_V1}`,
    ),
  );
  t.deepEqual(problems(mesh), []);
  const [slow, once, rest] = routes(mesh, httpChain('reviews'));
  t.deepEqual(slow?.route?.timeout, { seconds: 2, nanos: 500000000 });
  t.deepEqual(slow?.route?.retry_policy, {
    retry_on: '5xx,connect-failure',
    num_retries: { value: 3 },
    per_try_timeout: { seconds: 0, nanos: 500000000 },
    retry_back_off: { base_interval: { seconds: 0, nanos: 50000000 }, max_interval: { seconds: 0, nanos: 500000000 } },
  });
  t.deepEqual(slow?.typed_per_filter_config, {
    'envoy.filters.http.fault': {
      delay: { fixed_delay: { seconds: 1 }, percentage: { numerator: 5000, denominator: 'MILLION' } },
      abort: { http_status: 503, percentage: { numerator: 100000, denominator: 'MILLION' } },
    },
  });
  t.deepEqual(slow?.route?.request_mirror_policies, [{ cluster: cluster('shadow'), runtime_fraction: { default_value: { numerator: 125000, denominator: 'MILLION' } } }]);
  t.is(once?.route?.retry_policy, undefined);
  t.deepEqual(once?.route?.request_mirror_policies, [
    { cluster: cluster('shadow'), runtime_fraction: { default_value: { numerator: 1000000, denominator: 'MILLION' } } },
    { cluster: cluster('reviews-v2'), runtime_fraction: { default_value: { numerator: 10000, denominator: 'MILLION' } } },
  ]);
  t.deepEqual(rest?.route?.retry_policy, { retry_on: 'connect-failure', num_retries: { value: 2 } });
  // The chain carries the fault filter (empty) because a route uses it.
  t.deepEqual(
    httpFilters(mesh, httpChain('reviews')).map((f) => [f.name, f.config]),
    [
      ['envoy.filters.http.fault', {}],
      ['envoy.filters.http.router', {}],
    ],
  );
});

test('decoder: status codes in retryOn must be HTTP statuses 100-599; retriable-status-codes without one retries nothing', (t) => {
  t.deepEqual(diagnostics(http(`{retries: {retryOn: "409,600,connect-failure,99,0,1000000,12345678901234567890"}, ${TO_V1}}`)), [
    ['error', 'spec.http[0].retries.retryOn', '"600" is not an HTTP status code (100-599)'],
    ['error', 'spec.http[0].retries.retryOn', '"99" is not an HTTP status code (100-599)'],
    ['error', 'spec.http[0].retries.retryOn', '"0" is not an HTTP status code (100-599)'],
    ['error', 'spec.http[0].retries.retryOn', '"1000000" is not an HTTP status code (100-599)'],
    ['error', 'spec.http[0].retries.retryOn', '"12345678901234567890" is not an HTTP status code (100-599)'],
  ]);
  t.deepEqual(diagnostics(http(`{retries: {retryOn: "-409"}, ${TO_V1}}`)), [
    [
      'error',
      'spec.http[0].retries.retryOn',
      '"-409" is not a retry condition or an HTTP status code (supported: 5xx, gateway-error, reset, connect-failure, retriable-4xx, retriable-status-codes, or a status code 100-599)',
    ],
  ]);
  t.deepEqual(diagnostics(http(`{retries: {retryOn: "retriable-status-codes,reset"}, ${TO_V1}}`)), [
    ['warning', 'spec.http[0].retries.retryOn', 'retriable-status-codes names no status code, so it retries nothing; list the codes too, e.g. "retriable-status-codes,503"'],
  ]);
  t.deepEqual(diagnostics(http(`{retries: {retryOn: "100, 599 ,0409,retriable-status-codes"}, ${TO_V1}}`)), []);
});

test('retryOn status codes become retriable_status_codes plus retriable-status-codes, as Istio translates them, and go over the wire', (t) => {
  const retrying = (prefix: string, retryOn: string): string => `    - match: [{uri: {prefix: ${prefix}}}]
      retries: {attempts: 3, retryOn: "${retryOn}"}
      ${TO_V1}`;
  const mesh = waypointMesh(
    ...svcs,
    virtualService(
      'vs',
      `  hosts: [reviews]
  http:
${retrying('/mixed', '503,connect-failure')}
${retrying('/named', 'retriable-status-codes,409')}
${retrying('/alone', '409')}
${retrying('/classes', '5xx')}
${retrying('/repeated', 'gateway-error, 503 ,429,503,0409')}
    - ${TO_V1}`,
    ),
  );
  t.deepEqual(problems(mesh), []);
  const policies = routes(mesh, httpChain('reviews')).map((r) => r.route?.retry_policy);
  t.deepEqual(policies, [
    { retry_on: 'connect-failure,retriable-status-codes', num_retries: { value: 3 }, retriable_status_codes: [503] },
    { retry_on: 'retriable-status-codes', num_retries: { value: 3 }, retriable_status_codes: [409] },
    { retry_on: 'retriable-status-codes', num_retries: { value: 3 }, retriable_status_codes: [409] },
    { retry_on: '5xx', num_retries: { value: 3 } },
    { retry_on: 'gateway-error,retriable-status-codes', num_retries: { value: 3 }, retriable_status_codes: [503, 429, 409] },
    { retry_on: 'connect-failure', num_retries: { value: 2 } },
  ]);
  // What a waypoint is sent: the RouteConfiguration through the served codec (RetryPolicy field 7).
  const codec = envoyCodec<RouteConfiguration>(ROUTE_TYPE_URL);
  const served = codec.decode(codec.encode(routeConfig(mesh, httpChain('reviews'))));
  t.deepEqual(
    served.virtual_hosts[0]!.routes.map((r) => [r.route?.retry_policy?.retry_on, r.route?.retry_policy?.retriable_status_codes ?? []]),
    [
      ['connect-failure,retriable-status-codes', [503]],
      ['retriable-status-codes', [409]],
      ['retriable-status-codes', [409]],
      ['5xx', []],
      ['gateway-error,retriable-status-codes', [503, 429, 409]],
      ['connect-failure', []],
    ],
  );
});

test('which VirtualService applies: mesh gateways only, the oldest per host, not over Gateway API routes; bad destinations answer 503', (t) => {
  const mesh = waypointMesh(
    ...svcs,
    virtualService('ingress-only', `  hosts: [reviews-v1]\n  gateways: [istio-system/ingress]\n  http: [{${TO_V1}}]`),
    virtualService('older', `  hosts: [reviews-v2]\n  http: [{route: [{destination: {host: ghost}}]}]`, { metadata: 'creationTimestamp: "2024-01-01T00:00:00Z"' }),
    virtualService('newer', `  hosts: ["*.shop.svc.cluster.local"]\n  http: [{route: [{destination: {host: reviews-v1, subset: nope}}]}]`, {
      metadata: 'creationTimestamp: "2024-02-01T00:00:00Z"',
    }),
    virtualService('nobody', `  hosts: [unknown.example.com]\n  http: [{${TO_V1}}]`),
    httpRoute('gw-api', '  parentRefs: [{group: "", kind: Service, name: shadow}]\n  rules: [{backendRefs: [{name: shadow, port: 80}]}]'),
  );
  // reviews-v1: the ingress-only VirtualService does not apply; the wildcard one (newer) does.
  t.deepEqual(routes(mesh, httpChain('reviews-v1'))[0]?.direct_response, { status: 503, body: { inline_string: 'no cluster for this route' } });
  t.deepEqual(routes(mesh, httpChain('reviews-v2'))[0]?.direct_response, { status: 503, body: { inline_string: 'no cluster for this route' } });
  t.is(routes(mesh, httpChain('shadow'))[0]?.name, 'shop/gw-api.0.0');
  t.deepEqual(problems(mesh), [
    ['spec.http[0].route[0].destination.host', 'ghost.shop.svc.cluster.local is not a Service of this mesh; requests for it get 503'],
    ['spec.hosts', 'VirtualService shop/older already routes reviews-v2.shop.svc.cluster.local (the older one wins); this one is not applied to it'],
    ['spec.http[0].route[0].destination', 'no DestinationRule for reviews-v1.shop.svc.cluster.local defines subset "nope"; requests for it get 503'],
    [
      'spec.hosts',
      'Gateway API routes already route shadow.shop.svc.cluster.local; mixing them with a VirtualService is undefined in Istio, so this VirtualService is not applied to it',
    ],
    ['spec.hosts', 'routes no Service whose traffic goes through a waypoint; nothing applies it'],
  ]);
});
