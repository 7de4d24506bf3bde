import test from 'ava';
import { authorizationCodec, type Authorization } from '@ambit/protos';
import { authorizationResourceType } from '../src/state/resource-types.js';
import { cidr, decodePolicyResource, exact, prefix, presence, protoPolicy, suffix } from './fixtures/resources.js';

function reasonOf(authorization: Authorization, name = ''): string {
  const result = decodePolicyResource(authorization, name);
  if (result.ok) throw new Error('expected a rejection');
  return result.reason;
}

function rawReason(authorization: object): string {
  const type = authorizationCodec().type;
  const result = authorizationResourceType().decode(type.encode(type.fromObject(authorization)).finish(), '');
  if (result.ok) throw new Error('expected a rejection');
  return result.reason;
}

const M = 'rules[0].clauses[0].matches[0]';

test('a policy compiles: key, scope, action, dry run, every match field', (t) => {
  const result = decodePolicyResource(
    protoPolicy('p', {
      ns: 'demo',
      scope: 'WORKLOAD_SELECTOR',
      action: 'DENY',
      dryRun: true,
      rules: [
        [
          [
            {
              namespaces: [exact('a')],
              not_namespaces: [prefix('kube-')],
              service_accounts: [{ namespace: 'demo', serviceAccount: 'sleep' }],
              not_service_accounts: [{ namespace: 'demo', serviceAccount: 'bad' }],
              principals: [suffix('/sa/sleep')],
              not_principals: [presence()],
              source_ips: [cidr('10.244.7.1/16')],
              not_source_ips: [cidr('fd00::/8')],
              destination_ips: [cidr('10.96.0.20')],
              not_destination_ips: [cidr('192.0.2.0/24')],
              destination_ports: [8080],
              not_destination_ports: [9090],
            },
          ],
          [],
        ],
        [],
      ],
    }),
    'demo/p',
  );
  if (!result.ok) return t.fail(result.reason);
  const p = result.value;
  t.like(p, { key: 'demo/p', name: 'p', namespace: 'demo', scope: 'WORKLOAD_SELECTOR', action: 'DENY', dryRun: true });
  t.is(p.rules.length, 2);
  t.is(p.rules[0]!.length, 2);
  t.is(p.rules[0]![1]!.length, 0, 'an empty clause stays empty');
  t.is(p.rules[1]!.length, 0, 'a rule without clauses stays so');
  t.deepEqual(JSON.parse(JSON.stringify(p.rules[0]![0]![0])), {
    namespaces: [{ type: 'exact', value: 'a' }],
    notNamespaces: [{ type: 'prefix', value: 'kube-' }],
    serviceAccounts: [{ namespace: 'demo', serviceAccount: 'sleep' }],
    notServiceAccounts: [{ namespace: 'demo', serviceAccount: 'bad' }],
    principals: [{ type: 'suffix', value: '/sa/sleep' }],
    notPrincipals: [{ type: 'presence', value: '' }],
    sourceIps: ['10.244.0.0/16'],
    notSourceIps: ['fd00::/8'],
    destinationIps: ['10.96.0.20/32'],
    notDestinationIps: ['192.0.2.0/24'],
    destinationPorts: [8080],
    notDestinationPorts: [9090],
  });
  t.true(Object.isFrozen(p) && Object.isFrozen(p.rules) && Object.isFrozen(p.rules[0]![0]![0]));

  const defaults = decodePolicyResource({ name: 'q', namespace: 'istio-system' });
  if (!defaults.ok) return t.fail(defaults.reason);
  t.like(defaults.value, { scope: 'GLOBAL', action: 'ALLOW', dryRun: false });
  t.deepEqual(defaults.value.rules, []);
  t.is(authorizationResourceType().nameOf!(defaults.value), 'istio-system/q');
});

test('authorization rejections, each with its reason', (t) => {
  const m = (match: object): Authorization => protoPolicy('p', { rules: [[[match]]] });
  const cases: [Authorization, string][] = [
    [{ namespace: 'default' }, 'authorization has no name'],
    [{ name: 'p' }, 'authorization p has no namespace'],
    [{ name: 'a/b', namespace: 'default' }, 'authorization name "a/b" contains "/"'],
    [{ name: 'p', namespace: 'x/y' }, 'authorization namespace "x/y" contains "/"'],
    [m({ principals: [exact('a'), {}] }), `${M}.principals[1] has no match type (exact, prefix, suffix or presence)`],
    [m({ not_namespaces: [{}] }), `${M}.not_namespaces[0] has no match type (exact, prefix, suffix or presence)`],
    [m({ service_accounts: [{ serviceAccount: 'sleep' }] }), `${M}.service_accounts[0] needs both namespace and serviceAccount`],
    [m({ not_service_accounts: [{ namespace: 'demo' }] }), `${M}.not_service_accounts[0] needs both namespace and serviceAccount`],
    [m({ source_ips: [{ address: Buffer.from([10, 0, 0]), length: 8 }] }), `${M}.source_ips[0]: address has 3 bytes (want 4 or 16)`],
    [m({ not_source_ips: [{ length: 0 }] }), `${M}.not_source_ips[0]: address has 0 bytes (want 4 or 16)`],
    [m({ destination_ips: [{ address: Buffer.from([10, 0, 0, 0]), length: 33 }] }), `${M}.destination_ips[0]: prefix length 33 is out of range 0-32`],
    [m({ not_destination_ips: [{ address: Buffer.alloc(16), length: 200 }] }), `${M}.not_destination_ips[0]: prefix length 200 is out of range 0-128`],
    [m({ destination_ports: [80, 0] }), `${M}.destination_ports[1]: port 0 is out of range 1-65535`],
    [m({ not_destination_ports: [65536] }), `${M}.not_destination_ports[0]: port 65536 is out of range 1-65535`],
    [
      protoPolicy('p', { rules: [[[{}]], [[{}], [{}, { destination_ports: [70000] }]]] }),
      'rules[1].clauses[1].matches[1].destination_ports[0]: port 70000 is out of range 1-65535',
    ],
  ];
  for (const [authorization, reason] of cases) t.is(reasonOf(authorization), reason);
  t.is(reasonOf(protoPolicy('p'), 'default/q'), 'resource name "default/q" does not match the authorization\'s namespace/name "default/p"');
  t.is(rawReason({ name: 'p', namespace: 'default', scope: 5 }), 'unknown scope 5');
  t.is(rawReason({ name: 'p', namespace: 'default', action: 2 }), 'unknown action 2 (AUDIT and CUSTOM are not supported at L4)');
});

test('bytes that are not an Authorization are rejected with the decoder error', (t) => {
  const result = authorizationResourceType().decode(Uint8Array.of(0x2a, 0x05, 0x01), 'x');
  t.false(result.ok);
  if (!result.ok) t.regex(result.reason, /^cannot decode istio\.security\.Authorization: /);
});
