/**
 * Request trailers through the waypoint (response trailers: upstream-h2.test.ts): from HTTP/2 and chunked
 * HTTP/1.1 clients to HTTP/2 and chunked HTTP/1.1 upstreams, filtered of the fields a trailer section must
 * not carry, replayed with a retried body, dropped where the upstream framing cannot carry them; a
 * malformed trailer section breaks off its own request only. Real HTTP/2 and HTTP/1.1 backends behind HBONE.
 */
import test from 'ava';
import type { IncomingHttpHeaders } from 'node:http2';
import type { Duplex } from 'node:stream';
import {
  BINDING,
  backend,
  binding,
  cluster,
  forwardTo,
  h2backend,
  h2session,
  httpChain,
  prefix,
  readAll,
  route,
  snapshot,
  startWaypoint,
  vhost,
} from './helpers/fixtures.js';

type Endpoints = Parameters<typeof cluster>[1];

function oneRoute(endpoints: Endpoints, protocol: 'http1' | 'http2', extra: Parameters<typeof forwardTo>[1] = {}) {
  return snapshot({ [BINDING]: binding(httpChain([vhost('svc', ['*'], [route('r', prefix('/'), forwardTo('c', extra))])])) }, [cluster('c', endpoints, { protocol })]);
}

/** Writes `raw` into a tunnel to the waypoint and reads until the tunnel closes or `done` says the reply is whole. */
async function rawExchange(tunnel: Duplex, raw: string, done: (text: string) => boolean): Promise<string> {
  let text = '';
  return await new Promise<string>((resolve, reject) => {
    tunnel.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      if (done(text)) resolve(text);
    });
    tunnel.once('end', () => resolve(text));
    tunnel.once('close', () => resolve(text));
    tunnel.once('error', reject);
    tunnel.write(Buffer.from(raw, 'latin1'));
  });
}

const endsChunked = (text: string): boolean => text.includes('\r\n0\r\n\r\n') || /content-length: (\d+)\r\n[\s\S]*\r\n\r\n/i.test(text);

test('HTTP/2 client → HTTP/2 upstream: request trailers arrive, without the fields a trailer section must not carry', async (t) => {
  const b = await h2backend(t, (stream) => {
    stream.on('end', () => {
      stream.respond({ ':status': 200 });
      stream.end('ok');
    });
  });
  const w = await startWaypoint(t, oneRoute([b.endpoint], 'http2'));
  const s = await h2session(t, w);
  const st = s.request({ ':method': 'POST', ':path': '/upload', 'content-type': 'application/octet-stream' }, { waitForTrailers: true });
  st.once('wantTrailers', () => st.sendTrailers({ 'x-checksum': 'sha256=abc', authorization: 'Bearer late', 'content-type': 'text/evil' }));
  st.end('streamed body');
  const [head, body] = await Promise.all([new Promise<IncomingHttpHeaders>((r) => st.once('response', r)), readAll(st)]);
  t.is(Number(head[':status']), 200);
  t.is(body.toString(), 'ok');
  const seen = b.requests[0]!;
  t.is(seen.body, 'streamed body');
  t.is(seen.trailers?.['x-checksum'], 'sha256=abc');
  t.is(seen.trailers?.['authorization'], undefined, 'authentication is never taken from trailers');
  t.is(seen.trailers?.['content-type'], undefined);

  // Without trailers, a streamed request still ends cleanly (the stream waited for trailers: none are sent).
  const plain = s.request({ ':method': 'POST', ':path': '/plain' });
  plain.end('no trailers');
  t.is((await readAll(plain)).toString(), 'ok');
  t.is(b.requests[1]!.body, 'no trailers');
  t.is(b.requests[1]!.trailers, undefined);
});

test('chunked HTTP/1.1 client → HTTP/2 and → HTTP/1.1 upstreams: the trailer section goes along', async (t) => {
  const h2 = await h2backend(t, (stream) => {
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-length': '2' });
      stream.end('h2');
    });
  });
  const h1Trailers: Record<string, string | undefined>[] = [];
  const h1 = await backend(t, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      h1Trailers.push({ ...req.trailers, body });
      res.writeHead(200, { 'content-length': '2' });
      res.end('h1');
    });
  });
  const request = 'POST /up HTTP/1.1\r\nhost: svc.default.svc.cluster.local\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nx-checksum: crc32=1\r\nhost: evil\r\n\r\n';
  for (const [protocol, ep] of [
    ['http2', h2.endpoint],
    ['http1', h1.endpoint],
  ] as const) {
    const w = await startWaypoint(t, oneRoute([ep], protocol));
    const reply = await rawExchange(await w.tunnel(), request, (text) => /\r\n\r\nh[12]$/.test(text));
    t.regex(reply, /^HTTP\/1\.1 200 /, protocol);
  }
  t.is(h2.requests[0]!.body, 'hello world');
  t.is(h2.requests[0]!.trailers?.['x-checksum'], 'crc32=1');
  t.is(h2.requests[0]!.trailers?.['host'], undefined);
  t.deepEqual(h1Trailers, [{ 'x-checksum': 'crc32=1', body: 'hello world' }]);
});

test('an HTTP/2 request with a Content-Length keeps the fast path: trailers it sends anyway are dropped, the body arrives whole', async (t) => {
  const seen: { body: string; trailers: Record<string, string | undefined> }[] = [];
  const h1 = await backend(t, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ body, trailers: { ...req.trailers } });
      res.end('done');
    });
  });
  const w = await startWaypoint(t, oneRoute([h1.endpoint], 'http1'));
  const s = await h2session(t, w);
  const st = s.request({ ':method': 'PUT', ':path': '/fixed', 'content-length': '5' }, { waitForTrailers: true });
  st.once('wantTrailers', () => st.sendTrailers({ 'x-late': '1' }));
  st.end('fixed');
  t.is((await readAll(st)).toString(), 'done');
  t.deepEqual(seen, [{ body: 'fixed', trailers: {} }]);
});

test('a retried request replays its body and its trailers', async (t) => {
  let calls = 0;
  const b = await h2backend(t, (stream) => {
    stream.on('end', () => {
      calls++;
      stream.respond({ ':status': calls === 1 ? 503 : 200 });
      stream.end(calls === 1 ? 'try again' : 'second time');
    });
  });
  const retry = { retry: { on: new Set(['5xx'] as const), statusCodes: new Set<number>(), numRetries: 2, perTryTimeoutMs: 0, backoffBaseMs: 1, backoffMaxMs: 5 } };
  const w = await startWaypoint(t, oneRoute([b.endpoint], 'http2', retry));
  const reply = await rawExchange(
    await w.tunnel(),
    'POST /again HTTP/1.1\r\nhost: svc.default.svc.cluster.local\r\ntransfer-encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\nx-sig: s1\r\n\r\n',
    (text) => text.endsWith('second time') || text.includes('\r\n0\r\n\r\n'),
  );
  t.regex(reply, /^HTTP\/1\.1 200 /);
  t.is(b.requests.length, 2);
  for (const r of b.requests) {
    t.is(r.body, 'body');
    t.is(r.trailers?.['x-sig'], 's1');
  }
});

test('a malformed trailer section breaks off only its own request: the tunnel is reset, the upstream never sees it end', async (t) => {
  let ended = 0;
  const b = await h2backend(t, (stream) => {
    stream.on('end', () => {
      ended++;
      stream.respond({ ':status': 200 });
      stream.end('ok');
    });
  });
  const w = await startWaypoint(t, oneRoute([b.endpoint], 'http2'));
  for (const [bad, why] of [
    ['x-a: 1\nx-b: 2\r\n\r\n', 'bare LF'],
    ['no colon here\r\n\r\n', 'no colon'],
    [`x-big: ${'v'.repeat(20_000)}\r\n\r\n`, 'over the limit'],
  ] as const) {
    // The request was already on its way upstream when its trailers turned out bad: no answer can be
    // given any more, so the tunnel is reset (as for any body broken midway), and the upstream attempt too.
    const reply = await rawExchange(await w.tunnel(), `POST /x HTTP/1.1\r\nhost: svc.default.svc.cluster.local\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n${bad}`, () => false).catch((err: Error) => `reset: ${err.message}`);
    t.regex(reply, /^(reset: |$)/, `${why}: ${reply.slice(0, 60)}`);
  }
  t.is(ended, 0, 'no broken request reached the upstream as complete');
  // The waypoint still serves a good one.
  const good = await rawExchange(await w.tunnel(), 'POST /x HTTP/1.1\r\nhost: svc.default.svc.cluster.local\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nx-ok: 1\r\n\r\n', endsChunked);
  t.regex(good, /^HTTP\/1\.1 200 /);
  t.is(ended, 1);
  t.is(b.requests.at(-1)?.trailers?.['x-ok'], '1');
});
