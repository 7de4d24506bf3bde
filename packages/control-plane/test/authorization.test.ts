/**
 * AuthorizationPolicy → istio.security.Authorization, as istiod converts it for ztunnel, and which
 * workloads name which policies.
 */
import test from 'ava';
import { authorization, ip, meshFrom, wireProblems, workload, yamlDocs } from './helpers.js';

function policy(name: string, spec: string, options: { ns?: string; annotations?: string } = {}): string {
  return `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ${name}
  namespace: ${options.ns ?? 'app'}
  annotations: {${options.annotations ?? ''}}
spec:
${spec}
`;
}

const pod = (name: string, namespace: string, labels: string, podIp: string): string =>
  `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: ${namespace}\n  labels: {${labels}}\nstatus:\n  podIP: ${podIp}\n`;

const exact = (value: string) => ({ exact: value, match_type: 'exact' as const });

test('scope: WORKLOAD_SELECTOR with a selector, NAMESPACE without, GLOBAL in the root namespace', (t) => {
  const mesh = meshFrom(
    yamlDocs(
      policy('sel', '  selector: {matchLabels: {app: web}}\n  rules: [{}]'),
      policy('ns-wide', '  rules: [{}]'),
      policy('mesh-wide', '  rules: [{}]', { ns: 'istio-system' }),
      policy('root-sel', '  selector: {matchLabels: {app: web}}\n  rules: [{}]', { ns: 'istio-system' }),
    ),
  );
  t.deepEqual(authorization(mesh, 'app/sel'), { name: 'sel', namespace: 'app', scope: 'WORKLOAD_SELECTOR', action: 'ALLOW', rules: [{}] });
  t.is(authorization(mesh, 'app/ns-wide').scope, 'NAMESPACE');
  t.is(authorization(mesh, 'istio-system/mesh-wide').scope, 'GLOBAL');
  t.is(authorization(mesh, 'istio-system/root-sel').scope, 'WORKLOAD_SELECTOR');
});

test('workloads name the selector policies that select them: same namespace or root namespace, sorted', (t) => {
  const mesh = meshFrom(
    yamlDocs(
      policy('z-web', '  selector: {matchLabels: {app: web}}'),
      policy('a-web', '  selector: {matchLabels: {app: web, tier: front}}'),
      policy('db', '  selector: {matchLabels: {app: db}}'),
      policy('everyone', '  selector: {}'),
      policy('ns-wide', '  action: DENY'),
      policy('root-web', '  selector: {matchLabels: {app: web}}', { ns: 'istio-system' }),
      policy('other-ns', '  selector: {matchLabels: {app: web}}', { ns: 'other' }),
      policy('custom', '  selector: {matchLabels: {app: web}}\n  action: CUSTOM\n  provider: {name: ext-authz}'),
      pod('web', 'app', 'app: web, tier: front', '10.0.0.1'),
      pod('web2', 'app', 'app: web', '10.0.0.2'),
    ),
  );
  t.deepEqual(workload(mesh, 'Kubernetes//Pod/app/web').authorization_policies, ['app/a-web', 'app/everyone', 'app/z-web', 'istio-system/root-web']);
  t.deepEqual(workload(mesh, 'Kubernetes//Pod/app/web2').authorization_policies, ['app/everyone', 'app/z-web', 'istio-system/root-web']);
});

test('sources: principals and namespaces with wildcards, service accounts, IP blocks', (t) => {
  const mesh = meshFrom(
    yamlDocs(
      policy(
        'p',
        `  action: DENY
  rules:
    - from:
        - source:
            principals: ["*", "cluster.local/ns/a/*", "*/sa/admin", cluster.local/ns/a/sa/b]
            notPrincipals: ["*/sa/robot"]
            namespaces: ["team-*"]
            notNamespaces: [kube-system]
        - source:
            serviceAccounts: [local-sa, other/remote-sa]
            notServiceAccounts: [other/blocked]
        - source:
            ipBlocks: ["10.0.0.0/8", "192.168.1.7", "fd00::/64"]
            notIpBlocks: ["10.1.0.0/16"]`,
      ),
    ),
  );
  t.deepEqual(authorization(mesh, 'app/p').rules, [
    {
      clauses: [
        {
          matches: [
            {
              principals: [
                { presence: {}, match_type: 'presence' },
                { prefix: 'cluster.local/ns/a/', match_type: 'prefix' },
                { suffix: '/sa/admin', match_type: 'suffix' },
                exact('cluster.local/ns/a/sa/b'),
              ],
              not_principals: [{ suffix: '/sa/robot', match_type: 'suffix' }],
              namespaces: [{ prefix: 'team-', match_type: 'prefix' }],
              not_namespaces: [exact('kube-system')],
            },
            {
              service_accounts: [
                { namespace: 'app', serviceAccount: 'local-sa' },
                { namespace: 'other', serviceAccount: 'remote-sa' },
              ],
              not_service_accounts: [{ namespace: 'other', serviceAccount: 'blocked' }],
            },
            {
              source_ips: [
                { address: ip('10.0.0.0'), length: 8 },
                { address: ip('192.168.1.7'), length: 32 },
                { address: ip('fd00::'), length: 64 },
              ],
              not_source_ips: [{ address: ip('10.1.0.0'), length: 16 }],
            },
          ],
        },
      ],
    },
  ]);
  t.deepEqual(wireProblems(mesh), []);
  t.deepEqual(mesh.diagnostics, []);
});

test('operations: ports and notPorts; rules are ORed, clauses (to, from, each when) ANDed', (t) => {
  const mesh = meshFrom(
    yamlDocs(
      policy(
        'p',
        `  rules:
    - to: [{operation: {ports: ["80", "443"]}}, {operation: {notPorts: ["8080"]}}]
      from: [{source: {namespaces: [a]}}]
      when:
        - {key: source.ip, values: ["10.0.0.0/8"], notValues: ["10.9.0.0/16"]}
        - {key: destination.port, notValues: ["9090"]}
        - {key: source.principal, values: [cluster.local/ns/a/sa/x]}
        - {key: source.namespace, notValues: [b]}
        - {key: destination.ip, values: ["10.96.0.1"]}
    - to: [{operation: {ports: ["22"]}}]`,
      ),
    ),
  );
  t.deepEqual(authorization(mesh, 'app/p').rules, [
    {
      clauses: [
        { matches: [{ destination_ports: [80, 443] }, { not_destination_ports: [8080] }] },
        { matches: [{ namespaces: [exact('a')] }] },
        { matches: [{ source_ips: [{ address: ip('10.0.0.0'), length: 8 }], not_source_ips: [{ address: ip('10.9.0.0'), length: 16 }] }] },
        { matches: [{ not_destination_ports: [9090] }] },
        { matches: [{ principals: [exact('cluster.local/ns/a/sa/x')] }] },
        { matches: [{ not_namespaces: [exact('b')] }] },
        { matches: [{ destination_ips: [{ address: ip('10.96.0.1'), length: 32 }] }] },
      ],
    },
    { clauses: [{ matches: [{ destination_ports: [22] }] }] },
  ]);
  t.deepEqual(wireProblems(mesh), []);
});

test('an empty rule matches everything; a policy without rules matches nothing', (t) => {
  const mesh = meshFrom(yamlDocs(policy('allow-all', '  rules: [{}]'), policy('deny-nothing', '  action: DENY'), policy('allow-nothing', '  {}')));
  t.deepEqual(authorization(mesh, 'app/allow-all').rules, [{}]);
  t.deepEqual(authorization(mesh, 'app/deny-nothing'), { name: 'deny-nothing', namespace: 'app', scope: 'NAMESPACE', action: 'DENY' });
  t.deepEqual(authorization(mesh, 'app/allow-nothing'), { name: 'allow-nothing', namespace: 'app', scope: 'NAMESPACE', action: 'ALLOW' });
  t.deepEqual(wireProblems(mesh), []);
});

test('HTTP attributes in an ALLOW policy drop their rule (fail closed) and are reported', (t) => {
  const mesh = meshFrom(
    yamlDocs(
      policy(
        'p',
        `  selector: {matchLabels: {app: web}}
  rules:
    - from: [{source: {namespaces: [a]}}]
      to: [{operation: {methods: [GET], ports: ["80"]}}]
    - from: [{source: {namespaces: [b]}}]
    - from: [{source: {requestPrincipals: ["*"]}}]
    - when: [{key: "request.headers[x-user]", values: [admin]}]`,
      ),
    ),
  );
  t.deepEqual(authorization(mesh, 'app/p').rules, [{ clauses: [{ matches: [{ namespaces: [exact('b')] }] }] }]);
  t.deepEqual(
    mesh.diagnostics.map((d) => [d.path, d.severity, d.message]),
    [
      [
        'spec.rules[0]',
        'warning',
        'ztunnel cannot enforce HTTP attributes (found: methods); bind the policy to a waypoint with targetRefs to enforce them. In this ALLOW policy the rule is dropped, so it allows nothing: stricter than written',
      ],
      [
        'spec.rules[2]',
        'warning',
        'ztunnel cannot enforce HTTP attributes (found: requestPrincipals); bind the policy to a waypoint with targetRefs to enforce them. In this ALLOW policy the rule is dropped, so it allows nothing: stricter than written',
      ],
      [
        'spec.rules[3]',
        'warning',
        'ztunnel cannot enforce HTTP attributes (found: request.headers[x-user]); bind the policy to a waypoint with targetRefs to enforce them. In this ALLOW policy the rule is dropped, so it allows nothing: stricter than written',
      ],
    ],
  );
});

test('HTTP attributes in a DENY policy are removed, so the rule denies more, and are reported', (t) => {
  const mesh = meshFrom(
    yamlDocs(
      policy(
        'p',
        `  action: DENY
  rules:
    - from: [{source: {namespaces: [a], remoteIpBlocks: ["1.2.3.4"]}}]
      to: [{operation: {methods: [POST], paths: ["/admin"]}}]
      when: [{key: "request.auth.claims[group]", values: [ops]}]`,
      ),
    ),
  );
  // Every POST /admin from `a` was to be denied: now everything from `a` is.
  t.deepEqual(authorization(mesh, 'app/p').rules, [{ clauses: [{ matches: [{}] }, { matches: [{ namespaces: [exact('a')] }] }, { matches: [{}] }] }]);
  t.deepEqual(
    mesh.diagnostics.map((d) => d.message),
    [
      'ztunnel cannot enforce HTTP attributes (found: methods, paths, remoteIpBlocks, request.auth.claims[group]); bind the policy to a waypoint with targetRefs to enforce them. In this DENY policy the rule is enforced without them, so it denies more: stricter than written',
    ],
  );
  t.deepEqual(wireProblems(mesh), []);
});

test('waypoint policies (targetRefs) are not sent to ztunnel; AUDIT and CUSTOM are reported and skipped', (t) => {
  const mesh = meshFrom(
    yamlDocs(
      policy('for-waypoint', '  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: wp}]\n  rules: [{to: [{operation: {methods: [GET]}}]}]'),
      policy('legacy-target', '  targetRef: {kind: Service, name: web}\n  rules: [{}]'),
      policy('audit', '  action: AUDIT\n  rules: [{}]'),
      policy('ext', '  action: CUSTOM\n  provider: {name: opa}\n  rules: [{}]'),
    ),
  );
  t.deepEqual([...mesh.authorizations.keys()], []);
  t.deepEqual(
    mesh.diagnostics.map((d) => [d.document, d.path, d.message]),
    [
      // Their targets do not exist here: the waypoint side says so.
      [0, 'spec.targetRefs[0]', 'Gateway app/wp is not a ready waypoint; the policy is not enforced there'],
      [1, 'spec.targetRefs[0]', 'Service app/web does not exist; the policy is not enforced for it'],
      [2, 'spec.action', 'ztunnel does not support the AUDIT action; the policy is not sent to ztunnel'],
      [3, 'spec.action', 'ztunnel does not support the CUSTOM action; the policy is not sent to ztunnel'],
    ],
  );
});

test('dry-run policies carry dry_run', (t) => {
  const mesh = meshFrom(yamlDocs(policy('p', '  action: DENY\n  rules: [{}]', { annotations: 'istio.io/dry-run: "true"' })));
  t.true(authorization(mesh, 'app/p').dry_run);
  t.deepEqual(wireProblems(mesh), []);
});

test('a principal written with spiffe:// is kept as written and reported (it can never match)', (t) => {
  const mesh = meshFrom(yamlDocs(policy('p', '  rules: [{from: [{source: {principals: ["spiffe://cluster.local/ns/a/sa/b"]}}]}]')));
  t.deepEqual(authorization(mesh, 'app/p').rules, [{ clauses: [{ matches: [{ principals: [exact('spiffe://cluster.local/ns/a/sa/b')] }] }] }]);
  t.deepEqual(
    mesh.diagnostics.map((d) => [d.path, d.message]),
    [
      [
        'spec.rules[0]',
        'principal "spiffe://cluster.local/ns/a/sa/b" starts with spiffe://; Istio principals are written without it ("cluster.local/ns/<ns>/sa/<sa>"), so this one never matches',
      ],
    ],
  );
});
