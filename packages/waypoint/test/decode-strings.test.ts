/**
 * `decodeStrings` (test/helpers/decode-strings.ts): Node 20's HTTP/1.1 client, run over the client side of an
 * HTTP/2 stream (a tunnel we opened), corrupts the first bytes of a message head written together with a
 * body. What we saw on Node 20.20.2: the head of `POST /p HTTP/1.1` with a 5-byte body reached the server
 * as `\x1f\xf6\x06\x00\x00…` followed by the rest of the request line (`…1.1\r\nhost: x\r\n…`), and
 * the server answered HPE_INVALID_METHOD, for every one of 200 requests in a row; with the stream's
 * Writable set to turn strings into Buffers before `_writev`, none was. On the server side of a stream
 * (Node's HTTP/1.1 server answering over a tunnel it accepted) 50 of 50 replies arrived intact either way,
 * with string and with Buffer bodies; the waypoint applies the workaround there too, as a guard.
 *
 * The first test shows the Node behaviour itself (if it ever passes without the workaround, Node was fixed
 * and the workaround can go). The second drives both paths on which the waypoint writes HTTP/1.1 over a
 * tunnel, heads and bodies written together: it fails when the upstream path loses the workaround.
 */
import test from 'ava';
import { createServer as createH1Server, request as h1request } from 'node:http';
import { connect as h2connect, createServer as createH2Server, type ClientHttp2Stream, type ServerHttp2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { decodeStrings } from './helpers/decode-strings.js';
import { BINDING, backend, binding, cluster, forwardTo, get, httpChain, prefix, readAll, route, snapshot, startWaypoint, vhost } from './helpers/fixtures.js';

/** POSTs over fresh HTTP/2 CONNECT streams to an in-process HTTP/1.1 server; how many came back intact. */
async function postsOverH2Streams(t: Parameters<typeof backend>[0], n: number, withWorkaround: boolean): Promise<number> {
  const h1 = createH1Server((req, res) => {
    void readAll(req).then((body) => res.end(`${req.method ?? ''} ${req.url ?? ''} ${body.length}`));
  });
  h1.on('clientError', (_err, socket) => socket.destroy());
  const sessions = new Set<ServerHttp2Session>();
  const outer = createH2Server();
  outer.on('session', (s) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
  });
  outer.on('stream', (stream) => {
    stream.on('error', () => {});
    stream.respond({ ':status': 200 });
    if (withWorkaround) decodeStrings(stream);
    h1.emit('connection', stream);
  });
  await new Promise<void>((r) => outer.listen(0, '127.0.0.1', r));
  const client = h2connect(`http://127.0.0.1:${(outer.address() as AddressInfo).port}`);
  client.on('error', () => {});
  t.teardown(() => {
    client.destroy();
    for (const s of sessions) s.destroy();
    outer.close();
  });
  let intact = 0;
  for (let i = 0; i < n; i++) {
    const tunnel: ClientHttp2Stream = client.request({ ':method': 'CONNECT', ':authority': '10.0.0.1:80' });
    tunnel.on('error', () => {});
    await new Promise((r) => tunnel.once('response', r));
    if (withWorkaround) decodeStrings(tunnel);
    const answer = await new Promise<string>((resolve) => {
      const req = h1request({ method: 'POST', path: `/p${i}`, headers: { host: 'x', 'content-length': '5' }, createConnection: () => tunnel }, (res) => {
        void readAll(res).then((b) => resolve(b.toString()), () => resolve('broken'));
      });
      req.on('error', () => resolve('broken'));
      req.end('hello');
    });
    if (answer === `POST /p${i} 5`) intact++;
    tunnel.destroy();
  }
  return intact;
}

test('Node 20: HTTP/1.1 over an HTTP/2 stream corrupts a head written with its body unless strings are made Buffers first', async (t) => {
  const without = await postsOverH2Streams(t, 20, false);
  const withIt = await postsOverH2Streams(t, 20, true);
  t.is(withIt, 20);
  t.true(without < 20, 'every request arrived intact without the workaround: this Node no longer needs decodeStrings');
});

test('downstream and upstream HTTP/1.1 over tunnels: heads with bodies, both ways, arrive intact through the waypoint', async (t) => {
  // The backend answers with writeHead + end(body): a head and a body written together, upstream of us.
  const b = await backend(t, (req, res) => {
    void readAll(req).then((body) => {
      res.writeHead(201, { 'content-type': 'text/plain', 'x-got': String(body.length) });
      res.end(`got ${req.method ?? ''} ${req.url ?? ''} ${body.toString()}`);
    });
  });
  const snap = snapshot({ [BINDING]: binding(httpChain([vhost('svc', ['*'], [route('r', prefix('/'), forwardTo('c1'))])])) }, [cluster('c1', [b.endpoint], { protocol: 'http1' })]);
  const w = await startWaypoint(t, snap);
  for (let i = 0; i < 10; i++) {
    // The client's POST (head + body) crosses the client tunnel; the waypoint's request to the backend
    // (head + body) crosses an upstream tunnel; its answer to the client (head + body) the client tunnel.
    const r = await get(w, `/item/${i}`, { method: 'POST', body: `payload-${i}` });
    t.is(r.status, 201);
    t.is(r.headers['x-got'], String(`payload-${i}`.length));
    t.is(r.body, `got POST /item/${i} payload-${i}`);
  }
  t.is(b.requests.length, 10);
  t.true(
    b.requests.every((q, i) => q.method === 'POST' && q.url === `/item/${i}`),
    'every request line reached the backend intact',
  );
});
