import test from 'ava';
import { backend, binding, BINDING, cluster, forwardTo, get, httpChain, prefix, route, snapshot, startWaypoint, vhost } from './helpers/fixtures.js';

test('HTTP/1.1 through the waypoint: routed, forwarded over HBONE with XFF, request id and a new span', async (t) => {
  const b = await backend(t, (_req, res) => res.end('hello'));
  const snap = snapshot({ [BINDING]: binding(httpChain([vhost('svc', ['svc.default.svc.cluster.local'], [route('r1', prefix('/'), forwardTo('c1'))])])) }, [cluster('c1', [b.endpoint])]);
  const w = await startWaypoint(t, snap);
  const r = await get(w, '/a/./b/../c?x=1', { headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } });
  t.is(r.status, 200);
  t.is(r.body, 'hello');
  const seen = b.requests[0]!;
  t.is(seen.url, '/a/c?x=1');
  t.is(seen.headers['x-forwarded-for'], '10.1.1.1');
  t.truthy(seen.headers['x-request-id']);
  t.regex(String(seen.headers['traceparent']), /^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
  t.not(String(seen.headers['traceparent']).split('-')[2], 'b7ad6b7169203331');
});

import { execFile } from 'node:child_process';
import { FakeClock } from '@ambit/mesh-core/lifecycle';
import { HboneError } from '@ambit/mesh-core/hbone';
import { capture, exactPath, h2session, header, readAll, seeded, ztunnelPort, NONE } from './helpers/fixtures.js';
import type { RbacPolicySet, JwtAuthenticator } from '../src/config/types.js';

function basic(t: Parameters<typeof backend>[0], handler: Parameters<typeof backend>[1], clusterExtra = {}, actionExtra = {}) {
  return backend(t, handler).then((b) => ({
    b,
    snap: snapshot(
      { [BINDING]: binding(httpChain([vhost('svc', ['*'], [route('r1', prefix('/'), forwardTo('c1', actionExtra))])])) },
      [cluster('c1', [b.endpoint], clusterExtra)],
    ),
  }));
}

test('HTTP/2 with prior knowledge downstream, HTTP/1.1 upstream (cluster protocol http1): the backend sees HTTP/1.1', async (t) => {
  const b = await backend(t, (req, res) => res.end(`v${req.httpVersion}`));
  const snap = snapshot({ [BINDING]: binding(httpChain([vhost('svc', ['*'], [route('r', prefix('/'), forwardTo('c1'))])])) }, [cluster('c1', [b.endpoint])]);
  const w = await startWaypoint(t, snap);
  const s = await h2session(t, w);
  const st = s.request({ ':path': '/x' });
  const [headers, body] = await Promise.all([new Promise<Record<string, unknown>>((r) => st.once('response', r)), readAll(st)]);
  t.is(headers[':status'], 200);
  t.is(body.toString(), 'v1.1');
});

test('h2c upgrade with a real client (curl --http2): the upgrade request is answered on stream 1', async (t) => {
  const { b, snap } = await basic(t, (req, res) => res.end(`got ${req.method} ${req.url}`));
  const w = await startWaypoint(t, snap);
  const port = await ztunnelPort(t, w);
  const out = await new Promise<string>((resolve, reject) =>
    execFile('curl', ['-sS', '--http2', '-w', '\n%{http_version}', '-H', 'host: svc', `http://127.0.0.1:${port}/up`, `http://127.0.0.1:${port}/again`], (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout))),
  );
  t.is(out, 'got GET /up\n2got GET /again\n2');
  t.is(b.requests.length, 2);
});

test('route selection by host, path kind, header and method; 404 NR when nothing matches', async (t) => {
  const b = await backend(t, (req, res) => res.end('ok'));
  const direct = (name: string) => ({ kind: 'direct-response' as const, status: 200, body: name });
  const snap = snapshot(
    {
      [BINDING]: binding(
        httpChain([
          vhost('exact', ['a.example.com'], [route('a-exact', exactPath('/x'), direct('a-exact')), route('a-prefix', prefix('/'), direct('a-prefix'))]),
          vhost('wild', ['*.example.com'], [route('w-header', prefix('/'), direct('w-header'), { headers: [header('x-v', '2')] }), route('w-post', prefix('/'), direct('w-post'), { headers: [header(':method', 'POST')] })]),
        ]),
      ),
    },
    [cluster('c1', [b.endpoint])],
  );
  const w = await startWaypoint(t, snap);
  t.is((await get(w, '/x', { headers: { host: 'a.example.com' } })).body, 'a-exact');
  t.is((await get(w, '/y', { headers: { host: 'A.example.com:80' } })).body, 'a-prefix');
  t.is((await get(w, '/y', { headers: { host: 'b.example.com', 'x-v': '2' } })).body, 'w-header');
  t.is((await get(w, '/y', { method: 'POST', headers: { host: 'b.example.com' } })).body, 'w-post');
  const miss = await get(w, '/y', { headers: { host: 'b.example.com' } });
  t.is(miss.status, 404);
  t.is((await get(w, '/y', { headers: { host: 'other.org' } })).status, 404);
});

test('a 90/10 weighted split over 1,000 requests lands within ±3 points', async (t) => {
  const a = await backend(t, (_q, res) => res.end('a'));
  const b = await backend(t, (_q, res) => res.end('b'));
  const action = forwardTo('ca', { clusters: [{ cluster: 'ca', weight: 90, requestHeaders: NONE, responseHeaders: NONE }, { cluster: 'cb', weight: 10, requestHeaders: NONE, responseHeaders: NONE }], totalWeight: 100 });
  const snap = snapshot({ [BINDING]: binding(httpChain([vhost('svc', ['*'], [route('r', prefix('/'), action)])])) }, [cluster('ca', [a.endpoint]), cluster('cb', [b.endpoint])]);
  const w = await startWaypoint(t, snap, { random: seeded(7) });
  const s = await h2session(t, w);
  let countA = 0;
  for (let batch = 0; batch < 10; batch++) {
    const bodies = await Promise.all(Array.from({ length: 100 }, () => readAll(s.request({ ':path': '/' }))));
    countA += bodies.filter((x) => x.toString() === 'a').length;
  }
  t.true(Math.abs(countA / 10 - 90) <= 3, `got ${countA / 10}% to a`);
});

test('header mutations, prefix rewrite, host rewrite, and redirects built from their parts', async (t) => {
  const b = await backend(t, (_q, res) => {
    res.setHeader('x-upstream', 'yes');
    res.end('ok');
  });
  const set = (name: string, value: string, append = false) => ({ set: [{ name, value, append }], remove: [] });
  const snap = snapshot(
    {
      [BINDING]: binding(
        httpChain([
          vhost(
            'svc',
            ['*'],
            [
              route('redir', prefix('/old'), { kind: 'redirect', status: 301, scheme: 'https', host: 'new.example.com', port: undefined, path: undefined, prefixRewrite: '/new', stripQuery: false }),
              route('api', prefix('/api/'), forwardTo('c1', { prefixRewrite: '/', hostRewrite: 'backend.local' }), { requestHeaders: set('x-route', 'r'), responseHeaders: { set: [{ name: 'x-resp', value: 'r', append: false }], remove: ['x-upstream'] } }),
            ],
            { requestHeaders: set('x-vhost', 'v') },
          ),
        ]),
      ),
    },
    [cluster('c1', [b.endpoint])],
  );
  const w = await startWaypoint(t, snap);
  const r = await get(w, '/api/v1/items?q=1', { headers: { 'x-remove-me': 'x' } });
  t.is(r.status, 200);
  t.is(r.headers['x-resp'], 'r');
  t.is(r.headers['x-upstream'], undefined);
  const seen = b.requests[0]!;
  t.is(seen.url, '/v1/items?q=1');
  t.is(seen.headers.host, 'backend.local');
  t.is(seen.headers['x-route'], 'r');
  t.is(seen.headers['x-vhost'], 'v');
  const red = await get(w, '/old/page?k=v');
  t.is(red.status, 301);
  t.is(red.headers.location, 'https://new.example.com/new/page?k=v');
});

test('JWT failure answers 401 with www-authenticate; RBAC denial answers 403 "RBAC: access denied"; the token is stripped', async (t) => {
  const b = await backend(t, (_q, res) => res.end('ok'));
  const jwt: JwtAuthenticator = {
    empty: false,
    stripHeaders: ['authorization'],
    authenticate: (req) => {
      const h = req.headers.get('authorization')?.[0];
      if (h === undefined) return Promise.resolve({ kind: 'missing' });
      if (h === 'Bearer good') return Promise.resolve({ kind: 'verified', auth: { principal: 'iss/alice', claims: { sub: 'alice' }, provider: 'p' } });
      return Promise.resolve({ kind: 'failed', reason: 'bad signature' });
    },
  };
  const rbac: RbacPolicySet = {
    empty: false,
    evaluate: (req, conn, auth) => (req.path.startsWith('/admin') && auth?.principal !== 'iss/alice' ? { allowed: false, policy: 'ns/deny-admin', reason: 'admin needs alice' } : { allowed: true, policy: undefined }),
  };
  const snap = snapshot({ [BINDING]: binding(httpChain([vhost('svc', ['*'], [route('r', prefix('/'), forwardTo('c1'))])], { jwt, rbac })) }, [cluster('c1', [b.endpoint])]);
  const w = await startWaypoint(t, snap);
  const bad = await get(w, '/x', { headers: { authorization: 'Bearer forged' } });
  t.is(bad.status, 401);
  t.regex(String(bad.headers['www-authenticate']), /^Bearer realm=.*error="invalid_token"/);
  const denied = await get(w, '//admin/../admin/x');
  t.is(denied.status, 403);
  t.is(denied.body, 'RBAC: access denied');
  const encoded = await get(w, '/a/%2e%2e/admin');
  t.is(encoded.status, 403);
  const ok = await get(w, '/admin', { headers: { authorization: 'Bearer good' } });
  t.is(ok.status, 200);
  t.is(b.requests.length, 1);
  t.is(b.requests[0]!.headers.authorization, undefined);
});

test('fault abort and delay at their percentages (injected randomness and clock)', async (t) => {
  const b = await backend(t, (_q, res) => res.end('ok'));
  const clock = new FakeClock();
  const fault = { abort: { status: 418, ppm: 500_000 }, delay: { fixedMs: 1_000, ppm: 1_000_000 } };
  const snap = snapshot({ [BINDING]: binding(httpChain([vhost('svc', ['*'], [route('r', prefix('/'), forwardTo('c1'), { fault })])])) }, [cluster('c1', [b.endpoint])]);
  // Draws: delay (always), abort: 0.2 → abort, then 0.7 → pass.
  const draws = [0.1, 0.2, 0.1, 0.7, 0.5, 0.5];
  const w = await startWaypoint(t, snap, { clock, random: () => draws.shift() ?? 0.5 });
  const drawn = async (left: number): Promise<void> => {
    // The delay timer is set in the same turn as its draw.
    for (let i = 0; i < 1000 && draws.length > left; i++) await new Promise((r) => setTimeout(r, 5));
  };
  const first = get(w, '/');
  await drawn(5);
  await clock.advanceAsync(1_000);
  const r1 = await first;
  t.is(r1.status, 418);
  t.is(r1.body, 'fault filter abort');
  const second = get(w, '/');
  await drawn(3);
  await clock.advanceAsync(1_000);
  t.is((await second).status, 200);
});

test('the route timeout answers 504 UT', async (t) => {
  const { snap } = await basic(t, () => undefined, {}, { timeoutMs: 300 });
  const w = await startWaypoint(t, snap);
  const r = await get(w, '/slow');
  t.is(r.status, 504);
  t.is(r.body, 'upstream request timeout');
});

test('retries: a server failing twice then succeeding answers 200 on the third attempt', async (t) => {
  let n = 0;
  const { b, snap } = await basic(t, (_q, res) => {
    n++;
    res.statusCode = n <= 2 ? 503 : 200;
    res.end(`attempt ${n}`);
  }, {}, { retry: { on: new Set(['5xx'] as const), statusCodes: new Set(), numRetries: 2, perTryTimeoutMs: 0, backoffBaseMs: 1, backoffMaxMs: 5 } });
  const w = await startWaypoint(t, snap);
  const r = await get(w, '/', { method: 'POST', body: 'payload' });
  t.is(r.status, 200);
  t.is(r.body, 'attempt 3');
  t.is(b.requests.length, 3);
});

test('mirroring reaches the mirror with -shadow host, without waiting for it', async (t) => {
  const main = await backend(t, (_q, res) => res.end('main'));
  let release!: () => void;
  const hold = new Promise<void>((r) => (release = r));
  const shadow = await backend(t, (_q, res) => void hold.then(() => res.end('shadow')));
  const snap = snapshot(
    { [BINDING]: binding(httpChain([vhost('svc', ['*'], [route('r', prefix('/'), forwardTo('main', { mirrors: [{ cluster: 'shadow', ppm: 1_000_000 }] }))])])) },
    [cluster('main', [main.endpoint]), cluster('shadow', [shadow.endpoint])],
  );
  const w = await startWaypoint(t, snap);
  const r = await get(w, '/m', { headers: { host: 'svc:8080' } });
  t.is(r.body, 'main');
  for (let i = 0; i < 200 && shadow.requests.length === 0; i++) await new Promise((x) => setTimeout(x, 10));
  t.is(shadow.requests[0]?.headers.host, 'svc-shadow:8080');
  release();
});

test('the circuit breaker trips under concurrency: 503 UO beyond maxRequests', async (t) => {
  const held: (() => void)[] = [];
  const { snap } = await basic(t, (_q, res) => held.push(() => res.end('ok')), { circuitBreaker: { maxConnections: 2, maxPendingRequests: 0, maxRequests: 2, maxRetries: 0 } });
  const { logger, records } = capture();
  const w = await startWaypoint(t, snap, { logger });
  const s = await h2session(t, w);
  const first = [readAll(s.request({ ':path': '/1' })), readAll(s.request({ ':path': '/2' }))];
  for (let i = 0; i < 200 && held.length < 2; i++) await new Promise((x) => setTimeout(x, 10));
  const third = s.request({ ':path': '/3' });
  const status = await new Promise<unknown>((r) => third.once('response', (h) => r(h[':status'])));
  t.is(status, 503);
  for (const h of held) h();
  await Promise.all(first);
  const line = records.find((r) => r['path'] === '/3');
  t.is(line?.['response_flags'], 'UO');
});

test('an unbound destination is refused at CONNECT with 503 and a reason', async (t) => {
  const { snap } = await basic(t, (_q, res) => res.end());
  const w = await startWaypoint(t, snap);
  const err = await t.throwsAsync(w.tunnel('10.9.9.9:80'), { instanceOf: HboneError });
  t.is(err.status, 503);
});

test('a bad peer (garbage bytes, a reset mid-request) closes only its own tunnel', async (t) => {
  const { snap } = await basic(t, (_q, res) => res.end('fine'));
  const w = await startWaypoint(t, snap, { limits: { sniffTimeoutMs: 2_000 } });
  const garbage = await w.tunnel();
  garbage.write(Buffer.from([0, 1, 2, 3, 255, 254, 0, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9]));
  await readAll(garbage).catch(() => undefined);
  const half = await w.tunnel();
  half.write('POST / HTTP/1.1\r\nhost: svc\r\ncontent-length: 100\r\n\r\nabc');
  half.destroy();
  const ok = await get(w, '/');
  t.is(ok.body, 'fine');
  t.is(w.client.stats().connections, 1);
});

test('metrics and the access log for one known request', async (t) => {
  const { snap } = await basic(t, (_q, res) => res.end('12345'));
  const { logger, records } = capture();
  const w = await startWaypoint(t, snap, { logger });
  await get(w, '/known', { method: 'POST', body: 'abc' });
  for (let i = 0; i < 100 && !records.some((r) => r['path'] === '/known'); i++) await new Promise((x) => setTimeout(x, 10));
  const line = records.find((r) => r['path'] === '/known')!;
  t.like(line, { component: 'access', method: 'POST', status: 200, response_flags: '-', bytes_received: 3, bytes_sent: 5, 'src.identity': clientIdUri(), route: 'r1', cluster: 'c1' });
  t.regex(String(line['trace_id']), /^[0-9a-f]{32}$/);
  const metrics = await w.waypoint.registry.metrics();
  t.regex(metrics, /istio_requests_total\{reporter="waypoint",source_workload="client",source_workload_namespace="default",source_principal="spiffe:\/\/cluster.local\/ns\/default\/sa\/client",source_app="client",source_version="v1",source_cluster="unknown",destination_workload="server",destination_workload_namespace="default",destination_principal="spiffe:\/\/cluster.local\/ns\/default\/sa\/server",destination_app="server-app",destination_version="v7",destination_service="svc.default.svc.cluster.local",destination_service_name="svc",destination_service_namespace="default",destination_cluster="Kubernetes",request_protocol="http",response_code="200",grpc_response_status="",response_flags="-",connection_security_policy="mutual_tls"\} 1/);
  t.regex(metrics, /istio_request_bytes_sum\{[^}]*response_code="200"[^}]*\} 3/);
});

function clientIdUri(): string {
  return 'spiffe://cluster.local/ns/default/sa/client';
}
