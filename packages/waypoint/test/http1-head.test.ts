/**
 * HTTP/1.x heads: every accept and reject rule of the request line, status line and field lines, with the
 * exact code and status; head boundaries found identically whole, byte by byte and in random splits; and
 * Node's own parser (a real `http` server and client on loopback) agreeing on varied valid messages.
 */
import test, { type ExecutionContext } from 'ava';

import { createServer, request, type IncomingMessage } from 'node:http';
import { createServer as netServer, connect, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import { Http1Error, type Http1ErrorCode } from '../src/http1/errors.js';
import {
  DEFAULT_MAX_HEAD_BYTES,
  DEFAULT_MAX_HEADERS,
  findHeadEnd,
  findHeadEndFrom,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  type ResponseHead,
} from '../src/http1/head.js';

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Finds and parses a whole request head given as a latin1 string; the head must be all of it. */
function parseRequest(s: string): RequestHead {
  const buf = bytes(s);
  const end = findHeadEnd(buf, 0, buf.length, DEFAULT_MAX_HEAD_BYTES);
  if (end !== buf.length) throw new Error(`head ends at ${end}, not ${buf.length}`);
  return parseRequestHead(buf, 0, end);
}

function parseResponse(s: string): ResponseHead {
  const buf = bytes(s);
  const end = findHeadEnd(buf, 0, buf.length, DEFAULT_MAX_HEAD_BYTES);
  if (end !== buf.length) throw new Error(`head ends at ${end}, not ${buf.length}`);
  return parseResponseHead(buf, 0, end);
}

function rejects(t: ExecutionContext, fn: () => unknown, code: Http1ErrorCode, status: number, message?: RegExp): void {
  const err = t.throws(fn, { instanceOf: Http1Error });
  if (err === undefined) return;
  t.is(err.code, code, err.message);
  t.is(err.status, status, err.message);
  if (message !== undefined) t.regex(err.message, message);
}

// ---- requests: accepted -------------------------------------------------------------------------------

const acceptedRequests: [string, string, Partial<RequestHead>][] = [
  ['a simple GET', 'GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n', { method: 'GET', target: '/index.html', minor: 1, rawHeaders: ['Host', 'example.com'] }],
  ['HTTP/1.0 without Host', 'GET / HTTP/1.0\r\n\r\n', { minor: 0, rawHeaders: [] }],
  ['HTTP/1.0 with Host', 'GET / HTTP/1.0\r\nhost: a\r\n\r\n', { minor: 0, rawHeaders: ['host', 'a'] }],
  ['leading empty lines', '\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n', { method: 'GET', target: '/' }],
  ['absolute-form', 'GET http://a.example:8080/p?q HTTP/1.1\r\nHost: a.example:8080\r\n\r\n', { target: 'http://a.example:8080/p?q' }],
  ['authority-form', 'CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n', { method: 'CONNECT', target: 'a.example:443' }],
  ['asterisk-form', 'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n', { method: 'OPTIONS', target: '*' }],
  ['every visible ASCII byte in the target', `GET /${visibleAscii()} HTTP/1.1\r\nHost: a\r\n\r\n`, { target: `/${visibleAscii()}` }],
  ['an extension method with tchars', "M-SEARCH.X_y~!#$%&'*+^`| * HTTP/1.1\r\nHost: a\r\n\r\n", { method: "M-SEARCH.X_y~!#$%&'*+^`|" }],
  ['a lower-case method (a token, case kept)', 'get / HTTP/1.1\r\nHost: a\r\n\r\n', { method: 'get' }],
  ['OWS trimmed around values', 'GET / HTTP/1.1\r\nHost:a\r\nX-A: \t v a l \t \r\n\r\n', { rawHeaders: ['Host', 'a', 'X-A', 'v a l'] }],
  ['an empty value', 'GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Blank:  \t \r\n\r\n', { rawHeaders: ['Host', 'a', 'X-Empty', '', 'X-Blank', ''] }],
  ['obs-text kept as latin1', 'GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xe9 \xff\x80\r\n\r\n', { rawHeaders: ['Host', 'a', 'X-Name', 'caf\xe9 \xff\x80'] }],
  ['HTAB inside a value', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\r\n\r\n', { rawHeaders: ['Host', 'a', 'X', 'a\tb'] }],
  ['names keep their case; repeated fields kept in order', 'GET / HTTP/1.1\r\nhOsT: a\r\nACCEPT: x\r\naccept: y\r\n\r\n', { rawHeaders: ['hOsT', 'a', 'ACCEPT', 'x', 'accept', 'y'] }],
  ['a colon inside a value', 'GET / HTTP/1.1\r\nHost: a:80\r\nX: a: b:\r\n\r\n', { rawHeaders: ['Host', 'a:80', 'X', 'a: b:'] }],
  ['Transfer-Encoding on HTTP/1.1 (framing decides)', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n', { method: 'POST' }],
];

for (const [title, input, expected] of acceptedRequests) {
  test(`request accepted: ${title}`, (t) => {
    const head = parseRequest(input);
    for (const [k, v] of Object.entries(expected)) t.deepEqual(head[k as keyof RequestHead], v, k);
  });
}

test(`request accepted: exactly ${DEFAULT_MAX_HEADERS} fields`, (t) => {
  const head = parseRequest(`GET / HTTP/1.1\r\nHost: a\r\n${'X: y\r\n'.repeat(DEFAULT_MAX_HEADERS - 1)}\r\n`);
  t.is(head.rawHeaders.length, DEFAULT_MAX_HEADERS * 2);
});

function visibleAscii(): string {
  let s = '';
  for (let c = 0x21; c <= 0x7e; c++) s += String.fromCharCode(c);
  return s;
}

// ---- requests: rejected -------------------------------------------------------------------------------

const H = 'Host: a\r\n';
const rejectedRequests: [string, string, Http1ErrorCode, number, RegExp?][] = [
  ['two SP between method and target', `GET  / HTTP/1.1\r\n${H}\r\n`, 'HPE_INVALID_REQUEST_LINE', 400, /expected the target, found a second SP/],
  ['two SP between target and version', `GET /  HTTP/1.1\r\n${H}\r\n`, 'HPE_INVALID_REQUEST_LINE', 400],
  ['SP before the method', ` GET / HTTP/1.1\r\n${H}\r\n`, 'HPE_INVALID_REQUEST_LINE', 400, /expected the method/],
  ['SP after the version', `GET / HTTP/1.1 \r\n${H}\r\n`, 'HPE_INVALID_REQUEST_LINE', 400, /more than three parts/],
  ['a space in the target', `GET /a b HTTP/1.1\r\n${H}\r\n`, 'HPE_INVALID_REQUEST_LINE', 400, /may not contain SP/],
  ['HTAB as a separator', `GET\t/ HTTP/1.1\r\n${H}\r\n`, 'HPE_INVALID_REQUEST_LINE', 400, /byte 0x09 after "GET"/],
  ['a method that is not a token', `G(T / HTTP/1.1\r\n${H}\r\n`, 'HPE_INVALID_REQUEST_LINE', 400, /byte 0x28 after "G" is not allowed in a method/],
  ['DEL in the target', `GET /a\x7f HTTP/1.1\r\n${H}\r\n`, 'HPE_INVALID_REQUEST_LINE', 400, /byte 0x7f after "\/a"/],
  ['obs-text in the target', `GET /caf\xe9 HTTP/1.1\r\n${H}\r\n`, 'HPE_INVALID_REQUEST_LINE', 400, /byte 0xe9/],
  ['NUL in the target', `GET /\x00 HTTP/1.1\r\n${H}\r\n`, 'HPE_INVALID_REQUEST_LINE', 400],
  ['no version (HTTP/0.9 style)', `GET /\r\n${H}\r\n`, 'HPE_INVALID_REQUEST_LINE', 400, /ends after the target "\/"/],
  ['only a method', `GET\r\n${H}\r\n`, 'HPE_INVALID_REQUEST_LINE', 400, /ends after the method/],
  ['HTTP/2.0', `GET / HTTP/2.0\r\n${H}\r\n`, 'HPE_INVALID_VERSION', 505, /HTTP\/2.0 is not supported/],
  ['HTTP/1.2', `GET / HTTP/1.2\r\n${H}\r\n`, 'HPE_INVALID_VERSION', 505],
  ['HTTP/0.9', `GET / HTTP/0.9\r\n${H}\r\n`, 'HPE_INVALID_VERSION', 505],
  ['HTTP/3.1', `GET / HTTP/3.1\r\n${H}\r\n`, 'HPE_INVALID_VERSION', 505],
  ['a lower-case version', `GET / http/1.1\r\n${H}\r\n`, 'HPE_INVALID_VERSION', 400, /"http\/1.1" is not HTTP\/<digit>.<digit>/],
  ['HTTP/1.10', `GET / HTTP/1.10\r\n${H}\r\n`, 'HPE_INVALID_VERSION', 400],
  ['HTTP/1', `GET / HTTP/1\r\n${H}\r\n`, 'HPE_INVALID_VERSION', 400],
  ['HTTP/11', `GET / HTTP/11\r\n${H}\r\n`, 'HPE_INVALID_VERSION', 400],
  ['garbage for a version', `GET / FOO\r\n${H}\r\n`, 'HPE_INVALID_VERSION', 400],
  ['a version followed by a byte', `GET / HTTP/1.1x\r\n${H}\r\n`, 'HPE_INVALID_REQUEST_LINE', 400, /byte 0x78 after the version \(expected CRLF\)/],
  ['a field line without a colon', `GET / HTTP/1.1\r\n${H}NoColon\r\n\r\n`, 'HPE_INVALID_HEADER', 400, /header 2: "NoColon" has no colon/],
  ['whitespace between name and colon', `GET / HTTP/1.1\r\nHost : a\r\n\r\n`, 'HPE_INVALID_HEADER', 400, /header 1 \("Host"\): whitespace between the field name and the colon/],
  ['HTAB between name and colon', `GET / HTTP/1.1\r\n${H}X\t: a\r\n\r\n`, 'HPE_INVALID_HEADER', 400, /whitespace between/],
  ['an empty name', `GET / HTTP/1.1\r\n${H}: a\r\n\r\n`, 'HPE_INVALID_HEADER', 400, /header 2: empty field name/],
  ['a name that is not a token', `GET / HTTP/1.1\r\n${H}X(y): a\r\n\r\n`, 'HPE_INVALID_HEADER', 400, /byte 0x28 after "X" is not allowed in a field name/],
  ['obs-text in a name', `GET / HTTP/1.1\r\n${H}X\xe9: a\r\n\r\n`, 'HPE_INVALID_HEADER', 400],
  ['obs-fold (a continuation line)', `GET / HTTP/1.1\r\n${H}X: a\r\n b\r\n\r\n`, 'HPE_INVALID_HEADER', 400, /header 3: line starts with whitespace \(obsolete line folding/],
  ['obs-fold with HTAB', `GET / HTTP/1.1\r\n${H}X: a\r\n\tb\r\n\r\n`, 'HPE_INVALID_HEADER', 400, /obsolete line folding/],
  ['whitespace before the first field', `GET / HTTP/1.1\r\n ${H}\r\n`, 'HPE_INVALID_HEADER', 400, /header 1: line starts with whitespace/],
  ['NUL in a value', `GET / HTTP/1.1\r\n${H}X: a\x00b\r\n\r\n`, 'HPE_INVALID_HEADER', 400, /header 2 \("X"\): invalid byte 0x00 at value byte 1/],
  ['DEL in a value', `GET / HTTP/1.1\r\n${H}X: a\x7f\r\n\r\n`, 'HPE_INVALID_HEADER', 400, /invalid byte 0x7f/],
  ['a CTL in a value', `GET / HTTP/1.1\r\n${H}X: \x01\r\n\r\n`, 'HPE_INVALID_HEADER', 400, /invalid byte 0x01 at value byte 0/],
  ['ESC in a value', `GET / HTTP/1.1\r\n${H}X: \x1b[31m\r\n\r\n`, 'HPE_INVALID_HEADER', 400],
  ['HTTP/1.1 without Host', 'GET / HTTP/1.1\r\nX: a\r\n\r\n', 'HPE_INVALID_HEADER', 400, /HTTP\/1.1 request without a Host field/],
  ['two Host fields', `GET / HTTP/1.1\r\n${H}HOST: b\r\n\r\n`, 'HPE_INVALID_HEADER', 400, /2 Host fields/],
  ['two Host fields in HTTP/1.0', `GET / HTTP/1.0\r\n${H}${H}\r\n`, 'HPE_INVALID_HEADER', 400, /2 Host fields/],
  ['Transfer-Encoding in an HTTP/1.0 request', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n', 'HPE_INVALID_TRANSFER_ENCODING', 400, /header 1 \("Transfer-Encoding"\): Transfer-Encoding in an HTTP\/1.0 request/],
  [`${DEFAULT_MAX_HEADERS + 1} fields`, `GET / HTTP/1.1\r\n${H}${'X: y\r\n'.repeat(DEFAULT_MAX_HEADERS)}\r\n`, 'HPE_HEAD_TOO_LARGE', 431, /more than 100 header fields/],
];

for (const [title, input, code, status, message] of rejectedRequests) {
  test(`request rejected: ${title}`, (t) => {
    rejects(t, () => parseRequest(input), code, status, message);
  });
}

test('an error quotes at most 64 bytes of the input', (t) => {
  const long = 'x'.repeat(500);
  const err = t.throws(() => parseRequest(`GET / HTTP/1.1\r\n${H}${long}\r\n\r\n`), { instanceOf: Http1Error });
  t.true(err.message.includes(`"${'x'.repeat(64)}"…`), err.message);
  t.false(err.message.includes('x'.repeat(65)));
});

test('an error escapes control bytes of the input it quotes', (t) => {
  const err = t.throws(() => parseRequest(`GET / HTTP/1.1\r\n${H}X\x1b[2J\x00"\\\xe9 y: a\r\n\r\n`), { instanceOf: Http1Error });
  t.is(err.message, 'header 2: byte 0x1b after "X" is not allowed in a field name');
  const version = t.throws(() => parseRequest(`GET / HT\x1bTP\r\n${H}\r\n`), { instanceOf: Http1Error });
  t.is(version.message, 'request line: version "HT\\x1bTP" is not HTTP/<digit>.<digit>');
});

// ---- the parsers given a head not from findHeadEnd ---------------------------------------------------

const directRejects: [string, string, (b: Buffer, s: number, e: number) => unknown, Http1ErrorCode, RegExp][] = [
  ['bare LF ending the request line', 'GET / HTTP/1.1\nHost: a\r\n\r\n', parseRequestHead, 'HPE_INVALID_REQUEST_LINE', /byte 0x0a after the version/],
  ['bare CR ending the request line', 'GET / HTTP/1.1\rHost: a\r\n\r\n', parseRequestHead, 'HPE_INVALID_REQUEST_LINE', /request line: bare CR/],
  ['bare LF in a value', 'GET / HTTP/1.1\r\nHost: a\nb\r\n\r\n', parseRequestHead, 'HPE_INVALID_HEADER', /bare LF/],
  ['bare CR ending a field line', 'GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n', parseRequestHead, 'HPE_INVALID_HEADER', /bare CR/],
  ['bare LF for the empty line', 'GET / HTTP/1.1\r\nHost: a\r\n\n', parseRequestHead, 'HPE_INVALID_HEADER', /byte 0x0a after ""|bare LF/],
  ['a head without its empty line', 'GET / HTTP/1.1\r\nHost: a\r\n', parseRequestHead, 'HPE_INVALID_HEADER', /does not end with an empty line/],
  ['bytes after the empty line', 'GET / HTTP/1.1\r\nHost: a\r\n\r\nxy', parseRequestHead, 'HPE_INVALID_HEADER', /2 bytes after the empty line/],
  ['a field line cut off', 'GET / HTTP/1.1\r\nHost: a', parseRequestHead, 'HPE_INVALID_HEADER', /line is cut off/],
  ['a request line cut off', 'GET / HTTP/1.', parseRequestHead, 'HPE_INVALID_VERSION', /HTTP\/1\./],
  ['bare LF ending the status line', 'HTTP/1.1 200 OK\nX: a\r\n\r\n', parseResponseHead, 'HPE_INVALID_STATUS_LINE', /bare LF in the reason phrase/],
  ['bare CR ending the status line', 'HTTP/1.1 200 OK\rX: a\r\n\r\n', parseResponseHead, 'HPE_INVALID_STATUS_LINE', /status line: bare CR/],
];

for (const [title, input, parse, code, message] of directRejects) {
  test(`parser rejects without findHeadEnd: ${title}`, (t) => {
    const buf = bytes(input);
    rejects(t, () => parse(buf, 0, buf.length), code, 400, message);
  });
}

test('the parsers read only buf[start..headEnd)', (t) => {
  const buf = bytes('garbageGET / HTTP/1.1\r\nHost: a\r\n\r\nmore garbage');
  const end = findHeadEnd(buf, 7, buf.length, 1024);
  t.is(end, buf.length - 'more garbage'.length);
  t.deepEqual(parseRequestHead(buf, 7, end), { method: 'GET', target: '/', minor: 1, rawHeaders: ['Host', 'a'] });
});

// ---- responses ----------------------------------------------------------------------------------------

const acceptedResponses: [string, string, Partial<ResponseHead>][] = [
  ['200 OK', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', { status: 200, reason: 'OK', minor: 1, rawHeaders: ['Content-Length', '0'] }],
  ['an empty reason after SP', 'HTTP/1.1 200 \r\n\r\n', { status: 200, reason: '' }],
  ['no reason and no SP', 'HTTP/1.1 204\r\n\r\n', { status: 204, reason: '' }],
  ['HTTP/1.0', 'HTTP/1.0 404 Not Found\r\n\r\n', { status: 404, reason: 'Not Found', minor: 0 }],
  ['a reason with HTAB, SP and obs-text', 'HTTP/1.1 500 Tr\xe8s  \tmal \r\n\r\n', { reason: 'Tr\xe8s  \tmal ' }],
  ['status 100', 'HTTP/1.1 100 Continue\r\n\r\n', { status: 100 }],
  ['status 999', 'HTTP/1.1 999 Mine\r\n\r\n', { status: 999 }],
  ['leading empty lines', '\r\nHTTP/1.1 200 OK\r\n\r\n', { status: 200 }],
];

for (const [title, input, expected] of acceptedResponses) {
  test(`response accepted: ${title}`, (t) => {
    const head = parseResponse(input);
    for (const [k, v] of Object.entries(expected)) t.deepEqual(head[k as keyof ResponseHead], v, k);
  });
}

const rejectedResponses: [string, string, Http1ErrorCode, number, RegExp?][] = [
  ['a 2-digit status', 'HTTP/1.1 99 Odd\r\n\r\n', 'HPE_INVALID_STATUS_LINE', 400, /"99 Odd" is not 3 digits from 100 to 999/],
  ['status 099', 'HTTP/1.1 099 Odd\r\n\r\n', 'HPE_INVALID_STATUS_LINE', 400],
  ['a 4-digit status', 'HTTP/1.1 2000 OK\r\n\r\n', 'HPE_INVALID_STATUS_LINE', 400],
  ['a status with a letter', 'HTTP/1.1 20a OK\r\n\r\n', 'HPE_INVALID_STATUS_LINE', 400],
  ['two SP before the status', 'HTTP/1.1  200 OK\r\n\r\n', 'HPE_INVALID_STATUS_LINE', 400],
  ['HTAB before the status', 'HTTP/1.1\t200 OK\r\n\r\n', 'HPE_INVALID_STATUS_LINE', 400, /byte 0x09 after the version \(expected one SP\)/],
  ['no status code', 'HTTP/1.1\r\n\r\n', 'HPE_INVALID_STATUS_LINE', 400, /no status code/],
  ['not HTTP at all', 'ICY 200 OK\r\n\r\n', 'HPE_INVALID_STATUS_LINE', 400, /"ICY 200 OK" does not start with "HTTP\/"/],
  ['HTTP/2.0', 'HTTP/2.0 200 OK\r\n\r\n', 'HPE_INVALID_VERSION', 505],
  ['HTTP/1.x', 'HTTP/1.x 200 OK\r\n\r\n', 'HPE_INVALID_VERSION', 400],
  ['HTTP/1.10', 'HTTP/1.10 200 OK\r\n\r\n', 'HPE_INVALID_VERSION', 400],
  ['NUL in the reason', 'HTTP/1.1 200 O\x00K\r\n\r\n', 'HPE_INVALID_STATUS_LINE', 400, /invalid byte 0x00 in the reason phrase at byte 1/],
  ['a bad field line', 'HTTP/1.1 200 OK\r\nX : y\r\n\r\n', 'HPE_INVALID_HEADER', 400],
  ['obs-fold', 'HTTP/1.1 200 OK\r\nX: y\r\n z\r\n\r\n', 'HPE_INVALID_HEADER', 400],
  [`${DEFAULT_MAX_HEADERS + 1} fields`, `HTTP/1.1 200 OK\r\n${'X: y\r\n'.repeat(DEFAULT_MAX_HEADERS + 1)}\r\n`, 'HPE_HEAD_TOO_LARGE', 431],
];

for (const [title, input, code, status, message] of rejectedResponses) {
  test(`response rejected: ${title}`, (t) => {
    rejects(t, () => parseResponse(input), code, status, message);
  });
}

// ---- findHeadEnd --------------------------------------------------------------------------------------

test('findHeadEnd: -1 until the empty line is complete, then just past it', (t) => {
  const head = 'GET / HTTP/1.1\r\nHost: a\r\n\r\n';
  const buf = bytes(`${head}body`);
  for (let end = 0; end < head.length; end++) t.is(findHeadEnd(buf, 0, end, 1024), -1, `end ${end}`);
  for (let end = head.length; end <= buf.length; end++) t.is(findHeadEnd(buf, 0, end, 1024), head.length);
});

test('findHeadEnd: leading CRLFs are part of the head, never its end', (t) => {
  const buf = bytes('\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n');
  t.is(findHeadEnd(buf, 0, 6, 1024), -1);
  t.is(findHeadEnd(buf, 0, 10, 1024), -1);
  t.is(findHeadEnd(buf, 0, buf.length, 1024), buf.length);
  t.is(parseRequestHead(buf, 0, buf.length).target, '/');
});

test('findHeadEnd: starts at `start`, reads no further than `end`', (t) => {
  const buf = bytes('XX\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n');
  const first = findHeadEnd(buf, 2, buf.length, 1024);
  t.is(buf.toString('latin1', first, first + 6), 'GET /2');
  t.is(findHeadEnd(buf, first, buf.length, 1024), buf.length);
  t.is(findHeadEnd(buf, first, buf.length - 1, 1024), -1);
});

test('findHeadEnd: a head of exactly maxBytes is accepted, one byte more is 431', (t) => {
  const head = `GET / HTTP/1.1\r\nHost: a\r\nX: ${'v'.repeat(100)}\r\n\r\n`;
  const buf = bytes(head);
  t.is(findHeadEnd(buf, 0, buf.length, head.length), head.length);
  rejects(t, () => findHeadEnd(buf, 0, buf.length, head.length - 1), 'HPE_HEAD_TOO_LARGE', 431, new RegExp(`head larger than ${head.length - 1} bytes`));
});

test('findHeadEnd: an incomplete head is 431 as soon as it reaches maxBytes', (t) => {
  const buf = bytes(`GET / HTTP/1.1\r\nHost: a\r\nX: ${'v'.repeat(200)}`);
  t.is(findHeadEnd(buf, 0, 99, 100), -1);
  rejects(t, () => findHeadEnd(buf, 0, 100, 100), 'HPE_HEAD_TOO_LARGE', 431);
  // Leading CRLFs count.
  const crlfs = bytes('\r\n'.repeat(60));
  rejects(t, () => findHeadEnd(crlfs, 0, crlfs.length, 100), 'HPE_HEAD_TOO_LARGE', 431);
});

test(`findHeadEnd: the default limit is ${DEFAULT_MAX_HEAD_BYTES} bytes (Envoy's 60 KiB)`, (t) => {
  t.is(DEFAULT_MAX_HEAD_BYTES, 61_440);
  const buf = bytes(`GET / HTTP/1.1\r\nHost: a\r\nX: ${'v'.repeat(DEFAULT_MAX_HEAD_BYTES)}\r\n\r\n`);
  rejects(t, () => findHeadEnd(buf, 0, buf.length, DEFAULT_MAX_HEAD_BYTES), 'HPE_HEAD_TOO_LARGE', 431);
});

const bareLineEnds: [string, string, RegExp][] = [
  ['LF-only line ends', 'GET / HTTP/1.1\nHost: a\n\n', /bare LF at byte 14 of the head, in the start line/],
  ['a bare LF in a field line', 'GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n', /bare LF at byte 23 of the head, in a field line/],
  ['a bare LF as the empty line', 'GET / HTTP/1.1\r\nHost: a\r\n\n', /bare LF at byte 25/],
  ['a leading bare LF', '\nGET / HTTP/1.1\r\nHost: a\r\n\r\n', /bare LF at byte 0 of the head, in the start line/],
  ['a bare LF after leading CRLFs', '\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n', /bare LF at byte 2/],
  ['a bare CR in the start line', 'GET / HTTP/1.1\rHost: a\r\n\r\n', /bare CR at byte 14 of the head, in the start line/],
  ['a bare CR in a value', 'GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n', /bare CR at byte 23 of the head, in a field line/],
  ['CR CR LF', 'GET / HTTP/1.1\r\r\nHost: a\r\n\r\n', /bare CR at byte 14/],
  ['LF CR for a line end', 'GET / HTTP/1.1\n\rHost: a\r\n\r\n', /bare LF at byte 14/],
];

for (const [title, input, message] of bareLineEnds) {
  test(`findHeadEnd rejects at once: ${title}`, (t) => {
    const buf = bytes(input);
    rejects(t, () => findHeadEnd(buf, 0, buf.length, 1024), 'HPE_INVALID_HEADER', 400, message);
  });
}

test('findHeadEnd: a CR at the end of the data waits for the next byte', (t) => {
  const buf = bytes('GET / HTTP/1.1\rX');
  t.is(findHeadEnd(buf, 0, 15, 1024), -1);
  rejects(t, () => findHeadEnd(buf, 0, 16, 1024), 'HPE_INVALID_HEADER', 400, /bare CR/);
  rejects(t, () => findHeadEndFrom(buf, 0, 16, 1024, 15), 'HPE_INVALID_HEADER', 400, /bare CR/);
});

/** A deterministic PRNG (mulberry32), so that a failing split can be reproduced from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** Feeds `buf` in pieces ending at `ends` (ascending, last = length), resuming or rescanning. */
function incremental(buf: Buffer, ends: number[], resume: boolean, max: number): number | Http1Error {
  let scanned = 0;
  try {
    for (const end of ends) {
      const found = resume ? findHeadEndFrom(buf, 0, end, max, scanned) : findHeadEnd(buf, 0, end, max);
      if (found >= 0) return found;
      scanned = end;
    }
    return -1;
  } catch (err) {
    if (err instanceof Http1Error) return err;
    throw err;
  }
}

function outcome(r: number | Http1Error): string {
  return typeof r === 'number' ? `end ${r}` : `${r.code} ${r.message}`;
}

const splitInputs = [
  'GET / HTTP/1.1\r\nHost: a\r\n\r\nbody bytes\r\n\r\n',
  '\r\n\r\nPOST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc',
  'HTTP/1.1 200 OK\r\nX: \r\n\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\n\r\n',
  'GET / HTTP/1.1\nHost: a\n\n',
  'GET / HTTP/1.1\r\nHost: a\r\rX: b\r\n\r\n',
  '\r\n\r\n\r',
  `GET / HTTP/1.1\r\nHost: a\r\nX: ${'v'.repeat(80)}\r\n\r\n`,
];

test('findHeadEnd: byte by byte, random splits and whole give the same result', (t) => {
  const random = prng(0x5eed);
  for (const input of splitInputs) {
    const buf = bytes(input);
    for (const max of [1024, 90]) {
      const whole = outcome(incremental(buf, [buf.length], false, max));
      const byByte = Array.from({ length: buf.length }, (_, i) => i + 1);
      t.is(outcome(incremental(buf, byByte, false, max)), whole, `${JSON.stringify(input)} byte by byte, rescanning`);
      t.is(outcome(incremental(buf, byByte, true, max)), whole, `${JSON.stringify(input)} byte by byte, resuming`);
      for (let round = 0; round < 50; round++) {
        const ends: number[] = [];
        for (let e = 0; e < buf.length; ) ends.push((e = Math.min(buf.length, e + 1 + Math.floor(random() * 8))));
        t.is(outcome(incremental(buf, ends, true, max)), whole, `${JSON.stringify(input)} split at ${ends.join(',')}`);
      }
    }
  }
});

// ---- cross-check with Node's parser ------------------------------------------------------------------

interface NodeSaw {
  method: string;
  url: string;
  httpVersion: string;
  rawHeaders: string[];
}

/** 50 varied valid requests (bodiless, so that each is only its head). */
function variedRequests(): string[] {
  const random = prng(42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const methods = ['GET', 'HEAD', 'DELETE', 'OPTIONS', 'PURGE', 'M-SEARCH', 'PROPFIND', 'GET'];
  const targets = ['/', '/a/b/c', '/search?q=a+b&x=%20y', '/%7Euser/', 'http://h.example/p?x', "/!$&'()*+,;=:@-._~", '/' + 'seg/'.repeat(40)];
  const names = ['Accept', 'accept-language', 'X-Request-Id', 'USER-AGENT', 'Cookie', 'x-b3-traceid', 'If-None-Match', 'X_Odd.name~', 'Cache-Control'];
  const values = ['text/html, */*;q=0.8', 'a', '', '  padded  ', 'tab\there', '"quoted, with comma"', 'x'.repeat(300), 'obs-\xe9\xfc\xff', 'k=v; k2=v2', '1'];
  const out: string[] = [];
  for (let i = 0; i < 50; i++) {
    const minor = random() < 0.2 ? 0 : 1;
    let head = `${pick(methods)} ${pick(targets)} HTTP/1.${minor}\r\n`;
    if (minor === 1 || random() < 0.5) head += `${pick(['Host', 'host', 'HOST'])}: h${i}.example:${8000 + i}\r\n`;
    const fields = Math.floor(random() * 12);
    for (let f = 0; f < fields; f++) head += `${pick(names)}:${pick(['', ' ', '\t', '  '])}${pick(values)}${pick(['', ' ', '\t '])}\r\n`;
    out.push(`${head}Connection: close\r\n\r\n`);
  }
  return out;
}

test("Node's HTTP server reads 50 varied valid requests exactly as parseRequestHead does", async (t) => {
  const seen: NodeSaw[] = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, httpVersion: req.httpVersion, rawHeaders: req.rawHeaders });
    res.end();
  });
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const requests = variedRequests();
  for (const [i, raw] of requests.entries()) {
    const socket = connect(port, '127.0.0.1');
    t.teardown(() => socket.destroy());
    socket.end(bytes(raw));
    socket.resume();
    await once(socket, 'close');
    const ours = parseRequest(raw);
    const node = seen[i];
    t.truthy(node, `Node rejected request ${i}: ${JSON.stringify(raw)}`);
    if (node === undefined) continue;
    t.deepEqual(
      { method: ours.method, url: ours.target, httpVersion: `1.${ours.minor}`, rawHeaders: ours.rawHeaders },
      node,
      `request ${i}: ${JSON.stringify(raw)}`,
    );
  }
  t.is(seen.length, requests.length);
});

/** 20 varied valid response heads, each answering a GET and ending with the connection. */
function variedResponses(): string[] {
  const random = prng(7);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const lines = ['HTTP/1.1 200 OK', 'HTTP/1.1 404 Not Found', 'HTTP/1.0 200 OK', 'HTTP/1.1 201 ', 'HTTP/1.1 299 Some Thing', 'HTTP/1.1 503 Service \t Unavailable', 'HTTP/1.1 418 I\xe9m a teapot'];
  const names = ['Content-Type', 'set-cookie', 'X-Envoy-Upstream-Service-Time', 'ETag', 'Vary', 'server'];
  const values = ['text/plain', 'a=b; Path=/; HttpOnly', '12', '"abc"', '', ' spaced ', 'obs-\xe9'];
  const out: string[] = [];
  for (let i = 0; i < 20; i++) {
    let head = `${pick(lines)}\r\n`;
    const fields = Math.floor(random() * 8);
    for (let f = 0; f < fields; f++) head += `${pick(names)}:${pick(['', ' '])}${pick(values)}\r\n`;
    out.push(`${head}Connection: close\r\n\r\n`);
  }
  return out;
}

test("Node's HTTP client reads 20 varied valid responses exactly as parseResponseHead does", async (t) => {
  const responses = variedResponses();
  let next = 0;
  const server = netServer((socket: Socket) => {
    socket.on('error', () => socket.destroy());
    socket.once('data', () => socket.end(bytes(responses[next++]!)));
  });
  t.teardown(() => server.close());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  for (const [i, raw] of responses.entries()) {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false });
    t.teardown(() => req.destroy());
    req.end();
    const [res] = (await once(req, 'response')) as [IncomingMessage];
    res.resume();
    await once(res, 'end');
    const ours = parseResponse(raw);
    t.deepEqual(
      { status: ours.status, reason: ours.reason, httpVersion: `1.${ours.minor}`, rawHeaders: ours.rawHeaders },
      { status: res.statusCode, reason: res.statusMessage, httpVersion: res.httpVersion, rawHeaders: res.rawHeaders },
      `response ${i}: ${JSON.stringify(raw)}`,
    );
  }
});
