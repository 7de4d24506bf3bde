/**
 * Outlier detection: the detector on its own (hosts and an injected clock), then an endpoint ejected and
 * returned through a running waypoint with a fake clock.
 */
import test from 'ava';
import { FakeClock } from '@ambit/mesh-core/lifecycle';
import type { OutlierDetection } from '../src/config/types.js';
import { Host } from '../src/upstream/host.js';
import { decayBackoff, recordOutcome, type AttemptOutcome } from '../src/upstream/outlier.js';
import { BINDING, backend, binding, capture, cluster, endpoint, forwardTo, get, httpChain, prefix, route, snapshot, startWaypoint, vhost } from './helpers/fixtures.js';

const T0 = 1_000_000;
const od = (o: Partial<OutlierDetection> = {}): OutlierDetection => ({ consecutive5xx: 3, consecutiveGatewayErrors: 0, intervalMs: 10_000, baseEjectionMs: 30_000, maxEjectionPercent: 100, ...o });
const hosts = (n: number): Host[] => Array.from({ length: n }, (_, i) => new Host(`10.0.0.${i + 1}:80`, endpoint(80 + i, { kind: 'plain' })));
const s = (status: number): AttemptOutcome => ({ kind: 'status', status });
const report = (config: OutlierDetection, h: Host, all: Host[], outcomes: AttemptOutcome[], now = T0): boolean[] => outcomes.map((o) => recordOutcome(config, h, o, all, now));

test('consecutive 5xx: the Nth 5xx in a row ejects, a success in between starts the count over', (t) => {
  const config = od({ consecutive5xx: 3 });
  const [h, other] = hosts(2);
  t.deepEqual(report(config, h!, [h!, other!], [s(500), s(503), s(200), s(500), s(501)]), [false, false, false, false, false]);
  t.false(h!.isEjected(T0));
  t.true(recordOutcome(config, h!, s(502), [h!, other!], T0), 'third in a row');
  t.true(h!.isEjected(T0));
  t.is(h!.ejectedUntil, T0 + 30_000);
  t.false(other!.isEjected(T0));
});

test('consecutive gateway errors: 502/503/504 and local failures count, a 500 breaks the run; 4xx is success', (t) => {
  const config = od({ consecutive5xx: 0, consecutiveGatewayErrors: 3 });
  const [h, other] = hosts(2);
  const all = [h!, other!];
  t.deepEqual(report(config, h!, all, [s(502), { kind: 'connect-failure' }, s(500), s(504), { kind: 'timeout' }, s(404), s(503)]), [false, false, false, false, false, false, false]);
  t.false(h!.isEjected(T0));
  t.deepEqual(report(config, h!, all, [{ kind: 'reset' }, { kind: 'connect-failure' }]), [false, true]);
  t.true(h!.isEjected(T0));
});

test('a circuit-breaker overflow never reached the host and does not count', (t) => {
  const config = od({ consecutive5xx: 2, consecutiveGatewayErrors: 2 });
  const [h, other] = hosts(2);
  t.deepEqual(report(config, h!, [h!, other!], [s(503), { kind: 'overflow' }, { kind: 'overflow' }]), [false, false, false]);
  t.is(h!.consecutive5xx, 1);
  t.is(h!.consecutiveGatewayErrors, 1);
});

test('an ejection lasts base × backoff: the host returns on time with clean counts, and the next ejection is twice as long', (t) => {
  const config = od({ consecutive5xx: 1, baseEjectionMs: 30_000, intervalMs: 100_000 });
  const [h, other] = hosts(2);
  const all = [h!, other!];
  t.true(recordOutcome(config, h!, s(500), all, T0));
  t.true(h!.isEjected(T0 + 29_999));
  t.false(h!.isEjected(T0 + 30_000), 'back after exactly base × 1');
  t.is(h!.consecutive5xx, 0);
  t.true(recordOutcome(config, h!, s(500), all, T0 + 30_000));
  t.is(h!.backoff, 2);
  t.true(h!.isEjected(T0 + 30_000 + 59_999));
  t.false(h!.isEjected(T0 + 30_000 + 60_000), 'back after base × 2');
  t.is(h!.ejections, 2);
});

test('the backoff decays by one per interval in service, so a host that stays well is ejected briefly again', (t) => {
  const config = od({ consecutive5xx: 1, baseEjectionMs: 30_000, intervalMs: 10_000 });
  const [h, other] = hosts(2);
  const all = [h!, other!];
  let now = T0;
  for (let i = 0; i < 3; i++) {
    t.true(recordOutcome(config, h!, s(500), all, now));
    now = h!.ejectedUntil;
  }
  t.is(h!.backoff, 3);
  t.false(h!.isEjected(now));
  // Not in service for a full interval yet: no decay.
  decayBackoff(config, h!, now + 9_999);
  t.is(h!.backoff, 3);
  decayBackoff(config, h!, now + 10_000);
  t.is(h!.backoff, 2);
  // 25 s more: two more intervals; the partial one still counts later.
  decayBackoff(config, h!, now + 35_000);
  t.is(h!.backoff, 0);
  t.true(recordOutcome(config, h!, s(500), all, now + 35_000));
  t.is(h!.ejectedUntil - (now + 35_000), 30_000, 'base × 1 again');
  t.is(h!.ejections, 4, 'the total never goes down');
});

test('the ejection time is capped at max(300 s, base), and the backoff stops growing past it', (t) => {
  const config = od({ consecutive5xx: 1, baseEjectionMs: 100_000, intervalMs: 1_000_000_000 });
  const [h, other] = hosts(2);
  const all = [h!, other!];
  let now = T0;
  const durations: number[] = [];
  for (let i = 0; i < 6; i++) {
    t.true(recordOutcome(config, h!, s(500), all, now));
    durations.push(h!.ejectedUntil - now);
    now = h!.ejectedUntil;
    t.false(h!.isEjected(now));
  }
  t.deepEqual(durations, [100_000, 200_000, 300_000, 300_000, 300_000, 300_000]);
  t.is(h!.backoff, 4, 'raised while backoff × base < max + base');
  const long = od({ consecutive5xx: 1, baseEjectionMs: 400_000 });
  const [g, g2] = hosts(2);
  t.true(recordOutcome(long, g!, s(500), [g!, g2!], T0));
  t.is(g!.ejectedUntil - T0, 400_000, 'a base above 300 s is its own cap');
  t.true(recordOutcome(long, g!, s(500), [g!, g2!], T0 + 400_000));
  t.is(g!.ejectedUntil - (T0 + 400_000), 400_000);
});

test('max ejection percent counts the host about to go; a refused ejection takes a full new run to try again', (t) => {
  const all = hosts(3);
  const [a, b, c] = all;
  const at34 = od({ consecutive5xx: 2, maxEjectionPercent: 34 });
  t.deepEqual(report(at34, a!, all, [s(500), s(500)]), [false, true], '1 of 3 is 33.3% ≤ 34%');
  t.deepEqual(report(at34, b!, all, [s(500), s(500)]), [false, false], '2 of 3 would be 66.7%');
  t.is(b!.consecutive5xx, 0, 'the count is cleared when the detector trips, ejected or not');
  t.false(recordOutcome(at34, b!, s(500), all, T0), 'one more 5xx is not a run');
  const at33 = od({ consecutive5xx: 1, maxEjectionPercent: 33 });
  t.false(recordOutcome(at33, c!, s(500), all, T0 + 1), 'even one of three is above 33%');
  // Once a's ejection ends, b may go: this is its second 5xx since the refused trip.
  t.true(recordOutcome(at34, b!, s(500), all, T0 + 30_000));
});

test('no outlier detection configured: nothing is counted', (t) => {
  const [h] = hosts(1);
  t.false(recordOutcome(undefined, h!, s(500), [h!], T0));
  t.is(h!.consecutive5xx, 0);
});

test('through the waypoint: an endpoint answering 503 is ejected, traffic goes to the other, and it returns after base × 1 (fake clock)', async (t) => {
  const good = await backend(t, (_q, res) => res.end('good'));
  const bad = await backend(t, (_q, res) => {
    res.statusCode = 503;
    res.end('bad');
  });
  const clock = new FakeClock();
  const c = cluster('c1', [good.endpoint, bad.endpoint], { outlierDetection: od({ consecutive5xx: 0, consecutiveGatewayErrors: 2, baseEjectionMs: 30_000, maxEjectionPercent: 50 }) });
  const snap = snapshot({ [BINDING]: binding(httpChain([vhost('svc', ['*'], [route('r', prefix('/'), forwardTo('c1'))])])) }, [c]);
  const { logger, records } = capture();
  const w = await startWaypoint(t, snap, { clock, logger });
  const bodies: string[] = [];
  for (let i = 0; i < 4; i++) bodies.push((await get(w, '/')).body);
  t.deepEqual(bodies, ['good', 'bad', 'good', 'bad'], 'round robin until the second 503');
  const stats = () => w.waypoint.clusters.stats()['c1']!.hosts.find((h) => h.key === `127.0.0.1:${bad.endpoint.port}`)!;
  t.like(stats(), { ejected: true, ejectedForMs: 30_000, ejections: 1, backoff: 1 });
  const during: string[] = [];
  for (let i = 0; i < 4; i++) during.push((await get(w, '/')).body);
  t.deepEqual(during, ['good', 'good', 'good', 'good']);
  await clock.advanceAsync(30_000);
  t.like(stats(), { ejected: false, ejections: 1 });
  const after: string[] = [];
  for (let i = 0; i < 2; i++) after.push((await get(w, '/')).body);
  t.true(after.includes('bad'), 'back in rotation');
  t.is(bad.requests.length, 3);
  const dump = JSON.parse(JSON.stringify(w.waypoint.configDump())) as { upstream: Record<string, { hosts: { key: string; ejections: number }[] }> };
  t.is(dump.upstream['c1']!.hosts.find((h) => h.key.endsWith(`:${bad.endpoint.port}`))!.ejections, 1);
  t.true(records.some((r) => r['component'] === 'access' && r['status'] === 503));
});
