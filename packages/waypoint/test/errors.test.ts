/**
 * Error paths, each with real parts: h2c upgrades refused, upstreams that do not connect, answer too late,
 * break mid-response or present the wrong identity, request bodies too long to replay, clients that leave,
 * malformed requests. Each must answer precisely and touch nothing but its own request or tunnel.
 */
import test from 'ava';

import { execFile } from 'node:child_process';
import { createServer as netServer, type AddressInfo, type Socket } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http2';
import { request as h1request } from 'node:http';
import { HboneClient } from '@ambit/mesh-core/hbone';
import { FakeClock } from '@ambit/mesh-core/lifecycle';
import type { RetryPolicy } from '../src/config/types.js';
import { decodeStrings } from './helpers/decode-strings.js';
import {
  BINDING,
  backend,
  binding,
  capture,
  clientId,
  cluster,
  endpoint,
  forwardTo,
  get,
  h2backend,
  h2session,
  httpChain,
  pki,
  prefix,
  readAll,
  route,
  serverId,
  snapshot,
  startWaypoint,
  vhost,
  waypointId,
  ztunnelPort,
  type Running,
} from './helpers/fixtures.js';

const snap1 = (endpoints: Parameters<typeof cluster>[1], action = {}, clusterExtra = {}) =>
  snapshot({ [BINDING]: binding(httpChain([vhost('svc', ['*'], [route('r', prefix('/'), forwardTo('c1', action))])])) }, [cluster('c1', endpoints, clusterExtra)]);

const retryOn = (on: RetryPolicy['on'] extends ReadonlySet<infer T> ? T[] : never, o: Partial<RetryPolicy> = {}): RetryPolicy => ({ on: new Set(on), statusCodes: new Set(), numRetries: 1, perTryTimeoutMs: 0, backoffBaseMs: 1, backoffMaxMs: 1, ...o });

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Writes raw bytes into a new tunnel and reads everything that comes back until the tunnel ends. */
async function raw(w: Running, bytes: string): Promise<string> {
  const s = await w.tunnel();
  const back = readAll(s).then(
    (b) => b.toString('latin1'),
    () => '(reset)',
  );
  s.write(bytes);
  return back;
}

async function accessLine(records: Record<string, unknown>[], path: string): Promise<Record<string, unknown>> {
  await until(() => records.some((r) => r['component'] === 'access' && r['path'] === path), `the access log of ${path}`);
  return records.find((r) => r['component'] === 'access' && r['path'] === path)!;
}

// --- h2c refusals ------------------------------------------------------------------------------------

const upgradeHead = (extra: string) => `GET /up HTTP/1.1\r\nhost: svc\r\nconnection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\n${extra}\r\n`;

test('h2c: a bad HTTP2-Settings (not base64url, not whole settings, given twice) is refused 400 with the reason, and the tunnel closed', async (t) => {
  const b = await backend(t, (_q, res) => res.end('ok'));
  const w = await startWaypoint(t, snap1([b.endpoint]));
  const notB64 = await raw(w, upgradeHead('http2-settings: a+b/c\r\n'));
  t.regex(notB64, /^HTTP\/1\.1 400 Bad Request\r\n/);
  t.regex(notB64, /connection: close\r\n/i);
  t.regex(notB64, /HTTP2-Settings is not base64url\n$/);
  const partial = await raw(w, upgradeHead('http2-settings: AAMAAAB\r\n'));
  t.regex(partial, /^HTTP\/1\.1 400 .*\r\n[\s\S]*HTTP2-Settings decodes to 5 bytes, not a multiple of 6\n$/);
  const twice = await raw(w, upgradeHead('http2-settings: AAMAAABkAAQAAP__\r\nhttp2-settings: AAMAAABkAAQAAP__\r\n'));
  t.regex(twice, /an h2c upgrade needs exactly one HTTP2-Settings header\n$/);
  t.is(b.requests.length, 0);
  t.is((await get(w, '/after')).body, 'ok', 'others are unaffected');
});

test('h2c: an upgrade body above 65,535 bytes is refused 413; a chunked upgrade body 400; an upgrade to anything else 403', async (t) => {
  const b = await backend(t, (_q, res) => res.end('ok'));
  const w = await startWaypoint(t, snap1([b.endpoint]));
  const big = await raw(w, upgradeHead('http2-settings: AAMAAABkAAQAAP__\r\ncontent-length: 65536\r\n'));
  t.regex(big, /^HTTP\/1\.1 413 Payload Too Large\r\n[\s\S]*an h2c upgrade request body may be at most 65535 bytes\n$/);
  const chunked = await raw(w, upgradeHead('http2-settings: AAMAAABkAAQAAP__\r\ntransfer-encoding: chunked\r\n') + '5\r\nhello\r\n0\r\n\r\n');
  t.regex(chunked, /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*chunked body is not supported; send Content-Length or use prior knowledge\n$/);
  const ws = await raw(w, 'GET /ws HTTP/1.1\r\nhost: svc\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
  t.regex(ws, /^HTTP\/1\.1 403 Forbidden\r\n[\s\S]*upgrade to "websocket" is not supported\n$/);
  t.is(b.requests.length, 0);
});

test('h2c: an upgrade with a body within the limit (curl --http2 -d) is answered on stream 1 with its body forwarded', async (t) => {
  const b = await backend(t, (req, res) => {
    void readAll(req).then((body) => res.end(`got ${req.method ?? ''} ${body.length} bytes`));
  });
  const w = await startWaypoint(t, snap1([b.endpoint]));
  const port = await ztunnelPort(t, w);
  const out = await new Promise<string>((resolve, reject) =>
    execFile('curl', ['-sS', '--http2', '-w', '\n%{http_version}', '-H', 'host: svc', '--data-binary', 'x'.repeat(20_000), `http://127.0.0.1:${port}/up`], (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout))),
  );
  t.is(out, 'got POST 20000 bytes\n2');
});

test('h2c: a client that stalls after the 101, or sends no HTTP/2 preface, has its tunnel closed (sniff timeout on the injected clock)', async (t) => {
  const b = await backend(t, (_q, res) => res.end('ok'));
  const clock = new FakeClock();
  const w = await startWaypoint(t, snap1([b.endpoint]), { clock, limits: { sniffTimeoutMs: 3_000 } });
  const stalled = await w.tunnel();
  const first = new Promise<string>((resolve) => stalled.once('data', (c: Buffer) => resolve(c.toString('latin1'))));
  const ended = new Promise<void>((resolve) => stalled.once('close', () => resolve()));
  stalled.on('error', () => {});
  stalled.resume();
  stalled.write(upgradeHead('http2-settings: AAMAAABkAAQAAP__\r\n'));
  t.regex(await first, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  await clock.advanceAsync(3_000);
  await ended;
  const wrong = await raw(w, upgradeHead('http2-settings: AAMAAABkAAQAAP__\r\n') + 'this is not an HTTP/2 preface at all');
  t.regex(wrong, /^(HTTP\/1\.1 101 Switching Protocols\r\n\r\n|\(reset\))$/);
  t.is(b.requests.length, 0);
});

// --- upstream connect failures and timeouts ----------------------------------------------------------

/** A TCP listener that accepts and never says a word (a TLS handshake to it never completes). */
async function silentServer(t: Parameters<typeof backend>[0]): Promise<number> {
  const sockets = new Set<Socket>();
  const server = netServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

test('upstream connect timeout: 503 UF with the reason; with retry_on connect-failure the next host answers', async (t) => {
  const good = await backend(t, (_q, res) => res.end('good'));
  const silent = endpoint(9, { kind: 'hbone', identity: serverId.uri, hbonePort: await silentServer(t) });
  const clock = new FakeClock();
  const { logger, records } = capture();
  const snap = snapshot(
    {
      [BINDING]: binding(
        httpChain([
          vhost('svc', ['*'], [route('retrying', prefix('/retry'), forwardTo('two', { retry: retryOn(['connect-failure']) })), route('plain', prefix('/'), forwardTo('one'))]),
        ]),
      ),
    },
    [cluster('one', [silent], { connectTimeoutMs: 1_000 }), cluster('two', [silent, good.endpoint], { connectTimeoutMs: 1_000 })],
  );
  const w = await startWaypoint(t, snap, { clock, logger, random: () => 0 });
  const plain = get(w, '/plain');
  // The route timer (15 s) is set first, then the connect timer.
  await until(() => clock.nextTimerDelay() === 1_000, 'the connect timer');
  await clock.advanceAsync(1_000);
  const r = await plain;
  t.is(r.status, 503);
  t.is(r.body, 'upstream connect error or disconnect/reset before headers. reset reason: no connection to 127.0.0.1:9 within the 1000 ms connect timeout');
  t.like(await accessLine(records, '/plain'), { response_flags: 'UF', details: 'wp_err_connect' });
  const retried = get(w, '/retry');
  await until(() => clock.nextTimerDelay() === 1_000, 'the connect timer of the retried request');
  await clock.advanceAsync(1_000);
  const r2 = await retried;
  t.is(r2.status, 200);
  t.is(r2.body, 'good');
});

test('an HBONE upstream presenting the wrong identity is refused: 503 UF, and the backend sees no request', async (t) => {
  const b = await backend(t, (_q, res) => res.end('should not be reached'));
  const impostor = { ...b.endpoint, transport: { kind: 'hbone' as const, identity: 'spiffe://cluster.local/ns/default/sa/expected', hbonePort: (b.endpoint.transport as { hbonePort: number }).hbonePort } };
  const { logger, records } = capture();
  const w = await startWaypoint(t, snap1([impostor]), { logger });
  const r = await get(w, '/who');
  t.is(r.status, 503);
  t.regex(r.body, /^upstream connect error or disconnect\/reset before headers\. reset reason: cannot connect to 127\.0\.0\.1:\d+: /);
  t.is(b.requests.length, 0);
  t.like(await accessLine(records, '/who'), { status: 503, response_flags: 'UF' });
});

test('per-try timeout: an attempt without a head in time is retried, and the next host answers', async (t) => {
  let n = 0;
  const b = await backend(t, (_q, res) => {
    n++;
    if (n === 1) return; // the first attempt never answers
    res.end(`attempt ${n}`);
  });
  const clock = new FakeClock();
  const w = await startWaypoint(t, snap1([b.endpoint], { retry: retryOn(['reset'], { perTryTimeoutMs: 1_000 }) }), { clock, random: () => 0 });
  const r = get(w, '/');
  await until(() => n === 1, 'the first attempt at the backend');
  await clock.advanceAsync(1_000);
  t.deepEqual(await r.then((x) => [x.status, x.body]), [200, 'attempt 2']);
});

test('per-try timeout on every attempt: 504 "upstream request timeout" flagged UT once the retries are spent (and URX)', async (t) => {
  const b = await backend(t, () => undefined);
  const clock = new FakeClock();
  const { logger, records } = capture();
  const w = await startWaypoint(t, snap1([b.endpoint], { retry: retryOn(['5xx'], { perTryTimeoutMs: 1_000, numRetries: 2 }) }), { clock, logger, random: () => 0 });
  const r = get(w, '/slow');
  for (let attempt = 1; attempt <= 3; attempt++) {
    await until(() => b.requests.length === attempt, `attempt ${attempt} at the backend`);
    await clock.advanceAsync(1_000);
  }
  const res = await r;
  t.is(res.status, 504);
  t.is(res.body, 'upstream request timeout');
  const line = await accessLine(records, '/slow');
  t.deepEqual(String(line['response_flags']).split(',').sort(), ['URX', 'UT']);
});

// --- upstream resets --------------------------------------------------------------------------------

test('an upstream reset before the head: 503 UR without retries; retried with retry_on reset', async (t) => {
  const b = await backend(t, (req) => req.socket.destroy());
  const ok = await backend(t, (_q, res) => res.end('second host'));
  const { logger, records } = capture();
  const snap = snapshot(
    { [BINDING]: binding(httpChain([vhost('svc', ['*'], [route('retry', prefix('/retry'), forwardTo('c2', { retry: retryOn(['reset']) })), route('r', prefix('/'), forwardTo('c1'))])])) },
    [cluster('c1', [b.endpoint]), cluster('c2', [b.endpoint, ok.endpoint])],
  );
  const w = await startWaypoint(t, snap, { logger, random: () => 0 });
  const r = await get(w, '/always');
  t.is(r.status, 503);
  t.regex(r.body, /^upstream connect error or disconnect\/reset before headers\. reset reason: /);
  t.like(await accessLine(records, '/always'), { response_flags: 'UR' });
  const retried = await get(w, '/retry');
  t.deepEqual([retried.status, retried.body], [200, 'second host']);
});

test('an HTTP/1.1 upstream reset mid-response: the HTTP/2 client sees its stream reset, the HTTP/1.1 client an aborted response, never a hang; flag UR', async (t) => {
  const b = await backend(t, (_q, res) => {
    res.writeHead(200, { 'content-length': '100000' });
    res.write('partial');
    setImmediate(() => res.socket?.destroy());
  });
  const { logger, records } = capture();
  const w = await startWaypoint(t, snap1([b.endpoint]), { logger });
  const s = await h2session(t, w);
  const st = s.request({ ':path': '/h2' });
  st.on('error', () => {});
  const head = await new Promise<IncomingHttpHeaders>((r) => st.once('response', r));
  t.is(Number(head[':status']), 200);
  const closed = await new Promise<number | undefined>((resolve) => {
    st.resume();
    st.once('close', () => resolve(st.rstCode));
  });
  t.not(closed, 0, 'RST_STREAM, not a clean end');
  t.like(await accessLine(records, '/h2'), { status: 200, response_flags: 'UR' });
  // A client of its own: on Node 20.20, a client HBONE connection that carried both this reset tunnel and
  // the inner HTTP/2 session above spun in native code (Http2Stream submitRstStream) when torn down.
  const { certs } = await pki();
  const other = new HboneClient({ certificates: certs });
  t.teardown(() => other.destroy());
  const tunnel = await other.connect({ source: clientId, destination: `127.0.0.1:${w.hbonePort}`, expectedIdentities: [waypointId], authority: BINDING });
  decodeStrings(tunnel);
  const h1 = await new Promise<string>((resolve) => {
    const req = h1request({ path: '/h1', headers: { host: 'svc' }, createConnection: () => tunnel }, (res) => {
      res.on('data', () => {});
      res.on('error', () => {});
      res.once('aborted', () => resolve('aborted'));
      res.once('end', () => resolve(res.complete ? 'complete' : 'incomplete'));
    });
    req.on('error', (err) => resolve(`request error ${err.message}`));
    req.end();
  });
  // Node's client reports the reset tunnel as a failed request or an aborted response (which comes first
  // depends on timing); never a complete response, never nothing.
  t.regex(h1, /^(aborted|request error .*NGHTTP2_INTERNAL_ERROR)$/);
  t.like(await accessLine(records, '/h1'), { status: 200, response_flags: 'UR' });
});

test('an HTTP/2 upstream reset mid-response (RST_STREAM): the client sees a reset; flag UR', async (t) => {
  const b = await h2backend(t, (stream) => {
    stream.respond({ ':status': 200 });
    stream.write('partial');
    setImmediate(() => stream.destroy(new Error('the backend broke off')));
  });
  const { logger, records } = capture();
  const w = await startWaypoint(t, snap1([b.endpoint], {}, { protocol: 'http2' }), { logger });
  const s = await h2session(t, w);
  const st = s.request({ ':path': '/h2up' });
  st.on('error', () => {});
  st.resume();
  const code = await new Promise<number | undefined>((resolve) => st.once('close', () => resolve(st.rstCode)));
  t.not(code, 0);
  t.like(await accessLine(records, '/h2up'), { response_flags: 'UR' });
});

// --- bodies and clients ----------------------------------------------------------------------------

test('a request body beyond the replay buffer is forwarded whole but not retried; one within it is', async (t) => {
  const sizes: number[] = [];
  const b = await backend(t, (req, res) => {
    void readAll(req).then((body) => {
      sizes.push(body.length);
      res.statusCode = 503;
      res.end('busy');
    });
  });
  const { logger, records } = capture();
  const w = await startWaypoint(t, snap1([b.endpoint], { retry: retryOn(['5xx']) }), { logger, limits: { retryBufferBytes: 4_096 } });
  const big = await get(w, '/big', { method: 'POST', body: 'b'.repeat(10_000) });
  t.is(big.status, 503);
  t.deepEqual(sizes, [10_000], 'forwarded once, whole');
  t.is((await accessLine(records, '/big'))['bytes_received'], 10_000);
  const small = await get(w, '/small', { method: 'POST', body: 's'.repeat(1_000) });
  t.is(small.status, 503);
  t.deepEqual(sizes, [10_000, 1_000, 1_000], 'replayed for the retry');
});

test('a client that leaves mid-response: flag DC, the upstream exchange is abandoned, and every count goes back to zero', async (t) => {
  const b = await backend(t, (_q, res) => {
    res.writeHead(200);
    res.write('first part');
  });
  const { logger, records } = capture();
  const w = await startWaypoint(t, snap1([b.endpoint]), { logger });
  const s = await h2session(t, w);
  const st = s.request({ ':path': '/leave' });
  await new Promise((r) => st.once('data', r));
  st.close(0x8);
  const line = await accessLine(records, '/leave');
  t.is(line['response_flags'], 'DC');
  await until(() => w.waypoint.clusters.stats()['c1']!.counters.requests === 0, 'the request count back to zero');
  t.is(w.waypoint.clusters.stats()['c1']!.hosts[0]!.active, 0);
});

test('malformed requests: a bad target answers 400 DPE; bytes that are not HTTP/1.1 after a request line answer 400 and close that tunnel only', async (t) => {
  const b = await backend(t, (_q, res) => res.end('ok'));
  const { logger, records } = capture();
  const w = await startWaypoint(t, snap1([b.endpoint]), { logger });
  const bad = await get(w, '/a%zz');
  t.is(bad.status, 400);
  t.regex(bad.body, /^Bad Request: .*percent/);
  t.like(await accessLine(records, '/a%zz'), { response_flags: 'DPE' });
  const garbage = await raw(w, 'GET / HTTP/1.1\r\nhost svc no colon\r\n\r\n');
  t.regex(garbage, /^HTTP\/1\.1 400 Bad Request\r\n/);
  t.is((await get(w, '/fine')).body, 'ok');
  t.is(b.requests.length, 1);
});
