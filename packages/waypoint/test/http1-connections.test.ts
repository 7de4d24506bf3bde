/**
 * The waypoint's own HTTP/1.1 connections over real loopback sockets: the server side
 * (`Http1ServerConnection`: keep-alive, pipelining, framing of both directions, 100-continue, refusals,
 * back-pressure, early answers, aborts, drain) and the client side (`Http1ClientConnection`: reuse,
 * response framings, interim responses, and every way an upstream can break an exchange).
 */
import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Http1ClientConnection } from '../src/http1/client-connection.js';
import type { Http1Error } from '../src/http1/errors.js';
import { Http1ServerConnection, type Http1Request, type Http1Response } from '../src/http1/server-connection.js';
import type { HeaderMap } from '../src/route/headers.js';
import type { UpstreamResponse } from '../src/upstream/exchange.js';
import type { UpstreamError } from '../src/upstream/errors.js';

function headers(o: Record<string, string>): HeaderMap {
  return Object.assign(Object.create(null) as HeaderMap, o);
}

async function listen(t: ExecutionContext, onSocket: (s: Socket) => void): Promise<number> {
  const server: Server = createServer({ allowHalfOpen: true }, onSocket);
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

async function dial(t: ExecutionContext, port: number): Promise<Socket> {
  const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  t.teardown(() => s.destroy());
  await once(s, 'connect');
  return s;
}

/** Everything the peer sends until it ends or closes. */
function readToEnd(s: Socket): Promise<string> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    s.on('data', (c: Buffer) => parts.push(c));
    const done = (): void => resolve(Buffer.concat(parts).toString('latin1'));
    s.once('end', done);
    s.once('close', done);
  });
}

/** Reads until `text` has arrived `count` times in total. */
function readUntil(s: Socket, text: string, count = 1): Promise<string> {
  return new Promise((resolve, reject) => {
    let all = '';
    const onData = (c: Buffer): void => {
      all += c.toString('latin1');
      if (all.split(text).length - 1 >= count) {
        s.off('data', onData);
        resolve(all);
      }
    };
    s.on('data', onData);
    s.once('close', () => reject(new Error(`closed after ${JSON.stringify(all)}`)));
  });
}

interface Served {
  readonly req: Http1Request;
  readonly body: string;
}

/** A server whose handler echoes the request body (after reading it whole) with the given framing. */
async function echoServer(t: ExecutionContext, o: { chunked?: boolean; onError?: (e: Http1Error) => void } = {}): Promise<{ port: number; served: Served[] }> {
  const served: Served[] = [];
  const port = await listen(t, (socket) => {
    new Http1ServerConnection(socket, {
      onRequest: (req: Http1Request, res: Http1Response) => {
        const parts: Buffer[] = [];
        req.body.on('data', (c: Buffer) => parts.push(Buffer.from(c)));
        req.body.once('end', () => {
          const body = Buffer.concat(parts);
          served.push({ req, body: body.toString() });
          const h = headers({ 'x-method': req.method, 'x-url': req.url });
          if (o.chunked !== true) h['content-length'] = String(body.length + 5);
          res.writeHead(200, h);
          res.write(Buffer.from('echo:'));
          res.end(body);
        });
      },
      onUpgrade: (_req, stream) => stream.destroy(),
      onProtocolError: (e) => o.onError?.(e),
    });
  });
  return { port, served };
}

test('server: two requests on one kept-alive connection, Content-Length both ways', async (t) => {
  const { port, served } = await echoServer(t);
  const s = await dial(t, port);
  s.write('POST /a HTTP/1.1\r\nHost: svc\r\nContent-Length: 3\r\n\r\nabc');
  const first = await readUntil(s, 'echo:abc');
  t.regex(first, /^HTTP\/1\.1 200 OK\r\n/);
  t.regex(first, /content-length: 8\r\n/);
  t.notRegex(first, /connection: close/);
  s.write('GET /b HTTP/1.1\r\nHost: svc\r\n\r\n');
  const second = await readUntil(s, 'echo:');
  t.regex(second, /x-url: \/b/);
  t.deepEqual(
    served.map((x) => [x.req.method, x.req.url, x.req.authority, x.body]),
    [
      ['POST', '/a', 'svc', 'abc'],
      ['GET', '/b', 'svc', ''],
    ],
  );
  t.true(served[1]!.req.bodyKnownEmpty);
});

test('server: pipelined requests are answered in order, one at a time', async (t) => {
  const { port } = await echoServer(t);
  const s = await dial(t, port);
  s.write('POST /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nxPOST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nyGET /3 HTTP/1.1\r\nHost: h\r\n\r\n');
  const all = await readUntil(s, 'HTTP/1.1 200', 3);
  const urls = [...all.matchAll(/x-url: (\S+)/g)].map((m) => m[1]);
  t.deepEqual(urls, ['/1', '/2', '/3']);
  t.true(all.includes('echo:x') && all.includes('echo:y'));
});

test('server: a chunked request body is decoded; a response without length is chunked', async (t) => {
  const { port, served } = await echoServer(t, { chunked: true });
  const s = await dial(t, port);
  s.write('POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nx-trailer: 1\r\n\r\n');
  const out = await readUntil(s, '0\r\n\r\n');
  t.regex(out, /transfer-encoding: chunked\r\n/);
  t.true(out.endsWith('5\r\necho:\r\n5\r\nabcde\r\n0\r\n\r\n'), JSON.stringify(out));
  t.is(served[0]!.body, 'abcde');
  t.false(served[0]!.req.bodyKnownEmpty);
});

test('server: the head and a small body leave in one write', async (t) => {
  const port = await listen(t, (socket) => {
    new Http1ServerConnection(socket, {
      onRequest: (_req, res) => {
        res.writeHead(201, headers({ 'content-length': '2' }));
        res.end(Buffer.from('ok'));
      },
      onUpgrade: () => undefined,
      onProtocolError: () => undefined,
    });
  });
  const s = await dial(t, port);
  s.write('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
  const [chunk] = (await once(s, 'data')) as [Buffer];
  t.is(chunk.toString(), 'HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok');
});

test('server: HEAD gets the Content-Length and no body; 204 gets neither', async (t) => {
  const port = await listen(t, (socket) => {
    new Http1ServerConnection(socket, {
      onRequest: (req, res) => {
        res.writeHead(req.url === '/none' ? 204 : 200, headers({ 'content-length': '5' }));
        res.end(Buffer.from('hello'));
      },
      onUpgrade: () => undefined,
      onProtocolError: () => undefined,
    });
  });
  const s = await dial(t, port);
  s.write('HEAD / HTTP/1.1\r\nHost: h\r\n\r\nGET /none HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n');
  const all = await readUntil(s, 'hello');
  t.is(all, 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello');
});

for (const [name, request, status] of [
  ['garbage', 'NOT HTTP AT ALL\r\n\r\n', 400],
  ['Content-Length with Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n', 400],
  ['an unsupported transfer coding', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', 501],
  ['HTTP/2.0 in a request line', 'GET / HTTP/2.0\r\nHost: h\r\n\r\n', 505],
] as const) {
  test(`server: ${name} is refused with ${status} and the connection closed`, async (t) => {
    const errors: Http1Error[] = [];
    let requests = 0;
    const port = await listen(t, (socket) => {
      new Http1ServerConnection(socket, {
        onRequest: () => requests++,
        onUpgrade: () => undefined,
        onProtocolError: (e) => errors.push(e),
      });
    });
    const s = await dial(t, port);
    const reply = readToEnd(s);
    s.write(request);
    const out = await reply;
    t.regex(out, new RegExp(`^HTTP/1\\.1 ${status} `));
    t.regex(out, /connection: close/);
    t.is(requests, 0);
    t.is(errors.length, 1);
    t.is(errors[0]!.status, status);
  });
}

test('server: a head larger than the limit is refused with 431', async (t) => {
  const errors: Http1Error[] = [];
  const port = await listen(t, (socket) => {
    new Http1ServerConnection(socket, { onRequest: () => undefined, onUpgrade: () => undefined, onProtocolError: (e) => errors.push(e) }, 1024);
  });
  const s = await dial(t, port);
  const reply = readToEnd(s);
  s.write(`GET / HTTP/1.1\r\nHost: h\r\nx-big: ${'a'.repeat(2000)}\r\n\r\n`);
  t.regex(await reply, /^HTTP\/1\.1 431 /);
  t.is(errors[0]!.code, 'HPE_HEAD_TOO_LARGE');
});

test('server: Expect: 100-continue is answered before the body is read', async (t) => {
  const { port, served } = await echoServer(t);
  const s = await dial(t, port);
  s.write('POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n');
  const interim = await readUntil(s, '\r\n\r\n');
  t.is(interim, 'HTTP/1.1 100 Continue\r\n\r\n');
  s.write('hi');
  await readUntil(s, 'echo:hi');
  t.is(served[0]!.body, 'hi');
});

test('server: Connection: close is honoured (the response says so and the connection ends)', async (t) => {
  const { port } = await echoServer(t);
  const s = await dial(t, port);
  const out = readToEnd(s);
  s.write('GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
  const text = await out;
  t.regex(text, /connection: close\r\n/);
  t.true(text.endsWith('echo:'));
});

test('server: an HTTP/1.0 client without keep-alive gets a close-delimited body', async (t) => {
  const { port } = await echoServer(t, { chunked: true });
  const s = await dial(t, port);
  const out = readToEnd(s);
  s.write('GET /old HTTP/1.0\r\nHost: h\r\n\r\n');
  const text = await out;
  t.notRegex(text, /transfer-encoding/);
  t.regex(text, /connection: close\r\n/);
  t.true(text.endsWith('\r\n\r\necho:'));
});

test('server: a paused body stops the reading and loses nothing', async (t) => {
  let total = 0;
  let resumed = false;
  const port = await listen(t, (socket) => {
    new Http1ServerConnection(socket, {
      onRequest: (req, res) => {
        req.body.on('data', (c: Buffer) => {
          total += c.length;
          if (!resumed) {
            req.body.pause();
            setTimeout(() => {
              resumed = true;
              req.body.resume();
            }, 50);
          }
        });
        req.body.once('end', () => {
          res.writeHead(200, headers({ 'content-length': String(String(total).length) }));
          res.end(Buffer.from(String(total)));
        });
      },
      onUpgrade: () => undefined,
      onProtocolError: () => undefined,
    });
  });
  const s = await dial(t, port);
  const size = 4 * 1024 * 1024;
  s.write(`POST / HTTP/1.1\r\nHost: h\r\nContent-Length: ${size}\r\n\r\n`);
  s.write(Buffer.alloc(size, 7));
  const out = await readUntil(s, String(size));
  t.true(resumed);
  t.true(out.endsWith(`\r\n\r\n${size}`));
});

test('server: an answer before the body is read whole; the rest is dropped and the next request served', async (t) => {
  let n = 0;
  const port = await listen(t, (socket) => {
    new Http1ServerConnection(socket, {
      onRequest: (req, res) => {
        n++;
        res.writeHead(403, headers({ 'content-length': '6' }));
        res.end(Buffer.from(`denied`));
        req.body.resume();
      },
      onUpgrade: () => undefined,
      onProtocolError: () => undefined,
    });
  });
  const s = await dial(t, port);
  s.write('POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n12345');
  await readUntil(s, 'denied');
  s.write('67890GET /next HTTP/1.1\r\nHost: h\r\n\r\n');
  await readUntil(s, 'denied');
  t.is(n, 2);
});

test('server: a client gone mid-body aborts the body and closes the response', async (t) => {
  const seen: string[] = [];
  let closed!: () => void;
  const done = new Promise<void>((resolve) => (closed = resolve));
  const port = await listen(t, (socket) => {
    new Http1ServerConnection(socket, {
      onRequest: (req, res) => {
        req.body.once('error', (e: Error) => seen.push(`error: ${e.message}`));
        req.body.on('data', () => seen.push('data'));
        res.once('close', () => {
          seen.push(`close destroyed=${res.destroyed} ended=${res.writableEnded}`);
          closed();
        });
      },
      onUpgrade: () => undefined,
      onProtocolError: () => undefined,
    });
  });
  const s = await dial(t, port);
  s.write('POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n123');
  setTimeout(() => s.destroy(), 50);
  await done;
  t.is(seen[0], 'data');
  t.regex(seen[1]!, /^error: (the tunnel closed before the request body was complete|the stream ended after 3 of 10 body bytes)/);
  t.is(seen[2], 'close destroyed=true ended=false');
});

test('server: Connection: upgrade hands the stream over with the bytes after the head', async (t) => {
  let handed!: (v: [Http1Request, string]) => void;
  const done = new Promise<[Http1Request, string]>((resolve) => (handed = resolve));
  const port = await listen(t, (socket) => {
    new Http1ServerConnection(socket, {
      onRequest: () => undefined,
      onUpgrade: (req, _stream, rest) => handed([req, rest.toString()]),
      onProtocolError: () => undefined,
    });
  });
  const s = await dial(t, port);
  s.write('GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nAFTER');
  const [req, rest] = await done;
  t.is(req.upgrade, 'websocket');
  t.is(rest, 'AFTER');
});

test('server: close() ends an idle connection now and a busy one after its response, saying so', async (t) => {
  const conns: Http1ServerConnection[] = [];
  let pending: Http1Response | undefined;
  const port = await listen(t, (socket) => {
    conns.push(
      new Http1ServerConnection(socket, {
        onRequest: (_req, res) => {
          pending = res;
        },
        onUpgrade: () => undefined,
        onProtocolError: () => undefined,
      }),
    );
  });
  const idle = await dial(t, port);
  const busy = await dial(t, port);
  const idleOut = readToEnd(idle);
  const busyOut = readToEnd(busy);
  busy.write('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
  while (pending === undefined || conns.length < 2) await new Promise((r) => setTimeout(r, 5));
  for (const c of conns) c.close();
  t.is(await idleOut, '');
  pending.writeHead(200, headers({ 'content-length': '2' }));
  pending.end(Buffer.from('ok'));
  const text = await busyOut;
  t.regex(text, /connection: close\r\n/);
  t.true(text.endsWith('ok'));
});

// ---- client side ----

/** An upstream that answers each request (read whole by its head's Content-Length) with `reply(n)`. */
async function rawUpstream(t: ExecutionContext, reply: (n: number, request: string) => string | Buffer | undefined, after?: (s: Socket, n: number) => void): Promise<{ port: number; requests: string[]; connections: () => number }> {
  const requests: string[] = [];
  let connections = 0;
  const port = await listen(t, (s) => {
    connections++;
    let buf = '';
    s.on('data', (c: Buffer) => {
      buf += c.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.slice(0, end + 4);
        const m = /content-length: (\d+)/i.exec(head);
        const chunked = /transfer-encoding: chunked/i.test(head);
        let total: number;
        if (m) total = end + 4 + Number(m[1]);
        else if (chunked) {
          const z = buf.indexOf('0\r\n\r\n', end + 4);
          if (z < 0) return;
          total = z + 5;
        } else total = end + 4;
        if (buf.length < total) return;
        const request = buf.slice(0, total);
        buf = buf.slice(total);
        requests.push(request);
        const r = reply(requests.length, request);
        if (r !== undefined) s.write(r);
        after?.(s, requests.length);
      }
    });
  });
  return { port, requests, connections: () => connections };
}

async function body(r: UpstreamResponse): Promise<string> {
  const parts: Buffer[] = [];
  r.body.on('data', (c: Buffer) => parts.push(Buffer.from(c)));
  await new Promise<void>((resolve, reject) => {
    r.body.once('end', resolve);
    r.body.once('error', reject);
  });
  return Buffer.concat(parts).toString();
}

const HEAD = { method: 'POST', path: '/p?q=1', authority: 'svc:80', headers: headers({ 'x-a': '1' }) };

test('client: a request with a length, a response with a length, and the connection reused', async (t) => {
  const up = await rawUpstream(t, (n) => `HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nres${n}`);
  const idle: Http1ClientConnection[] = [];
  const conn = new Http1ClientConnection(await dial(t, up.port), (c) => idle.push(c));
  const ex = conn.request(HEAD, { kind: 'length', length: 5 }, 'svc:80');
  ex.write(Buffer.from('hello'));
  ex.end();
  const r = await ex.response;
  t.is(r.status, 200);
  t.is(await body(r), 'res1');
  t.deepEqual(idle, [conn]);
  t.is(up.requests[0], 'POST /p?q=1 HTTP/1.1\r\nhost: svc:80\r\nx-a: 1\r\ncontent-length: 5\r\n\r\nhello');
  const ex2 = conn.request({ ...HEAD, method: 'GET' }, { kind: 'none' }, 'svc:80');
  ex2.end();
  t.is(await body(await ex2.response), 'res2');
  t.is(up.connections(), 1);
  t.deepEqual(idle, [conn, conn]);
});

test('client: exchanges leave nothing behind on the pooled stream (drain listeners are the exchange\'s own)', async (t) => {
  const up = await rawUpstream(t, () => 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
  const conn = new Http1ClientConnection(await dial(t, up.port), () => undefined);
  const base = conn.stream.listenerCount('drain');
  for (let i = 0; i < 20; i++) {
    const ex = conn.request(HEAD, { kind: 'length', length: 1 }, 'svc:80');
    let drains = 0;
    ex.on('drain', () => drains++);
    ex.write(Buffer.from('x'));
    ex.end();
    t.is(await body(await ex.response), 'ok');
    t.is(drains, 0);
  }
  t.is(conn.stream.listenerCount('drain'), base);
  t.is(up.connections(), 1);
});

test('client: a chunked request body; a chunked response with trailers; interim 100 skipped', async (t) => {
  const up = await rawUpstream(t, () => 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\ngrpc-status: 0\r\n\r\n');
  const conn = new Http1ClientConnection(await dial(t, up.port), () => undefined);
  const ex = conn.request(HEAD, { kind: 'chunked' }, 'svc:80');
  ex.write(Buffer.from('xyz'));
  ex.end();
  const r = await ex.response;
  t.is(await body(r), 'abc');
  t.deepEqual(r.trailers(), headers({ 'grpc-status': '0' }));
  t.true(up.requests[0]!.endsWith('transfer-encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n'));
});

test('client: a close-delimited response ends with the connection, which is not reused', async (t) => {
  const up = await rawUpstream(t, () => 'HTTP/1.1 200 OK\r\n\r\nuntil the end', (s) => s.end());
  let freed = 0;
  const conn = new Http1ClientConnection(await dial(t, up.port), () => freed++);
  const ex = conn.request(HEAD, { kind: 'none' }, 'svc:80');
  ex.end();
  t.is(await body(await ex.response), 'until the end');
  t.is(freed, 0);
  t.false(conn.usable);
});

test('client: Connection: close in the response: complete, then not reused', async (t) => {
  const up = await rawUpstream(t, () => 'HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok');
  let freed = 0;
  const conn = new Http1ClientConnection(await dial(t, up.port), () => freed++);
  const ex = conn.request(HEAD, { kind: 'none' }, 'svc:80');
  ex.end();
  t.is(await body(await ex.response), 'ok');
  t.is(freed, 0);
  t.false(conn.usable);
});

for (const [name, reply, code] of [
  ['a malformed status line', 'HTTP/1.1 OK\r\n\r\n', 'WP_ERR_PROTOCOL'],
  ['an unasked-for 101', 'HTTP/1.1 101 Switching Protocols\r\n\r\n', 'WP_ERR_PROTOCOL'],
  ['a bad Content-Length', 'HTTP/1.1 200 OK\r\ncontent-length: 1, 2\r\n\r\nx', 'WP_ERR_PROTOCOL'],
] as const) {
  test(`client: ${name} fails the exchange with ${code} and ends the connection`, async (t) => {
    const up = await rawUpstream(t, () => reply);
    const conn = new Http1ClientConnection(await dial(t, up.port), () => undefined);
    const ex = conn.request(HEAD, { kind: 'none' }, 'svc:80');
    ex.end();
    const err = await t.throwsAsync<UpstreamError>(ex.response);
    t.is(err?.code, code);
    t.regex(err?.message ?? '', /^svc:80: /);
    t.false(conn.usable);
  });
}

test('client: the upstream closing before a response fails it with WP_ERR_RESET', async (t) => {
  const up = await rawUpstream(t, () => undefined, (s) => s.end());
  const conn = new Http1ClientConnection(await dial(t, up.port), () => undefined);
  const ex = conn.request(HEAD, { kind: 'none' }, 'svc:80');
  ex.end();
  const err = await t.throwsAsync<UpstreamError>(ex.response);
  t.is(err?.code, 'WP_ERR_RESET');
});

test('client: the upstream closing mid-body is an error on the body, never its end', async (t) => {
  const up = await rawUpstream(t, () => 'HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc', (s) => setTimeout(() => s.end(), 30));
  const conn = new Http1ClientConnection(await dial(t, up.port), () => undefined);
  const ex = conn.request(HEAD, { kind: 'none' }, 'svc:80');
  ex.end();
  const r = await ex.response;
  const err = await t.throwsAsync(body(r));
  t.regex(err?.message ?? '', /before|short|end/i);
});

test('client: an answer before the request body was sent whole: complete, and the connection is not reused', async (t) => {
  const up = await listen(t, (s) => {
    s.once('data', () => s.write('HTTP/1.1 413 Payload Too Large\r\ncontent-length: 3\r\n\r\nbig'));
  });
  let freed = 0;
  const conn = new Http1ClientConnection(await dial(t, up), () => freed++);
  const ex = conn.request(HEAD, { kind: 'length', length: 100 }, 'svc:80');
  ex.write(Buffer.from('part'));
  const r = await ex.response;
  t.is(r.status, 413);
  t.is(await body(r), 'big');
  t.is(freed, 0);
  t.false(conn.usable);
});

test('client: bytes after a complete response end the connection', async (t) => {
  const up = await rawUpstream(t, () => 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA');
  let freed = 0;
  const conn = new Http1ClientConnection(await dial(t, up.port), () => freed++);
  const ex = conn.request(HEAD, { kind: 'none' }, 'svc:80');
  ex.end();
  t.is(await body(await ex.response), 'ok');
  await once(conn.stream, 'close');
  t.false(conn.usable);
});

test('client: a body longer than its declared length is refused, not sent', async (t) => {
  const up = await rawUpstream(t, () => undefined);
  const conn = new Http1ClientConnection(await dial(t, up.port), () => undefined);
  const ex = conn.request(HEAD, { kind: 'length', length: 2 }, 'svc:80');
  t.false(ex.write(Buffer.from('toolong')));
  const err = await t.throwsAsync<UpstreamError>(ex.response);
  t.is(err?.code, 'WP_ERR_RESET');
  t.is(up.requests.length, 0);
});
