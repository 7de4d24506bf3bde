/**
 * Resilience through the real waypoint on the full path (helpers/waypoint-mesh.ts): the circuit breaker of
 * `slow` tripping under concurrency, an `od` endpoint ejected after consecutive 5xx and returning once
 * well, a drain on SIGTERM that finishes the request in flight, and the waypoint killed and restarted
 * (clients get errors, not hangs, and recover). One mesh for the file.
 */
import test from 'ava';
import { findWaypoints, startWaypoint } from '@ambit/local-mesh';
import { createWaypointMesh, tally, until, VIP, type WaypointMesh } from './helpers/waypoint-mesh.js';
import { rootOnly } from '@ambit/testbed/test-support';

let bed: WaypointMesh | undefined;

test.before(async () => {
  if (rootOnly()) bed = await createWaypointMesh('wprs');
});
test.after.always(async () => {
  await bed?.destroy();
});

function mesh(): WaypointMesh {
  if (bed === undefined) throw new Error('the mesh was not built');
  return bed;
}

test.serial('the circuit breaker: with one request allowed and one pending, concurrent requests overflow as 503 UO', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const outcomes = await m.send({ host: VIP.slow, path: '/breaker/delay/300', count: 20, concurrency: 20 });
  const statuses = tally(outcomes, 'status');
  t.log(statuses);
  t.true((statuses['200'] ?? 0) >= 1, 'some requests are served');
  t.true((statuses['503'] ?? 0) >= 10, 'most overflow');
  t.deepEqual(Object.keys(statuses).sort(), ['200', '503']);
  const overflowed = outcomes.filter((o) => o.status === 503);
  t.true(overflowed.every((o) => o.pod === undefined), 'an overflow is answered by the waypoint, not the server');
  const overflowLines = (): Readonly<Record<string, unknown>>[] => m.access().filter((r) => r['path'] === '/breaker/delay/300' && r['status'] === 503);
  await until(() => overflowLines().length >= overflowed.length, () => `${overflowed.length} access lines for the overflowed requests`);
  const lines = overflowLines();
  t.is(lines.length, overflowed.length);
  t.true(lines.every((r) => r['response_flags'] === 'UO'), JSON.stringify(lines.map((r) => r['response_flags'])));
  // The server never had more than the one request the breaker admits.
  const seen = m.servers.get('slow')!.logs.filter((r) => r['event'] === 'request' && r['url'] === '/breaker/delay/300');
  t.is(seen.length, statuses['200'] ?? 0);
  t.true(seen.every((r) => r['inflight'] === 1));
});

test.serial('outlier detection: an endpoint answering 5xx is ejected after 3 in a row, and serves again once well', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const before = await m.send({ host: VIP.od, path: '/od', count: 20 });
  t.deepEqual(Object.keys(tally(before, 'pod')).sort(), ['od-a', 'od-b'], 'both endpoints serve while well');
  await m.forceStatus('od-b', 500);
  t.teardown(() => m.forceStatus('od-b', undefined));
  const sick = await m.send({ host: VIP.od, path: '/od-sick', count: 30 });
  const fromB = sick.filter((o) => o.pod === 'od-b');
  t.is(fromB.length, 3, `od-b answered ${fromB.length} times before its ejection: ${JSON.stringify(tally(sick, 'pod'))}`);
  t.true(fromB.every((o) => o.status === 500));
  // After the third 5xx, every request went to od-a.
  const third = sick.indexOf(fromB[2]!);
  t.true(sick.slice(third + 1).every((o) => o.pod === 'od-a' && o.status === 200));

  await m.forceStatus('od-b', undefined);
  // Ejected for the base ejection time (2 s), then picked again.
  await until(async () => (await m.send({ host: VIP.od, path: '/od-back', count: 4 })).some((o) => o.pod === 'od-b' && o.status === 200), () => 'od-b to serve again');
  const after = await m.send({ host: VIP.od, path: '/od-after', count: 20 });
  t.deepEqual(tally(after, 'status'), { 200: 20 });
  t.true((tally(after, 'pod')['od-b'] ?? 0) > 0);
});

test.serial('SIGTERM drains: the request in flight finishes, readiness goes, the process exits 0; a new waypoint takes over', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const [spec] = await findWaypoints(m.mesh);
  const old = m.waypoint;
  const pending = m.one({ host: VIP.api, path: '/drain/delay/1500' });
  await until(() => m.hits('api', (r) => r['url'] === '/drain/delay/1500') === 1, () => 'the request to reach api');
  const exit = old.stop('SIGTERM');
  const answer = await pending;
  t.is(answer.status, 200);
  t.is(answer.pod, 'api');
  t.deepEqual(await exit, { code: 0, signal: null });
  t.truthy(old.logs.find((r) => r['msg'] === 'draining'));
  t.truthy(old.logs.find((r) => r['msg'] === 'waypoint stopped'));

  await startWaypoint(m.mesh, spec!);
  t.not(m.waypoint, old);
  const again = await m.send({ host: VIP.api, path: '/after-drain', count: 10 });
  t.deepEqual(tally(again, 'status'), { 200: 10 });
});

test.serial('a killed waypoint: clients get errors at once, not hangs, and recover when it is back', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const [spec] = await findWaypoints(m.mesh);
  const load = m.send({ host: VIP.api, path: '/kill/delay/50', count: 200, concurrency: 4, timeoutMs: 8000 });
  await until(() => m.hits('api', (r) => r['url'] === '/kill/delay/50') >= 20, () => 'the load to be under way');
  await m.waypoint.kill();
  const outcomes = await load;
  const errors = outcomes.filter((o) => o.status !== 200);
  t.true(errors.length > 0, 'requests after the kill fail');
  t.log(tally(errors, 'error'), tally(errors, 'status'));
  t.false(
    outcomes.some((o) => o.error === 'ETIMEDOUT'),
    'no request waited for its timeout',
  );

  // While it is down: refused at once (the client's ztunnel cannot reach 15008 and resets the connection).
  const down = await m.send({ host: VIP.api, path: '/while-down', count: 5, timeoutMs: 8000 });
  t.true(down.every((o) => o.error !== undefined && o.error !== 'ETIMEDOUT'), JSON.stringify(down));
  t.is(m.hits('api', (r) => r['url'] === '/while-down'), 0);

  await startWaypoint(m.mesh, spec!);
  const back = await m.send({ host: VIP.api, path: '/after-restart', count: 20, concurrency: 2 });
  t.deepEqual(tally(back, 'status'), { 200: 20 });
});
