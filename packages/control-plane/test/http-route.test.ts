/**
 * HTTPRoute: every rejection path of the decoder, and its translation into a waypoint's Envoy routes
 * (attachment, precedence, matches, weights, filters, timeouts, retries, bad backends).
 */
import test from 'ava';
import { defaultRegistry } from '../src/input/kinds/index.js';
import { parseFile } from '../src/input/parse-file.js';
import { computeMesh } from '../src/model/compute.js';
import { DEFAULT_MODEL_OPTIONS } from '../src/model/options.js';
import { base, cluster, httpChain, httpRoute, problems, routes, service, waypointMesh } from './fixtures/waypoint-mesh.js';
import { inputFrom, yamlDocs } from './helpers.js';

/** The error diagnostics of one HTTPRoute document with `spec`, as [path, message]. */
function rejections(spec: string): [string, string][] {
  const text = `apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r, namespace: shop}\nspec:\n${spec}\n`;
  const result = parseFile('r.yaml', text, defaultRegistry());
  if (!result.ok) throw new Error('YAML did not parse');
  const errors = result.diagnostics.filter((d) => d.severity === 'error');
  // A document with an error is never decoded (its last good version, if any, stays in effect).
  if (errors.length > 0 && result.documents[0]?.object !== undefined) throw new Error('a document with errors was decoded');
  return errors.map((d) => [d.path, d.message]);
}

const PARENT = '  parentRefs: [{group: "", kind: Service, name: reviews, port: 80}]';
const svcs = [
  service('reviews', '10.96.0.10'),
  service('reviews-v1', '10.96.0.11', [{ name: 'http', port: 80 }], { selector: 'app: reviews, version: v1' }),
  service('reviews-v2', '10.96.0.12', [{ name: 'http', port: 80 }], { selector: 'app: reviews, version: v2' }),
];

function withRoutes(...docs: string[]) {
  return waypointMesh(...svcs, ...docs);
}

test('decoder: parents must be a Service or a Gateway, and there must be one', (t) => {
  t.deepEqual(rejections('  rules: [{backendRefs: [{name: a, port: 80}]}]'), [['spec.parentRefs', 'must name at least one parent (a Service, or the waypoint Gateway)']]);
  t.deepEqual(rejections('  parentRefs: [{kind: Deployment, name: x}]'), [
    ['spec.parentRefs[0]', 'a Deployment in group "gateway.networking.k8s.io" cannot be a parent here: use kind Service (group "") or kind Gateway (group gateway.networking.k8s.io)'],
  ]);
  t.deepEqual(rejections('  parentRefs: [{name: waypoint, port: 80}]'), [
    ['spec.parentRefs[0].port', 'is only used with a Service parent; a waypoint Gateway takes traffic for every port'],
  ]);
  t.deepEqual(rejections('  parentRefs: [{kind: Service, group: "", name: Bad_Name}]'), [
    ['spec.parentRefs[0].name', '"Bad_Name" is not a valid DNS-1123 subdomain (lower-case letters, digits, \'-\' and \'.\')'],
  ]);
  t.deepEqual(rejections(`${PARENT}\n  hostnames: ["*.*.example.com", "ok.example.com"]`), [
    ['spec.hostnames[0]', '"*.*.example.com" is not a hostname (a DNS name, optionally starting with "*.")'],
  ]);
  t.deepEqual(rejections(`${PARENT}\n  rule: []`), [['spec.rule', 'unknown field; expected one of parentRefs, hostnames, rules']]);
});

test('decoder: matches (paths, headers, query parameters, methods) are checked', (t) => {
  const rule = (match: string): string => `${PARENT}\n  rules: [{matches: [${match}], backendRefs: [{name: reviews-v1, port: 80}]}]`;
  t.deepEqual(rejections(rule('{path: {type: Exact, value: "api"}}')), [['spec.rules[0].matches[0].path.value', '"api" must start with "/"']]);
  t.deepEqual(rejections(rule('{path: {value: "/a//b"}}')), [
    ['spec.rules[0].matches[0].path.value', '"/a//b" can never match a normalized path (it holds "//", "." or ".." segments, "?", "#" or spaces)'],
  ]);
  t.deepEqual(rejections(rule('{path: {value: "/a/../b"}}'))[0]?.[0], 'spec.rules[0].matches[0].path.value');
  t.deepEqual(rejections(rule('{path: {type: RegularExpression, value: "/(a"}}'))[0]?.[0], 'spec.rules[0].matches[0].path.value');
  t.deepEqual(rejections(rule('{path: {type: RegularExpression, value: "/(?!admin).*"}}')), [
    ['spec.rules[0].matches[0].path.value', '"/(?!admin).*" uses look-around or a back-reference, which RE2 does not support'],
  ]);
  t.deepEqual(rejections(rule('{path: {type: Glob, value: "/a"}}')), [
    ['spec.rules[0].matches[0].path.type', 'must be one of Exact, PathPrefix, RegularExpression, got "Glob"'],
  ]);
  t.deepEqual(rejections(rule('{headers: [{name: x-a, value: "1"}, {name: X-A, value: "2"}]}')), [
    ['spec.rules[0].matches[0].headers[1].name', 'the header "X-A" is matched twice in one match; combine the values into one'],
  ]);
  t.deepEqual(rejections(rule('{headers: [{name: "bad header", value: "1"}]}')), [['spec.rules[0].matches[0].headers[0].name', '"bad header" is not a valid HTTP header name']]);
  t.deepEqual(rejections(rule('{headers: [{name: x-a}]}')), [['spec.rules[0].matches[0].headers[0].value', 'is required']]);
  t.deepEqual(rejections(rule('{queryParams: [{type: RegularExpression, name: q, value: "("}]}'))[0]?.[0], 'spec.rules[0].matches[0].queryParams[0].value');
  t.deepEqual(rejections(rule('{method: get}')), [
    ['spec.rules[0].matches[0].method', 'must be one of GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH, got "get"'],
  ]);
  t.deepEqual(rejections(rule('{sourceIP: "1.2.3.4"}')), [['spec.rules[0].matches[0].sourceIP', 'unknown field; expected one of path, headers, queryParams, method']]);
});

test('decoder: filters are checked, and only the supported ones accepted', (t) => {
  const rule = (filters: string, extra = ', backendRefs: [{name: reviews-v1, port: 80}]'): string => `${PARENT}\n  rules: [{filters: [${filters}]${extra}}]`;
  t.deepEqual(rejections(rule('{type: ExtensionRef, extensionRef: {group: x, kind: y, name: z}}')), [
    ['spec.rules[0].filters[0].type', 'filter type "ExtensionRef" is not supported here by the waypoint; supported: RequestHeaderModifier, ResponseHeaderModifier, RequestRedirect, URLRewrite, RequestMirror'],
  ]);
  t.deepEqual(rejections(rule('{type: RequestHeaderModifier, responseHeaderModifier: {set: [{name: a, value: b}]}}')), [
    ['spec.rules[0].filters[0].responseHeaderModifier', 'does not belong to a filter of type RequestHeaderModifier'],
    ['spec.rules[0].filters[0].requestHeaderModifier', 'is required'],
  ]);
  t.deepEqual(rejections(rule('{type: RequestHeaderModifier, requestHeaderModifier: {}}')), [
    ['spec.rules[0].filters[0].requestHeaderModifier', 'must set, add or remove at least one header'],
  ]);
  t.deepEqual(rejections(rule('{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x-a, value: "1"}], remove: [X-A]}}')), [
    ['spec.rules[0].filters[0].requestHeaderModifier.remove', 'header "X-A" is both modified and removed by this filter'],
  ]);
  t.deepEqual(
    rejections(rule('{type: RequestHeaderModifier, requestHeaderModifier: {remove: [a]}}, {type: RequestHeaderModifier, requestHeaderModifier: {remove: [b]}}')),
    [['spec.rules[0].filters[1].type', 'filter RequestHeaderModifier may appear only once in a list']],
  );
  t.deepEqual(rejections(rule('{type: RequestRedirect, requestRedirect: {statusCode: 305}}', '')), [
    ['spec.rules[0].filters[0].requestRedirect.statusCode', 'must be 301, 302, 303, 307 or 308, got 305'],
  ]);
  t.deepEqual(rejections(rule('{type: RequestRedirect, requestRedirect: {scheme: https}}')), [
    ['spec.rules[0].backendRefs', 'cannot be used with a RequestRedirect filter: the redirect answers the request'],
  ]);
  t.deepEqual(rejections(rule('{type: RequestRedirect, requestRedirect: {scheme: https}}, {type: URLRewrite, urlRewrite: {hostname: a.b}}', '')), [
    ['spec.rules[0].filters', 'RequestRedirect and URLRewrite cannot be used together'],
  ]);
  t.deepEqual(rejections(rule('{type: URLRewrite, urlRewrite: {}}')), [['spec.rules[0].filters[0].urlRewrite', 'must rewrite the hostname or the path']]);
  t.deepEqual(rejections(rule('{type: URLRewrite, urlRewrite: {path: {type: ReplaceFullPath, replacePrefixMatch: /x}}}')), [
    ['spec.rules[0].filters[0].urlRewrite.path.replacePrefixMatch', 'cannot be set with type ReplaceFullPath'],
    ['spec.rules[0].filters[0].urlRewrite.path.replaceFullPath', 'is required'],
  ]);
  t.deepEqual(
    rejections(`${PARENT}\n  rules: [{matches: [{path: {type: Exact, value: /a}}], filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /b}}}], backendRefs: [{name: reviews-v1, port: 80}]}]`),
    [['spec.rules[0].filters', 'ReplacePrefixMatch needs every match of the rule to be a PathPrefix match (it replaces the matched prefix)']],
  );
  t.deepEqual(rejections(rule('{type: RequestMirror, requestMirror: {backendRef: {name: m, port: 80}, percent: 10, fraction: {numerator: 1}}}')), [
    ['spec.rules[0].filters[0].requestMirror.fraction', 'cannot be set together with percent'],
  ]);
  t.deepEqual(rejections(rule('{type: RequestMirror, requestMirror: {backendRef: {name: m, port: 80}, fraction: {numerator: 3, denominator: 2}}}')), [
    ['spec.rules[0].filters[0].requestMirror.fraction.numerator', 'must not exceed the denominator (2)'],
  ]);
  t.deepEqual(rejections(rule('{type: RequestMirror, requestMirror: {backendRef: {name: m}, percent: 101}}')), [
    ['spec.rules[0].filters[0].requestMirror.backendRef.port', 'is required'],
    ['spec.rules[0].filters[0].requestMirror.percent', 'must be between 0 and 100, got 101'],
  ]);
});

test('decoder: backends, timeouts and retries are checked', (t) => {
  const rule = (body: string): string => `${PARENT}\n  rules: [{${body}}]`;
  t.deepEqual(rejections(rule('backendRefs: [{kind: ServiceImport, group: multicluster.x-k8s.io, name: a, port: 80}]')), [
    ['spec.rules[0].backendRefs[0]', 'only Services can be backends here (kind Service, group ""), got kind ServiceImport in group "multicluster.x-k8s.io"'],
  ]);
  t.deepEqual(rejections(rule('backendRefs: [{name: a}]')), [['spec.rules[0].backendRefs[0].port', 'is required']]);
  t.deepEqual(rejections(rule('backendRefs: [{name: a, port: 80, weight: -1}]')), [['spec.rules[0].backendRefs[0].weight', 'must be between 0 and 1000000, got -1']]);
  t.deepEqual(rejections(rule('backendRefs: [{name: a, port: 80, filters: [{type: URLRewrite, urlRewrite: {hostname: x}}]}]')), [
    ['spec.rules[0].backendRefs[0].filters[0].type', 'filter type "URLRewrite" is not supported here; supported: RequestHeaderModifier, ResponseHeaderModifier'],
  ]);
  t.deepEqual(rejections(rule('timeouts: {request: 10 seconds}')), [
    ['spec.rules[0].timeouts.request', '"10 seconds" is not a Gateway API duration such as "10s", "1m30s" or "500ms" (units h, m, s, ms)'],
  ]);
  t.deepEqual(rejections(rule('timeouts: {request: 1s, backendRequest: 2s}')), [['spec.rules[0].timeouts.backendRequest', 'must not be longer than timeouts.request (1s)']]);
  t.deepEqual(rejections(rule('timeouts: {idle: 1s}')), [['spec.rules[0].timeouts.idle', 'unknown field; expected one of request, backendRequest']]);
  t.deepEqual(rejections(rule('retry: {codes: [200], attempts: -1, backoff: fast}')), [
    ['spec.rules[0].retry.codes[0]', 'must be between 400 and 599, got 200'],
    ['spec.rules[0].retry.attempts', 'must be between 0 and 100, got -1'],
    ['spec.rules[0].retry.backoff', '"fast" is not a Gateway API duration such as "10s", "1m30s" or "500ms" (units h, m, s, ms)'],
  ]);
  t.deepEqual(rejections(rule('sessionPersistence: {sessionName: s}')), [['spec.rules[0].sessionPersistence', 'is not supported by the waypoint']]);
});

test('a 90/10 split becomes weighted clusters; a zero weight sends nothing; one backend is a plain cluster', (t) => {
  const mesh = withRoutes(
    httpRoute(
      'split',
      `${PARENT}
  rules:
    - matches: [{path: {value: /one}}]
      backendRefs: [{name: reviews-v1, port: 80}, {name: reviews-v2, port: 80, weight: 0}]
    - backendRefs: [{name: reviews-v1, port: 80, weight: 90}, {name: reviews-v2, port: 80, weight: 10}]`,
    ),
  );
  t.deepEqual(problems(mesh), []);
  const [one, split] = routes(mesh, httpChain('reviews'));
  t.deepEqual(one?.match, { path_separated_prefix: '/one' });
  t.is(one?.route?.cluster, cluster('reviews-v1'));
  t.deepEqual(split?.match, { prefix: '/' });
  t.deepEqual(split?.route?.weighted_clusters, {
    clusters: [
      { name: cluster('reviews-v1'), weight: { value: 90 } },
      { name: cluster('reviews-v2'), weight: { value: 10 } },
    ],
  });
  // The route goes to the versions only: the parent's own cluster is not named, so it is not built.
  t.deepEqual([...mesh.waypoints!.clusters.keys()], [cluster('reviews-v1'), cluster('reviews-v2')]);
});

test('matches: exact, regex, whole-segment prefix (in that order), headers, query parameters and method; one Envoy route per match', (t) => {
  const mesh = withRoutes(
    httpRoute(
      'm',
      `${PARENT}
  rules:
    - matches:
        - {path: {type: Exact, value: /exact}}
        - {path: {value: /prefix/}, method: POST}
        - path: {type: RegularExpression, value: "/re/[0-9]+"}
          headers: [{name: X-User, value: alice}, {type: RegularExpression, name: x-team, value: "a|b"}]
          queryParams: [{name: Debug, value: "1"}]
      backendRefs: [{name: reviews-v1, port: 80}]`,
    ),
  );
  t.deepEqual(
    routes(mesh, httpChain('reviews')).map((r) => r.match),
    [
      { path: '/exact' },
      {
        safe_regex: { google_re2: {}, regex: '/re/[0-9]+' },
        headers: [
          { name: 'x-user', string_match: { exact: 'alice' } },
          { name: 'x-team', string_match: { safe_regex: { google_re2: {}, regex: 'a|b' } } },
        ],
        query_parameters: [{ name: 'Debug', string_match: { exact: '1' } }],
      },
      { path_separated_prefix: '/prefix', headers: [{ name: ':method', string_match: { exact: 'POST' } }] },
    ],
  );
});

test('precedence across rules and routes: exact, longer prefix, method, headers, query, then the older route', (t) => {
  const backend = 'backendRefs: [{name: reviews-v1, port: 80}]';
  const mesh = withRoutes(
    httpRoute(
      'b-newer',
      `${PARENT}
  rules:
    - matches: [{path: {value: /a}}]
      ${backend}
    - matches: [{path: {value: /a}, headers: [{name: x, value: "1"}]}]
      ${backend}`,
      { metadata: 'creationTimestamp: "2024-02-01T00:00:00Z"' },
    ),
    httpRoute(
      'a-older',
      `${PARENT}
  rules:
    - matches: [{path: {value: /a}}, {path: {value: /a/b}}, {path: {type: Exact, value: /a}}]
      ${backend}
    - matches: [{path: {value: /a}, method: GET}, {path: {value: /a}, queryParams: [{name: q, value: "1"}]}]
      ${backend}`,
      { metadata: 'creationTimestamp: "2024-01-01T00:00:00Z"' },
    ),
  );
  t.deepEqual(
    routes(mesh, httpChain('reviews')).map((r) => r.name),
    ['shop/a-older.0.2', 'shop/a-older.0.1', 'shop/a-older.1.0', 'shop/b-newer.1.0', 'shop/a-older.1.1', 'shop/a-older.0.0', 'shop/b-newer.0.0'],
  );
});

test('header modifiers: rule-level on the route, backend-level on its weighted cluster (or the route when alone)', (t) => {
  const mesh = withRoutes(
    httpRoute(
      'h',
      `${PARENT}
  rules:
    - matches: [{path: {value: /w}}]
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: {set: [{name: X-Set, value: "1"}], add: [{name: x-add, value: "2"}], remove: [X-Gone]}
        - type: ResponseHeaderModifier
          responseHeaderModifier: {set: [{name: x-resp, value: "3"}]}
      backendRefs:
        - {name: reviews-v1, port: 80, weight: 1, filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x-v, value: v1}]}}]}
        - {name: reviews-v2, port: 80, weight: 1}
    - backendRefs:
        - {name: reviews-v2, port: 80, filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {remove: [server]}}]}`,
    ),
  );
  const [weighted, single] = routes(mesh, httpChain('reviews'));
  t.deepEqual(weighted?.request_headers_to_add, [
    { header: { key: 'x-set', value: '1' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
    { header: { key: 'x-add', value: '2' }, append_action: 'APPEND_IF_EXISTS_OR_ADD' },
  ]);
  t.deepEqual(weighted?.request_headers_to_remove, ['x-gone']);
  t.deepEqual(weighted?.response_headers_to_add, [{ header: { key: 'x-resp', value: '3' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }]);
  t.deepEqual(weighted?.route?.weighted_clusters?.clusters[0]?.request_headers_to_add, [
    { header: { key: 'x-v', value: 'v1' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
  ]);
  t.is(weighted?.route?.weighted_clusters?.clusters[1]?.request_headers_to_add, undefined);
  t.deepEqual(single?.response_headers_to_remove, ['server']);
});

test('redirects: scheme (with its well-known port), host, full path, prefix, status code', (t) => {
  const mesh = withRoutes(
    httpRoute(
      'r',
      `${PARENT}
  rules:
    - matches: [{path: {value: /old}}]
      filters: [{type: RequestRedirect, requestRedirect: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /new/}, statusCode: 301}}]
    - matches: [{path: {type: Exact, value: /login}}]
      filters: [{type: RequestRedirect, requestRedirect: {scheme: https, hostname: login.example.com, path: {type: ReplaceFullPath, replaceFullPath: /auth}}}]
    - matches: [{path: {value: /}}]
      filters: [{type: RequestRedirect, requestRedirect: {port: 8443, statusCode: 308, path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}}}]`,
    ),
  );
  t.deepEqual(problems(mesh), []);
  const byName = new Map(routes(mesh, httpChain('reviews')).map((r) => [r.name, r.redirect]));
  t.deepEqual(byName.get('shop/r.0.0'), { prefix_rewrite: '/new', response_code: 'MOVED_PERMANENTLY' });
  t.deepEqual(byName.get('shop/r.1.0'), { scheme_redirect: 'https', host_redirect: 'login.example.com', port_redirect: 443, path_redirect: '/auth', response_code: 'FOUND' });
  t.deepEqual(byName.get('shop/r.2.0'), { port_redirect: 8443, prefix_rewrite: '/v2/', response_code: 'PERMANENT_REDIRECT' });
});

test('URL rewrites: hostname, full path, and prefix replacements that never leave a double slash', (t) => {
  const rewrite = (path: string, match = '/api'): string => `
    - matches: [{path: {value: ${match}}}]
      filters: [{type: URLRewrite, urlRewrite: {path: ${path}}}]
      backendRefs: [{name: reviews-v1, port: 80}]`;
  const mesh = withRoutes(
    httpRoute(
      'rw',
      `${PARENT}
  rules:${rewrite('{type: ReplacePrefixMatch, replacePrefixMatch: /v2}')}${rewrite('{type: ReplacePrefixMatch, replacePrefixMatch: /}', '/strip')}${rewrite(
        '{type: ReplacePrefixMatch, replacePrefixMatch: /app}',
        '/',
      )}${rewrite('{type: ReplaceFullPath, replaceFullPath: /fixed}', '/full')}
    - matches: [{path: {value: /host}}]
      filters: [{type: URLRewrite, urlRewrite: {hostname: internal.example.com}}]
      backendRefs: [{name: reviews-v1, port: 80}]`,
    ),
  );
  const byName = new Map(routes(mesh, httpChain('reviews')).map((r) => [r.name, r.route]));
  t.is(byName.get('shop/rw.0.0')?.prefix_rewrite, '/v2');
  t.deepEqual(byName.get('shop/rw.1.0')?.regex_rewrite, { pattern: { google_re2: {}, regex: '^\\/strip/?' }, substitution: '/' });
  t.deepEqual(byName.get('shop/rw.2.0')?.regex_rewrite, { pattern: { google_re2: {}, regex: '^/' }, substitution: '/app/' });
  t.deepEqual(byName.get('shop/rw.3.0')?.regex_rewrite, { pattern: { google_re2: {}, regex: '^/.*$' }, substitution: '/fixed' });
  t.is(byName.get('shop/rw.4.0')?.host_rewrite_literal, 'internal.example.com');
  // The pattern is what the waypoint compiles: check it does what the comment promises.
  const strip = byName.get('shop/rw.1.0')!.regex_rewrite!;
  t.is('/strip/a/b'.replace(new RegExp(strip.pattern.regex, 'u'), strip.substitution), '/a/b');
  t.is('/strip'.replace(new RegExp(strip.pattern.regex, 'u'), strip.substitution), '/');
});

test('mirrors: percent and fraction become parts per million; no share mirrors everything', (t) => {
  const mesh = withRoutes(
    service('shadow', '10.96.0.20'),
    httpRoute(
      'm',
      `${PARENT}
  rules:
    - filters:
        - {type: RequestMirror, requestMirror: {backendRef: {name: shadow, port: 80}, percent: 25}}
        - {type: RequestMirror, requestMirror: {backendRef: {name: reviews-v2, port: 80}, fraction: {numerator: 1, denominator: 3}}}
        - {type: RequestMirror, requestMirror: {backendRef: {name: reviews-v1, port: 80}}}
      backendRefs: [{name: reviews-v1, port: 80}]`,
    ),
  );
  t.deepEqual(routes(mesh, httpChain('reviews'))[0]?.route?.request_mirror_policies, [
    { cluster: cluster('shadow'), runtime_fraction: { default_value: { numerator: 250000, denominator: 'MILLION' } } },
    { cluster: cluster('reviews-v2'), runtime_fraction: { default_value: { numerator: 333333, denominator: 'MILLION' } } },
    { cluster: cluster('reviews-v1'), runtime_fraction: { default_value: { numerator: 1000000, denominator: 'MILLION' } } },
  ]);
  t.true(mesh.waypoints!.clusters.has(cluster('shadow')));
});

test('timeouts: request → route timeout (none by default), backendRequest → per-try timeout', (t) => {
  const mesh = withRoutes(
    httpRoute(
      't',
      `${PARENT}
  rules:
    - matches: [{path: {value: /slow}}]
      timeouts: {request: 1m30s, backendRequest: 500ms}
      backendRefs: [{name: reviews-v1, port: 80}]
    - matches: [{path: {value: /never}}]
      timeouts: {request: 0s}
      backendRefs: [{name: reviews-v1, port: 80}]
    - backendRefs: [{name: reviews-v1, port: 80}]`,
    ),
  );
  const byPath = new Map(routes(mesh, httpChain('reviews')).map((r) => [r.match.path_separated_prefix ?? r.match.prefix, r]));
  const [slow, never, plainRoute] = [byPath.get('/slow'), byPath.get('/never'), byPath.get('/')];
  t.deepEqual(slow?.route?.timeout, { seconds: 90 });
  t.deepEqual(slow?.route?.retry_policy, { retry_on: 'connect-failure', num_retries: { value: 2 }, per_try_timeout: { seconds: 0, nanos: 500000000 } });
  t.deepEqual(never?.route?.timeout, { seconds: 0 });
  t.deepEqual(plainRoute?.route?.timeout, { seconds: 0 });
  // Istio's default retries when none are configured.
  t.deepEqual(plainRoute?.route?.retry_policy, { retry_on: 'connect-failure', num_retries: { value: 2 } });
});

test('retries (GEP-1731): codes map to status classes, attempts and backoff; what cannot be expressed is reported', (t) => {
  const rule = (retry: string, path: string): string => `
    - matches: [{path: {value: ${path}}}]
      retry: ${retry}
      backendRefs: [{name: reviews-v1, port: 80}]`;
  const mesh = withRoutes(
    httpRoute(
      'rt',
      `${PARENT}
  rules:${rule('{codes: [502, 503, 504], attempts: 3, backoff: 100ms}', '/gw')}${rule('{codes: [503]}', '/one')}${rule('{codes: [500, 503]}', '/all')}${rule(
        '{codes: [409, 429], attempts: 1}',
        '/conflict',
      )}${rule('{attempts: 0}', '/none')}`,
    ),
  );
  const byPath = new Map(routes(mesh, httpChain('reviews')).map((r) => [r.match.path_separated_prefix, r.route?.retry_policy]));
  t.deepEqual(byPath.get('/gw'), {
    retry_on: 'connect-failure,reset,gateway-error',
    num_retries: { value: 3 },
    retry_back_off: { base_interval: { seconds: 0, nanos: 100000000 }, max_interval: { seconds: 1 } },
  });
  t.deepEqual(byPath.get('/one'), { retry_on: 'connect-failure,reset,gateway-error', num_retries: { value: 2 } });
  t.deepEqual(byPath.get('/all'), { retry_on: 'connect-failure,reset,5xx', num_retries: { value: 2 } });
  t.deepEqual(byPath.get('/conflict'), { retry_on: 'connect-failure,reset,retriable-4xx', num_retries: { value: 1 } });
  t.is(byPath.get('/none'), undefined);
  // (Sorted: diagnostics come in the order the routes were translated, which is precedence order.)
  t.deepEqual(problems(mesh).sort(), [
    ['spec.rules[1].retry.codes', 'the waypoint retries status classes: every 502, 503 and 504 response is retried, not only 503'],
    ['spec.rules[2].retry.codes', 'the waypoint retries status classes: every 5xx response is retried, not only 500, 503'],
    ['spec.rules[3].retry.codes', 'status 429 cannot be retried by the waypoint (it retries 5xx, 502/503/504 and 409); not retried'],
  ]);
});

test('backends that cannot be used are reported and answered with 500; the others still get traffic', (t) => {
  const mesh = withRoutes(
    httpRoute(
      'bad',
      `${PARENT}
  rules:
    - matches: [{path: {value: /partly}}]
      backendRefs: [{name: reviews-v1, port: 80, weight: 3}, {name: ghost, port: 80, weight: 1}]
    - matches: [{path: {value: /none}}]
      backendRefs: [{name: reviews-v1, port: 81}, {name: reviews-v1, namespace: other, port: 80}]
    - matches: [{path: {value: /empty}}]`,
    ),
  );
  const byPath = new Map(routes(mesh, httpChain('reviews')).map((r) => [r.match.path_separated_prefix, r]));
  t.is(byPath.get('/partly')?.route?.cluster, cluster('reviews-v1'));
  t.deepEqual(byPath.get('/none')?.direct_response, { status: 500, body: { inline_string: 'no usable backend for this route' } });
  t.deepEqual(byPath.get('/empty')?.direct_response, { status: 500, body: { inline_string: 'no usable backend for this route' } });
  t.deepEqual(problems(mesh), [
    ['spec.rules[0].backendRefs[1]', 'Service shop/ghost does not exist; requests for it get 500'],
    ['spec.rules[1].backendRefs[0]', 'Service shop/reviews-v1 has no port 81 (its ports: 80); requests for it get 500'],
    ['spec.rules[1].backendRefs[1]', 'a backend in another namespace (other) needs a ReferenceGrant, which is not supported; requests for it get 500'],
  ]);
});

test('with a route attached, unmatched requests get no route (404); without one, everything goes to the service', (t) => {
  const mesh = withRoutes(httpRoute('only-api', `${PARENT}\n  rules: [{matches: [{path: {value: /api}}], backendRefs: [{name: reviews-v1, port: 80}]}]`));
  t.deepEqual(
    routes(mesh, httpChain('reviews')).map((r) => r.match),
    [{ path_separated_prefix: '/api' }],
  );
  t.deepEqual(routes(mesh, httpChain('reviews-v2')), [
    { name: 'default', match: { prefix: '/' }, route: { cluster: cluster('reviews-v2'), timeout: { seconds: 0 }, retry_policy: { retry_on: 'connect-failure', num_retries: { value: 2 } } } },
  ]);
});

test('attachment: Service port and sectionName limit the chains; a Gateway parent applies to its services by hostname', (t) => {
  const backend = 'backendRefs: [{name: reviews-v1, port: 80}]';
  const mesh = withRoutes(
    service('multi', '10.96.0.30', [
      { name: 'http', port: 80 },
      { name: 'http-admin', port: 8080 },
    ]),
    httpRoute('by-port', `  parentRefs: [{group: "", kind: Service, name: multi, port: 8080}]\n  rules: [{matches: [{path: {value: /p}}], ${backend}}]`),
    httpRoute('by-section', `  parentRefs: [{group: "", kind: Service, name: multi, sectionName: http}]\n  rules: [{matches: [{path: {value: /s}}], ${backend}}]`),
    httpRoute(
      'whole-waypoint',
      `  parentRefs: [{name: waypoint}]\n  hostnames: ["reviews-v2.shop.svc.cluster.local", "*.other.example"]\n  rules: [{matches: [{path: {value: /w}}], ${backend}}]`,
    ),
  );
  t.deepEqual(problems(mesh), []);
  const paths = (chain: string): unknown[] => routes(mesh, chain).map((r) => r.match.path_separated_prefix ?? r.match.prefix);
  t.deepEqual(paths(httpChain('multi', 8080)), ['/p']);
  t.deepEqual(paths(httpChain('multi', 80)), ['/s']);
  t.deepEqual(paths(httpChain('reviews-v2')), ['/w']);
  t.deepEqual(paths(httpChain('reviews-v1')), ['/']);
});

test('attachment problems are reported on the parentRef: missing, consumer, no waypoint, not a waypoint, not admitted', (t) => {
  const backend = 'rules: [{backendRefs: [{name: reviews-v1, port: 80}]}]';
  const mesh = withRoutes(
    service('direct', '10.96.0.40', [{ name: 'http', port: 80 }], { labels: 'istio.io/use-waypoint: none' }),
    `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: ingress, namespace: shop}
spec: {gatewayClassName: istio, listeners: [{name: http, port: 80, protocol: HTTP}]}`,
    httpRoute('a', `  parentRefs: [{group: "", kind: Service, name: ghost}]\n  ${backend}`),
    httpRoute('b', `  parentRefs: [{group: "", kind: Service, name: reviews, namespace: shop}]\n  ${backend}`, { ns: 'client' }),
    httpRoute('c', `  parentRefs: [{group: "", kind: Service, name: direct}]\n  ${backend}`),
    httpRoute('d', `  parentRefs: [{name: ingress}]\n  ${backend}`),
    httpRoute('e', `  parentRefs: [{name: waypoint, namespace: shop}]\n  ${backend}`, { ns: 'client' }),
    httpRoute('f', `  parentRefs: [{group: "", kind: Service, name: reviews, port: 9999}]\n  ${backend}`),
  );
  t.deepEqual(problems(mesh), [
    ['spec.parentRefs[0]', 'Service shop/ghost does not exist; the route is not applied to it'],
    ['spec.parentRefs[0]', 'a consumer route (Service in namespace shop, route in client) applies only to clients in client, which a waypoint cannot tell apart; it is not applied'],
    ['spec.parentRefs[0]', 'Service shop/direct does not use a waypoint (istio.io/use-waypoint); nothing applies this route'],
    ['spec.parentRefs[0]', 'Gateway shop/ingress is not a ready waypoint (class istio-waypoint with an address); the route is not applied to it'],
    ['spec.parentRefs[0]', 'waypoint shop/waypoint does not admit routes from namespace client (allowedRoutes Same); the route is not applied to it'],
    ['spec.parentRefs[0].port', 'Service shop/reviews has no port 9999; the route is not applied to it'],
  ]);
  // None of them attached: reviews still has its default route.
  t.deepEqual(routes(mesh, httpChain('reviews')).map((r) => r.name), ['default']);
});

test('an invalid edit of a route keeps its last valid version serving, with a warning', (t) => {
  const route = (weights: string): string =>
    yamlDocs(...svcs, httpRoute('split', `${PARENT}\n  rules: [{backendRefs: [{name: reviews-v1, port: 80, weight: ${weights}}]}]`));
  const good = inputFrom({ 'mesh.yaml': base() + route('3') });
  const bad = inputFrom({ 'mesh.yaml': base() + route('-3') }, good);
  const mesh = computeMesh(bad, DEFAULT_MODEL_OPTIONS);
  t.is(routes(mesh, httpChain('reviews'))[0]?.route?.cluster, cluster('reviews-v1'));
  t.deepEqual(
    mesh.diagnostics.map((d) => [d.severity, d.path, d.message]),
    [
      ['error', 'spec.rules[0].backendRefs[0].weight', 'must be between 0 and 1000000, got -3'],
      ['warning', '', 'HTTPRoute shop/split is invalid; its last valid version stays in effect until the document is fixed'],
    ],
  );
});
