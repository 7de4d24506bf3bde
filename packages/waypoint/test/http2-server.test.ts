/**
 * The waypoint's own HTTP/2 server connection (`http2/server-connection.ts`) over real loopback sockets,
 * against independent peers — Node's HTTP/2 client (nghttp2), curl and h2load — and against a raw peer
 * for everything a well-behaved client never sends (each malformed frame or request must cost only its
 * stream, or the connection with GOAWAY and the precise code, and never the process).
 */
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { connect as h2connect, constants as h2c, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Http2ServerConnection, type Http2ServerOptions } from '../src/http2/server-connection.js';
import type { Http2Error } from '../src/http2/errors.js';
import type { ServerStream } from '../src/http2/server-stream.js';
import type { HeaderMap } from '../src/route/headers.js';
import { frame, GET_FIELDS, literalBlock, PREFACE, RawPeer } from './helpers/h2-raw.js';

const run = promisify(execFile);

interface Served {
  readonly port: number;
  readonly connections: Http2ServerConnection[];
  readonly errors: Http2Error[];
  readonly streams: ServerStream[];
}

function headers(o: Record<string, string>): HeaderMap {
  return Object.assign(Object.create(null) as HeaderMap, o);
}

/**
 * The app behind the server: `/echo` answers with the request's body (back-pressure both ways) and its
 * trailers; `/big?n=N` sends N bytes; `/head-only` ends with the head; `/reset` breaks off after a chunk;
 * `/hold` answers only when the test says so (`streams`).
 */
function app(s: ServerStream): void {
  const req = s.request;
  const url = new URL(req.url, 'http://x');
  switch (url.pathname) {
    case '/echo': {
      s.writeHead(200, headers({ 'x-method': req.method, 'x-path': req.url, 'x-authority': req.authority ?? '', 'x-cookie': cookieOf(req.rawHeaders) }));
      const body = req.body;
      body.on('data', (chunk: Buffer) => {
        if (!s.write(chunk)) body.pause();
      });
      s.on('drain', () => body.resume());
      body.once('end', () => {
        const t = req.trailers();
        if (t !== undefined) s.addTrailers(t);
        s.end();
      });
      return;
    }
    case '/big': {
      const n = Number(url.searchParams.get('n'));
      s.writeHead(200, headers({ 'content-length': String(n) }));
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      let left = n;
      const pump = (): void => {
        while (left > 0) {
          const take = Math.min(left, chunk.length);
          left -= take;
          if (!s.write(take === chunk.length ? chunk : chunk.subarray(0, take))) return;
        }
        s.off('drain', pump);
        s.end();
      };
      s.on('drain', pump);
      req.body.resume();
      pump();
      return;
    }
    case '/head-only':
      s.statusCode = 204;
      s.setHeader('x-only', 'head');
      s.end();
      req.body.resume();
      return;
    case '/reset':
      s.writeHead(200, headers({}));
      s.write(Buffer.from('partial'));
      setTimeout(() => s.reset(new Error('boom')), 20);
      return;
    default:
      req.body.resume();
  }
}

function cookieOf(raw: readonly string[]): string {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i] === 'cookie') out.push(raw[i + 1]!);
  return out.join('|');
}

async function serve(t: ExecutionContext, options: Http2ServerOptions = {}, handler: (s: ServerStream) => void = app): Promise<Served> {
  const served: Served = { port: 0, connections: [], errors: [], streams: [] };
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const conn = new Http2ServerConnection(
      socket,
      {
        onRequest: (s) => {
          served.streams.push(s);
          handler(s);
        },
        onProtocolError: (err) => served.errors.push(err),
        onClose: () => undefined,
      },
      options,
    );
    served.connections.push(conn);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { ...served, port: (server.address() as AddressInfo).port };
}

function client(t: ExecutionContext, port: number): ClientHttp2Session {
  const session = h2connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  t.teardown(() => session.destroy());
  return session;
}

interface Reply {
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly trailers: IncomingHttpHeaders | undefined;
}

async function request(session: ClientHttp2Session, h: Record<string, string>, body?: Buffer, trailers?: Record<string, string>): Promise<Reply> {
  const stream: ClientHttp2Stream = session.request(h, { endStream: body === undefined, waitForTrailers: trailers !== undefined });
  if (trailers !== undefined) stream.on('wantTrailers', () => stream.sendTrailers(trailers));
  if (body !== undefined) stream.end(body);
  let got: IncomingHttpHeaders = {};
  let gotTrailers: IncomingHttpHeaders | undefined;
  stream.on('response', (hh: IncomingHttpHeaders) => {
    got = hh;
  });
  stream.on('trailers', (tt: IncomingHttpHeaders) => {
    gotTrailers = tt;
  });
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  await once(stream, 'end');
  return { headers: got, body: Buffer.concat(chunks), trailers: gotTrailers };
}

test('Node HTTP/2 client: GET and POST are answered, with the request head seen as sent', async (t) => {
  const { port } = await serve(t);
  const session = client(t, port);
  const get = await request(session, { ':method': 'GET', ':path': '/echo?q=1', ':authority': 'svc.test:8080' });
  t.is(Number(get.headers[':status']), 200);
  t.is(get.headers['x-method'], 'GET');
  t.is(get.headers['x-path'], '/echo?q=1');
  t.is(get.headers['x-authority'], 'svc.test:8080');
  t.is(get.body.length, 0);
  const payload = Buffer.alloc(1024, 0x7a);
  const post = await request(session, { ':method': 'POST', ':path': '/echo', 'content-length': '1024' }, payload);
  t.deepEqual(post.body, payload);
});

test('Node HTTP/2 client: 100 concurrent streams on one connection each get their own body back', async (t) => {
  const { port, connections } = await serve(t);
  const session = client(t, port);
  const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => request(session, { ':method': 'POST', ':path': `/echo?i=${i}` }, Buffer.from(`body-${i}-`.repeat(i + 1)))));
  replies.forEach((r, i) => t.is(r.body.toString(), `body-${i}-`.repeat(i + 1)));
  t.is(connections.length, 1);
  t.is(connections[0]!.streamCount, 0, 'every stream was forgotten once done');
});

test('flow control both ways: 8 MiB up (over our 1 MiB window) and 6 MiB down (over the client\'s 64 KiB window)', async (t) => {
  const { port } = await serve(t, { initialWindowSize: 1024 * 1024, connectionWindowSize: 2 * 1024 * 1024 });
  const session = client(t, port);
  const up = Buffer.alloc(8 * 1024 * 1024);
  for (let i = 0; i < up.length; i += 4096) up.writeUInt32BE(i, i);
  const echo = await request(session, { ':method': 'POST', ':path': '/echo' }, up);
  t.is(echo.body.length, up.length);
  t.true(echo.body.equals(up));
  const down = await request(session, { ':method': 'GET', ':path': `/big?n=${6 * 1024 * 1024}` });
  t.is(down.body.length, 6 * 1024 * 1024);
});

test('trailers both ways: the request\'s trailers reach the app, and the response ends with a trailing HEADERS frame', async (t) => {
  const { port, streams } = await serve(t);
  const session = client(t, port);
  const r = await request(session, { ':method': 'POST', ':path': '/echo' }, Buffer.from('abc'), { 'grpc-status': '0', 'x-sum': '42' });
  t.is(r.body.toString(), 'abc');
  t.is(r.trailers?.['grpc-status'], '0');
  t.is(r.trailers?.['x-sum'], '42');
  t.true(streams[0]!.request.mayHaveTrailers);
});

test('a reply without a body is one HEADERS frame with END_STREAM', async (t) => {
  const { port } = await serve(t);
  const peer = await RawPeer.open(port);
  t.teardown(() => peer.close());
  peer.send(frame(1, 0x5, 1, literalBlock([...GET_FIELDS.slice(0, 2), [':path', '/head-only'], [':authority', 'a']])));
  const h = await peer.next((f) => f.type === 1 && f.stream === 1);
  t.truthy(h);
  t.is(h!.flags & 0x1, 0x1, 'END_STREAM on the HEADERS frame');
  const session = client(t, port);
  const r = await request(session, { ':method': 'GET', ':path': '/head-only' });
  t.is(Number(r.headers[':status']), 204);
  t.is(r.headers['x-only'], 'head');
});

test('a response the app breaks off is reset with INTERNAL_ERROR; the connection serves on', async (t) => {
  const { port } = await serve(t);
  const session = client(t, port);
  const stream = session.request({ ':method': 'GET', ':path': '/reset' });
  stream.resume();
  stream.on('error', () => undefined);
  await new Promise((resolve) => stream.once('close', resolve));
  t.is(stream.rstCode, h2c.NGHTTP2_INTERNAL_ERROR);
  const ok = await request(session, { ':method': 'GET', ':path': '/echo' });
  t.is(Number(ok.headers[':status']), 200);
});

test('a client that resets a stream mid-body fails only that request\'s body and closes its response', async (t) => {
  const { port, streams } = await serve(t, {}, (s) => {
    if (s.request.url === '/hold') {
      s.request.body.on('data', () => undefined);
      s.request.body.once('error', () => undefined);
      return;
    }
    app(s);
  });
  const peer = await RawPeer.open(port);
  t.teardown(() => peer.close());
  peer.send(headersFrame(1, [...GET_FIELDS.slice(0, 2), [':path', '/hold'], [':authority', 'a']], 0x4), frame(0, 0, 1, Buffer.from('some')));
  while (streams.length === 0) await new Promise((r) => setTimeout(r, 10));
  const closed = new Promise<void>((resolve) => streams[0]!.once('close', resolve));
  const errored = once(streams[0]!.request.body, 'error');
  peer.send(frame(3, 0, 1, u32(0x8)));
  const [err] = (await errored) as [Http2Error];
  t.is(err.code, 'H2_STREAM_RESET');
  t.is(err.h2Code, 0x8);
  await closed;
  t.true(streams[0]!.destroyed);
  peer.send(headersFrame(3, [...GET_FIELDS.slice(0, 2), [':path', '/echo'], [':authority', 'a']]));
  const ok = await peer.next((f) => f.type === 1 && f.stream === 3);
  t.truthy(ok, 'the connection serves on');
});

test('close(): GOAWAY, the stream in progress completes, new streams are refused, then the connection ends', async (t) => {
  const { port, connections, streams } = await serve(t, {}, (s) => {
    if (s.request.url === '/hold') {
      s.request.body.resume();
      return;
    }
    app(s);
  });
  const session = client(t, port);
  const held = session.request({ ':method': 'GET', ':path': '/hold' });
  const chunks: Buffer[] = [];
  held.on('data', (c: Buffer) => chunks.push(c));
  while (streams.length === 0) await new Promise((r) => setTimeout(r, 10));
  const goaway = once(session, 'goaway');
  connections[0]!.close();
  const [code, lastStreamId] = (await goaway) as [number, number];
  t.is(code, h2c.NGHTTP2_NO_ERROR);
  t.is(lastStreamId, 1);
  streams[0]!.writeHead(200, headers({}));
  streams[0]!.end(Buffer.from('finished'));
  await once(held, 'end');
  t.is(Buffer.concat(chunks).toString(), 'finished');
  await once(session, 'close');
  t.is(connections[0]!.streamCount, 0);
});

test('independent peers: curl (prior knowledge) and h2load get every request answered', async (t) => {
  const { port } = await serve(t);
  const curl = await run('curl', ['-s', '--http2-prior-knowledge', '-H', 'cookie: a=1', '-H', 'cookie: b=2', '--data-binary', 'hello curl', '-D', '-', `http://127.0.0.1:${port}/echo`]);
  t.regex(curl.stdout, /^HTTP\/2 200/);
  t.regex(curl.stdout, /x-method: POST/);
  t.regex(curl.stdout, /x-cookie: a=1; b=2/, 'several cookie fields are joined into one (RFC 9113 §8.2.3)');
  t.true(curl.stdout.endsWith('hello curl'));
  const dir = await mkdtemp(path.join(tmpdir(), 'h2load-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, 'body'), Buffer.alloc(1024, 0x62));
  const h2load = await run('h2load', ['-n', '2000', '-c', '4', '-m', '10', '-d', path.join(dir, 'body'), `http://127.0.0.1:${port}/echo`]);
  t.regex(h2load.stdout, /requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, 0 errored/);
  t.regex(h2load.stdout, /status codes: 2000 2xx/);
});

// ---- malformed input: raw frames ----

interface Case {
  readonly title: string;
  readonly options?: Http2ServerOptions;
  readonly send: () => Buffer[];
  /** The stream reset and its code; else the connection's GOAWAY code. */
  readonly rst?: number;
  readonly goaway?: number;
  /** After a stream error, a request on this stream must still be answered. */
  readonly thenStream?: number;
}

const PROTOCOL_ERROR = 0x1;
const FLOW_CONTROL_ERROR = 0x3;
const STREAM_CLOSED = 0x5;
const FRAME_SIZE_ERROR = 0x6;
const REFUSED_STREAM = 0x7;
const COMPRESSION_ERROR = 0x9;
const ENHANCE_YOUR_CALM = 0xb;

const headersFrame = (stream: number, fields: readonly (readonly [string, string])[], flags = 0x5): Buffer => frame(1, flags, stream, literalBlock(fields));
const malformedRequest = (title: string, fields: readonly (readonly [string, string])[]): Case => ({ title, send: () => [headersFrame(1, fields)], rst: PROTOCOL_ERROR, thenStream: 3 });

const CASES: Case[] = [
  malformedRequest('an upper-case field name', [...GET_FIELDS, ['X-Upper', '1']]),
  malformedRequest('no :path', GET_FIELDS.filter(([n]) => n !== ':path')),
  malformedRequest('no :scheme', GET_FIELDS.filter(([n]) => n !== ':scheme')),
  malformedRequest('a pseudo-header after a regular field', [['x-a', '1'], ...GET_FIELDS]),
  malformedRequest('an unknown pseudo-header', [...GET_FIELDS, [':protocol', 'websocket']]),
  malformedRequest('a repeated :method', [...GET_FIELDS, [':method', 'POST']]),
  malformedRequest('a connection-specific field', [...GET_FIELDS, ['connection', 'keep-alive']]),
  malformedRequest('te other than trailers', [...GET_FIELDS, ['te', 'gzip']]),
  malformedRequest('a value with a line feed', [...GET_FIELDS, ['x-a', 'one\ntwo']]),
  malformedRequest('a value with leading whitespace', [...GET_FIELDS, ['x-a', ' padded']]),
  malformedRequest('CONNECT with a :path', [[':method', 'CONNECT'], [':authority', 'a:1'], [':path', '/']]),
  {
    title: 'a body longer than its content-length',
    send: () => [headersFrame(1, [...GET_FIELDS, ['content-length', '3']], 0x4), frame(0, 0x1, 1, Buffer.from('abcd'))],
    rst: PROTOCOL_ERROR,
    thenStream: 3,
  },
  {
    title: 'trailers without END_STREAM',
    send: () => [headersFrame(1, GET_FIELDS, 0x4), headersFrame(1, [['x-t', '1']], 0x4)],
    rst: PROTOCOL_ERROR,
    thenStream: 3,
  },
  {
    title: 'DATA over the stream\'s window',
    options: { initialWindowSize: 100 },
    send: () => [headersFrame(1, GET_FIELDS, 0x4), frame(0, 0, 1, Buffer.alloc(200))],
    rst: FLOW_CONTROL_ERROR,
    thenStream: 3,
  },
  {
    title: 'a WINDOW_UPDATE taking a stream\'s window over 2^31-1',
    send: () => [headersFrame(1, GET_FIELDS, 0x4), frame(8, 0, 1, u32(0x7fffffff))],
    rst: FLOW_CONTROL_ERROR,
    thenStream: 3,
  },
  {
    title: 'a stream over SETTINGS_MAX_CONCURRENT_STREAMS',
    options: { maxConcurrentStreams: 1 },
    send: () => [headersFrame(1, GET_FIELDS, 0x4), headersFrame(3, GET_FIELDS)],
    rst: REFUSED_STREAM,
  },
  { title: 'the preface is wrong', send: () => [Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n')], goaway: PROTOCOL_ERROR },
  { title: 'the first frame is not SETTINGS', send: () => [PREFACE, frame(6, 0, 0, Buffer.alloc(8))], goaway: PROTOCOL_ERROR },
  { title: 'DATA on an idle stream', send: () => [frame(0, 0, 5, Buffer.from('x'))], goaway: PROTOCOL_ERROR },
  { title: 'HEADERS on an even stream', send: () => [headersFrame(2, GET_FIELDS)], goaway: PROTOCOL_ERROR },
  { title: 'a frame between HEADERS and its CONTINUATION', send: () => [headersFrame(1, GET_FIELDS, 0x1), frame(6, 0, 0, Buffer.alloc(8))], goaway: PROTOCOL_ERROR },
  { title: 'CONTINUATION without HEADERS', send: () => [frame(9, 0x4, 1, literalBlock(GET_FIELDS))], goaway: PROTOCOL_ERROR },
  { title: 'a frame over SETTINGS_MAX_FRAME_SIZE', send: () => [headersFrame(1, GET_FIELDS, 0x4), frame(0, 0, 1, Buffer.alloc(16385))], goaway: FRAME_SIZE_ERROR },
  { title: 'a WINDOW_UPDATE of 0 for the connection', send: () => [frame(8, 0, 0, u32(0))], goaway: PROTOCOL_ERROR },
  { title: 'SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1', send: () => [frame(4, 0, 0, setting(4, 0x80000000))], goaway: FLOW_CONTROL_ERROR },
  { title: 'SETTINGS_MAX_FRAME_SIZE under 16384', send: () => [frame(4, 0, 0, setting(5, 100))], goaway: PROTOCOL_ERROR },
  { title: 'SETTINGS of 5 bytes', send: () => [frame(4, 0, 0, Buffer.alloc(5))], goaway: FRAME_SIZE_ERROR },
  { title: 'PUSH_PROMISE from a client', send: () => [frame(5, 0x4, 1, Buffer.alloc(4))], goaway: PROTOCOL_ERROR },
  { title: 'an HPACK index of 0', send: () => [frame(1, 0x5, 1, Buffer.from([0x80]))], goaway: COMPRESSION_ERROR },
  { title: 'PING of 7 bytes', send: () => [frame(6, 0, 0, Buffer.alloc(7))], goaway: FRAME_SIZE_ERROR },
  {
    title: 'streams reset faster than 1000 a second',
    send: () => {
      const out: Buffer[] = [];
      for (let id = 1; id < 2 * 1100; id += 2) out.push(headersFrame(id, GET_FIELDS, 0x4), frame(3, 0, id, u32(8)));
      return out;
    },
    goaway: ENHANCE_YOUR_CALM,
  },
];

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function setting(id: number, value: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUInt16BE(id);
  b.writeUInt32BE(value, 2);
  return b;
}

for (const c of CASES) {
  test(`malformed: ${c.title} → ${c.rst !== undefined ? 'RST_STREAM' : 'GOAWAY'}`, async (t) => {
    const { port, errors } = await serve(t, c.options ?? {}, (s) => {
      // Requests are held open (answered only on stream `thenStream`) so that a reset is the server's doing.
      if (s.id === c.thenStream) app(s);
      else s.request.body.resume();
    });
    const peer = await RawPeer.open(port, c.title !== 'the preface is wrong' && c.title !== 'the first frame is not SETTINGS');
    t.teardown(() => peer.close());
    peer.send(...c.send());
    if (c.rst !== undefined) {
      const rst = await peer.next((f) => f.type === 3);
      t.truthy(rst, 'a RST_STREAM came');
      t.is(rst!.payload.readUInt32BE(0), c.rst);
      // A refusal is not the client's fault; everything else is reported for the log.
      if (c.rst !== REFUSED_STREAM) t.true(errors.some((e) => e.h2Code === c.rst));
      if (c.thenStream !== undefined) {
        peer.send(headersFrame(c.thenStream, [...GET_FIELDS.slice(0, 2), [':path', '/echo'], [':authority', 'a']]));
        const ok = await peer.next((f) => f.type === 1 && f.stream === c.thenStream);
        t.truthy(ok, 'the connection still serves');
      }
      return;
    }
    const goaway = await peer.next((f) => f.type === 7);
    t.truthy(goaway, 'a GOAWAY came');
    t.is(goaway!.payload.readUInt32BE(4), c.goaway!);
    t.true(goaway!.payload.length > 8, 'with the reason as debug data');
    const connectionErrors = errors.filter((e) => e.code === 'H2_CONNECTION_ERROR');
    t.is(connectionErrors.length, 1);
    t.is(connectionErrors[0]!.h2Code, c.goaway!);
    await peer.untilEnded();
  });
}

test('a header list over SETTINGS_MAX_HEADER_LIST_SIZE is answered 431, and the next request is decoded right', async (t) => {
  const { port } = await serve(t, { maxHeaderListSize: 300 });
  const peer = await RawPeer.open(port);
  t.teardown(() => peer.close());
  peer.send(headersFrame(1, [...GET_FIELDS, ['x-big', 'v'.repeat(400)]]));
  const h = await peer.next((f) => f.type === 1 && f.stream === 1);
  t.truthy(h);
  // ":status: 431" as the server encodes it: check by decoding with a real client below too.
  const session = client(t, port);
  const big = await request(session, { ':method': 'GET', ':path': '/echo', 'x-big': 'v'.repeat(400) });
  t.is(Number(big.headers[':status']), 431);
  const ok = await request(session, { ':method': 'GET', ':path': '/echo', 'x-small': 'v' });
  t.is(Number(ok.headers[':status']), 200);
});

test('PING is answered with the same 8 bytes; a stream id reused after its end gets STREAM_CLOSED', async (t) => {
  const { port } = await serve(t);
  const peer = await RawPeer.open(port);
  t.teardown(() => peer.close());
  const payload = Buffer.from('01234567');
  peer.send(frame(6, 0, 0, payload));
  const ack = await peer.next((f) => f.type === 6);
  t.is(ack!.flags, 0x1);
  t.deepEqual(ack!.payload, payload);
  peer.send(headersFrame(1, [...GET_FIELDS.slice(0, 2), [':path', '/echo'], [':authority', 'a']]));
  await peer.next((f) => f.type === 0 && f.stream === 1 && (f.flags & 0x1) === 1);
  peer.send(frame(0, 0x1, 1, Buffer.from('late')));
  const rst = await peer.next((f) => f.type === 3);
  t.is(rst!.stream, 1);
  t.is(rst!.payload.readUInt32BE(0), STREAM_CLOSED);
});
