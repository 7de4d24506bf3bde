/**
 * Circuit breakers other than max requests: max connections, max pending requests and max retries, each
 * against real backends, with the cluster's counters read back from the running waypoint.
 */
import test from 'ava';
import type { ClientHttp2Session, IncomingHttpHeaders } from 'node:http2';
import type { ServerResponse } from 'node:http';
import { FakeClock } from '@ambit/mesh-core/lifecycle';
import type { CircuitBreaker, RetryPolicy } from '../src/config/types.js';
import { BINDING, backend, binding, capture, cluster, forwardTo, get, h2backend, h2session, httpChain, prefix, readAll, route, snapshot, startWaypoint, vhost, type Running } from './helpers/fixtures.js';

const breaker = (o: Partial<CircuitBreaker>): CircuitBreaker => ({ maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3, ...o });

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function counters(w: Running, name = 'c1') {
  return w.waypoint.clusters.stats()[name]!.counters;
}

/** One request on an HTTP/2 session to the waypoint: status and body. */
async function h2get(s: ClientHttp2Session, path: string): Promise<{ status: number; body: string }> {
  const st = s.request({ ':path': path });
  const [h, body] = await Promise.all([new Promise<IncomingHttpHeaders>((r) => st.once('response', r)), readAll(st)]);
  return { status: Number(h[':status']), body: body.toString() };
}

/** A backend that holds every response until released, and counts the connections it accepted. */
async function holdingBackend(t: Parameters<typeof backend>[0]) {
  const held: ServerResponse[] = [];
  const b = await backend(t, (req, res) => {
    res.setHeader('x-url', req.url ?? '');
    held.push(res);
  });
  let connections = 0;
  b.http.on('connection', () => connections++);
  return { b, held, connections: () => connections };
}

test('max connections 1 and max pending 1 (HTTP/1.1 upstream): one request runs, one waits, the third is refused 503 UO; the waiter then reuses the connection', async (t) => {
  const { b, held, connections } = await holdingBackend(t);
  const { logger, records } = capture();
  const snap = snapshot({ [BINDING]: binding(httpChain([vhost('svc', ['*'], [route('r', prefix('/'), forwardTo('c1'))])])) }, [cluster('c1', [b.endpoint], { circuitBreaker: breaker({ maxConnections: 1, maxPendingRequests: 1 }) })]);
  const w = await startWaypoint(t, snap, { logger });
  const s = await h2session(t, w);
  const first = h2get(s, '/1');
  await until(() => held.length === 1, 'the first request at the backend');
  const second = h2get(s, '/2');
  await until(() => counters(w).pending === 1, 'the second request pending');
  const third = await h2get(s, '/3');
  t.is(third.status, 503);
  t.is(third.body, 'upstream connect error or disconnect/reset before headers. reset reason: overflow');
  t.like(counters(w), { connections: 1, pending: 1, requests: 2 });
  held[0]!.end('one');
  t.deepEqual(await first, { status: 200, body: 'one' });
  await until(() => held.length === 2, 'the second request at the backend');
  held[1]!.end('two');
  t.deepEqual(await second, { status: 200, body: 'two' });
  t.is(connections(), 1, 'the waiter took the freed connection');
  t.like(counters(w), { connections: 1, pending: 0, requests: 0 });
  await until(() => records.some((r) => r['path'] === '/3'), 'the access log');
  t.like(records.find((r) => r['path'] === '/3'), { status: 503, response_flags: 'UO' });
});

test('max pending 0: with the only connection busy, the next request is refused at once', async (t) => {
  const { b, held } = await holdingBackend(t);
  const snap = snapshot({ [BINDING]: binding(httpChain([vhost('svc', ['*'], [route('r', prefix('/'), forwardTo('c1'))])])) }, [cluster('c1', [b.endpoint], { circuitBreaker: breaker({ maxConnections: 1, maxPendingRequests: 0 }) })]);
  const w = await startWaypoint(t, snap);
  const s = await h2session(t, w);
  const first = h2get(s, '/1');
  await until(() => held.length === 1, 'the first request at the backend');
  t.is((await h2get(s, '/2')).status, 503);
  held[0]!.end('one');
  t.is((await first).status, 200);
  const third = h2get(s, '/3');
  await until(() => held.length === 2, 'the third request at the backend: the connection is free again');
  held[1]!.end('three');
  t.is((await third).status, 200);
});

test('a pending request gives up at its route timeout (504 UT) and leaves the queue', async (t) => {
  const { b, held } = await holdingBackend(t);
  const clock = new FakeClock();
  const routes = [route('slow', prefix('/slow'), forwardTo('c1', { timeoutMs: 60_000 })), route('r', prefix('/'), forwardTo('c1', { timeoutMs: 5_000 }))];
  const snap = snapshot({ [BINDING]: binding(httpChain([vhost('svc', ['*'], routes)])) }, [cluster('c1', [b.endpoint], { circuitBreaker: breaker({ maxConnections: 1, maxPendingRequests: 4 }) })]);
  const w = await startWaypoint(t, snap, { clock });
  const s = await h2session(t, w);
  const first = h2get(s, '/slow');
  await until(() => held.length === 1, 'the first request at the backend');
  const second = h2get(s, '/fast');
  await until(() => counters(w).pending === 1, 'the second request pending');
  await clock.advanceAsync(5_000);
  t.deepEqual(await second, { status: 504, body: 'upstream request timeout' });
  t.like(counters(w), { pending: 0, requests: 1 });
  held[0]!.end('one');
  t.is((await first).status, 200);
  t.is(held.length, 1, 'the request that gave up never reached the backend');
});

test('max connections across hosts: an idle connection to one host is closed to make room for another host', async (t) => {
  const a = await holdingBackend(t);
  const b = await holdingBackend(t);
  const snap = snapshot(
    { [BINDING]: binding(httpChain([vhost('svc', ['*'], [route('r', prefix('/'), forwardTo('c1'))])])) },
    [cluster('c1', [a.b.endpoint, b.b.endpoint], { circuitBreaker: breaker({ maxConnections: 1, maxPendingRequests: 0 }) })],
  );
  const w = await startWaypoint(t, snap);
  const one = get(w, '/a');
  await until(() => a.held.length === 1, 'a request at host a');
  a.held[0]!.end('from a');
  t.is((await one).body, 'from a');
  const two = get(w, '/b');
  await until(() => b.held.length === 1, 'a request at host b');
  b.held[0]!.end('from b');
  t.is((await two).body, 'from b');
  t.like(counters(w), { connections: 1, pending: 0, requests: 0 });
});

test('max connections with an HTTP/2 upstream: twenty concurrent requests share one connection', async (t) => {
  const b = await h2backend(t, (stream, headers) => {
    stream.on('end', () => {
      stream.respond({ ':status': 200 });
      stream.end(String(headers[':path']));
    });
  });
  const snap = snapshot(
    { [BINDING]: binding(httpChain([vhost('svc', ['*'], [route('r', prefix('/'), forwardTo('c1'))])])) },
    [cluster('c1', [b.endpoint], { protocol: 'http2', circuitBreaker: breaker({ maxConnections: 1, maxPendingRequests: 0 }) })],
  );
  const w = await startWaypoint(t, snap);
  const s = await h2session(t, w);
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => h2get(s, `/${i}`)));
  t.deepEqual(
    results.map((r) => r.status),
    Array.from({ length: 20 }, () => 200),
  );
  t.is(b.sessions, 1);
});

test('max retries: a retry refused by the circuit breaker answers the upstream 503 flagged UO; a request out of retries is flagged URX', async (t) => {
  const b = await backend(t, (_q, res) => {
    res.statusCode = 503;
    res.end('down');
  });
  const clock = new FakeClock();
  const retry: RetryPolicy = { on: new Set(['5xx']), statusCodes: new Set(), numRetries: 1, perTryTimeoutMs: 0, backoffBaseMs: 1_000, backoffMaxMs: 10_000 };
  const snap = snapshot(
    { [BINDING]: binding(httpChain([vhost('svc', ['*'], [route('r', prefix('/'), forwardTo('c1', { retry }))])])) },
    [cluster('c1', [b.endpoint], { circuitBreaker: breaker({ maxRetries: 1 }) })],
  );
  const { logger, records } = capture();
  // Backoff = 0.5 × 1,000 ms: the first request holds the only retry slot through it.
  const w = await startWaypoint(t, snap, { clock, logger, random: () => 0.5 });
  const first = get(w, '/first');
  await until(() => counters(w).retries === 1, 'the first request backing off');
  const second = await get(w, '/second');
  t.is(second.status, 503);
  t.is(second.body, 'down', "the upstream's own answer");
  await clock.advanceAsync(500);
  const r1 = await first;
  t.is(r1.status, 503);
  t.is(b.requests.length, 3, 'first: 2 attempts; second: 1');
  t.is(counters(w).retries, 0);
  await until(() => records.filter((r) => r['component'] === 'access').length === 2, 'two access-log lines');
  t.like(records.find((r) => r['path'] === '/second'), { response_flags: 'UO' });
  t.like(records.find((r) => r['path'] === '/first'), { response_flags: 'URX' });
});
