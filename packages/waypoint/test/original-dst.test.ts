/**
 * ORIGINAL_DST hosts: one per destination `ip:port` of a target IP, kept while used, forgotten after the
 * cleanup interval (times passed in: no timers involved), updated or dropped with the targets; and a
 * cluster switching between EDS and ORIGINAL_DST.
 */
import test from 'ava';
import type { Cluster, Endpoint, OriginalDestination } from '../src/config/types.js';
import { ClusterState } from '../src/upstream/cluster-state.js';
import type { Host } from '../src/upstream/host.js';
import { OriginalDstHosts } from '../src/upstream/original-dst.js';
import { cluster, endpoint } from './helpers/fixtures.js';

const IP = '10.244.1.50';

function target(ip: string, identity = 'spiffe://cluster.local/ns/shop/sa/api'): Endpoint {
  return { ...endpoint(0, { kind: 'hbone', identity, hbonePort: 15008 }), ip };
}

function od(targets: Endpoint[], cleanupIntervalMs = 5_000): OriginalDestination {
  return { targets: new Map(targets.map((e) => [e.ip, e])), cleanupIntervalMs };
}

const to = (port: number, ip = IP) => ({ destinationIp: ip, destinationPort: port });

test('a host per destination port of a target IP, made once and reused; other IPs get none', (t) => {
  const forgotten: Host[] = [];
  const hosts = new OriginalDstHosts(od([target(IP)]), (h) => forgotten.push(h));
  const a = hosts.pick(0, to(8080))!;
  t.is(a.key, `${IP}:8080`);
  t.deepEqual(a.endpoint, { ...target(IP), port: 8080 });
  t.is(hosts.pick(1, to(8080)), a);
  const b = hosts.pick(2, to(9090))!;
  t.is(b.key, `${IP}:9090`);
  t.deepEqual(hosts.hosts, [a, b]);
  t.is(hosts.pick(3, to(8080, '10.244.1.51')), undefined, 'not a target');
  t.deepEqual(forgotten, []);
});

test('hosts unused for the cleanup interval are forgotten at the next pick; busy and ejected ones stay', (t) => {
  const forgotten: Host[] = [];
  const hosts = new OriginalDstHosts(od([target(IP)], 1_000), (h) => forgotten.push(h));
  const idle = hosts.pick(0, to(1))!;
  const busy = hosts.pick(0, to(2))!;
  busy.active = 1;
  const ejected = hosts.pick(0, to(3))!;
  ejected.ejectedUntil = 10_000;
  const recent = hosts.pick(0, to(4))!;
  // Before the interval nothing is looked at.
  hosts.pick(999, to(4));
  t.deepEqual(forgotten, []);
  hosts.pick(1_500, to(4));
  t.deepEqual(forgotten, [idle]);
  t.deepEqual(hosts.hosts, [busy, ejected, recent]);
  // The ejected host answers nothing while ejected, and survives sweeps until its ejection ends.
  t.is(hosts.pick(1_600, to(3)), undefined);
  busy.active = 0;
  hosts.pick(5_000, to(4));
  t.deepEqual(forgotten, [idle, busy]);
  t.deepEqual(hosts.hosts, [ejected, recent]);
  hosts.pick(10_000, to(4));
  t.deepEqual(forgotten, [idle, busy, ejected]);
  // A forgotten destination gets a fresh host when used again.
  const again = hosts.pick(10_001, to(1))!;
  t.not(again, idle);
  t.is(again.key, idle.key);
});

test('new targets: a host whose IP is gone is forgotten, one whose target changed takes it (keeping its port)', (t) => {
  const forgotten: Host[] = [];
  const other = '10.244.1.60';
  const hosts = new OriginalDstHosts(od([target(IP), target(other)]), (h) => forgotten.push(h));
  const a = hosts.pick(0, to(8080))!;
  const b = hosts.pick(0, to(8080, other))!;
  hosts.update(od([target(IP, 'spiffe://cluster.local/ns/shop/sa/api-v2')]));
  t.deepEqual(forgotten, [b]);
  t.deepEqual(hosts.hosts, [a]);
  t.deepEqual(a.endpoint.transport, { kind: 'hbone', identity: 'spiffe://cluster.local/ns/shop/sa/api-v2', hbonePort: 15008 });
  t.is(a.endpoint.port, 8080);
  t.is(hosts.pick(1, to(8080, other)), undefined);
});

test('a cluster state: ORIGINAL_DST picks the destination (none without one); EDS and ORIGINAL_DST swap cleanly', (t) => {
  const opened: string[] = [];
  const open = (host: Host): Promise<never> => {
    opened.push(host.key);
    return Promise.reject(new Error('not dialled in this test'));
  };
  const original: Cluster = { ...cluster('c', []), lbPolicy: 'cluster-provided', originalDestination: od([target(IP)]) };
  const state = new ClusterState(original, open, () => 0.5);
  t.is(state.pick(0, undefined), undefined, 'no destination, no host');
  const host = state.pick(0, undefined, to(8080))!;
  t.is(host.key, `${IP}:8080`);
  t.deepEqual(state.hosts, [host]);
  // A new snapshot of the same cluster keeps its hosts.
  state.update({ ...original, originalDestination: od([target(IP)]) });
  t.is(state.pick(1, undefined, to(8080)), host);
  // It becomes an EDS cluster: the balancer picks among the endpoints, the destination is ignored.
  const eds = cluster('c', [endpoint(7000, { kind: 'plain' })]);
  state.update(eds);
  t.is(state.pick(2, undefined, to(8080))?.key, '127.0.0.1:7000');
  t.deepEqual(state.hosts.map((h) => h.key), ['127.0.0.1:7000']);
  // And back.
  state.update(original);
  t.is(state.pick(3, undefined)?.key, undefined);
  t.is(state.pick(3, undefined, to(9090))?.key, `${IP}:9090`);
  t.deepEqual(state.hosts.map((h) => h.key), [`${IP}:9090`]);
  t.deepEqual(opened, []);
});
