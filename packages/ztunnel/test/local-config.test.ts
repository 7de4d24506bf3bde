import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { Identity } from '@ambit/mesh-core/identity';
import { authorize } from '../src/authz/evaluate.js';
import { LocalConfigError } from '../src/errors.js';
import { applyLocalConfig, loadLocalConfig, parseLocalConfig } from '../src/state/local-config.js';
import { StateStore } from '../src/state/store.js';

const LOCAL = `
workloads:
  - uid: Kubernetes//Pod/default/local
    name: local
    namespace: default
    service_account: local
    addresses: [127.0.0.1, "::1"]
    tunnel_protocol: HBONE
    node: local
    services:
      default/example.default.svc.cluster.local:
        ports: [{ service_port: 80, target_port: 8080 }]
    authorization_policies: [istio-system/istio_converted_static_strict]
    waypoint: { address: { address: 127.0.0.9 }, hbone_mtls_port: 15008 }
    capacity: { value: 2 }
  - uid: Kubernetes//Pod/default/plain
    name: plain
    namespace: default
    addresses: [127.0.0.2]
    node: local
services:
  - name: example
    namespace: default
    hostname: example.default.svc.cluster.local
    addresses: [{ network: "", address: 127.10.0.1 }]
    ports: [{ service_port: 80, target_port: 8080 }]
    subject_alt_names: [spiffe://cluster.local/ns/default/sa/local]
policies:
  - name: istio_converted_static_strict
    namespace: istio-system
    scope: WORKLOAD_SELECTOR
    action: DENY
    rules: [{ clauses: [{ matches: [{ not_principals: [{ presence: {} }] }] }] }]
  - name: deny-9999
    namespace: default
    scope: NAMESPACE
    action: DENY
    rules:
      - clauses:
          - matches: [{ destination_ports: [9999], source_ips: [10.0.0.0/8, "fd00::/8", 192.0.2.7] }]
`;

test('a local config file becomes one snapshot through the xDS decoders', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'zt-local-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'local.yaml');
  await writeFile(file, LOCAL);
  const config = await loadLocalConfig(file);
  t.is(config.addresses.length, 3);
  t.is(config.policies.length, 2);

  const store = new StateStore();
  const s = applyLocalConfig(store, config);
  t.is(s.generation, 1, 'both types in one snapshot');
  const local = s.findWorkloadByIp('::1');
  t.is(local?.uid, 'Kubernetes//Pod/default/local');
  t.is(local?.identity.uri, 'spiffe://cluster.local/ns/default/sa/local');
  t.is(local?.capacity, 2);
  t.deepEqual(local?.waypoint, { kind: 'address', address: { network: '', address: '127.0.0.9' }, hboneMtlsPort: 15008 });
  t.is(s.findServiceByVip('127.10.0.1')?.subjectAltNames[0], 'spiffe://cluster.local/ns/default/sa/local');
  t.deepEqual([...s.serviceEndpoints('default/example.default.svc.cluster.local').keys()], ['Kubernetes//Pod/default/local']);
  t.deepEqual(s.localWorkloads('local').map((w) => w.name), ['local'], 'plain is NONE, not proxied');
  t.deepEqual(s.namespacePolicies('default').deny[0]?.rules[0]?.[0]?.[0]?.sourceIps.map(String), ['10.0.0.0/8', 'fd00::/8', '192.0.2.7/32']);

  const request = { destination: { workload: local!, ip: '127.0.0.1', port: 8080 } };
  t.false(authorize(s, { ...request, source: { ip: '127.0.0.2' } }).allowed, 'the static STRICT policy denies plaintext');
  t.true(authorize(s, { ...request, source: { ip: '127.0.0.2', identity: new Identity('cluster.local', 'default', 'plain') } }).allowed);

  // Re-applying an edited file converges: what is gone is removed.
  const edited = parseLocalConfig(
    `
workloads:
  - { uid: Kubernetes//Pod/default/plain, name: plain, namespace: default, addresses: [127.0.0.3], node: local }
`,
    file,
  );
  const next = applyLocalConfig(store, edited);
  t.is(next.generation, 2);
  t.deepEqual([...next.workloads.keys()], ['Kubernetes//Pod/default/plain']);
  t.is(next.services.size, 0);
  t.is(next.policies.size, 0);
  t.is(next.findWorkloadByIp('127.0.0.3')?.name, 'plain');
  t.is(next.findWorkloadByIp('127.0.0.1'), undefined);
  t.is(applyLocalConfig(store, parseLocalConfig('', file)).workloads.size, 0, 'an empty file is an empty mesh');
});

function problems(text: string): readonly string[] {
  try {
    parseLocalConfig(text, 'local.yaml');
  } catch (err) {
    if (err instanceof LocalConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a LocalConfigError');
}

test('every problem in the file is reported with its path', (t) => {
  t.deepEqual(
    problems(`
workloads:
  - { uid: u1, name: a, namespace: default, addresses: [10.0.0.300], tunnel_protocol: HBOEN, nodee: x }
  - { uid: u2, name: b, namespace: default, node: 7, capacity: { value: -1 }, native_tunnel: "yes", services: { a/b: { ports: [{ service_port: 99999999999 }] } } }
  - { uid: u3, name: c, namespace: default, tunnel_protocol: LEGACY_ISTIO_MTLS }
  - { uid: u4, name: d, namespace: default }
  - { uid: u4, name: d, namespace: default }
  - just-a-string
services:
  - { name: s, namespace: default, hostname: s.default.svc, addresses: [{ address: nope }] }
  - { name: s, namespace: default, addresses: [] }
  - { name: s, namespace: default, hostname: s.default.svc, ports: x }
policies:
  - { name: p, namespace: default, rules: [{ clauses: [{ matches: [{ source_ips: [10.0.0.0/x], destination_ports: [8080] }] }] }] }
  - { name: q, namespace: default, action: AUDIT }
  - { name: r, namespace: default, rules: [{ clauses: [{ matches: [{ destination_ports: [0] }] }] }] }
extra: 1
`),
    [
      'extra: unknown section (want workloads, services or policies)',
      'workloads[0].addresses[0]: want an IP address, got "10.0.0.300"',
      'workloads[0].tunnel_protocol: "HBOEN" is not one of NONE, HBONE, LEGACY_ISTIO_MTLS',
      `workloads[0].nodee: unknown field of Workload (known: uid, name, namespace, addresses, hostname, network, tunnel_protocol, trust_domain, service_account, waypoint, network_gateway, node, canonical_name, canonical_revision, workload_type, workload_name, native_tunnel, application_tunnel, services, authorization_policies, status, cluster_id, locality, network_mode, extensions, capacity)`,
      'workloads[1].node: want a string',
      'workloads[1].capacity.value: want a whole number 0-4294967295',
      'workloads[1].native_tunnel: want true or false',
      'workloads[1].services["a/b"].ports[0].service_port: want a whole number 0-4294967295',
      'workloads[2]: workload u3: tunnel protocol LEGACY_ISTIO_MTLS is not supported (only NONE and HBONE)',
      'workloads[4]: u4 is already defined at workloads[3]',
      'workloads[5]: want a mapping of Workload fields',
      'services[0].addresses[0].address: want an IP address, got "nope"',
      'services[1]: service s has no hostname',
      'services[2].ports: want a list',
      'policies[0].rules[0].clauses[0].matches[0].source_ips[0]: "10.0.0.0/x" is not an address or CIDR',
      'policies[1].action: "AUDIT" is not one of ALLOW, DENY',
      'policies[2]: rules[0].clauses[0].matches[0].destination_ports[0]: port 0 is out of range 1-65535',
    ],
  );
  t.deepEqual(problems('workloads: {}\nservices: 3\n'), ['workloads: want a list', 'services: want a list']);
  t.deepEqual(problems('- a\n- b\n'), ['want a mapping with workloads, services and policies']);
  t.deepEqual(problems('policies:\n  - { name: p, namespace: default, rules: [{ clauses: [{ matches: [{ source_ips: [{ address: 10.0.0.0, length: 8, extra: 1 }] }] }] }] }\n'), [
    'policies[0].rules[0].clauses[0].matches[0].source_ips[0].extra: unknown field of Address (known: address, length)',
  ]);
  t.deepEqual(problems('services:\n  - { name: s, namespace: default, hostname: h, waypoint: { address: { address: 10.0.0.1 }, hostname: { namespace: a, hostname: b } } }\n'), [
    'services[0].waypoint: set only one of hostname, address (found hostname, address)',
  ]);
  t.deepEqual(problems('policies:\n  - { name: p, namespace: default }\n  - { name: p, namespace: default }\n'), ['policies[1]: policy default/p is already defined at policies[0]']);
  t.deepEqual(problems('policies:\n  - { name: p, namespace: default, rules: [{ clauses: [{ matches: [{ principals: [{ exact: a, prefix: b }] }] }] }] }\n'), [
    'policies[0].rules[0].clauses[0].matches[0].principals[0]: set only one of exact, prefix, suffix, presence (found exact, prefix)',
  ]);
  const syntax = problems('workloads: [\n');
  t.is(syntax.length, 1);
  t.regex(syntax[0]!, /Flow sequence|flow collection|Missing/i);
  t.regex(problems('a: 1\na: 2\n')[0]!, /unique/i);
});

test('an unreadable file is a LocalConfigError naming it', async (t) => {
  const missing = path.join(tmpdir(), 'zt-local-does-not-exist.yaml');
  const err = await t.throwsAsync(loadLocalConfig(missing), { instanceOf: LocalConfigError });
  t.is(err.code, 'ZT_ERR_LOCAL_CONFIG');
  t.is(err.path, missing);
  t.regex(err.message, /zt-local-does-not-exist\.yaml: cannot read: ENOENT/);
});
