/**
 * The waypoint's life: readiness (a snapshot and its own certificate), the admin and stats endpoints, and a
 * graceful close that lets requests in flight finish while refusing new tunnels.
 */
import test from 'ava';
import { request as h1request, type ServerResponse } from 'node:http';
import type { ClientHttp2Session, IncomingHttpHeaders } from 'node:http2';
import { HboneClient } from '@ambit/mesh-core/hbone';
import type { CertificateSource, Identity, WorkloadCertificate } from '@ambit/mesh-core/identity';
import { FakeClock } from '@ambit/mesh-core/lifecycle';
import { decodeStrings } from './helpers/decode-strings.js';
import { BINDING, backend, binding, clientId, cluster, forwardTo, get, h2session, httpChain, pki, prefix, readAll, route, snapshot, startWaypoint, vhost, waypointId, type Running } from './helpers/fixtures.js';

async function fetchText(port: number, path: string, method = 'GET'): Promise<{ status: number; body: string; type: string | null }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  return { status: r.status, body: await r.text(), type: r.headers.get('content-type') };
}

const ready = (w: Running) => fetchText(w.waypoint.addresses().readiness.port, '/healthz/ready');

/** The waypoint's certificate fails first (a CA not up yet), then is there; others come from the test PKI. */
class FlakyCertificates implements CertificateSource {
  calls = 0;
  failing = true;
  readonly #inner: CertificateSource;
  constructor(inner: CertificateSource) {
    this.#inner = inner;
  }
  getCertificate(identity: Identity): Promise<WorkloadCertificate> {
    if (identity.uri !== waypointId.uri) return this.#inner.getCertificate(identity);
    this.calls++;
    return this.failing ? Promise.reject(new Error('CA unavailable')) : this.#inner.getCertificate(identity);
  }
}

function basicSnapshot(endpoint: Parameters<typeof cluster>[1][number]) {
  return snapshot({ [BINDING]: binding(httpChain([vhost('svc', ['*'], [route('r1', prefix('/'), forwardTo('c1', { retry: { on: new Set(['5xx', 'reset'] as const), statusCodes: new Set([409]), numRetries: 2, perTryTimeoutMs: 0, backoffBaseMs: 25, backoffMaxMs: 250 } }))])])) }, [
    cluster('c1', [endpoint]),
  ]);
}

test('readiness: 503 with what is missing until a snapshot and the certificate are in hand; a failing certificate source is asked again with backoff', async (t) => {
  const b = await backend(t, (_q, res) => res.end('ok'));
  const clock = new FakeClock();
  const certificates = new FlakyCertificates((await pki()).certs);
  const w = await startWaypoint(t, undefined, { clock, certificates });
  const first = await ready(w);
  t.is(first.status, 503);
  t.is(first.body, `not ready: no configuration snapshot yet; no certificate yet for ${waypointId.uri}\n`);
  w.snapshots.set(basicSnapshot(b.endpoint));
  t.is((await ready(w)).body, `not ready: no certificate yet for ${waypointId.uri}\n`);
  t.is(certificates.calls, 1);
  certificates.failing = false;
  await clock.advanceAsync(500);
  t.is(certificates.calls, 2, 'asked again after the first backoff');
  t.deepEqual(await ready(w), { status: 200, body: 'ready\n', type: 'text/plain; charset=utf-8' });
});

test('/config_dump: identity, readiness, the compiled snapshot as data, and the upstream and downstream state; other paths 404, POST 405', async (t) => {
  const b = await backend(t, (_q, res) => res.end('ok'));
  const w = await startWaypoint(t, basicSnapshot(b.endpoint));
  await get(w, '/x');
  const admin = w.waypoint.addresses().admin.port;
  const r = await fetchText(admin, '/config_dump');
  t.is(r.status, 200);
  t.is(r.type, 'application/json');
  const dump = JSON.parse(r.body) as Record<string, any>;
  t.is(dump['identity'], waypointId.uri);
  t.true(dump['ready']);
  const bindingDump = dump['snapshot']['bindings'][BINDING];
  t.is(bindingDump['destinationService'], 'svc.default.svc.cluster.local');
  const routeDump = bindingDump['http']['routeTable']['virtualHosts'][0]['routes'][0];
  t.deepEqual(routeDump['path'], { description: 'prefix /', prefix: '/' }, 'a matcher shows as its description');
  t.deepEqual(routeDump['action']['retry']['on'], ['5xx', 'reset'], 'sets become arrays');
  t.deepEqual(routeDump['action']['retry']['statusCodes'], [409]);
  t.is(dump['snapshot']['clusters']['c1']['endpoints'][0]['port'], b.endpoint.port);
  t.like(dump['upstream']['c1'], { counters: { connections: 1, pending: 0, requests: 0, retries: 0 } });
  t.like(dump['upstream']['c1']['hosts'][0], { key: `127.0.0.1:${b.endpoint.port}`, active: 0, ejected: false, ejections: 0 });
  t.like(dump['downstream'], { hbone: { sessions: 1 } });
  t.is((await fetchText(admin, '/nope')).status, 404);
  t.regex((await fetchText(admin, '/nope')).body, /no such endpoint \/nope; try \/config_dump/);
  t.is((await fetchText(admin, '/config_dump', 'POST')).status, 405);
});

test('/metrics and /stats/prometheus serve the registry in the Prometheus text format', async (t) => {
  const b = await backend(t, (_q, res) => res.end('ok'));
  const w = await startWaypoint(t, basicSnapshot(b.endpoint));
  await get(w, '/x');
  const stats = w.waypoint.addresses().stats.port;
  for (const path of ['/metrics', '/stats/prometheus']) {
    const r = await fetchText(stats, path);
    t.is(r.status, 200);
    t.regex(r.type ?? '', /^text\/plain; version=0\.0\.4/);
    t.regex(r.body, /# TYPE istio_requests_total counter/);
    t.regex(r.body, /istio_requests_total\{reporter="waypoint",[^}]*response_code="200"[^}]*\} 1/);
    t.regex(r.body, /istio_request_duration_milliseconds_bucket\{le="0.5",reporter="waypoint",/);
  }
});

test('close() drains: readiness goes false, HTTP/2 clients get GOAWAY, HTTP/1.1 in flight gets Connection: close, requests in flight complete, new tunnels are refused', async (t) => {
  const held: ServerResponse[] = [];
  const b = await backend(t, (_q, res) => held.push(res));
  const w = await startWaypoint(t, basicSnapshot(b.endpoint));
  const s: ClientHttp2Session = await h2session(t, w);
  const goaway = new Promise<number>((r) => s.once('goaway', (code: number) => r(code)));
  const h2 = s.request({ ':path': '/h2' });
  const h2done = Promise.all([new Promise<IncomingHttpHeaders>((r) => h2.once('response', r)), readAll(h2)]);
  // An HTTP/1.1 request on its own tunnel, kept so that we can see the tunnel end after it.
  const tunnel = await w.tunnel();
  decodeStrings(tunnel);
  const tunnelEnded = new Promise<void>((r) => tunnel.once('end', () => r()));
  const h1 = new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
    const req = h1request({ path: '/h1', headers: { host: 'svc' }, createConnection: () => tunnel }, (res) => {
      readAll(res).then((body) => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body: body.toString() }), reject);
    });
    req.on('error', reject);
    req.end();
  });
  for (let i = 0; i < 400 && held.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
  t.is(held.length, 2);
  const closing = w.waypoint.close(30_000);
  t.is(await goaway, 0, 'GOAWAY with NO_ERROR');
  t.is((await ready(w)).body, 'not ready: shutting down\n');
  // A new client (a new HBONE connection) is refused: the listener is closed.
  const { certs } = await pki();
  const late = new HboneClient({ certificates: certs });
  t.teardown(() => late.destroy());
  await t.throwsAsync(late.connect({ source: clientId, destination: `127.0.0.1:${w.hbonePort}`, expectedIdentities: [waypointId], authority: BINDING }));
  for (const res of held) res.end('finished');
  const [[head, body]] = await Promise.all([h2done]);
  t.is(Number(head[':status']), 200);
  t.is(body.toString(), 'finished');
  t.deepEqual(await h1, { status: 200, connection: 'close', body: 'finished' });
  await tunnelEnded;
  await closing;
  t.is(w.waypoint.downstream.stats().tunnels, 0);
});

test('close() past its deadline cuts what is left: a request that never finishes is reset, not left hanging', async (t) => {
  const b = await backend(t, () => undefined);
  const clock = new FakeClock();
  const w = await startWaypoint(t, basicSnapshot(b.endpoint), { clock });
  const s = await h2session(t, w);
  const st = s.request({ ':path': '/forever' });
  let responded = false;
  st.once('response', () => (responded = true));
  const closed = new Promise<void>((r) => st.once('close', () => r()));
  st.resume();
  for (let i = 0; i < 400 && b.requests.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
  t.is(b.requests.length, 1);
  const closing = w.waypoint.close(2_000);
  await clock.advanceAsync(2_000);
  await closing;
  await closed;
  t.false(responded, 'no response head: the stream was cut');
  t.not(st.rstCode, 0, `reset (code ${String(st.rstCode)})`);
});
