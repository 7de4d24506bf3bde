/**
 * The realistic example (test/fixtures/realistic, split across files; deploy/examples/mesh.yaml in one
 * file) computed to the exact Address and Authorization resources istiod would send.
 */
import test from 'ava';
import path from 'node:path';
import type { Address, Authorization, Workload } from '@ambit/protos';
import { addressCodec, authorizationCodec } from '@ambit/protos';
import { MeshModel } from '../src/model/mesh-model.js';
import { EXAMPLE, FIXTURES, ip, wireProblems } from './helpers.js';

const REALISTIC = path.join(FIXTURES, 'realistic');

const STRICT = 'istio-system/istio_converted_static_strict';
const presence = { presence: {}, match_type: 'presence' as const };
const exact = (value: string) => ({ exact: value, match_type: 'exact' as const });

function baseWorkload(ns: string, name: string): Pick<Workload, 'uid' | 'name' | 'namespace' | 'trust_domain' | 'cluster_id'> {
  return { uid: `Kubernetes//Pod/${ns}/${name}`, name, namespace: ns, trust_domain: 'cluster.local', cluster_id: 'Kubernetes' };
}

const httpbinServices = {
  'demo/httpbin.demo.svc.cluster.local': {
    ports: [
      { service_port: 8000, target_port: 8080 },
      { service_port: 9090, target_port: 9090 },
    ],
  },
};
const httpbinPolicies = ['demo/httpbin', 'demo/httpbin-get-only', 'demo/converted_peer_authentication_httpbin-metrics'];

const expectedWorkloads: Record<string, Workload> = {
  'Kubernetes//Pod/demo/httpbin-7f9c7b8d5c-q8w4n': {
    ...baseWorkload('demo', 'httpbin-7f9c7b8d5c-q8w4n'),
    addresses: [ip('10.244.2.20'), ip('fd00:10:244:2::20')],
    tunnel_protocol: 'HBONE',
    service_account: 'httpbin',
    node: 'node-b',
    canonical_name: 'httpbin',
    canonical_revision: 'v1',
    workload_type: 'DEPLOYMENT',
    workload_name: 'httpbin',
    services: httpbinServices,
    authorization_policies: httpbinPolicies,
    status: 'HEALTHY',
    locality: { region: 'us-east1', zone: 'us-east1-c', subzone: 'rack-7' },
  },
  'Kubernetes//Pod/demo/httpbin-7f9c7b8d5c-zt6mv': {
    ...baseWorkload('demo', 'httpbin-7f9c7b8d5c-zt6mv'),
    addresses: [ip('10.244.1.11')],
    tunnel_protocol: 'HBONE',
    service_account: 'httpbin',
    node: 'node-a',
    canonical_name: 'httpbin',
    canonical_revision: 'v1',
    workload_type: 'DEPLOYMENT',
    workload_name: 'httpbin',
    services: httpbinServices,
    authorization_policies: httpbinPolicies,
    status: 'UNHEALTHY',
    locality: { region: 'us-east1', zone: 'us-east1-b' },
  },
  'Kubernetes//Pod/demo/sleep-6d68f49858-7xk2p': {
    ...baseWorkload('demo', 'sleep-6d68f49858-7xk2p'),
    addresses: [ip('10.244.1.10')],
    tunnel_protocol: 'HBONE',
    service_account: 'sleep',
    node: 'node-a',
    canonical_name: 'sleep',
    canonical_revision: 'latest',
    workload_type: 'DEPLOYMENT',
    workload_name: 'sleep',
    services: { 'demo/sleep.demo.svc.cluster.local': { ports: [{ service_port: 80, target_port: 80 }] } },
    authorization_policies: [STRICT],
    status: 'HEALTHY',
    locality: { region: 'us-east1', zone: 'us-east1-b' },
  },
  'Kubernetes//Pod/demo/waypoint-5c8d9f7b6-hw9zl': {
    ...baseWorkload('demo', 'waypoint-5c8d9f7b6-hw9zl'),
    addresses: [ip('10.244.1.12')],
    tunnel_protocol: 'NONE',
    service_account: 'waypoint',
    node: 'node-a',
    canonical_name: 'waypoint',
    canonical_revision: 'latest',
    workload_type: 'DEPLOYMENT',
    workload_name: 'waypoint',
    services: {
      'demo/waypoint.demo.svc.cluster.local': {
        ports: [
          { service_port: 15008, target_port: 15008 },
          { service_port: 15021, target_port: 15021 },
        ],
      },
    },
    authorization_policies: [STRICT],
    status: 'HEALTHY',
    locality: { region: 'us-east1', zone: 'us-east1-b' },
  },
  'Kubernetes//Pod/legacy/client': {
    ...baseWorkload('legacy', 'client'),
    addresses: [ip('10.244.2.30')],
    tunnel_protocol: 'NONE',
    service_account: 'default',
    node: 'node-b',
    canonical_name: 'client',
    canonical_revision: 'latest',
    workload_type: 'POD',
    workload_name: 'client',
    status: 'HEALTHY',
    locality: { region: 'us-east1', zone: 'us-east1-c', subzone: 'rack-7' },
  },
};

const waypointAddress = { address: { address: ip('10.96.0.30') }, destination: 'address' as const, hbone_mtls_port: 15008 };

const expectedServices: Record<string, Address> = {
  'demo/httpbin.demo.svc.cluster.local': {
    type: 'service',
    service: {
      name: 'httpbin',
      namespace: 'demo',
      hostname: 'httpbin.demo.svc.cluster.local',
      addresses: [{ address: ip('10.96.0.20') }, { address: ip('fd00:10:96::20') }],
      // The named target port (http-web) is resolved per pod, in the workloads' services map.
      ports: [{ service_port: 8000 }, { service_port: 9090, target_port: 9090 }],
      waypoint: waypointAddress,
      ip_families: 'DUAL',
    },
  },
  'demo/sleep.demo.svc.cluster.local': {
    type: 'service',
    service: {
      name: 'sleep',
      namespace: 'demo',
      hostname: 'sleep.demo.svc.cluster.local',
      addresses: [{ address: ip('10.96.0.10') }],
      ports: [{ service_port: 80, target_port: 80 }],
    },
  },
  'demo/waypoint.demo.svc.cluster.local': {
    type: 'service',
    service: {
      name: 'waypoint',
      namespace: 'demo',
      hostname: 'waypoint.demo.svc.cluster.local',
      addresses: [{ address: ip('10.96.0.30') }],
      ports: [
        { service_port: 15008, target_port: 15008 },
        { service_port: 15021, target_port: 15021 },
      ],
    },
  },
};

const expectedAuthorizations: Record<string, Authorization> = {
  'demo/converted_peer_authentication_httpbin-metrics': {
    name: 'converted_peer_authentication_httpbin-metrics',
    namespace: 'demo',
    scope: 'WORKLOAD_SELECTOR',
    action: 'DENY',
    // Deny when the destination port is not 9090 and there is no peer identity (plaintext).
    rules: [{ clauses: [{ matches: [{ not_destination_ports: [9090] }] }, { matches: [{ not_principals: [presence] }] }] }],
  },
  'demo/deny-legacy': {
    name: 'deny-legacy',
    namespace: 'demo',
    scope: 'NAMESPACE',
    action: 'DENY',
    rules: [{ clauses: [{ matches: [{ namespaces: [exact('legacy')] }] }] }],
  },
  'demo/httpbin': {
    name: 'httpbin',
    namespace: 'demo',
    scope: 'WORKLOAD_SELECTOR',
    action: 'ALLOW',
    rules: [
      {
        clauses: [
          { matches: [{ destination_ports: [8080] }] },
          { matches: [{ principals: [exact('cluster.local/ns/demo/sa/sleep'), exact('cluster.local/ns/demo/sa/waypoint')] }] },
        ],
      },
      {
        clauses: [
          { matches: [{ destination_ports: [9090] }] },
          {
            matches: [
              { namespaces: [{ prefix: 'monitoring', match_type: 'prefix' }] },
              { source_ips: [{ address: ip('10.244.0.0'), length: 16 }] },
            ],
          },
        ],
      },
    ],
  },
  // Its only rule uses HTTP attributes: dropped, so the ALLOW policy allows nothing.
  'demo/httpbin-get-only': { name: 'httpbin-get-only', namespace: 'demo', scope: 'WORKLOAD_SELECTOR', action: 'ALLOW' },
  'istio-system/deny-documentation-net': {
    name: 'deny-documentation-net',
    namespace: 'istio-system',
    scope: 'GLOBAL',
    action: 'DENY',
    rules: [{ clauses: [{ matches: [{ source_ips: [{ address: ip('203.0.113.0'), length: 24 }] }] }] }],
  },
  [STRICT]: {
    name: 'istio_converted_static_strict',
    namespace: 'istio-system',
    scope: 'WORKLOAD_SELECTOR',
    action: 'DENY',
    rules: [{ clauses: [{ matches: [{ not_principals: [presence] }] }] }],
  },
};

async function load(t: { teardown(fn: () => Promise<void>): void }, input: string): Promise<MeshModel> {
  const model = await MeshModel.load(input);
  t.teardown(() => model.close());
  return model;
}

test('realistic example: one Workload per pod, as istiod builds them', async (t) => {
  const snapshot = (await load(t, REALISTIC)).current;
  const workloads = [...snapshot.addresses].filter(([, a]) => a.type === 'workload');
  t.deepEqual(
    workloads.map(([k]) => k),
    Object.keys(expectedWorkloads),
  );
  for (const [key, expected] of Object.entries(expectedWorkloads)) {
    t.deepEqual(snapshot.addresses.get(key), { type: 'workload', workload: expected }, key);
  }
});

test('realistic example: Services with VIPs, ports, and the namespace waypoint unless opted out', async (t) => {
  const snapshot = (await load(t, REALISTIC)).current;
  const services = Object.fromEntries([...snapshot.addresses].filter(([, a]) => a.type === 'service'));
  t.deepEqual(services, expectedServices);
});

test('realistic example: Authorizations from AuthorizationPolicies and PeerAuthentications', async (t) => {
  const snapshot = (await load(t, REALISTIC)).current;
  t.deepEqual(Object.fromEntries(snapshot.authorizations), expectedAuthorizations);
  // The waypoint-bound policy (targetRefs) is not for ztunnel.
  t.false(snapshot.authorizations.has('demo/httpbin-get-only-l7'));
});

test('realistic example: identities of captured pods by node (not the waypoint, not legacy)', async (t) => {
  const snapshot = (await load(t, REALISTIC)).current;
  t.deepEqual(
    [...snapshot.identitiesByNode].map(([node, ids]) => [node, [...ids]]),
    [
      ['node-a', ['spiffe://cluster.local/ns/demo/sa/httpbin', 'spiffe://cluster.local/ns/demo/sa/sleep']],
      ['node-b', ['spiffe://cluster.local/ns/demo/sa/httpbin']],
    ],
  );
});

test('realistic example: the only diagnostic is the L7 rule made stricter; dotfiles and non-YAML are skipped', async (t) => {
  const snapshot = (await load(t, REALISTIC)).current;
  t.deepEqual(snapshot.diagnostics, [
    {
      file: path.join(REALISTIC, 'security/authorization-policies.yml'),
      document: 3,
      path: 'spec.rules[0]',
      message:
        'ztunnel cannot enforce HTTP attributes (found: methods, paths); bind the policy to a waypoint with targetRefs to enforce them. In this ALLOW policy the rule is dropped, so it allows nothing: stricter than written',
      severity: 'warning',
      line: 67,
    },
  ]);
  t.is(snapshot.version, 1);
});

test('deploy/examples/mesh.yaml is the same mesh as the split fixture', async (t) => {
  const [single, split] = await Promise.all([load(t, EXAMPLE), load(t, REALISTIC)]);
  t.deepEqual(single.current.addresses, split.current.addresses);
  t.deepEqual(single.current.authorizations, split.current.authorizations);
  t.deepEqual(single.current.identitiesByNode, split.current.identitiesByNode);
  t.deepEqual(
    single.current.diagnostics.map((d) => [d.file, d.document, d.path, d.line]),
    [[EXAMPLE, 23, 'spec.rules[0]', 368]],
  );
});

test('every resource of the realistic example is wire-valid and decodes back to itself', async (t) => {
  const snapshot = (await load(t, REALISTIC)).current;
  t.deepEqual(wireProblems(snapshot), []);
  // Decoding gives back exactly what was produced: nothing is lost or coerced on the wire.
  for (const [name, address] of snapshot.addresses) t.deepEqual(addressCodec().decode(addressCodec().encode(address)), address, name);
  for (const [name, authorization] of snapshot.authorizations) {
    t.deepEqual(authorizationCodec().decode(authorizationCodec().encode(authorization)), authorization, name);
  }
});

