/**
 * L7 traffic management through the real waypoint on the full path client pod → ztunnel → waypoint →
 * ztunnel → server pod (helpers/waypoint-mesh.ts; routes in fixtures/waypoint-mesh/traffic.yaml): a 90/10
 * weighted split counted over 1,000 requests, header-based routing, a request timeout, retries against a
 * server that fails twice (on 5xx, and on a status code listed in retryOn), fault abort and delay at their
 * percentages, and mirroring. One mesh for the file.
 */
import test, { type ExecutionContext } from 'ava';
import { CLIENT_ID, createWaypointMesh, POD_IP, tally, until, VIP, WAYPOINT_ID, WAYPOINT_POD, type ServerPod, type WaypointMesh } from './helpers/waypoint-mesh.js';
import { rootOnly } from '@ambit/testbed/test-support';

/**
 * The servers' and the waypoint's log lines reach the test through pipes, possibly after the client has its
 * answer: wait until at least `expected` lines are in (a safety net, not a timing assertion), then return the
 * count, so that the caller's exact comparison also catches too many.
 */
async function settledHits(m: WaypointMesh, server: ServerPod, url: string, expected: number): Promise<number> {
  const count = (): number => m.hits(server, (r) => r['url'] === url);
  await until(() => count() >= expected, () => `${expected} requests for ${url} at ${server} (${count()} so far)`);
  return count();
}

/** The waypoint's access-log line for `path`, once it has arrived. */
async function accessLine(m: WaypointMesh, path: string): Promise<Readonly<Record<string, unknown>> | undefined> {
  await until(() => m.access().some((r) => r['path'] === path), () => `an access-log line for ${path}`);
  return m.access().find((r) => r['path'] === path);
}

let bed: WaypointMesh | undefined;

test.before(async () => {
  if (rootOnly()) bed = await createWaypointMesh('wprt');
});
test.after.always(async () => {
  await bed?.destroy();
});

function mesh(): WaypointMesh {
  if (bed === undefined) throw new Error('the mesh was not built');
  return bed;
}

test.serial('a 90/10 weighted split holds within 3 points over 1,000 requests', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const outcomes = await m.send({ host: VIP.web, path: '/split', count: 1000, concurrency: 8 });
  t.deepEqual(tally(outcomes, 'status'), { 200: 1000 }, JSON.stringify(outcomes.find((o) => o.status !== 200)));
  const pods = tally(outcomes, 'pod');
  t.deepEqual(Object.keys(pods).sort(), ['web-v1', 'web-v2']);
  const v1Share = (pods['web-v1'] ?? 0) / 10;
  t.log(`web-v1 ${pods['web-v1']}, web-v2 ${pods['web-v2']}`);
  t.true(v1Share >= 87 && v1Share <= 93, `web-v1 got ${v1Share}% of the requests`);
  // The waypoint's access log: the client's identity proven to it, the VIP asked for, the pod that answered.
  const isV2Split = (r: Readonly<Record<string, unknown>>): boolean => r['path'] === '/split' && r['upstream'] === `${POD_IP['web-v2']}:8080`;
  await until(() => m.access().some(isV2Split), () => 'an access line for /split answered by web-v2');
  const line = m.access().find(isV2Split);
  t.like(line, { method: 'GET', status: 200, response_flags: '-', 'src.identity': CLIENT_ID, 'dst.addr': `${VIP.web}:80`, cluster: 'outbound|80||web-v2.shop.svc.cluster.local' });
  // The server saw the client in x-forwarded-for; its ztunnel saw the waypoint's identity on the HBONE
  // connection (pooled, so it is still open: the opened counter, not an access line, shows it).
  const seen = m.servers.get('web-v2')!.logs.find((r) => r['event'] === 'request' && r['url'] === '/split');
  t.is((seen?.['headers'] as Record<string, string>)['x-forwarded-for'], POD_IP.client);
  const metrics = await m.mesh.httpGet('node-b', 15020, '/metrics');
  t.true(
    metrics.body.split('\n').some((l) => l.startsWith('istio_tcp_connections_opened_total{') && l.includes('reporter="destination"') && l.includes(`source_principal="${WAYPOINT_ID}"`) && l.includes('destination_workload="web-v2"')),
    'node-b counts an HBONE connection from the waypoint to web-v2',
  );
  // The waypoint's own request metrics name the pod that answered by its Address: app and version are its
  // canonical name and revision (its `app` and `version` labels), the cluster is the control plane's id.
  const waypointMetrics = await m.mesh.httpGet(WAYPOINT_POD, 15020, '/metrics');
  const series = waypointMetrics.body.split('\n').find((l) => l.startsWith('istio_requests_total{') && l.includes('destination_workload="web-v2"') && l.includes('response_code="200"'));
  t.truthy(series, waypointMetrics.body);
  for (const label of [
    'reporter="waypoint"',
    'source_workload="client"',
    `source_principal="${CLIENT_ID}"`,
    'destination_workload_namespace="shop"',
    'destination_principal="spiffe://cluster.local/ns/shop/sa/web"',
    'destination_app="web"',
    'destination_version="v2"',
    'destination_service="web-v2.shop.svc.cluster.local"',
    'destination_cluster="Kubernetes"',
  ]) {
    t.true(series!.includes(label), `${label} in ${series!}`);
  }
});

test.serial('header-based routing sends x-canary: true to web-v2 only, over HTTP/1.1 and HTTP/2', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const h1 = await m.send({ host: VIP.web, path: '/canary', count: 30, concurrency: 3, headers: { 'x-canary': 'true' } });
  t.deepEqual(tally(h1, 'pod'), { 'web-v2': 30 });
  const h2 = await m.send({ host: VIP.web, path: '/canary', count: 30, concurrency: 3, headers: { 'x-canary': 'true' }, http2: true });
  t.deepEqual(tally(h2, 'pod'), { 'web-v2': 30 });
  await until(() => m.access().some((r) => r['path'] === '/canary' && r['protocol'] === 'HTTP/2'), () => 'an HTTP/2 access line for /canary');
  // Not "true": the header does not match, the split applies (web-v1 answers most).
  const other = await m.send({ host: VIP.web, path: '/canary', count: 20, concurrency: 2, headers: { 'x-canary': 'yes' } });
  t.true((tally(other, 'pod')['web-v1'] ?? 0) > 0);
});

test.serial('a request timeout answers 504 UT while the server is still working; faster requests pass', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const late = await m.one({ host: VIP.web, path: '/slow/delay/3000' });
  t.is(late.status, 504);
  t.is(late.body, 'upstream request timeout');
  t.true(late.ms >= 500, `answered after ${late.ms} ms, before the 500 ms timeout`);
  // The access line reaches the waypoint's stdout on its own schedule, not before the response: wait for it.
  t.like(await accessLine(m, '/slow/delay/3000'), { status: 504, response_flags: 'UT' });
  const quick = await m.one({ host: VIP.web, path: '/slow/delay/10' });
  t.is(quick.status, 200);
  t.is(quick.pod, 'web-v1');
});

test.serial('retries: a server that fails twice then succeeds is answered 200 after 3 attempts; 4 failures exhaust them', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const ok = await m.one({ host: VIP.flaky, path: '/retry/fail-first/2/alpha' });
  t.is(ok.status, 200);
  t.is(ok.pod, 'flaky');
  t.is(await settledHits(m, 'flaky', '/retry/fail-first/2/alpha', 3), 3);
  const line = await accessLine(m, '/retry/fail-first/2/alpha');
  t.like(line, { status: 200, response_flags: '-' });

  const exhausted = await m.one({ host: VIP.flaky, path: '/retry/fail-first/9/beta' });
  t.is(exhausted.status, 503);
  t.is(exhausted.pod, 'flaky', 'the last attempt\'s answer is passed on');
  t.is(await settledHits(m, 'flaky', '/retry/fail-first/9/beta', 4), 4);
  // Retries used up: the last answer is passed on and flagged URX, as Envoy does.
  t.like(await accessLine(m, '/retry/fail-first/9/beta'), { status: 503, response_flags: 'URX', upstream: `${POD_IP.flaky}:8080` });
  // Without a retry policy the default one retries connect failures only: a 503 is passed on after one try.
  const once = await m.one({ host: VIP.flaky, path: '/fail-first/1/gamma' });
  t.is(once.status, 503);
  t.is(await settledHits(m, 'flaky', '/fail-first/1/gamma', 1), 1);
});

test.serial('retries on status codes: retryOn "409" retries a 409 (and not a 503); retryOn "5xx" passes a 409 on after one try', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  // The VirtualService's "409" reaches the waypoint as retry_on retriable-status-codes, retriable_status_codes [409].
  const ok = await m.one({ host: VIP.flaky, path: '/on409/fail-first/2/delta/409' });
  t.is(ok.status, 200);
  t.is(ok.pod, 'flaky');
  t.is(await settledHits(m, 'flaky', '/on409/fail-first/2/delta/409', 3), 3);
  t.like(await accessLine(m, '/on409/fail-first/2/delta/409'), { status: 200, response_flags: '-' });
  const exhausted = await m.one({ host: VIP.flaky, path: '/on409/fail-first/9/epsilon/409' });
  t.is(exhausted.status, 409);
  t.is(await settledHits(m, 'flaky', '/on409/fail-first/9/epsilon/409', 4), 4);
  t.like(await accessLine(m, '/on409/fail-first/9/epsilon/409'), { status: 409, response_flags: 'URX' });
  // A 503 is not a listed code: passed on after one try.
  const unlisted = await m.one({ host: VIP.flaky, path: '/on409/fail-first/1/zeta' });
  t.is(unlisted.status, 503);
  t.is(await settledHits(m, 'flaky', '/on409/fail-first/1/zeta', 1), 1);

  // 5xx does not cover a 409.
  const conflict = await m.one({ host: VIP.flaky, path: '/on5xx/fail-first/1/eta/409' });
  t.is(conflict.status, 409);
  t.is(conflict.pod, 'flaky');
  t.is(await settledHits(m, 'flaky', '/on5xx/fail-first/1/eta/409', 1), 1);
  t.like(await accessLine(m, '/on5xx/fail-first/1/eta/409'), { status: 409, response_flags: '-' });
});

/** Within `points` percentage points of `percent`. */
function near(t: ExecutionContext, part: number, total: number, percent: number, points: number, what: string): void {
  const share = (100 * part) / total;
  t.true(Math.abs(share - percent) <= points, `${what}: ${part} of ${total} (${share.toFixed(1)} %), want ${percent} ± ${points}`);
}

test.serial('fault injection: 25 % aborted with 418 and 25 % delayed by 300 ms, the rest untouched', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const aborts = await m.send({ host: VIP.flaky, path: '/abort', count: 1000, concurrency: 10 });
  const statuses = tally(aborts, 'status');
  t.deepEqual(Object.keys(statuses).sort(), ['200', '418']);
  const aborted = statuses['418'] ?? 0;
  near(t, aborted, 1000, 25, 4, 'aborted');
  // An aborted request never reaches the server; every other one does. The server's and the waypoint's
  // log lines arrive through pipes, possibly after the client has its answers: wait for them, then compare.
  const served = (): number => m.hits('flaky', (r) => r['url'] === '/abort');
  await until(() => served() >= 1000 - aborted, () => `${1000 - aborted} requests at the server (${served()} so far)`);
  t.is(served(), 1000 - aborted);
  t.true(aborts.filter((o) => o.status === 418).every((o) => o.pod === undefined && o.body === 'fault filter abort'));
  await until(() => m.access().filter((r) => r['path'] === '/abort').length === 1000, () => 'an access line per aborted-or-not request');
  t.is(m.access().filter((r) => r['path'] === '/abort' && r['response_flags'] === 'FI').length, aborted);

  const delays = await m.send({ host: VIP.flaky, path: '/delay', count: 1000, concurrency: 50 });
  t.deepEqual(tally(delays, 'status'), { 200: 1000 });
  await until(() => m.access().filter((r) => r['path'] === '/delay').length === 1000, () => 'an access line per delayed-or-not request');
  const delayed = m.access().filter((r) => r['path'] === '/delay' && r['response_flags'] === 'DI');
  near(t, delayed.length, 1000, 25, 4, 'delayed');
  t.true(delayed.every((r) => Number(r['duration']) >= 300), 'each delayed request took the delay');
  // Every delayed request took at least 300 ms at the client too.
  t.true(delays.filter((o) => o.ms >= 300).length >= delayed.length);
});

test.serial('mirroring: each request to /mirrored also reaches the mirror, as the -shadow host; the client gets web-v1', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const outcomes = await m.send({ host: VIP.web, path: '/mirrored/x', count: 20, concurrency: 2 });
  t.deepEqual(tally(outcomes, 'pod'), { 'web-v1': 20 });
  await until(() => m.hits('mirror', (r) => r['url'] === '/mirrored/x') === 20, () => `20 mirrored requests at the mirror (${m.hits('mirror')} so far)`);
  const copy = m.servers.get('mirror')!.logs.find((r) => r['event'] === 'request' && r['url'] === '/mirrored/x');
  t.is((copy?.['headers'] as Record<string, string>)['host'], `${VIP.web}-shadow`);
  // Requests not on the mirrored route are not copied.
  t.is(m.hits('mirror', (r) => r['url'] !== '/mirrored/x'), 0);
});
