/**
 * AuthorizationPolicy with targetRefs → the waypoint's RBAC filters, with Istio's semantics, and the
 * fail-closed rule for what a chain (or ztunnel) cannot enforce.
 */
import test from 'ava';
import { defaultRegistry } from '../src/input/kinds/index.js';
import { parseFile } from '../src/input/parse-file.js';
import { authorization } from './helpers.js';
import {
  authorizationPolicy,
  base,
  httpChain,
  httpFilters,
  networkFilters,
  problems,
  requestAuthentication,
  service,
  tcpChain,
  virtualService,
  waypointMesh,
} from './fixtures/waypoint-mesh.js';
import { meshFrom, yamlDocs } from './helpers.js';

const svcs = [
  service('reviews', '10.96.0.10'),
  service('ratings', '10.96.0.20'),
  service('db', '10.96.0.30', [{ name: 'tcp-db', port: 5432 }]),
  service('cache', '10.96.0.40', [{ name: 'cache', port: 6379 }]),
];
const TO_REVIEWS = '  targetRefs: [{group: "", kind: Service, name: reviews}]';
const TO_WAYPOINT = '  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: waypoint}]';

type Rules = { action?: string; policies?: Record<string, unknown> };

/** The RBAC rules of an HTTP chain's filters, in filter order. */
function rbac(mesh: ReturnType<typeof waypointMesh>, chain: string): Rules[] {
  return httpFilters(mesh, chain)
    .filter((f) => f.name === 'envoy.filters.http.rbac')
    .map((f) => f.config['rules'] as Rules);
}

const authn = (m: Record<string, unknown>) => ({ authenticated: { principal_name: m } });
const re = (regex: string) => ({ safe_regex: { google_re2: {}, regex } });

test('a full rule: sources, operations and conditions become Envoy permissions and principals, as istiod builds them', (t) => {
  const mesh = waypointMesh(
    ...svcs,
    authorizationPolicy(
      'full',
      `${TO_REVIEWS}
  action: ALLOW
  rules:
    - from:
        - source:
            principals: [cluster.local/ns/shop/sa/web, "cluster.local/ns/ops/*", "*/sa/robot", "*"]
            notPrincipals: [cluster.local/ns/shop/sa/evil]
            namespaces: [shop, "team-*"]
            serviceAccounts: [web.v2, other/batch]
            ipBlocks: ["10.0.0.0/8"]
            notRemoteIpBlocks: ["192.168.1.1"]
            requestPrincipals: ["https://issuer.example/*"]
      to:
        - operation:
            methods: [GET, HEAD]
            paths: [/exact, "/api/*", "*.css", "*"]
            notPaths: [/api/admin]
            hosts: [Reviews.Example.com, "*"]
            ports: ["80"]
      when:
        - {key: "request.headers[X-Tenant]", values: [acme, "*"], notValues: [blocked]}
        - {key: "request.auth.claims[realm_access][roles]", values: [admin]}
        - {key: request.auth.audiences, values: [reviews]}
        - {key: request.auth.presenter, notValues: [legacy]}
        - {key: source.namespace, values: [shop]}
        - {key: destination.port, notValues: ["8080"]}
        - {key: remote.ip, values: ["1.2.3.0/24"]}`,
    ),
  );
  t.deepEqual(problems(mesh), []);
  const [allow] = rbac(mesh, httpChain('reviews'));
  t.is(allow?.action, 'ALLOW');
  t.deepEqual(Object.keys(allow?.policies ?? {}), ['ns[shop]-policy[full]-rule[0]']);
  const policy = allow!.policies!['ns[shop]-policy[full]-rule[0]'] as { permissions: unknown[]; principals: unknown[] };
  t.deepEqual(policy.permissions, [
    {
      and_rules: {
        rules: [
          {
            or_rules: {
              rules: [
                { header: { name: ':authority', string_match: { exact: 'Reviews.Example.com', ignore_case: true } } },
                { header: { name: ':authority', present_match: true } },
              ],
            },
          },
          { or_rules: { rules: [{ header: { name: ':method', string_match: { exact: 'GET' } } }, { header: { name: ':method', string_match: { exact: 'HEAD' } } }] } },
          {
            or_rules: {
              rules: [
                { url_path: { path: { exact: '/exact' } } },
                { url_path: { path: { prefix: '/api/' } } },
                { url_path: { path: { suffix: '.css' } } },
                { url_path: { path: re('.+') } },
              ],
            },
          },
          { not_rule: { or_rules: { rules: [{ url_path: { path: { exact: '/api/admin' } } }] } } },
          { or_rules: { rules: [{ destination_port: 80 }] } },
          { not_rule: { or_rules: { rules: [{ destination_port: 8080 }] } } },
        ],
      },
    },
  ]);
  t.deepEqual(policy.principals, [
    {
      and_ids: {
        ids: [
          {
            or_ids: {
              ids: [
                authn({ exact: 'spiffe://cluster.local/ns/shop/sa/web' }),
                authn({ prefix: 'spiffe://cluster.local/ns/ops/' }),
                authn({ suffix: '/sa/robot' }),
                authn(re('.+')),
              ],
            },
          },
          { not_id: { or_ids: { ids: [authn({ exact: 'spiffe://cluster.local/ns/shop/sa/evil' })] } } },
          {
            or_ids: {
              ids: [
                {
                  metadata: {
                    filter: 'istio_authn',
                    path: [{ key: 'request.auth.principal' }],
                    value: { string_match: { prefix: 'https://issuer.example/' } },
                  },
                },
              ],
            },
          },
          { or_ids: { ids: [authn(re('.*/ns/shop/.*')), authn(re('.*/ns/team\\-.*/.*'))] } },
          // Dots escaped: `web.v2` must not match `webXv2` (CVE-2026-39350).
          { or_ids: { ids: [authn(re('spiffe://[^/]+/ns/shop/sa/web\\.v2')), authn(re('spiffe://[^/]+/ns/other/sa/batch'))] } },
          { or_ids: { ids: [{ direct_remote_ip: { address_prefix: '10.0.0.0', prefix_len: { value: 8 } } }] } },
          { not_id: { or_ids: { ids: [{ remote_ip: { address_prefix: '192.168.1.1', prefix_len: { value: 32 } } }] } } },
          {
            or_ids: {
              ids: [{ header: { name: 'x-tenant', string_match: { exact: 'acme' } } }, { header: { name: 'x-tenant', present_match: true } }],
            },
          },
          { not_id: { or_ids: { ids: [{ header: { name: 'x-tenant', string_match: { exact: 'blocked' } } }] } } },
          {
            or_ids: {
              ids: [
                {
                  metadata: {
                    filter: 'istio_authn',
                    path: [{ key: 'request.auth.claims' }, { key: 'realm_access' }, { key: 'roles' }],
                    value: { list_match: { one_of: { string_match: { exact: 'admin' } } } },
                  },
                },
              ],
            },
          },
          { or_ids: { ids: [{ metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.audiences' }], value: { string_match: { exact: 'reviews' } } } }] } },
          {
            not_id: {
              or_ids: { ids: [{ metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.presenter' }], value: { string_match: { exact: 'legacy' } } } }] },
            },
          },
          { or_ids: { ids: [authn(re('.*/ns/shop/.*'))] } },
          { or_ids: { ids: [{ remote_ip: { address_prefix: '1.2.3.0', prefix_len: { value: 24 } } }] } },
        ],
      },
    },
  ]);
  // The regular expressions are full matches, as Envoy reads them.
  t.true(new RegExp('^(?:spiffe://[^/]+/ns/shop/sa/web\\.v2)$', 'u').test('spiffe://cluster.local/ns/shop/sa/web.v2'));
  t.false(new RegExp('^(?:spiffe://[^/]+/ns/shop/sa/web\\.v2)$', 'u').test('spiffe://cluster.local/ns/shop/sa/webXv2'));
});

test('filter order: jwt_authn, RBAC DENY, RBAC ALLOW, fault, router; several `from`/`to` entries are ORed', (t) => {
  const mesh = waypointMesh(
    ...svcs,
    authorizationPolicy('deny', `${TO_REVIEWS}\n  action: DENY\n  rules: [{to: [{operation: {paths: [/admin]}}, {operation: {methods: [DELETE]}}]}]`),
    authorizationPolicy('allow', `${TO_REVIEWS}\n  rules: [{from: [{source: {namespaces: [a]}}, {source: {namespaces: [b]}}]}]`),
    requestAuthentication('jwt', `${TO_REVIEWS}\n  jwtRules: [{issuer: iss, jwks: '{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}'}]`),
    virtualService(
      'faulty',
      `  hosts: [reviews]\n  http: [{fault: {abort: {httpStatus: 503, percentage: {value: 1}}}, route: [{destination: {host: reviews}}]}]`,
    ),
  );
  const filters = httpFilters(mesh, httpChain('reviews'));
  t.deepEqual(
    filters.map((f) => [f.name, (f.config['rules'] as Rules | undefined)?.action ?? '']),
    [
      ['envoy.filters.http.jwt_authn', ''],
      ['envoy.filters.http.rbac', 'DENY'],
      ['envoy.filters.http.rbac', 'ALLOW'],
      ['envoy.filters.http.fault', ''],
      ['envoy.filters.http.router', ''],
    ],
  );
  const deny = filters[1]!.config['rules'] as { policies: Record<string, { permissions: unknown[]; principals: unknown[] }> };
  t.deepEqual(deny.policies['ns[shop]-policy[deny]-rule[0]'], {
    permissions: [
      { and_rules: { rules: [{ or_rules: { rules: [{ url_path: { path: { exact: '/admin' } } }] } }] } },
      { and_rules: { rules: [{ or_rules: { rules: [{ header: { name: ':method', string_match: { exact: 'DELETE' } } }] } }] } },
    ],
    principals: [{ and_ids: { ids: [{ any: true }] } }],
  });
  const allow = filters[2]!.config['rules'] as { policies: Record<string, { principals: unknown[] }> };
  t.is(allow.policies['ns[shop]-policy[allow]-rule[0]']?.principals.length, 2);
  // Other chains have only the router.
  t.deepEqual(httpFilters(mesh, httpChain('ratings')).map((f) => f.name), ['envoy.filters.http.router']);
});

test('an ALLOW policy without rules allows nothing; `rules: [{}]` matches everything', (t) => {
  const mesh = waypointMesh(
    ...svcs,
    authorizationPolicy('nothing', `${TO_REVIEWS}\n  action: ALLOW`),
    authorizationPolicy('everything', '  targetRefs: [{group: "", kind: Service, name: ratings}]\n  rules: [{}]'),
  );
  t.deepEqual(rbac(mesh, httpChain('reviews')), [{ action: 'ALLOW' }]);
  t.deepEqual(rbac(mesh, httpChain('ratings')), [
    {
      action: 'ALLOW',
      policies: { 'ns[shop]-policy[everything]-rule[0]': { permissions: [{ and_rules: { rules: [{ any: true }] } }], principals: [{ and_ids: { ids: [{ any: true }] } }] } },
    },
  ]);
});

test('targets: a Gateway is every chain, a Service its own chains, the istio-waypoint GatewayClass every waypoint', (t) => {
  const mesh = meshFrom(
    base() +
      yamlDocs(
        ...svcs,
        authorizationPolicy('gw', `${TO_WAYPOINT}\n  action: DENY\n  rules: [{to: [{operation: {paths: [/gw]}}]}]`),
        authorizationPolicy('svc', `${TO_REVIEWS}\n  action: DENY\n  rules: [{to: [{operation: {paths: [/svc]}}]}]`),
        authorizationPolicy('mesh', '  targetRefs: [{kind: GatewayClass, group: gateway.networking.k8s.io, name: istio-waypoint}]\n  action: DENY\n  rules: [{}]', { ns: 'istio-system' }),
      ),
  );
  const names = (chain: string): string[] => rbac(mesh, chain).flatMap((r) => Object.keys(r.policies ?? {}));
  t.deepEqual(names(httpChain('reviews')), ['ns[shop]-policy[gw]-rule[0]', 'ns[shop]-policy[svc]-rule[0]', 'ns[istio-system]-policy[mesh]-rule[0]']);
  t.deepEqual(names(httpChain('ratings')), ['ns[shop]-policy[gw]-rule[0]', 'ns[istio-system]-policy[mesh]-rule[0]']);
  // Waypoint policies are never sent to ztunnel.
  t.deepEqual([...meshFrom(base()).authorizations.keys()], []);
});

test('targets that cannot be honoured are reported; AUDIT and CUSTOM are refused; dry-run policies are not enforced', (t) => {
  const mesh = waypointMesh(
    ...svcs,
    service('plain', '10.96.0.90', [{ name: 'http', port: 80 }], { labels: 'istio.io/use-waypoint: none' }),
    authorizationPolicy('a', '  targetRefs: [{group: "", kind: Service, name: ghost}]\n  rules: [{}]'),
    authorizationPolicy('b', '  targetRefs: [{group: "", kind: Service, name: plain}]\n  rules: [{}]'),
    authorizationPolicy('c', '  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: nope}]\n  rules: [{}]'),
    authorizationPolicy('d', '  targetRefs: [{kind: ServiceEntry, group: networking.istio.io, name: ext}]\n  rules: [{}]'),
    authorizationPolicy('e', '  targetRefs: [{kind: GatewayClass, group: gateway.networking.k8s.io, name: istio-waypoint}]\n  rules: [{}]'),
    authorizationPolicy('f', '  targetRefs: [{group: "", kind: Service, name: reviews, namespace: other}]\n  rules: [{}]'),
    authorizationPolicy('g', `${TO_REVIEWS}\n  action: AUDIT\n  rules: [{}]`),
    authorizationPolicy('h', `${TO_REVIEWS}\n  action: DENY\n  rules: [{}]`, { metadata: 'annotations: {istio.io/dry-run: "true"}' }),
  );
  t.deepEqual(problems(mesh), [
    ['spec.targetRefs[0]', 'Service shop/ghost does not exist; the policy is not enforced for it'],
    ['spec.targetRefs[0]', 'Service shop/plain does not use a waypoint (istio.io/use-waypoint); nothing enforces this policy for it'],
    ['spec.targetRefs[0]', 'Gateway shop/nope is not a ready waypoint; the policy is not enforced there'],
    ['spec.targetRefs[0]', 'a ServiceEntry target is not supported by the waypoint; the policy is not applied to it'],
    ['spec.targetRefs[0]', 'only GatewayClass istio-waypoint, from the root namespace istio-system, can be targeted; the policy is not applied to it'],
    ['spec.targetRefs[0]', 'a target in another namespace (other) is not allowed; the policy is not applied to it'],
    ['spec.action', 'the waypoint does not support the AUDIT action; the policy is not enforced'],
    ['metadata.annotations["istio.io/dry-run"]', 'dry-run policies are not enforced by the waypoint (it keeps no shadow rules)'],
  ]);
  t.is(mesh.diagnostics.find((d) => d.path === 'spec.action')?.severity, 'error');
  t.deepEqual(rbac(mesh, httpChain('reviews')), []);
});

test('TCP chains fail closed: HTTP attributes drop an ALLOW rule and leave a DENY rule at L4, reported for declared TCP ports', (t) => {
  const target = '  targetRefs: [{group: "", kind: Service, name: db}, {group: "", kind: Service, name: cache}]';
  const mesh = waypointMesh(
    ...svcs,
    authorizationPolicy(
      'allow',
      `${target}\n  rules:\n    - {from: [{source: {namespaces: [shop]}}], to: [{operation: {methods: [GET]}}]}\n    - {from: [{source: {namespaces: [ops]}}], to: [{operation: {ports: ["5432"]}}]}`,
    ),
    authorizationPolicy('deny', `${target}\n  action: DENY\n  rules: [{from: [{source: {requestPrincipals: ["*"], namespaces: [bad]}}], to: [{operation: {paths: [/x], ports: ["5432"]}}]}]`),
  );
  // A declared TCP port: only a TCP chain, with network RBAC before tcp_proxy.
  const db = networkFilters(mesh, tcpChain('db', 5432));
  t.deepEqual(db.map((f) => f.name), ['envoy.filters.network.rbac', 'envoy.filters.network.rbac', 'envoy.filters.network.tcp_proxy']);
  t.deepEqual(db[0]!.config, {
    stat_prefix: tcpChain('db', 5432),
    rules: {
      action: 'DENY',
      policies: {
        'ns[shop]-policy[deny]-rule[0]': {
          permissions: [{ and_rules: { rules: [{ or_rules: { rules: [{ destination_port: 5432 }] } }] } }],
          principals: [{ and_ids: { ids: [{ or_ids: { ids: [authn(re('.*/ns/bad/.*'))] } }] } }],
        },
      },
    },
  });
  t.deepEqual(Object.keys((db[1]!.config['rules'] as Rules).policies ?? {}), ['ns[shop]-policy[allow]-rule[1]']);
  t.deepEqual(db[2]!.config, { stat_prefix: tcpChain('db', 5432), cluster: 'outbound|5432||db.shop.svc.cluster.local' });
  // The undeclared port's TCP fallback fails closed the same way, silently; its HTTP chain enforces everything.
  t.deepEqual(Object.keys((networkFilters(mesh, tcpChain('cache', 6379))[1]!.config['rules'] as Rules).policies ?? {}), ['ns[shop]-policy[allow]-rule[1]']);
  t.deepEqual(Object.keys(rbac(mesh, httpChain('cache', 6379))[1]?.policies ?? {}), ['ns[shop]-policy[allow]-rule[0]', 'ns[shop]-policy[allow]-rule[1]']);
  t.deepEqual(problems(mesh), [
    [
      'spec.rules[0]',
      'cannot be enforced on a TCP chain (a port not declared HTTP) as written (found: methods). In this ALLOW policy the rule is dropped there, so it allows nothing: stricter than written',
    ],
    [
      'spec.rules[0]',
      'cannot be enforced on a TCP chain (a port not declared HTTP) as written (found: paths, requestPrincipals). In this DENY policy the rule is enforced there without them, so it denies more: stricter than written',
    ],
  ]);
});

test('keys the waypoint does not evaluate (connection.sni, path templates) fail closed everywhere', (t) => {
  const mesh = waypointMesh(
    ...svcs,
    authorizationPolicy('allow', `${TO_REVIEWS}\n  rules: [{when: [{key: connection.sni, values: [a.example]}]}, {to: [{operation: {paths: ["/a/{*}/b"]}}]}]`),
    authorizationPolicy('deny', `${TO_REVIEWS}\n  action: DENY\n  rules: [{from: [{source: {namespaces: [x]}}], when: [{key: connection.sni, values: [a.example]}]}]`),
  );
  const [deny, allow] = rbac(mesh, httpChain('reviews'));
  t.deepEqual(allow, { action: 'ALLOW' });
  t.deepEqual(deny?.policies, {
    'ns[shop]-policy[deny]-rule[0]': {
      permissions: [{ and_rules: { rules: [{ any: true }] } }],
      principals: [{ and_ids: { ids: [{ or_ids: { ids: [authn(re('.*/ns/x/.*'))] } }] } }],
    },
  });
  t.deepEqual(
    problems(mesh).map(([path, message]) => [path, message.split('.')[0]]),
    [
      ['spec.rules[0]', 'cannot be enforced on the waypoint as written (found: connection'],
      ['spec.rules[1]', 'cannot be enforced on the waypoint as written (found: paths templates)'],
      ['spec.rules[0]', 'cannot be enforced on the waypoint as written (found: connection'],
    ],
  );
});

test('decoder: `when` keys must be Istio condition keys, and IP conditions CIDRs', (t) => {
  const decode = (when: string): [string, string][] => {
    const text = `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: shop}\nspec:\n  rules: [{when: [${when}]}]\n`;
    const result = parseFile('p.yaml', text, defaultRegistry());
    return result.diagnostics.map((d) => [d.path, d.message]);
  };
  t.deepEqual(decode('{key: "request.header[x]", values: [a]}'), [
    [
      'spec.rules[0].when[0].key',
      '"request.header[x]" is not a condition key (e.g. source.ip, source.namespace, source.principal, request.headers[<name>], request.auth.claims[<claim>], request.auth.principal, destination.port)',
    ],
  ]);
  t.deepEqual(decode('{key: "request.auth.claims[]", values: [a]}')[0]?.[0], 'spec.rules[0].when[0].key');
  t.deepEqual(decode('{key: remote.ip, values: [not-an-ip]}'), [['spec.rules[0].when[0].values[0]', '"not-an-ip" is not a valid IP address or CIDR block']]);
  t.deepEqual(decode('{key: "request.auth.claims[a][b]", values: [x]}, {key: "experimental.envoy.filters.a.b[c]", values: [y]}'), []);
});

test('policies enforced by ztunnel (selector or namespace-wide) fail closed on L7 fields and never reach the waypoint', (t) => {
  const mesh = waypointMesh(
    ...svcs,
    authorizationPolicy('ns-allow-get', '  rules: [{to: [{operation: {methods: [GET]}}]}, {from: [{source: {namespaces: [ops]}}]}]'),
    authorizationPolicy('ns-deny-admin', '  action: DENY\n  rules: [{from: [{source: {namespaces: [legacy]}}], to: [{operation: {paths: [/admin], ports: ["80"]}}]}]'),
  );
  // ALLOW: the L7 rule matches nothing (only the L4 rule is left); DENY: the rule denies at L4.
  t.deepEqual(authorization(mesh, 'shop/ns-allow-get').rules, [{ clauses: [{ matches: [{ namespaces: [{ exact: 'ops', match_type: 'exact' }] }] }] }]);
  t.deepEqual(authorization(mesh, 'shop/ns-deny-admin').rules, [
    { clauses: [{ matches: [{ destination_ports: [80] }] }, { matches: [{ namespaces: [{ exact: 'legacy', match_type: 'exact' }] }] }] },
  ]);
  t.deepEqual(rbac(mesh, httpChain('reviews')), []);
  t.deepEqual(
    problems(mesh).map(([path]) => path),
    ['spec.rules[0]', 'spec.rules[0]'],
  );
});
