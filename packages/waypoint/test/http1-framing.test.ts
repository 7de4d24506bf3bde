/**
 * Message framing and connection fields: every rule of RFC 9112 §6.3 as the waypoint applies it, with the
 * smuggling classics (CL+TE, `xchunked`, repeated `chunked`, differing lengths, signs), each with its exact
 * code and status.
 */
import test, { type ExecutionContext } from 'ava';

import { Http1Error, type Http1ErrorCode } from '../src/http1/errors.js';
import { connectionOptions, contentLength, contentLengthOf, keepsAlive, requestFraming, responseFraming, type Framing } from '../src/http1/framing.js';
import type { HeaderMap } from '../src/route/headers.js';
import { findHeadEnd, parseRequestHead } from '../src/http1/head.js';

function rejects(t: ExecutionContext, fn: () => unknown, code: Http1ErrorCode, status: number, message?: RegExp): void {
  const err = t.throws(fn, { instanceOf: Http1Error });
  if (err === undefined) return;
  t.is(err.code, code, err.message);
  t.is(err.status, status, err.message);
  if (message !== undefined) t.regex(err.message, message);
}

const len = (length: number): Framing => ({ kind: 'length', length });
const CHUNKED: Framing = { kind: 'chunked' };
const CLOSE: Framing = { kind: 'close' };

// ---- requests -----------------------------------------------------------------------------------------

const requestCases: [string, string[], Framing][] = [
  ['no body fields: no body', ['Host', 'a'], len(0)],
  ['Content-Length', ['Content-Length', '42'], len(42)],
  ['Content-Length 0', ['content-length', '0'], len(0)],
  ['Content-Length with leading zeros', ['Content-Length', '007'], len(7)],
  ['Content-Length, any case', ['CONTENT-length', '5'], len(5)],
  ['Content-Length 2^53 - 1', ['Content-Length', String(Number.MAX_SAFE_INTEGER)], len(Number.MAX_SAFE_INTEGER)],
  ['Content-Length repeated identically', ['Content-Length', '5', 'content-length', '5'], len(5)],
  ['Content-Length as an identical list', ['Content-Length', '5, 5,5'], len(5)],
  ['Content-Length values equal as numbers', ['Content-Length', '5', 'Content-Length', '05'], len(5)],
  ['Transfer-Encoding: chunked', ['Transfer-Encoding', 'chunked'], CHUNKED],
  ['Transfer-Encoding: Chunked (codings are case-insensitive)', ['transfer-encoding', 'CHUNKED'], CHUNKED],
  ['Transfer-Encoding with OWS', ['Transfer-Encoding', ' \tchunked\t '], CHUNKED],
];

for (const [title, raw, expected] of requestCases) {
  test(`request framing: ${title}`, (t) => {
    t.deepEqual(requestFraming(raw), expected);
  });
}

const requestRejects: [string, string[], Http1ErrorCode, number, RegExp?][] = [
  ['Content-Length and Transfer-Encoding (CL.TE)', ['Content-Length', '5', 'Transfer-Encoding', 'chunked'], 'HPE_INVALID_CONTENT_LENGTH', 400, /both Transfer-Encoding and Content-Length/],
  ['Transfer-Encoding and Content-Length (TE.CL)', ['Transfer-Encoding', 'chunked', 'Content-Length', '0'], 'HPE_INVALID_CONTENT_LENGTH', 400],
  ['Transfer-Encoding: xchunked', ['Transfer-Encoding', 'xchunked'], 'HPE_INVALID_TRANSFER_ENCODING', 400, /chunked is not the last transfer coding/],
  ['Transfer-Encoding: chunked, chunked', ['Transfer-Encoding', 'chunked, chunked'], 'HPE_INVALID_TRANSFER_ENCODING', 400, /header 1 \("Transfer-Encoding"\): "chunked, chunked": chunked applied twice/],
  ['chunked in two fields', ['Transfer-Encoding', 'chunked', 'transfer-encoding', 'chunked'], 'HPE_INVALID_TRANSFER_ENCODING', 400, /header 2 .*chunked applied twice/],
  ['chunked not last', ['Transfer-Encoding', 'chunked, gzip'], 'HPE_INVALID_TRANSFER_ENCODING', 400, /chunked is not the last/],
  ['chunked not last, over two fields', ['Transfer-Encoding', 'chunked', 'Transfer-Encoding', 'gzip'], 'HPE_INVALID_TRANSFER_ENCODING', 400],
  ['a coding without chunked', ['Transfer-Encoding', 'gzip'], 'HPE_INVALID_TRANSFER_ENCODING', 400],
  ['identity', ['Transfer-Encoding', 'identity'], 'HPE_INVALID_TRANSFER_ENCODING', 400],
  ['a coding before chunked (not decoded: 501)', ['Transfer-Encoding', 'gzip, chunked'], 'HPE_UNSUPPORTED_TRANSFER_ENCODING', 501, /other than chunked are not supported/],
  ['a coding with parameters before chunked', ['Transfer-Encoding', 'foo;a=b, chunked'], 'HPE_UNSUPPORTED_TRANSFER_ENCODING', 501],
  ['a coding before chunked, over two fields', ['Transfer-Encoding', 'deflate', 'Transfer-Encoding', 'chunked'], 'HPE_UNSUPPORTED_TRANSFER_ENCODING', 501],
  ['chunked with parameters', ['Transfer-Encoding', 'chunked;q=1'], 'HPE_INVALID_TRANSFER_ENCODING', 400, /chunked takes no parameters/],
  ['an empty Transfer-Encoding', ['Transfer-Encoding', ''], 'HPE_INVALID_TRANSFER_ENCODING', 400, /empty transfer coding/],
  ['an empty list element', ['Transfer-Encoding', 'chunked,'], 'HPE_INVALID_TRANSFER_ENCODING', 400, /empty transfer coding/],
  ['a leading empty element', ['Transfer-Encoding', ', chunked'], 'HPE_INVALID_TRANSFER_ENCODING', 400],
  ['two words in one element', ['Transfer-Encoding', 'chunked x'], 'HPE_INVALID_TRANSFER_ENCODING', 400, /"chunked x" is not a transfer coding/],
  ['a quoted coding', ['Transfer-Encoding', '"chunked"'], 'HPE_INVALID_TRANSFER_ENCODING', 400],
  ['a coding with a vertical tab', ['Transfer-Encoding', 'chunked\x0b'], 'HPE_INVALID_TRANSFER_ENCODING', 400],
  ['Content-Length: 5, 6', ['Content-Length', '5, 6'], 'HPE_INVALID_CONTENT_LENGTH', 400, /header 1 \("Content-Length"\): "5, 6" differs from the length 5 given before/],
  ['two differing Content-Length fields', ['Content-Length', '5', 'Content-Length', '6'], 'HPE_INVALID_CONTENT_LENGTH', 400, /header 2 /],
  ['Content-Length: +5', ['Content-Length', '+5'], 'HPE_INVALID_CONTENT_LENGTH', 400, /"\+5" is not a decimal length/],
  ['Content-Length: -1', ['Content-Length', '-1'], 'HPE_INVALID_CONTENT_LENGTH', 400],
  ['Content-Length: 0x5', ['Content-Length', '0x5'], 'HPE_INVALID_CONTENT_LENGTH', 400],
  ['Content-Length: 12a', ['content-length', '12a'], 'HPE_INVALID_CONTENT_LENGTH', 400, /header 1 \("content-length"\): "12a" is not a decimal length/],
  ['Content-Length: 1 2', ['Content-Length', '1 2'], 'HPE_INVALID_CONTENT_LENGTH', 400],
  ['Content-Length: 1.0', ['Content-Length', '1.0'], 'HPE_INVALID_CONTENT_LENGTH', 400],
  ['an empty Content-Length', ['Content-Length', ''], 'HPE_INVALID_CONTENT_LENGTH', 400, /has an empty length/],
  ['an empty element in Content-Length', ['Content-Length', '5,'], 'HPE_INVALID_CONTENT_LENGTH', 400, /has an empty length/],
  ['Content-Length above 2^53 - 1', ['Content-Length', '9007199254740992'], 'HPE_INVALID_CONTENT_LENGTH', 400, /larger than 2\^53 - 1/],
  ['a huge Content-Length', ['Content-Length', '9'.repeat(400)], 'HPE_INVALID_CONTENT_LENGTH', 400, /"9{64}"… is larger/],
];

for (const [title, raw, code, status, message] of requestRejects) {
  test(`request framing rejected: ${title}`, (t) => {
    rejects(t, () => requestFraming(raw), code, status, message);
  });
}

test('contentLength: -1 without the field, the length with it', (t) => {
  t.is(contentLength(['Host', 'a']), -1);
  t.is(contentLength(['Content-Length', '0']), 0);
  t.is(contentLength(['Content-Length', ' 12 ']), 12);
});

test('Transfer-Encoding with obs-fold never reaches framing: the head is refused', (t) => {
  const buf = Buffer.from('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\nContent-Length: 3\r\n\r\nabc', 'latin1');
  const end = findHeadEnd(buf, 0, buf.length, 1024);
  rejects(t, () => parseRequestHead(buf, 0, end), 'HPE_INVALID_HEADER', 400, /obsolete line folding/);
});

test('an unknown field that only looks like a framing field is ignored', (t) => {
  t.deepEqual(requestFraming(['Transfer-Encodings', 'gzip', 'Content-Lengths', 'x', 'X-Content-Length', '9']), len(0));
});

// ---- responses ----------------------------------------------------------------------------------------

const responseCases: [string, string[], number, string, Framing][] = [
  ['Content-Length', ['Content-Length', '10'], 200, 'GET', len(10)],
  ['neither field: until close', ['Content-Type', 'text/plain'], 200, 'GET', CLOSE],
  ['chunked', ['Transfer-Encoding', 'chunked'], 200, 'GET', CHUNKED],
  ['chunked wins over Content-Length', ['Content-Length', '10', 'Transfer-Encoding', 'chunked'], 200, 'GET', CHUNKED],
  ['chunked last after another coding', ['Transfer-Encoding', 'gzip, chunked'], 200, 'POST', CHUNKED],
  ['a coding without chunked: until close', ['Transfer-Encoding', 'gzip'], 200, 'GET', CLOSE],
  ['xchunked: until close', ['Transfer-Encoding', 'xchunked', 'Content-Length', '3'], 200, 'GET', CLOSE],
  ['chunked not last: until close', ['Transfer-Encoding', 'chunked, gzip'], 200, 'GET', CLOSE],
  ['1xx: no body', ['Content-Length', '10'], 100, 'GET', len(0)],
  ['101: no body', [], 101, 'GET', len(0)],
  ['204: no body, whatever it says', ['Transfer-Encoding', 'chunked'], 204, 'GET', len(0)],
  ['304: no body', ['Content-Length', '99'], 304, 'GET', len(0)],
  ['an answer to HEAD: no body', ['Content-Length', '99'], 200, 'HEAD', len(0)],
  ['an answer to HEAD without length: no body', [], 404, 'HEAD', len(0)],
  ['a 2xx answer to CONNECT: no body', ['Transfer-Encoding', 'chunked'], 200, 'CONNECT', len(0)],
  ['a 4xx answer to CONNECT has a body', ['Content-Length', '3'], 407, 'CONNECT', len(3)],
  ['205 with Content-Length 0', ['Content-Length', '0'], 205, 'GET', len(0)],
];

for (const [title, raw, status, method, expected] of responseCases) {
  test(`response framing: ${title}`, (t) => {
    t.deepEqual(responseFraming(raw, status, method), expected);
  });
}

const responseRejects: [string, string[], Http1ErrorCode][] = [
  ['Content-Length: 5, 6', ['Content-Length', '5, 6'], 'HPE_INVALID_CONTENT_LENGTH'],
  ['Content-Length: +5', ['Content-Length', '+5'], 'HPE_INVALID_CONTENT_LENGTH'],
  ['Transfer-Encoding: chunked, chunked', ['Transfer-Encoding', 'chunked, chunked'], 'HPE_INVALID_TRANSFER_ENCODING'],
  ['an empty Transfer-Encoding', ['Transfer-Encoding', ''], 'HPE_INVALID_TRANSFER_ENCODING'],
  ['garbage Transfer-Encoding', ['Transfer-Encoding', 'chunked/1'], 'HPE_INVALID_TRANSFER_ENCODING'],
];

for (const [title, raw, code] of responseRejects) {
  test(`response framing rejected: ${title}`, (t) => {
    rejects(t, () => responseFraming(raw, 200, 'GET'), code, 400);
  });
}

// ---- connection options -------------------------------------------------------------------------------

const optionCases: [string, string[], { close: boolean; keepAlive: boolean; upgrade: string | undefined; expectContinue: boolean }][] = [
  ['nothing', ['Host', 'a'], { close: false, keepAlive: false, upgrade: undefined, expectContinue: false }],
  ['close', ['Connection', 'close'], { close: true, keepAlive: false, upgrade: undefined, expectContinue: false }],
  ['Close, any case and OWS', ['connection', ' \tCLOSE '], { close: true, keepAlive: false, upgrade: undefined, expectContinue: false }],
  ['keep-alive', ['Connection', 'Keep-Alive'], { close: false, keepAlive: true, upgrade: undefined, expectContinue: false }],
  ['a list with other tokens', ['Connection', 'x-foo, keep-alive ,te'], { close: false, keepAlive: true, upgrade: undefined, expectContinue: false }],
  ['several fields', ['Connection', 'keep-alive', 'CONNECTION', 'close'], { close: true, keepAlive: true, upgrade: undefined, expectContinue: false }],
  ['a token containing close is not close', ['Connection', 'closed, xclose'], { close: false, keepAlive: false, upgrade: undefined, expectContinue: false }],
  ['upgrade', ['Connection', 'Upgrade', 'Upgrade', 'websocket'], { close: false, keepAlive: false, upgrade: 'websocket', expectContinue: false }],
  ['upgrade over several Upgrade fields', ['Upgrade', 'h2c', 'Connection', 'upgrade, HTTP2-Settings', 'upgrade', 'websocket'], { close: false, keepAlive: false, upgrade: 'h2c, websocket', expectContinue: false }],
  ['Upgrade without Connection: upgrade is ignored', ['Upgrade', 'websocket'], { close: false, keepAlive: false, upgrade: undefined, expectContinue: false }],
  ['Connection: upgrade without Upgrade', ['Connection', 'upgrade'], { close: false, keepAlive: false, upgrade: undefined, expectContinue: false }],
  ['an empty Upgrade', ['Connection', 'upgrade', 'Upgrade', ''], { close: false, keepAlive: false, upgrade: undefined, expectContinue: false }],
  ['Expect: 100-continue', ['Expect', '100-continue'], { close: false, keepAlive: false, upgrade: undefined, expectContinue: true }],
  ['Expect: 100-Continue in a list', ['expect', 'foo, 100-CONTINUE'], { close: false, keepAlive: false, upgrade: undefined, expectContinue: true }],
  ['another expectation', ['Expect', '200-ok'], { close: false, keepAlive: false, upgrade: undefined, expectContinue: false }],
];

for (const [title, raw, expected] of optionCases) {
  test(`connectionOptions: ${title}`, (t) => {
    t.deepEqual(connectionOptions(raw), expected);
  });
}

test('keepsAlive: HTTP/1.1 unless close; HTTP/1.0 only with keep-alive and without close', (t) => {
  const opts = (close: boolean, keepAlive: boolean) => ({ close, keepAlive, upgrade: undefined, expectContinue: false });
  t.true(keepsAlive(1, opts(false, false)));
  t.false(keepsAlive(1, opts(true, false)));
  t.true(keepsAlive(1, opts(false, true)));
  t.false(keepsAlive(1, opts(true, true)));
  t.false(keepsAlive(0, opts(false, false)));
  t.true(keepsAlive(0, opts(false, true)));
  t.false(keepsAlive(0, opts(true, true)));
  t.false(keepsAlive(0, opts(true, false)));
});

test('contentLengthOf: the same rule on a header map; undefined when absent or not valid', (t) => {
  const map = (v: string | string[] | undefined): HeaderMap => (v === undefined ? {} : { 'content-length': v });
  t.is(contentLengthOf(map(undefined)), undefined);
  t.is(contentLengthOf(map('12')), 12);
  t.is(contentLengthOf(map('5, 5')), 5);
  t.is(contentLengthOf(map(['7', '7'])), 7);
  t.is(contentLengthOf(map(['7', '8'])), undefined);
  t.is(contentLengthOf(map('5, 6')), undefined);
  t.is(contentLengthOf(map('+5')), undefined);
  t.is(contentLengthOf(map('')), undefined);
  t.is(contentLengthOf(map([])), undefined);
  t.is(contentLengthOf(map('9007199254740992')), undefined);
});
