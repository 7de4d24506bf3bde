import test from 'ava';
import type { Match } from '@ambit/protos';
import { Identity } from '@ambit/mesh-core/identity';
import { Authorizer } from '../src/authz/authorizer.js';
import { authorize, describeDecision, type AuthzDecision } from '../src/authz/evaluate.js';
import { policyMatches, type AuthzRequest } from '../src/authz/match.js';
import type { Policy } from '../src/authz/policy.js';
import { AuthzRequestError } from '../src/errors.js';
import { StateStore } from '../src/state/store.js';
import { capturingLogger, cidr, exact, policy, prefix, presence, suffix, workload, type PolicyOptions } from './fixtures/resources.js';

const SLEEP = new Identity('cluster.local', 'demo', 'sleep');
const LEGACY = new Identity('cluster.local', 'legacy', 'client');
const OTHER_TD = new Identity('example.org', 'demo', 'sleep');
const STRICT = 'istio-system/istio_converted_static_strict';

/** The static STRICT policy istiod sends (and our control plane): DENY when the peer has no identity. */
const strictPolicy = (): Policy =>
  policy('istio_converted_static_strict', { ns: 'istio-system', scope: 'WORKLOAD_SELECTOR', action: 'DENY', rules: [[[{ not_principals: [presence()] }]]] });

interface Case {
  readonly name: string;
  readonly policies: readonly Policy[];
  /** Selector policies the destination names. */
  readonly refs?: readonly string[];
  /** Destination namespace (default demo). */
  readonly ns?: string;
  /** Peer identity; `null` for plaintext (default sleep). */
  readonly identity?: Identity | null;
  readonly srcIp?: string;
  readonly dstIp?: string;
  readonly port?: number;
  /** [allowed, reason, deciding policy key] */
  readonly want: readonly [boolean, AuthzDecision['reason'], string?];
  /** The same for the dry-run outcome; absent means "no dry-run policy applies". */
  readonly dryRun?: readonly [boolean, AuthzDecision['reason'], string?];
}

const p = (name: string, opts: PolicyOptions & { rules?: Match[][][] } = {}): Policy => policy(name, { ns: 'demo', ...opts });
/** One rule, one clause, one match. */
const one = (match: Match): Match[][][] => [[[match]]];

const CASES: readonly Case[] = [
  // Order and defaults.
  { name: 'no policies: allow', policies: [], want: [true, 'no-allow-policies'] },
  {
    name: 'DENY is checked before ALLOW',
    policies: [p('allow-all', { rules: [[]] }), p('deny-sleep', { action: 'DENY', rules: one({ principals: [exact('cluster.local/ns/demo/sa/sleep')] }) })],
    want: [false, 'deny-policy', 'demo/deny-sleep'],
  },
  { name: 'a DENY that does not match and no ALLOW: allow', policies: [p('deny-legacy', { action: 'DENY', rules: one({ namespaces: [exact('legacy')] }) })], want: [true, 'no-allow-policies'] },
  { name: 'ALLOW that does not match: deny', policies: [p('allow-legacy', { rules: one({ namespaces: [exact('legacy')] }) })], want: [false, 'no-allow-match'] },
  {
    name: 'any matching ALLOW: allow',
    policies: [p('allow-legacy', { rules: one({ namespaces: [exact('legacy')] }) }), p('allow-demo', { rules: one({ namespaces: [exact('demo')] }) })],
    want: [true, 'allow-policy', 'demo/allow-demo'],
  },
  // Structure.
  { name: 'an ALLOW without rules never matches', policies: [p('empty')], want: [false, 'no-allow-match'] },
  { name: 'a DENY without rules never matches', policies: [p('empty', { action: 'DENY' })], want: [true, 'no-allow-policies'] },
  { name: 'a rule without clauses matches', policies: [p('r', { action: 'DENY', rules: [[]] })], want: [false, 'deny-policy', 'demo/r'] },
  { name: 'an empty clause matches', policies: [p('c', { action: 'DENY', rules: [[[]]] })], want: [false, 'deny-policy', 'demo/c'] },
  { name: 'an empty match matches', policies: [p('m', { action: 'DENY', rules: [[[{}]]] })], want: [false, 'deny-policy', 'demo/m'] },
  {
    name: 'an empty clause does not rescue a failing one (clauses AND)',
    policies: [p('and', { rules: [[[], [{ destination_ports: [9090] }]]] })],
    want: [false, 'no-allow-match'],
  },
  {
    name: 'clauses AND: every clause must hold',
    policies: [p('and', { rules: [[[{ namespaces: [exact('demo')] }], [{ destination_ports: [8080] }]]] })],
    want: [true, 'allow-policy', 'demo/and'],
  },
  {
    name: 'matches OR within a clause',
    policies: [p('or', { rules: [[[{ namespaces: [exact('legacy')] }, { destination_ports: [8080] }]]] })],
    want: [true, 'allow-policy', 'demo/or'],
  },
  {
    name: 'rules OR',
    policies: [p('rules', { rules: [[[{ namespaces: [exact('legacy')] }]], [[{ destination_ports: [8080] }]]] })],
    want: [true, 'allow-policy', 'demo/rules'],
  },
  {
    name: 'fields AND within a match',
    policies: [p('fields', { rules: one({ namespaces: [exact('demo')], destination_ports: [9090] }) })],
    want: [false, 'no-allow-match'],
  },
  // Principals: compared without spiffe://.
  { name: 'principal exact', policies: [p('x', { rules: one({ principals: [exact('cluster.local/ns/demo/sa/sleep')] }) })], want: [true, 'allow-policy', 'demo/x'] },
  { name: 'principal exact, another SA', policies: [p('x', { rules: one({ principals: [exact('cluster.local/ns/demo/sa/other')] }) })], want: [false, 'no-allow-match'] },
  {
    name: 'a principal written with spiffe:// never matches',
    policies: [p('x', { rules: one({ principals: [exact('spiffe://cluster.local/ns/demo/sa/sleep')] }) })],
    want: [false, 'no-allow-match'],
  },
  { name: 'principal prefix', policies: [p('x', { rules: one({ principals: [prefix('cluster.local/ns/demo/')] }) })], want: [true, 'allow-policy', 'demo/x'] },
  { name: 'principal prefix is after spiffe://', policies: [p('x', { rules: one({ principals: [prefix('spiffe')] }) })], want: [false, 'no-allow-match'] },
  { name: 'principal suffix', policies: [p('x', { rules: one({ principals: [suffix('/sa/sleep')] }) })], want: [true, 'allow-policy', 'demo/x'] },
  { name: 'principal suffix mismatch', policies: [p('x', { rules: one({ principals: [suffix('/sa/sleepy')] }) })], want: [false, 'no-allow-match'] },
  { name: 'principal suffix longer than the principal', policies: [p('x', { rules: one({ principals: [suffix('spiffe://cluster.local/ns/demo/sa/sleep')] }) })], want: [false, 'no-allow-match'] },
  { name: 'principal presence', policies: [p('x', { rules: one({ principals: [presence()] }) })], want: [true, 'allow-policy', 'demo/x'] },
  { name: 'trust domain is part of the principal', identity: OTHER_TD, policies: [p('x', { rules: one({ principals: [exact('cluster.local/ns/demo/sa/sleep')] }) })], want: [false, 'no-allow-match'] },
  { name: 'not_principals', policies: [p('x', { action: 'DENY', rules: one({ not_principals: [prefix('cluster.local/ns/demo/')] }) })], want: [true, 'no-allow-policies'] },
  { name: 'not_principals, other namespace', identity: LEGACY, policies: [p('x', { action: 'DENY', rules: one({ not_principals: [prefix('cluster.local/ns/demo/')] }) })], want: [false, 'deny-policy', 'demo/x'] },
  // Namespaces and service accounts.
  { name: 'namespace exact', identity: LEGACY, policies: [p('x', { action: 'DENY', rules: one({ namespaces: [exact('legacy')] }) })], want: [false, 'deny-policy', 'demo/x'] },
  { name: 'namespace prefix', policies: [p('x', { rules: one({ namespaces: [prefix('de')] }) })], want: [true, 'allow-policy', 'demo/x'] },
  { name: 'namespace suffix', policies: [p('x', { rules: one({ namespaces: [suffix('mo')] }) })], want: [true, 'allow-policy', 'demo/x'] },
  { name: 'namespace presence', policies: [p('x', { rules: one({ namespaces: [presence()] }) })], want: [true, 'allow-policy', 'demo/x'] },
  { name: 'not_namespaces', policies: [p('x', { rules: one({ not_namespaces: [exact('legacy')] }) })], want: [true, 'allow-policy', 'demo/x'] },
  { name: 'not_namespaces excludes', identity: LEGACY, policies: [p('x', { rules: one({ not_namespaces: [exact('legacy')] }) })], want: [false, 'no-allow-match'] },
  { name: 'service account', policies: [p('x', { rules: one({ service_accounts: [{ namespace: 'demo', serviceAccount: 'sleep' }] }) })], want: [true, 'allow-policy', 'demo/x'] },
  {
    name: 'service account in another namespace',
    policies: [p('x', { rules: one({ service_accounts: [{ namespace: 'legacy', serviceAccount: 'sleep' }] }) })],
    want: [false, 'no-allow-match'],
  },
  {
    name: 'not_service_accounts',
    policies: [p('x', { action: 'DENY', rules: one({ not_service_accounts: [{ namespace: 'demo', serviceAccount: 'sleep' }] }) })],
    want: [true, 'no-allow-policies'],
  },
  {
    name: 'not_service_accounts, another SA',
    identity: LEGACY,
    policies: [p('x', { action: 'DENY', rules: one({ not_service_accounts: [{ namespace: 'demo', serviceAccount: 'sleep' }] }) })],
    want: [false, 'deny-policy', 'demo/x'],
  },
  // Addresses and ports.
  { name: 'source CIDR v4', policies: [p('x', { rules: one({ source_ips: [cidr('10.244.0.0/16')] }) })], want: [true, 'allow-policy', 'demo/x'] },
  { name: 'source CIDR v4 mismatch', srcIp: '10.245.0.1', policies: [p('x', { rules: one({ source_ips: [cidr('10.244.0.0/16')] }) })], want: [false, 'no-allow-match'] },
  { name: 'source CIDR v4 against an IPv4-mapped peer', srcIp: '::ffff:10.244.1.10', policies: [p('x', { rules: one({ source_ips: [cidr('10.244.0.0/16')] }) })], want: [true, 'allow-policy', 'demo/x'] },
  { name: 'source CIDR v6', srcIp: 'fd00:10:244:1::10', policies: [p('x', { rules: one({ source_ips: [cidr('fd00:10:244::/48')] }) })], want: [true, 'allow-policy', 'demo/x'] },
  { name: 'source CIDR v6 never matches a v4 peer', policies: [p('x', { rules: one({ source_ips: [cidr('::/0')] }) })], want: [false, 'no-allow-match'] },
  { name: 'not_source_ips', policies: [p('x', { action: 'DENY', rules: one({ not_source_ips: [cidr('10.244.0.0/16')] }) })], want: [true, 'no-allow-policies'] },
  { name: 'not_source_ips, outside', srcIp: '203.0.113.9', policies: [p('x', { action: 'DENY', rules: one({ not_source_ips: [cidr('10.244.0.0/16')] }) })], want: [false, 'deny-policy', 'demo/x'] },
  { name: 'destination CIDR v4', policies: [p('x', { rules: one({ destination_ips: [cidr('10.244.2.20')] }) })], want: [true, 'allow-policy', 'demo/x'] },
  { name: 'destination CIDR v6', dstIp: 'fd00:10:244:2::20', policies: [p('x', { rules: one({ destination_ips: [cidr('fd00:10:244:2::/64')] }) })], want: [true, 'allow-policy', 'demo/x'] },
  { name: 'not_destination_ips', policies: [p('x', { rules: one({ not_destination_ips: [cidr('10.244.2.0/24')] }) })], want: [false, 'no-allow-match'] },
  { name: 'destination port', policies: [p('x', { rules: one({ destination_ports: [9090, 8080] }) })], want: [true, 'allow-policy', 'demo/x'] },
  { name: 'destination port is the target port', port: 8000, policies: [p('x', { rules: one({ destination_ports: [8080] }) })], want: [false, 'no-allow-match'] },
  { name: 'not_destination_ports', policies: [p('x', { action: 'DENY', rules: one({ not_destination_ports: [9090] }) })], want: [false, 'deny-policy', 'demo/x'] },
  { name: 'not_destination_ports, exempt port', port: 9090, policies: [p('x', { action: 'DENY', rules: one({ not_destination_ports: [9090] }) })], want: [true, 'no-allow-policies'] },
  // Plaintext: no identity.
  { name: 'STRICT static policy denies plaintext', identity: null, refs: [STRICT], policies: [strictPolicy()], want: [false, 'deny-policy', STRICT] },
  { name: 'STRICT static policy admits mTLS', refs: [STRICT], policies: [strictPolicy()], want: [true, 'no-allow-policies'] },
  { name: 'STRICT static policy applies only where named', identity: null, policies: [strictPolicy()], want: [true, 'no-allow-policies'] },
  { name: 'plaintext: principal presence fails', identity: null, policies: [p('x', { rules: one({ principals: [presence()] }) })], want: [false, 'no-allow-match'] },
  { name: 'plaintext: namespace match fails', identity: null, policies: [p('x', { rules: one({ namespaces: [prefix('')] }) })], want: [false, 'no-allow-match'] },
  { name: 'plaintext: service account match fails', identity: null, policies: [p('x', { rules: one({ service_accounts: [{ namespace: 'demo', serviceAccount: 'sleep' }] }) })], want: [false, 'no-allow-match'] },
  { name: 'plaintext: not_namespaces holds', identity: null, policies: [p('x', { rules: one({ not_namespaces: [exact('legacy')] }) })], want: [true, 'allow-policy', 'demo/x'] },
  { name: 'plaintext: IP and port matches still work', identity: null, policies: [p('x', { rules: one({ source_ips: [cidr('10.244.0.0/16')], destination_ports: [8080] }) })], want: [true, 'allow-policy', 'demo/x'] },
  {
    name: 'a port-level PERMISSIVE exception (converted PeerAuthentication) admits plaintext on that port only',
    identity: null,
    port: 9090,
    refs: ['demo/converted_peer_authentication_httpbin'],
    policies: [p('converted_peer_authentication_httpbin', { scope: 'WORKLOAD_SELECTOR', action: 'DENY', rules: [[[{ not_principals: [presence()] }], [{ not_destination_ports: [9090] }]]] })],
    want: [true, 'no-allow-policies'],
  },
  {
    name: '…and denies it elsewhere',
    identity: null,
    refs: ['demo/converted_peer_authentication_httpbin'],
    policies: [p('converted_peer_authentication_httpbin', { scope: 'WORKLOAD_SELECTOR', action: 'DENY', rules: [[[{ not_principals: [presence()] }], [{ not_destination_ports: [9090] }]]] })],
    want: [false, 'deny-policy', 'demo/converted_peer_authentication_httpbin'],
  },
  // Dry run.
  { name: 'a matching dry-run DENY does not deny', policies: [p('dry', { action: 'DENY', dryRun: true, rules: [[]] })], want: [true, 'no-allow-policies'], dryRun: [false, 'deny-policy', 'demo/dry'] },
  {
    name: 'a dry-run ALLOW alone does not make ALLOW policies exist',
    policies: [p('dry', { dryRun: true, rules: one({ namespaces: [exact('legacy')] }) })],
    want: [true, 'no-allow-policies'],
    dryRun: [false, 'no-allow-match'],
  },
  {
    name: 'a matching dry-run ALLOW next to a non-matching enforced one',
    policies: [p('dry', { dryRun: true, rules: [[]] }), p('enforced', { rules: one({ namespaces: [exact('legacy')] }) })],
    want: [false, 'no-allow-match'],
    dryRun: [true, 'allow-policy', 'demo/dry'],
  },
  {
    name: 'a dry-run selector policy named by the workload',
    refs: ['demo/dry-sel'],
    policies: [p('dry-sel', { scope: 'WORKLOAD_SELECTOR', action: 'DENY', dryRun: true, rules: [[]] })],
    want: [true, 'no-allow-policies'],
    dryRun: [false, 'deny-policy', 'demo/dry-sel'],
  },
  {
    name: 'a dry-run global policy',
    policies: [policy('dry-global', { ns: 'istio-system', scope: 'GLOBAL', action: 'DENY', dryRun: true, rules: one({ namespaces: [exact('legacy')] }) })],
    want: [true, 'no-allow-policies'],
    dryRun: [true, 'no-allow-policies'],
  },
  // Scope.
  { name: 'a global policy applies in every namespace', ns: 'other', policies: [policy('g', { ns: 'istio-system', scope: 'GLOBAL', action: 'DENY', rules: [[]] })], want: [false, 'deny-policy', 'istio-system/g'] },
  { name: 'a namespace policy in another namespace does not apply', policies: [policy('n', { ns: 'legacy', action: 'DENY', rules: [[]] })], want: [true, 'no-allow-policies'] },
  {
    name: 'a NAMESPACE policy of the root namespace is not global',
    policies: [policy('n', { ns: 'istio-system', scope: 'NAMESPACE', action: 'DENY', rules: [[]] })],
    want: [true, 'no-allow-policies'],
  },
  { name: 'a selector policy applies when named', refs: ['demo/sel'], policies: [p('sel', { scope: 'WORKLOAD_SELECTOR', action: 'DENY', rules: [[]] })], want: [false, 'deny-policy', 'demo/sel'] },
  { name: 'a selector policy not named does not apply', policies: [p('sel', { scope: 'WORKLOAD_SELECTOR', action: 'DENY', rules: [[]] })], want: [true, 'no-allow-policies'] },
  { name: 'a named selector policy that is not held is skipped', refs: ['demo/missing'], policies: [], want: [true, 'no-allow-policies'] },
  {
    name: 'global, namespace and selector ALLOWs together: one match is enough',
    refs: ['demo/sel'],
    policies: [
      policy('g', { ns: 'istio-system', scope: 'GLOBAL', rules: one({ namespaces: [exact('legacy')] }) }),
      p('n', { rules: one({ destination_ports: [1] }) }),
      p('sel', { scope: 'WORKLOAD_SELECTOR', rules: one({ principals: [suffix('/sa/sleep')] }) }),
    ],
    want: [true, 'allow-policy', 'demo/sel'],
  },
  {
    name: 'a selector ALLOW makes ALLOW policies exist',
    refs: ['demo/sel'],
    policies: [p('sel', { scope: 'WORKLOAD_SELECTOR', rules: one({ namespaces: [exact('legacy')] }) })],
    want: [false, 'no-allow-match'],
  },
];

function requestFor(c: Case): AuthzRequest {
  const ns = c.ns ?? 'demo';
  const destination = workload('httpbin', { ns, ips: ['10.244.2.20'], policies: [...(c.refs ?? [])] });
  const identity = c.identity === null ? undefined : (c.identity ?? SLEEP);
  return {
    source: { ip: c.srcIp ?? '10.244.1.10', ...(identity !== undefined ? { identity } : {}) },
    destination: { workload: destination, ip: c.dstIp ?? '10.244.2.20', port: c.port ?? 8080 },
  };
}

function summary(d: AuthzDecision | undefined): readonly unknown[] | undefined {
  if (d === undefined) return undefined;
  return d.policy !== undefined ? [d.allowed, d.reason, d.policy.key] : [d.allowed, d.reason];
}

for (const c of CASES) {
  test(`authz: ${c.name}`, (t) => {
    const store = new StateStore();
    store.apply({ authorizations: { upserts: c.policies, removals: [] } });
    const decision = authorize(store.current, requestFor(c));
    t.deepEqual(summary(decision), c.want);
    t.deepEqual(summary(decision.dryRun), c.dryRun);
    t.true(Object.isFrozen(decision));
  });
}

test('decisions without dry run are shared objects: repeated evaluation allocates no result', (t) => {
  const store = new StateStore();
  store.apply({ authorizations: { upserts: [p('allow', { rules: one({ source_ips: [cidr('10.244.0.0/16')], principals: [suffix('/sa/sleep')] }) })], removals: [] } });
  const request = requestFor({ name: '', policies: [], want: [true, 'no-allow-policies'] });
  const first = authorize(store.current, request);
  t.is(authorize(store.current, request), first);
  t.is(authorize(store.current, { ...request, source: { ...request.source, ip: '10.9.9.9' } }), authorize(store.current, { ...request, source: { ip: '10.8.8.8' } }));
  t.is(describeDecision(first), 'allowed by policy demo/allow');
});

test('describeDecision', (t) => {
  const store = new StateStore();
  store.apply({ authorizations: { upserts: [p('d', { action: 'DENY', rules: one({ destination_ports: [1] }) }), p('a', { rules: one({ destination_ports: [2] }) })], removals: [] } });
  const request = (port: number): AuthzRequest => ({ ...requestFor({ name: '', policies: [], want: [true, 'no-allow-policies'] }), destination: { ...requestFor({ name: '', policies: [], want: [true, 'no-allow-policies'] }).destination, port } });
  t.is(describeDecision(authorize(store.current, request(1))), 'denied by policy demo/d');
  t.is(describeDecision(authorize(store.current, request(2))), 'allowed by policy demo/a');
  t.is(describeDecision(authorize(store.current, request(3))), 'denied: no ALLOW policy matched');
  t.is(describeDecision(authorize(new StateStore().current, request(3))), 'allowed: no ALLOW policy applies');
});

test('a malformed request is an AuthzRequestError, raised only where it matters', (t) => {
  const store = new StateStore();
  store.apply({ authorizations: { upserts: [p('cidr', { rules: one({ source_ips: [cidr('10.0.0.0/8')] }) })], removals: [] } });
  const good = requestFor({ name: '', policies: [], want: [true, 'no-allow-policies'] });
  const badSource = { ...good, source: { ...good.source, ip: 'not-an-ip' } };
  const err = t.throws(() => authorize(store.current, badSource), { instanceOf: AuthzRequestError });
  t.is(err.code, 'ZT_ERR_AUTHZ_REQUEST');
  t.is(err.message, 'source address "not-an-ip" is not an IP address');
  t.throws(() => policyMatches(policy('d', { rules: one({ destination_ips: [cidr('10.0.0.0/8')] }) }), { ...good, destination: { ...good.destination, ip: '10.0.0.300' } }), {
    instanceOf: AuthzRequestError,
    message: 'destination address "10.0.0.300" is not an IP address',
  });
  t.throws(() => authorize(store.current, { ...good, destination: { ...good.destination, port: 70000 } }), {
    instanceOf: AuthzRequestError,
    message: 'destination port 70000 is not a port number',
  });
  // Without an address condition the address is never looked at.
  t.true(authorize(new StateStore().current, badSource).allowed);
  // After a failed request the next one evaluates normally.
  t.true(authorize(store.current, good).allowed);
});

test('Authorizer logs decisions at debug and dry-run outcomes at info', (t) => {
  const { logger, lines } = capturingLogger('debug');
  const authorizer = new Authorizer({ logger });
  const store = new StateStore();
  store.apply({ authorizations: { upserts: [p('dry', { action: 'DENY', dryRun: true, rules: one({ destination_ports: [9090] }) })], removals: [] } });
  const request = requestFor({ name: '', policies: [], want: [true, 'no-allow-policies'] });
  const decision = authorizer.check(store.current, { ...request, destination: { ...request.destination, port: 9090 } });
  t.true(decision.allowed);
  t.like(lines.at(-1), {
    level: 30,
    component: 'authz',
    msg: 'dry-run: denied by policy demo/dry (enforced: allowed: no ALLOW policy applies)',
    'src.ip': '10.244.1.10',
    'src.identity': 'spiffe://cluster.local/ns/demo/sa/sleep',
    'dst.workload': 'Kubernetes//Pod/demo/httpbin',
    'dst.addr': '10.244.2.20:9090',
    allowed: true,
    'dry_run.allowed': false,
    'dry_run.policy': 'demo/dry',
  });
  authorizer.check(new StateStore().current, request);
  t.like(lines.at(-1), { level: 20, msg: 'allowed: no ALLOW policy applies', allowed: true });

  const quiet = capturingLogger('info');
  new Authorizer({ logger: quiet.logger }).check(new StateStore().current, request);
  t.is(quiet.lines.length, 0, 'nothing at info without dry-run policies');
});
