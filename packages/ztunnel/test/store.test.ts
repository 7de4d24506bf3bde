import test from 'ava';
import type { ResourceBatch } from '@ambit/xds';
import { ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL } from '@ambit/protos';
import { StateClosedError } from '../src/errors.js';
import type { Policy } from '../src/authz/policy.js';
import type { AddressResource } from '../src/state/model.js';
import type { ProxySnapshot } from '../src/state/snapshot.js';
import { StateStore } from '../src/state/store.js';
import { capturingLogger, policy, serviceKey, serviceResource, uidOf, workload, workloadResource, type WorkloadOptions } from './fixtures/resources.js';
import { fingerprint, indexProblems } from './fixtures/snapshot-check.js';

const WEB = serviceKey('web');
const DB = serviceKey('db');

function addressBatch(upserts: AddressResource[], removals: string[] = []): ResourceBatch<AddressResource> {
  return {
    typeUrl: ADDRESS_TYPE_URL,
    upserts: upserts.map((r) => ({ name: r.kind === 'workload' ? r.workload.uid : r.service.key, version: '1', resource: r, aliases: [] })),
    removals,
  };
}

function policyBatch(upserts: Policy[], removals: string[] = []): ResourceBatch<Policy> {
  return { typeUrl: AUTHORIZATION_TYPE_URL, upserts: upserts.map((p) => ({ name: p.key, version: '1', resource: p, aliases: [] })), removals };
}

function uids(m: ReadonlyMap<string, unknown> | undefined): string[] {
  return [...(m?.keys() ?? [])].sort();
}

test('an empty store has generation 0 and finds nothing', (t) => {
  const s = new StateStore().current;
  t.is(s.generation, 0);
  t.deepEqual(s.generations, { addresses: 0, authorizations: 0, policy: 0 });
  t.is(s.findWorkloadByIp('10.0.0.1'), undefined);
  t.is(s.findServiceByVip('10.96.0.1'), undefined);
  t.is(s.serviceEndpoints(WEB).size, 0);
  t.deepEqual(s.localWorkloads('node-a'), []);
  t.is(s.globalPolicies.allow.length, 0);
});

test('a batch of workloads and services is one snapshot with every index filled', (t) => {
  const store = new StateStore();
  const seen: [number, number][] = [];
  store.subscribe((next, prev) => seen.push([next.generation, prev.generation]));
  const rejections = store.applyAddresses(
    addressBatch([
      workloadResource('web-1', { ips: ['10.0.0.1', 'fd00::1'], node: 'node-a', services: { [WEB]: [[80, 8080]] } }),
      workloadResource('web-2', { ips: ['10.0.0.2'], node: 'node-b', services: { [WEB]: [[80, 9080]], [DB]: [[5432, 5432]] } }),
      workloadResource('plain', { ips: ['10.0.0.3'], node: 'node-a', protocol: 'NONE' }),
      serviceResource('web', ['10.96.0.1', 'fd00:96::1']),
    ]),
  );
  t.deepEqual(rejections, []);
  const s = store.current;
  t.deepEqual(seen, [[1, 0]], 'one snapshot, one notification');
  t.deepEqual(s.generations, { addresses: 1, authorizations: 0, policy: 0 });
  t.deepEqual(indexProblems(s), []);
  t.is(s.findWorkloadByIp('10.0.0.1')?.uid, uidOf('web-1'));
  t.is(s.findWorkloadByIp('fd00::1')?.uid, uidOf('web-1'));
  t.is(s.findWorkloadByIp('::ffff:10.0.0.2')?.uid, uidOf('web-2'), 'a dual-stack socket address is unmapped');
  t.is(s.findWorkloadByIp('10.0.0.1', 'other-network'), undefined);
  t.is(s.findServiceByVip('10.96.0.1')?.key, WEB);
  t.is(s.findServiceByVip('fd00:96::1')?.key, WEB);
  t.is(s.findService(WEB)?.name, 'web');
  t.deepEqual(uids(s.serviceEndpoints(WEB)), [uidOf('web-1'), uidOf('web-2')]);
  t.deepEqual([...s.serviceEndpoints(WEB).get(uidOf('web-2'))!.ports], [[80, 9080]]);
  t.deepEqual(uids(s.serviceEndpoints(DB)), [uidOf('web-2')], 'endpoints exist before their service does');
  t.deepEqual(
    s.localWorkloads('node-a').map((w) => w.uid),
    [uidOf('web-1')],
    'local workloads are the HBONE ones on the node',
  );
  t.is(s.workloadIdentity(uidOf('web-2'))?.uri, 'spiffe://cluster.local/ns/default/sa/web-2');
  t.is(s.workloadIdentity('nope'), undefined);
});

test('an IP moving between workloads, in either order and across batches, stays with its holder', (t) => {
  const store = new StateStore();
  store.applyAddresses(addressBatch([workloadResource('a', { ips: ['10.0.0.5'] }), workloadResource('b', { ips: ['10.0.0.6'] })]));

  // Same batch: b takes the address first, then a lets it go.
  store.applyAddresses(addressBatch([workloadResource('b', { ips: ['10.0.0.5'] }), workloadResource('a', { ips: ['10.0.0.7'] })]));
  t.is(store.current.findWorkloadByIp('10.0.0.5')?.uid, uidOf('b'));
  t.is(store.current.findWorkloadByIp('10.0.0.7')?.uid, uidOf('a'));
  t.is(store.current.findWorkloadByIp('10.0.0.6'), undefined);
  t.deepEqual(indexProblems(store.current), []);

  // Same batch, other order: a lets it go first, then c takes it.
  store.applyAddresses(addressBatch([workloadResource('b', { ips: ['10.0.0.8'] }), workloadResource('c', { ips: ['10.0.0.5'] })]));
  t.is(store.current.findWorkloadByIp('10.0.0.5')?.uid, uidOf('c'));
  t.deepEqual(indexProblems(store.current), []);

  // Across batches: a new pod gets the address while the old pod's removal arrives later.
  store.applyAddresses(addressBatch([workloadResource('d', { ips: ['10.0.0.5'] })]));
  t.is(store.current.findWorkloadByIp('10.0.0.5')?.uid, uidOf('d'), 'the later claim wins');
  store.applyAddresses(addressBatch([], [uidOf('c')]));
  t.is(store.current.findWorkloadByIp('10.0.0.5')?.uid, uidOf('d'), "removing the old holder does not unindex the new one");
  t.deepEqual(indexProblems(store.current), []);

  // Services and VIPs follow the same rule.
  store.applyAddresses(addressBatch([serviceResource('web', ['10.96.0.1']), serviceResource('db', ['10.96.0.1'])]));
  t.is(store.current.findServiceByVip('10.96.0.1')?.key, DB);
  store.applyAddresses(addressBatch([], [WEB]));
  t.is(store.current.findServiceByVip('10.96.0.1')?.key, DB);
});

test("a service's endpoints follow the workloads' services maps", (t) => {
  const store = new StateStore();
  store.applyAddresses(addressBatch([serviceResource('web', ['10.96.0.1']), workloadResource('w', { ips: ['10.0.0.1'], services: { [WEB]: [[80, 8080]] } })]));
  t.deepEqual(uids(store.current.serviceEndpoints(WEB)), [uidOf('w')]);

  // The workload changes its port map: the endpoint carries the new one.
  store.applyAddresses(addressBatch([workloadResource('w', { ips: ['10.0.0.1'], services: { [WEB]: [[80, 8081]] } })]));
  t.deepEqual([...store.current.serviceEndpoints(WEB).get(uidOf('w'))!.ports], [[80, 8081]]);
  t.is(store.current.serviceEndpoints(WEB).get(uidOf('w'))!.workload, store.current.findWorkload(uidOf('w'))!);

  // It moves from web to db.
  store.applyAddresses(addressBatch([workloadResource('w', { ips: ['10.0.0.1'], services: { [DB]: [[5432, 5432]] } })]));
  t.deepEqual(uids(store.current.serviceEndpoints(WEB)), []);
  t.false(store.current.endpoints.has(WEB), 'an empty endpoint set is dropped');
  t.deepEqual(uids(store.current.serviceEndpoints(DB)), [uidOf('w')]);

  // Removing the service leaves the endpoints (they belong to the workloads); removing the workload clears them.
  store.applyAddresses(addressBatch([], [WEB]));
  t.deepEqual(uids(store.current.serviceEndpoints(DB)), [uidOf('w')]);
  store.applyAddresses(addressBatch([], [uidOf('w')]));
  t.is(store.current.endpoints.size, 0);
  t.deepEqual(indexProblems(store.current), []);
});

test('removals clean every index', (t) => {
  const store = new StateStore();
  store.apply({
    addresses: {
      upserts: [
        workloadResource('w', { ips: ['10.0.0.1', 'fd00::1'], node: 'node-a', services: { [WEB]: [[80, 8080]], [DB]: [[5432, 5432]] } }),
        serviceResource('web', ['10.96.0.1', 'fd00:96::1']),
      ],
      removals: [],
    },
    authorizations: { upserts: [policy('ns-wide'), policy('global', { ns: 'istio-system', scope: 'GLOBAL' }), policy('sel', { scope: 'WORKLOAD_SELECTOR' })], removals: [] },
  });
  store.apply({
    addresses: { upserts: [], removals: [uidOf('w'), WEB, 'never-held'] },
    authorizations: { upserts: [], removals: ['default/ns-wide', 'istio-system/global', 'default/sel'] },
  });
  const s = store.current;
  t.is(s.workloads.size, 0);
  t.is(s.workloadsByAddress.size, 0);
  t.is(s.workloadsByNode.size, 0);
  t.is(s.endpoints.size, 0);
  t.is(s.services.size, 0);
  t.is(s.servicesByVip.size, 0);
  t.is(s.policies.size, 0);
  t.is(s.policyGroups.size, 0);
  t.deepEqual(indexProblems(s), []);
});

test('old snapshots never change, and untouched maps are shared', (t) => {
  const store = new StateStore();
  store.applyAddresses(addressBatch([workloadResource('a', { ips: ['10.0.0.1'], node: 'n', services: { [WEB]: [[80, 8080]] } }), serviceResource('web', ['10.96.0.1'])]));
  store.applyAuthorizations(policyBatch([policy('p')]));
  const before = store.current;
  const print = fingerprint(before);

  store.applyAddresses(addressBatch([workloadResource('a', { ips: ['10.0.0.9'], node: 'm', services: { [DB]: [[1, 2]] } }), workloadResource('b', { ips: ['10.0.0.1'] })], [WEB]));
  store.applyAuthorizations(policyBatch([policy('q', { action: 'DENY' })], ['default/p']));
  t.is(fingerprint(before), print, 'the old snapshot is exactly as it was');
  t.is(before.findWorkloadByIp('10.0.0.1')?.uid, uidOf('a'));
  t.true(before.policies.has('default/p'));
  t.not(store.current, before);

  // A policy-only batch shares every address map; an address-only batch shares the policy maps.
  const afterAddresses = store.current;
  store.applyAuthorizations(policyBatch([policy('r')]));
  const s = store.current;
  t.is(s.workloads, afterAddresses.workloads);
  t.is(s.workloadsByAddress, afterAddresses.workloadsByAddress);
  t.is(s.endpoints, afterAddresses.endpoints);
  t.is(s.services, afterAddresses.services);
  store.applyAddresses(addressBatch([serviceResource('db', ['10.96.0.2'])]));
  t.is(store.current.policies, s.policies);
  t.is(store.current.policyGroups, s.policyGroups);
  t.is(store.current.workloads, s.workloads, 'a service-only batch shares the workload maps');
  t.is(store.current.endpoints, s.endpoints);
  t.true(Object.isFrozen(store.current));
});

test('generations: per type, policy on policy changes and on changed workload policy references; no-op batches publish nothing', (t) => {
  const store = new StateStore();
  const all: number[] = [];
  const policyEvents: [number, number][] = [];
  store.subscribe((s) => all.push(s.generation));
  store.onPolicyChange((s, prev) => policyEvents.push([s.generations.policy, prev.generations.policy]));

  store.applyAddresses(addressBatch([workloadResource('a', { ips: ['10.0.0.1'] })]));
  t.deepEqual(store.current.generations, { addresses: 1, authorizations: 0, policy: 0 }, 'a new workload changes no outcome for live connections');
  store.applyAuthorizations(policyBatch([policy('p')]));
  t.deepEqual(store.current.generations, { addresses: 1, authorizations: 1, policy: 1 });
  store.applyAddresses(addressBatch([workloadResource('a', { ips: ['10.0.0.2'] })]));
  t.deepEqual(store.current.generations, { addresses: 2, authorizations: 1, policy: 1 }, 'an address change is not a policy change');
  store.applyAddresses(addressBatch([workloadResource('a', { ips: ['10.0.0.2'], policies: ['istio-system/istio_converted_static_strict'] })]));
  t.deepEqual(store.current.generations, { addresses: 3, authorizations: 1, policy: 2 }, 'a workload naming other policies is');
  const before = store.current;
  t.is(store.apply({ addresses: { upserts: [], removals: ['not-held'] }, authorizations: { upserts: [], removals: ['default/none'] } }), before);
  t.is(store.apply({}), before);
  t.is(store.current.generation, 4);
  t.deepEqual(all, [1, 2, 3, 4]);
  t.deepEqual(policyEvents, [
    [1, 0],
    [2, 1],
  ]);
  store.apply({ addresses: { upserts: [workloadResource('z')], removals: [] }, authorizations: { upserts: [policy('q')], removals: [] } });
  t.deepEqual(store.current.generations, { addresses: 4, authorizations: 2, policy: 3 }, 'both types in one update: one snapshot');
  t.is(store.current.generation, 5);
});

test('policies are indexed by key and by scope, split by action and dry run', (t) => {
  const store = new StateStore();
  store.applyAuthorizations(
    policyBatch([
      policy('g-deny', { ns: 'istio-system', scope: 'GLOBAL', action: 'DENY' }),
      policy('g-allow', { ns: 'istio-system', scope: 'GLOBAL' }),
      policy('n-b', { ns: 'demo' }),
      policy('n-a', { ns: 'demo' }),
      policy('n-dry', { ns: 'demo', dryRun: true, action: 'DENY' }),
      policy('sel', { ns: 'demo', scope: 'WORKLOAD_SELECTOR' }),
    ]),
  );
  const s = store.current;
  t.deepEqual(s.globalPolicies.deny.map((p) => p.key), ['istio-system/g-deny']);
  t.deepEqual(s.globalPolicies.allow.map((p) => p.key), ['istio-system/g-allow']);
  t.deepEqual(s.namespacePolicies('demo').allow.map((p) => p.key), ['demo/n-a', 'demo/n-b'], 'sorted by key');
  t.deepEqual(s.namespacePolicies('demo').dryRun.map((p) => p.key), ['demo/n-dry']);
  t.is(s.namespacePolicies('other').allow.length, 0);
  t.true(s.policies.has('demo/sel'));
  t.deepEqual(indexProblems(s), []);

  // A scope change moves the policy between groups.
  store.applyAuthorizations(policyBatch([policy('n-a', { ns: 'demo', scope: 'WORKLOAD_SELECTOR' }), policy('sel', { ns: 'demo' })]));
  t.deepEqual(store.current.namespacePolicies('demo').allow.map((p) => p.key), ['demo/n-b', 'demo/sel']);
  t.deepEqual(indexProblems(store.current), []);

  const w = workload('app', { ns: 'demo', policies: ['demo/n-a', 'demo/missing'] });
  t.deepEqual(
    store.current.policiesFor(w).map((p) => p.key),
    ['istio-system/g-allow', 'istio-system/g-deny', 'demo/n-b', 'demo/n-dry', 'demo/sel', 'demo/n-a'],
  );
  t.deepEqual(store.current.missingPolicies(w), ['demo/missing']);
});

test('a throwing listener is logged and affects nothing else; unsubscribe; a closed store refuses updates', async (t) => {
  const { logger, lines } = capturingLogger('error');
  const store = new StateStore({ logger });
  const calls: string[] = [];
  store.subscribe(() => {
    throw new Error('listener bug');
  });
  const off = store.subscribe(() => calls.push('second'));
  store.onPolicyChange(() => {
    throw new Error('policy listener bug');
  });
  store.onPolicyChange(() => calls.push('policy'));
  t.deepEqual(store.applyAuthorizations(policyBatch([policy('p')])), []);
  t.is(store.current.generation, 1, 'published despite the throw');
  t.deepEqual(calls, ['second', 'policy']);
  t.is(lines.length, 2);
  t.like(lines[0], { msg: 'a state listener threw; the snapshot stays published', generation: 1, component: 'state' });
  off();
  store.applyAuthorizations(policyBatch([policy('q')]));
  t.deepEqual(calls, ['second', 'policy', 'policy']);

  await store.close();
  t.is(store.current.generation, 2, 'still readable');
  const err = t.throws(() => store.applyAddresses(addressBatch([workloadResource('a')])), { instanceOf: StateClosedError });
  t.is(err.code, 'ZT_ERR_STATE_CLOSED');
  t.is(err.message, 'cannot apply an update: the state store is closed');
  t.throws(() => store.subscribe(() => undefined), { instanceOf: StateClosedError, message: 'cannot subscribe: the state store is closed' });
});

/** Deterministic PRNG (mulberry32), so that a failure replays. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

test('random batches keep every index exact and every old snapshot unchanged', (t) => {
  const rand = prng(20261122);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const names = Array.from({ length: 12 }, (_, i) => `w${i}`);
  const svcNames = ['s0', 's1', 's2', 's3'];
  const ipPool = Array.from({ length: 20 }, (_, i) => `10.1.0.${i + 1}`);
  const vipPool = Array.from({ length: 6 }, (_, i) => `10.96.1.${i + 1}`);
  const store = new StateStore();
  let model = new Map<string, WorkloadOptions>();
  let services = new Map<string, string[]>();
  const history: [ProxySnapshot, string][] = [];

  for (let step = 0; step < 150; step++) {
    const next = new Map(model);
    const nextServices = new Map(services);
    const removals: string[] = [];
    const changed = new Set<string>();
    for (let k = 0, n = 1 + Math.floor(rand() * 4); k < n; k++) {
      const name = pick(names);
      if (next.has(name) && rand() < 0.3) {
        next.delete(name);
        changed.delete(name);
        removals.push(uidOf(name));
      } else {
        next.set(name, {});
        changed.add(name);
      }
    }
    // Addresses for changed workloads, unique among the workloads that will be held.
    for (const name of changed) {
      const taken = new Set([...next].filter(([n]) => n !== name).flatMap(([, o]) => o.ips ?? []));
      const free = ipPool.filter((ip) => !taken.has(ip));
      const ips = free.length > 0 && rand() < 0.9 ? [pick(free)] : [];
      const svcs: Record<string, [number, number][]> = {};
      for (const s of svcNames) if (rand() < 0.4) svcs[serviceKey(s)] = [[80, 8000 + Math.floor(rand() * 3)]];
      next.set(name, { ips, node: pick(['node-a', 'node-b', 'node-c']), services: svcs, protocol: rand() < 0.7 ? 'HBONE' : 'NONE' });
    }
    const svcUpserts: AddressResource[] = [];
    if (rand() < 0.5) {
      const s = pick(svcNames);
      if (nextServices.has(s) && rand() < 0.4) {
        nextServices.delete(s);
        removals.push(serviceKey(s));
      } else {
        const taken = new Set([...nextServices].filter(([n]) => n !== s).flatMap(([, v]) => v));
        const vips = vipPool.filter((v) => !taken.has(v)).slice(0, 1);
        nextServices.set(s, vips);
        svcUpserts.push(serviceResource(s, vips));
      }
    }
    const upserts = [...[...changed].map((name) => workloadResource(name, next.get(name))), ...svcUpserts].sort(() => rand() - 0.5);
    const previous = store.current;
    store.applyAddresses(addressBatch(upserts, [...new Set(removals)]));
    model = next;
    services = nextServices;
    history.push([previous, fingerprint(previous)]);

    const s = store.current;
    t.deepEqual(indexProblems(s), [], `step ${step}`);
    t.deepEqual(uids(s.workloads), [...model.keys()].map((n) => uidOf(n)).sort(), `step ${step}: workloads`);
    t.deepEqual(uids(s.services), [...services.keys()].map((n) => serviceKey(n)).sort(), `step ${step}: services`);
  }
  for (const [snapshot, print] of history) t.is(fingerprint(snapshot), print);
});
