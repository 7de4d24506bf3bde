/**
 * The load balancers on their own: hosts, weights, requests in flight, health and ejection, with seeded
 * randomness, so every count below is exact for a given seed rather than a statistical hope.
 */
import test from 'ava';
import type { LbPolicy } from '../src/config/types.js';
import { hash52 } from '../src/upstream/hash.js';
import { Host } from '../src/upstream/host.js';
import { createLoadBalancer } from '../src/upstream/load-balancer.js';
import { endpoint, seeded } from './helpers/fixtures.js';

const NOW = 1_000_000;

function hosts(weights: number[]): Host[] {
  return weights.map((w, i) => new Host(`10.0.0.${i + 1}:80`, { ...endpoint(80, { kind: 'plain' }), ip: `10.0.0.${i + 1}`, weight: w }));
}

function count(picks: (Host | undefined)[], all: Host[]): number[] {
  return all.map((h) => picks.filter((p) => p === h).length);
}

function picks(policy: LbPolicy, all: Host[], n: number, seed = 1, hash?: (i: number) => number): (Host | undefined)[] {
  const lb = createLoadBalancer(policy, all, seeded(seed));
  return Array.from({ length: n }, (_, i) => lb.pick(NOW, hash?.(i)));
}

test('round robin: equal weights rotate in order', (t) => {
  const all = hosts([1, 1, 1]);
  t.deepEqual(picks('round-robin', all, 6).map((h) => h?.key), ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80']);
});

test('round robin: weights 1:2:3 give exactly 10:20:30 of 60, interleaved (the heaviest never three times running)', (t) => {
  const all = hosts([1, 2, 3]);
  const p = picks('round-robin', all, 60);
  t.deepEqual(count(p, all), [10, 20, 30]);
  for (let i = 2; i < p.length; i++) t.false(p[i] === p[i - 1] && p[i] === p[i - 2], `run of three at ${i}`);
});

test('round robin: unhealthy and ejected hosts are skipped; below half available, all are used (panic)', (t) => {
  const all = hosts([1, 1, 1, 1]);
  all[0]!.endpoint = { ...all[0]!.endpoint, healthy: false };
  all[1]!.ejectedUntil = NOW + 1_000;
  t.deepEqual(count(picks('round-robin', all, 8), all), [0, 0, 4, 4], 'half available: no panic');
  all[2]!.endpoint = { ...all[2]!.endpoint, healthy: false };
  t.deepEqual(count(picks('round-robin', all, 8), all), [2, 2, 2, 2], 'one of four: panic, every host');
});

test('least request, equal weights: P2C never picks the busiest of three, and spreads over the idle ones', (t) => {
  const all = hosts([1, 1, 1]);
  all[0]!.active = 10;
  const c = count(picks('least-request', all, 300, 3), all);
  t.is(c[0], 0);
  t.true(c[1]! > 100 && c[2]! > 100, `spread ${c.join(',')}`);
});

test('least request, equal weights: of two hosts the one with fewer requests in flight wins every time', (t) => {
  const all = hosts([5, 5]);
  all[1]!.active = 2;
  all[0]!.active = 3;
  t.deepEqual(count(picks('least-request', all, 50, 9), all), [0, 50]);
});

test('least request, unequal weights: picks follow weight / (active + 1)', (t) => {
  const all = hosts([3, 1]);
  t.deepEqual(count(picks('least-request', all, 400), all), [300, 100], 'idle: by weight, 3:1');
  all[0]!.active = 5; // 3 / 6 = 0.5 against 1 / 1
  t.deepEqual(count(picks('least-request', all, 300), all), [100, 200], 'busy heavy host: 0.5 : 1');
});

test('random: weighted, within 2 points of 1:3 over 20,000 picks; unavailable hosts skipped', (t) => {
  const all = hosts([1, 3]);
  const c = count(picks('random', all, 20_000, 11), all);
  t.true(Math.abs(c[0]! / 20_000 - 0.25) < 0.02, `${c[0]! / 200}%`);
  const three = hosts([1, 1, 1]);
  three[1]!.ejectedUntil = NOW + 1;
  t.is(count(picks('random', three, 3_000, 5), three)[1], 0);
});

const keyHash = (i: number): number => hash52(`user-${i}`);

test('ring hash: the same key always lands on the same host, and keys spread by weight', (t) => {
  const all = hosts([1, 1, 1, 1, 1]);
  const first = picks('ring-hash', all, 5_000, 1, keyHash);
  const again = picks('ring-hash', all, 5_000, 2, keyHash);
  t.deepEqual(first, again);
  for (const c of count(first, all)) t.true(c > 700 && c < 1_300, `share ${c} of 5,000`);
  const weighted = hosts([1, 3]);
  const w = count(picks('ring-hash', weighted, 20_000, 1, keyHash), weighted);
  t.true(Math.abs(w[0]! / 20_000 - 0.25) < 0.05, `${w[0]! / 200}% for weight 1 of 4`);
});

test('ring hash: when a host leaves, only its own keys move', (t) => {
  const all = hosts([1, 1, 1, 1, 1]);
  const before = picks('ring-hash', all, 10_000, 1, keyHash);
  const gone = all[2]!;
  const after = picks('ring-hash', all.filter((h) => h !== gone), 10_000, 1, keyHash);
  let moved = 0;
  for (let i = 0; i < before.length; i++) {
    if (before[i] === gone) t.not(after[i], gone);
    else if (after[i] !== before[i]) moved++;
  }
  t.is(moved, 0);
});

test('ring hash: an ejected owner hands its keys to the next host on the ring and gets them back on return', (t) => {
  const all = hosts([1, 1, 1]);
  const lb = createLoadBalancer('ring-hash', all, seeded(1));
  const owners = Array.from({ length: 2_000 }, (_, i) => lb.pick(NOW, keyHash(i)));
  all[0]!.ejectedUntil = NOW + 5_000;
  const during = Array.from({ length: 2_000 }, (_, i) => lb.pick(NOW, keyHash(i)));
  for (let i = 0; i < owners.length; i++) {
    if (owners[i] === all[0]) t.not(during[i], all[0]);
    else t.is(during[i], owners[i]);
  }
  const back = Array.from({ length: 2_000 }, (_, i) => lb.pick(NOW + 5_000, keyHash(i)));
  t.deepEqual(back, owners);
});

test('maglev: equal weights fill the 65,537-entry table evenly (entries differ by at most one)', (t) => {
  const all = hosts([1, 1, 1, 1, 1]);
  const c = count(picks('maglev', all, 65_537, 1, (i) => i), all);
  t.is(c.reduce((a, b) => a + b), 65_537);
  t.true(Math.max(...c) - Math.min(...c) <= 1, c.join(','));
});

test('maglev: weights 1:3 take a quarter and three quarters of the table', (t) => {
  const all = hosts([1, 3]);
  const c = count(picks('maglev', all, 65_537, 1, (i) => i), all);
  t.true(Math.abs(c[0]! / 65_537 - 0.25) < 0.01, `${c[0]! / 655.37}%`);
});

test('maglev: the same key lands on the same host; when a host leaves its keys move and few others do', (t) => {
  const all = hosts([1, 1, 1, 1, 1]);
  const before = picks('maglev', all, 10_000, 1, keyHash);
  t.deepEqual(picks('maglev', all, 10_000, 7, keyHash), before);
  const gone = all[4]!;
  const after = picks('maglev', all.filter((h) => h !== gone), 10_000, 1, keyHash);
  let moved = 0;
  let stayed = 0;
  for (let i = 0; i < before.length; i++) {
    if (before[i] === gone) t.not(after[i], gone);
    else if (after[i] !== before[i]) moved++;
    else stayed++;
  }
  // Maglev trades perfect stability for balance; its paper reports a few percent of other keys moving.
  t.true(moved / (moved + stayed) < 0.1, `${moved} of ${moved + stayed} other keys moved`);
});

test('every policy: no hosts, no pick', (t) => {
  for (const policy of ['round-robin', 'least-request', 'random', 'ring-hash', 'maglev'] as const) {
    t.is(createLoadBalancer(policy, [], seeded(1)).pick(NOW, 42), undefined, policy);
  }
});
