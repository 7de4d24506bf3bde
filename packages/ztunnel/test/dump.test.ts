import test from 'ava';
import { snapshotDump } from '../src/state/dump.js';
import { StateStore } from '../src/state/store.js';
import { cidr, policy, serviceKey, serviceResource, workloadResource } from './fixtures/resources.js';

/** The dump after a JSON round trip, as a client of /config_dump reads it. */
interface DumpJson {
  generation: number;
  generations: unknown;
  workloads: { uid: string; identity: string; services: unknown; addresses: string[] }[];
  services: { endpoints: unknown; vips: unknown }[];
  policies: { key: string; rules: { sourceIps: string[] }[][][] }[];
}

test('snapshotDump: sorted plain JSON with identities as URIs, port maps as objects, endpoints under services', (t) => {
  const store = new StateStore();
  store.apply({
    addresses: {
      upserts: [
        workloadResource('b', { ips: ['10.0.0.2'], services: { [serviceKey('web')]: [[80, 8080]] } }),
        workloadResource('a', { ips: ['10.0.0.1'], services: { [serviceKey('web')]: [[80, 9090]] } }),
        serviceResource('web', ['10.96.0.1']),
      ],
      removals: [],
    },
    authorizations: { upserts: [policy('z'), policy('y', { action: 'DENY', rules: [[[{ source_ips: [cidr('10.0.0.0/8')] }]]] })], removals: [] },
  });
  const dump = JSON.parse(JSON.stringify(snapshotDump(store.current))) as DumpJson;
  t.is(dump.generation, 1);
  t.deepEqual(dump.generations, { addresses: 1, authorizations: 1, policy: 1 });
  t.deepEqual(dump.workloads.map((w) => w.uid), ['Kubernetes//Pod/default/a', 'Kubernetes//Pod/default/b']);
  t.is(dump.workloads[0]!.identity, 'spiffe://cluster.local/ns/default/sa/a');
  t.deepEqual(dump.workloads[0]!.services, { 'default/web.default.svc.cluster.local': { '80': 9090 } });
  t.deepEqual(dump.workloads[0]!.addresses, ['10.0.0.1']);
  t.deepEqual(dump.services[0]!.endpoints, { 'Kubernetes//Pod/default/a': { '80': 9090 }, 'Kubernetes//Pod/default/b': { '80': 8080 } });
  t.deepEqual(dump.services[0]!.vips, [{ network: '', address: '10.96.0.1' }]);
  t.deepEqual(dump.policies.map((p) => p.key), ['default/y', 'default/z']);
  t.deepEqual(dump.policies[0]!.rules[0]![0]![0]!.sourceIps, ['10.0.0.0/8']);
});
