import test from 'ava';
import { endpointTargetPort, selectEndpoint, workloadAddress } from '../src/proxy/load-balance.js';
import type { Service, Workload } from '../src/state/model.js';
import { serviceKey, service, workload, workloadResource, type WorkloadOptions } from './fixtures/resources.js';
import { sequence, snapshotOf } from './fixtures/mesh.js';

const WEB = serviceKey('web');
const client = workload('client', { ips: ['10.0.0.1'], node: 'node-a', extra: { locality: { region: 'r1', zone: 'z1', subzone: 's1' } } });

function endpoint(name: string, opts: WorkloadOptions & { zone?: string; region?: string; capacity?: number; unhealthy?: boolean; ports?: [number, number][] } = {}) {
  return workloadResource(name, {
    ips: opts.ips ?? [],
    node: opts.node ?? 'node-b',
    ...(opts.network === undefined ? {} : { network: opts.network }),
    services: { [WEB]: opts.ports ?? [[80, 0]] },
    extra: {
      locality: { region: opts.region ?? 'r1', zone: opts.zone ?? 'z1', subzone: 's1' },
      ...(opts.capacity === undefined ? {} : { capacity: { value: opts.capacity } }),
      ...(opts.unhealthy === true ? { status: 'UNHEALTHY' as const } : {}),
    },
  });
}

function pick(svc: Service, port: number, eps: ReturnType<typeof endpoint>[], random = sequence(0), source: Workload = client, network = ''): string | undefined {
  const snapshot = snapshotOf([...eps, { kind: 'service', service: svc }]);
  return selectEndpoint(snapshot, svc, port, source, { network, preferV4: true, random })?.workload.name;
}

const web = service('web', ['10.96.0.1']);

test('only healthy endpoints serving the port are candidates; ALLOW_ALL admits unhealthy ones', (t) => {
  const eps = [endpoint('a', { ips: ['10.0.1.1'], unhealthy: true }), endpoint('b', { ips: ['10.0.1.2'] })];
  t.is(pick(web, 80, eps, sequence(0)), 'b');
  const allowAll = service('web', ['10.96.0.1'], 'default', { load_balancing: { health_policy: 'ALLOW_ALL' } });
  t.is(pick(allowAll, 80, eps, sequence(0)), 'a');
  t.is(pick(web, 80, [endpoint('a', { ips: ['10.0.1.1'], unhealthy: true })]), undefined, 'none healthy');
  t.is(pick(web, 80, []), undefined, 'no endpoints');
});

test('target port: the endpoint’s own map wins, then the service’s target port; unresolved endpoints are skipped', (t) => {
  const svc = service('web', ['10.96.0.1'], 'default', { ports: [{ service_port: 80, target_port: 8080 }, { service_port: 90, target_port: 0 }] });
  const own = endpoint('own', { ips: ['10.0.1.1'], ports: [[80, 9999], [90, 0]] });
  const snapshot = snapshotOf([{ kind: 'service', service: svc }, own]);
  const ep = snapshot.serviceEndpoints(WEB).get(own.kind === 'workload' ? own.workload.uid : '')!;
  t.is(endpointTargetPort(svc, ep, 80), 9999);
  t.is(endpointTargetPort(svc, ep, 90), 0, 'named port not resolved on this workload and no service target');
  t.is(endpointTargetPort(svc, ep, 81), 0, 'a port the service does not have');
  const fallback = endpoint('fallback', { ips: ['10.0.1.2'], ports: [[80, 0]] });
  const s2 = snapshotOf([{ kind: 'service', service: svc }, fallback]);
  t.is(selectEndpoint(s2, svc, 80, client, { network: '', preferV4: true, random: sequence(0) })?.targetPort, 8080);
  t.is(selectEndpoint(s2, svc, 90, client, { network: '', preferV4: true, random: sequence(0) }), undefined);
});

test('endpoints in another network or without an address are not chosen', (t) => {
  t.is(pick(web, 80, [endpoint('remote', { ips: ['10.0.1.1'], network: 'net-2' }), endpoint('noip')]), undefined);
  t.is(pick(web, 80, [endpoint('remote', { ips: ['10.0.1.1'], network: 'net-2' })], sequence(0), client, 'net-2'), 'remote');
});

test('weighted random by capacity, in uid order; capacity 0 is never chosen', (t) => {
  const eps = [endpoint('a', { ips: ['10.0.1.1'], capacity: 1 }), endpoint('b', { ips: ['10.0.1.2'], capacity: 3 }), endpoint('c', { ips: ['10.0.1.3'], capacity: 0 })];
  // Total weight 4: [0, 1) → a, [1, 4) → b.
  t.is(pick(web, 80, eps, sequence(0)), 'a');
  t.is(pick(web, 80, eps, sequence(0.24)), 'a');
  t.is(pick(web, 80, eps, sequence(0.25)), 'b');
  t.is(pick(web, 80, eps, sequence(0.999999)), 'b');
  t.is(pick(web, 80, [endpoint('c', { ips: ['10.0.1.3'], capacity: 0 })]), undefined, 'only zero capacity');
});

test('FAILOVER keeps the best locality rank; STRICT keeps only full matches', (t) => {
  const eps = [
    endpoint('other-region', { ips: ['10.0.1.1'], region: 'r2', zone: 'z1' }),
    endpoint('same-region', { ips: ['10.0.1.2'], region: 'r1', zone: 'z9' }),
    endpoint('same-zone', { ips: ['10.0.1.3'], region: 'r1', zone: 'z1' }),
  ];
  const failover = service('web', ['10.96.0.1'], 'default', { load_balancing: { routing_preference: ['REGION', 'ZONE'], mode: 'FAILOVER' } });
  for (const r of [0, 0.5, 0.99]) t.is(pick(failover, 80, eps, sequence(r)), 'same-zone');
  t.is(pick(failover, 80, eps.slice(0, 2), sequence(0.99)), 'same-region', 'next best rank when the best is gone');
  t.is(pick(failover, 80, eps.slice(0, 1)), 'other-region', 'failover still serves from anywhere');

  const strict = service('web', ['10.96.0.1'], 'default', { load_balancing: { routing_preference: ['REGION', 'ZONE'], mode: 'STRICT' } });
  t.is(pick(strict, 80, eps, sequence(0)), 'same-zone');
  t.is(pick(strict, 80, eps.slice(0, 2)), undefined, 'no full match: nothing');
  // A scope breaks the rank at the first mismatch: a zone match without the region does not count.
  const zoneOnly = [endpoint('zone-not-region', { ips: ['10.0.1.4'], region: 'r2', zone: 'z1' }), endpoint('region', { ips: ['10.0.1.5'], region: 'r1', zone: 'z2' })];
  t.is(pick(failover, 80, zoneOnly, sequence(0)), 'region');
  // NODE, CLUSTER and NETWORK scopes.
  const byNode = service('web', ['10.96.0.1'], 'default', { load_balancing: { routing_preference: ['NODE'], mode: 'FAILOVER' } });
  t.is(pick(byNode, 80, [endpoint('far', { ips: ['10.0.1.6'], node: 'node-b' }), endpoint('near', { ips: ['10.0.1.7'], node: 'node-a' })], sequence(0)), 'near');
  const byCluster = service('web', ['10.96.0.1'], 'default', { load_balancing: { routing_preference: ['CLUSTER', 'NETWORK'], mode: 'STRICT' } });
  t.is(pick(byCluster, 80, [endpoint('x', { ips: ['10.0.1.8'] })]), 'x');
});

test('without a locality-aware mode, every candidate is in the draw', (t) => {
  const eps = [endpoint('a', { ips: ['10.0.1.1'], region: 'r2' }), endpoint('b', { ips: ['10.0.1.2'] })];
  const unspecified = service('web', ['10.96.0.1'], 'default', { load_balancing: { routing_preference: ['REGION'], mode: 'UNSPECIFIED_MODE' } });
  t.is(pick(unspecified, 80, eps, sequence(0)), 'a');
  t.is(pick(unspecified, 80, eps, sequence(0.9)), 'b');
});

test('the address of the destination’s family is preferred', (t) => {
  const dual = workload('dual', { ips: ['fd00::1', '10.0.1.1'] });
  t.is(workloadAddress(dual, true), '10.0.1.1');
  t.is(workloadAddress(dual, false), 'fd00::1');
  t.is(workloadAddress(workload('v6', { ips: ['fd00::2'] }), true), 'fd00::2', 'the only address otherwise');
  t.is(workloadAddress(workload('none'), true), '');
});
