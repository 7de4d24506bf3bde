/**
 * Encoding heads and chunks: the exact bytes written, every refusal (a header that could split a message),
 * the managed names skipped, and round trips: encode → our parser gives back the same message, and Node's
 * own HTTP server and client (real sockets on loopback) read what we write.
 */
import test, { type ExecutionContext } from 'ava';

import { createServer, request, type IncomingMessage } from 'node:http';
import { createServer as netServer, connect, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import { BodyDecoder } from '../src/http1/body-decoder.js';
import { CHUNK_SUFFIX, chunkPrefix, lastChunk, requestHead, responseHead, type BodyFraming, type HeaderMap } from '../src/http1/encode.js';
import { Http1Error, type Http1ErrorCode } from '../src/http1/errors.js';
import { requestFraming, responseFraming } from '../src/http1/framing.js';
import { findHeadEnd, parseRequestHead, parseResponseHead } from '../src/http1/head.js';
import { headerMapFromRaw } from '../src/route/headers.js';

function rejects(t: ExecutionContext, fn: () => unknown, code: Http1ErrorCode, message?: RegExp): void {
  const err = t.throws(fn, { instanceOf: Http1Error });
  if (err === undefined) return;
  t.is(err.code, code, err.message);
  t.is(err.status, 500, err.message);
  if (message !== undefined) t.regex(err.message, message);
}

const map = (entries: Record<string, string | string[]>): HeaderMap => Object.assign(Object.create(null) as HeaderMap, entries);
const NONE: BodyFraming = { kind: 'none' };

// ---- exact output -------------------------------------------------------------------------------------

test('requestHead: request line, host, headers in order, arrays repeated, framing, empty line', (t) => {
  t.is(
    requestHead('POST', '/a?b=c', 'svc.ns:8080', map({ accept: '*/*', 'x-multi': ['1', '2'], 'x-empty': '' }), { kind: 'length', length: 12 }),
    'POST /a?b=c HTTP/1.1\r\nhost: svc.ns:8080\r\naccept: */*\r\nx-multi: 1\r\nx-multi: 2\r\nx-empty: \r\ncontent-length: 12\r\n\r\n',
  );
  t.is(requestHead('PUT', '/', 'h', map({}), { kind: 'chunked' }), 'PUT / HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked\r\n\r\n');
  t.is(requestHead('GET', '/', 'h', map({}), NONE), 'GET / HTTP/1.1\r\nhost: h\r\n\r\n');
  t.is(requestHead('POST', '/', 'h', map({}), { kind: 'length', length: 0 }), 'POST / HTTP/1.1\r\nhost: h\r\ncontent-length: 0\r\n\r\n');
});

test('requestHead/responseHead: framing, host and connection fields in `headers` are skipped, in any case', (t) => {
  const headers = map({
    'content-length': '99',
    'Transfer-Encoding': 'gzip',
    connection: 'keep-alive',
    HOST: 'evil',
    'x-keep': 'yes',
  });
  t.is(requestHead('GET', '/', 'good', headers, NONE), 'GET / HTTP/1.1\r\nhost: good\r\nx-keep: yes\r\n\r\n');
  t.is(responseHead(200, headers, { kind: 'length', length: 2 }, false), 'HTTP/1.1 200 OK\r\nx-keep: yes\r\ncontent-length: 2\r\n\r\n');
});

test('requestHead: absolute-form, asterisk and authority-form targets', (t) => {
  t.true(requestHead('GET', 'http://a.example/x', 'a.example', map({}), NONE).startsWith('GET http://a.example/x HTTP/1.1\r\n'));
  t.true(requestHead('OPTIONS', '*', 'a', map({}), NONE).startsWith('OPTIONS * HTTP/1.1\r\n'));
  t.true(requestHead('CONNECT', 'a.example:443', 'a.example:443', map({}), NONE).startsWith('CONNECT a.example:443 HTTP/1.1\r\n'));
});

const statusLines: [number, string][] = [
  [200, 'HTTP/1.1 200 OK'],
  [404, 'HTTP/1.1 404 Not Found'],
  [103, 'HTTP/1.1 103 Early Hints'],
  [418, "HTTP/1.1 418 I'm a Teapot"],
  [599, 'HTTP/1.1 599 Unknown'],
  [999, 'HTTP/1.1 999 Unknown'],
  [100, 'HTTP/1.1 100 Continue'],
];

for (const [status, line] of statusLines) {
  test(`responseHead: ${status} → "${line}"`, (t) => {
    t.is(responseHead(status, map({}), NONE, false), `${line}\r\n\r\n`);
  });
}

test('responseHead: headers, framing, then connection: close when asked', (t) => {
  t.is(
    responseHead(503, map({ 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'] }), { kind: 'chunked' }, true),
    'HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nset-cookie: a=1\r\nset-cookie: b=2\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n',
  );
  t.is(responseHead(204, map({}), NONE, true), 'HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n');
});

test('chunkPrefix, CHUNK_SUFFIX and lastChunk', (t) => {
  t.is(chunkPrefix(1), '1\r\n');
  t.is(chunkPrefix(255), 'ff\r\n');
  t.is(chunkPrefix(65536), '10000\r\n');
  t.is(chunkPrefix(Number.MAX_SAFE_INTEGER), '1fffffffffffff\r\n');
  t.is(CHUNK_SUFFIX.toString('latin1'), '\r\n');
  t.is(lastChunk(undefined), '0\r\n\r\n');
  t.is(lastChunk(map({})), '0\r\n\r\n');
  t.is(lastChunk(map({ 'grpc-status': '0', 'grpc-message': ['a', 'b'], 'content-length': '5' })), '0\r\ngrpc-status: 0\r\ngrpc-message: a\r\ngrpc-message: b\r\n\r\n');
});

// ---- refusals -----------------------------------------------------------------------------------------

const refusals: [string, () => unknown, Http1ErrorCode, RegExp?][] = [
  ['a method with a space', () => requestHead('GET /x', '/', 'h', map({}), NONE), 'HPE_INVALID_REQUEST_LINE', /method "GET \/x" is not a token/],
  ['an empty method', () => requestHead('', '/', 'h', map({}), NONE), 'HPE_INVALID_REQUEST_LINE'],
  ['a method with CRLF', () => requestHead('GET\r\n', '/', 'h', map({}), NONE), 'HPE_INVALID_REQUEST_LINE', /"GET\\x0d\\x0a"/],
  ['a path with a space', () => requestHead('GET', '/a b', 'h', map({}), NONE), 'HPE_INVALID_REQUEST_LINE', /request target "\/a b": character 0x20 at 2 is not visible ASCII/],
  ['a path with CRLF', () => requestHead('GET', '/\r\nX: y', 'h', map({}), NONE), 'HPE_INVALID_REQUEST_LINE'],
  ['a path with a non-ASCII character', () => requestHead('GET', '/caf\u00e9', 'h', map({}), NONE), 'HPE_INVALID_REQUEST_LINE'],
  ['an empty path', () => requestHead('GET', '', 'h', map({}), NONE), 'HPE_INVALID_REQUEST_LINE', /empty request target/],
  ['a host with CRLF', () => requestHead('GET', '/', 'h\r\nx-injected: 1', map({}), NONE), 'HPE_INVALID_HEADER', /header "host": character 0xd at 1/],
  ['a name with a space', () => requestHead('GET', '/', 'h', map({ 'x y': '1' }), NONE), 'HPE_INVALID_HEADER', /header name "x y" is not a token/],
  ['a name with a colon', () => requestHead('GET', '/', 'h', map({ 'x:y': '1' }), NONE), 'HPE_INVALID_HEADER'],
  ['a name with CRLF', () => requestHead('GET', '/', 'h', map({ 'x\r\ny': '1' }), NONE), 'HPE_INVALID_HEADER'],
  ['an empty name', () => requestHead('GET', '/', 'h', map({ '': '1' }), NONE), 'HPE_INVALID_HEADER', /header name "" is not a token/],
  ['a value with CRLF', () => requestHead('GET', '/', 'h', map({ x: 'a\r\nGET /smuggled HTTP/1.1' }), NONE), 'HPE_INVALID_HEADER', /header "x": character 0xd at 1 is not allowed/],
  ['a value with LF', () => requestHead('GET', '/', 'h', map({ x: 'a\nb' }), NONE), 'HPE_INVALID_HEADER', /0xa at 1/],
  ['a value with CR', () => requestHead('GET', '/', 'h', map({ x: 'a\rb' }), NONE), 'HPE_INVALID_HEADER'],
  ['a value with NUL', () => requestHead('GET', '/', 'h', map({ x: '\0' }), NONE), 'HPE_INVALID_HEADER', /0x0 at 0/],
  ['a value with DEL', () => requestHead('GET', '/', 'h', map({ x: '\x7f' }), NONE), 'HPE_INVALID_HEADER'],
  ['a value with U+010A (latin1 would write LF)', () => requestHead('GET', '/', 'h', map({ x: 'a\u010ab' }), NONE), 'HPE_INVALID_HEADER', /character 0x10a at 1/],
  ['an array element with CRLF', () => requestHead('GET', '/', 'h', map({ x: ['ok', 'b\r\n'] }), NONE), 'HPE_INVALID_HEADER'],
  ['a negative length', () => requestHead('POST', '/', 'h', map({}), { kind: 'length', length: -1 }), 'HPE_INVALID_CONTENT_LENGTH', /content length -1/],
  ['a fractional length', () => requestHead('POST', '/', 'h', map({}), { kind: 'length', length: 1.5 }), 'HPE_INVALID_CONTENT_LENGTH'],
  ['a NaN length', () => responseHead(200, map({}), { kind: 'length', length: NaN }, false), 'HPE_INVALID_CONTENT_LENGTH'],
  ['a response header with CRLF', () => responseHead(200, map({ location: '/x\r\nSet-Cookie: a=b' }), NONE, false), 'HPE_INVALID_HEADER'],
  ['status 99', () => responseHead(99, map({}), NONE, false), 'HPE_INVALID_STATUS_LINE', /status 99 is not from 100 to 999/],
  ['status 1000', () => responseHead(1000, map({}), NONE, false), 'HPE_INVALID_STATUS_LINE'],
  ['status 200.5', () => responseHead(200.5, map({}), NONE, false), 'HPE_INVALID_STATUS_LINE'],
  ['chunk size 0 (would end the body)', () => chunkPrefix(0), 'HPE_INVALID_CHUNK', /chunk size 0 is not a positive integer/],
  ['chunk size -1', () => chunkPrefix(-1), 'HPE_INVALID_CHUNK'],
  ['chunk size 1.5', () => chunkPrefix(1.5), 'HPE_INVALID_CHUNK'],
  ['chunk size above 2^53 - 1', () => chunkPrefix(2 ** 53), 'HPE_INVALID_CHUNK'],
  ['a trailer with CRLF', () => lastChunk(map({ 'grpc-message': 'a\r\n\r\nGET / HTTP/1.1' })), 'HPE_INVALID_HEADER'],
  ['a trailer name that is not a token', () => lastChunk(map({ 'a b': 'x' })), 'HPE_INVALID_HEADER'],
];

for (const [title, fn, code, message] of refusals) {
  test(`encode refuses ${title}`, (t) => {
    rejects(t, fn, code, message);
  });
}

test('encode writes HTAB, obs-text and every visible ASCII byte in values', (t) => {
  let visible = '';
  for (let c = 0x20; c <= 0x7e; c++) visible += String.fromCharCode(c);
  const value = `\t${visible}\u00e9\u00ff\u0080`;
  const head = requestHead('GET', '/', 'h', map({ x: value }), NONE);
  t.true(head.includes(`x: ${value}\r\n`));
});

// ---- round trips --------------------------------------------------------------------------------------

/** Splits a body into chunks of at most `size` bytes, encoded. */
function chunked(body: Buffer, size: number, trailers: HeaderMap | undefined): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < body.length; i += size) {
    const piece = body.subarray(i, i + size);
    parts.push(Buffer.from(chunkPrefix(piece.length), 'latin1'), piece, CHUNK_SUFFIX);
  }
  parts.push(Buffer.from(lastChunk(trailers), 'latin1'));
  return Buffer.concat(parts);
}

const headers = map({
  accept: 'application/json',
  'x-request-id': 'abc-123',
  cookie: ['a=1', 'b=2'],
  'x-obs': 'caf\u00e9',
  'x-spaces': 'a  b\tc',
});

test('round trip: an encoded request with a length body parses back to the same message', (t) => {
  const body = Buffer.from('{"hello":"world"}');
  const wire = Buffer.concat([Buffer.from(requestHead('POST', '/api/v1?x=1', 'svc:80', headers, { kind: 'length', length: body.length }), 'latin1'), body]);
  const end = findHeadEnd(wire, 0, wire.length, 1024);
  const head = parseRequestHead(wire, 0, end);
  t.is(head.method, 'POST');
  t.is(head.target, '/api/v1?x=1');
  t.is(head.minor, 1);
  t.deepEqual(headerMapFromRaw(head.rawHeaders), { ...headers, 'content-length': String(body.length) });
  t.deepEqual(head.rawHeaders.slice(0, 2), ['host', 'svc:80']);
  const framing = requestFraming(head.rawHeaders);
  t.deepEqual(framing, { kind: 'length', length: body.length });
  const d = new BodyDecoder(framing);
  const got: Buffer[] = [];
  t.is(d.feed(wire, end, wire.length, (c) => got.push(c)), wire.length);
  t.true(d.done);
  t.deepEqual(Buffer.concat(got), body);
});

test('round trip: an encoded chunked request with trailers parses back to the same message', (t) => {
  const body = Buffer.alloc(10_000);
  for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
  const trailers = map({ 'x-checksum': 'f00d', 'x-more': ['1', '2'] });
  const wire = Buffer.concat([Buffer.from(requestHead('PUT', '/upload', 'h', headers, { kind: 'chunked' }), 'latin1'), chunked(body, 777, trailers)]);
  const end = findHeadEnd(wire, 0, wire.length, 4096);
  const head = parseRequestHead(wire, 0, end);
  t.is(head.method, 'PUT');
  t.is(head.target, '/upload');
  t.deepEqual(headerMapFromRaw(head.rawHeaders), headers);
  const d = new BodyDecoder(requestFraming(head.rawHeaders));
  const got: Buffer[] = [];
  t.is(d.feed(wire, end, wire.length, (c) => got.push(c)), wire.length);
  t.true(d.done);
  t.deepEqual(Buffer.concat(got), body);
  t.deepEqual(headerMapFromRaw(d.trailers!), trailers);
});

test('round trip: an encoded response parses back to the same message', (t) => {
  const body = Buffer.from('not found, sorry');
  const wire = Buffer.concat([Buffer.from(responseHead(404, headers, { kind: 'chunked' }, true), 'latin1'), chunked(body, 5, undefined)]);
  const end = findHeadEnd(wire, 0, wire.length, 1024);
  const head = parseResponseHead(wire, 0, end);
  t.is(head.status, 404);
  t.is(head.reason, 'Not Found');
  t.deepEqual(headerMapFromRaw(head.rawHeaders), headers);
  const d = new BodyDecoder(responseFraming(head.rawHeaders, head.status, 'GET'));
  const got: Buffer[] = [];
  t.is(d.feed(wire, end, wire.length, (c) => got.push(c)), wire.length);
  t.deepEqual(Buffer.concat(got), body);
  t.is(d.trailers, undefined);
});

test("Node's HTTP server reads an encoded chunked request with trailers", async (t) => {
  const seen: { method: string; url: string; headers: string[]; body: string; trailers: string[] }[] = [];
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.rawHeaders, body: Buffer.concat(parts).toString('latin1'), trailers: req.rawTrailers });
      res.end();
    });
  });
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const body = Buffer.from('x'.repeat(3000) + '\r\n0\r\n\r\n' + 'y'.repeat(100), 'latin1');
  const wire = Buffer.concat([
    Buffer.from(requestHead('POST', '/p?q=1', `127.0.0.1:${port}`, map({ 'x-a': ['1', '2'], 'x-obs': '\u00e9' }), { kind: 'chunked' }), 'latin1'),
    chunked(body, 1000, map({ 'x-trailer': 'done' })),
  ]);
  const socket = connect(port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  const responded = once(socket, 'data');
  socket.write(wire);
  await responded;
  t.deepEqual(seen, [
    {
      method: 'POST',
      url: '/p?q=1',
      headers: ['host', `127.0.0.1:${port}`, 'x-a', '1', 'x-a', '2', 'x-obs', '\u00e9', 'transfer-encoding', 'chunked'],
      body: body.toString('latin1'),
      trailers: ['x-trailer', 'done'],
    },
  ]);
});

test("Node's HTTP client reads an encoded response with a length body", async (t) => {
  const body = Buffer.from('hello from the codec');
  const server = netServer((socket: Socket) => {
    socket.on('error', () => socket.destroy());
    socket.once('data', () => {
      socket.write(responseHead(201, map({ 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'] }), { kind: 'length', length: body.length }, true), 'latin1');
      socket.end(body);
    });
  });
  t.teardown(() => server.close());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const req = request({ host: '127.0.0.1', port, path: '/', agent: false });
  t.teardown(() => req.destroy());
  req.end();
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  const parts: Buffer[] = [];
  res.on('data', (c: Buffer) => parts.push(c));
  await once(res, 'end');
  t.is(res.statusCode, 201);
  t.is(res.statusMessage, 'Created');
  t.deepEqual(res.rawHeaders, ['content-type', 'text/plain', 'set-cookie', 'a=1', 'set-cookie', 'b=2', 'content-length', String(body.length), 'connection', 'close']);
  t.deepEqual(Buffer.concat(parts), body);
});
