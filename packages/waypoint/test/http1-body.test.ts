/**
 * Body decoding: fixed length, until close and chunked (sizes, extensions, trailers), every reject rule
 * with its exact code, body bytes handed on as views of the input, and the same outcome whether the input
 * comes whole, a byte at a time or in random pieces.
 */
import test, { type ExecutionContext } from 'ava';

import { BodyDecoder, DEFAULT_MAX_TRAILER_BYTES, MAX_CHUNK_SIZE_LINE } from '../src/http1/body-decoder.js';
import { Http1Error, type Http1ErrorCode } from '../src/http1/errors.js';
import type { Framing } from '../src/http1/framing.js';

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');
const CHUNKED: Framing = { kind: 'chunked' };
const noData = (): void => {
  throw new Error('no data expected');
};

function rejects(t: ExecutionContext, fn: () => unknown, code: Http1ErrorCode, status: number, message?: RegExp): Http1Error | undefined {
  const err = t.throws(fn, { instanceOf: Http1Error });
  if (err === undefined) return undefined;
  t.is(err.code, code, err.message);
  t.is(err.status, status, err.message);
  if (message !== undefined) t.regex(err.message, message);
  return err;
}

interface Outcome {
  body: string;
  trailers: string[] | undefined;
  /** Where the body ended in the input (-1: not done when the input ran out). */
  consumed: number;
  received: number;
  error: string | undefined;
}

/**
 * Decodes `input` handed over in pieces ending at `ends`, each piece copied into a buffer of its own (so the
 * decoder cannot look back into an earlier piece); `eof` calls `end()` after the last piece.
 */
function decode(framing: Framing, input: Buffer, ends: readonly number[], eof = false, maxTrailer?: number): Outcome {
  const d = new BodyDecoder(framing, maxTrailer);
  const parts: Buffer[] = [];
  let consumed = -1;
  let error: string | undefined;
  try {
    let pos = 0;
    for (const end of ends) {
      const piece = Buffer.from(input.subarray(pos, end));
      const stop = d.feed(piece, 0, piece.length, (c) => parts.push(Buffer.from(c)));
      if (d.done) {
        consumed = pos + stop;
        break;
      }
      if (stop !== piece.length) throw new Error(`stopped at ${stop} of ${piece.length} without being done`);
      pos = end;
    }
    if (eof) {
      d.end();
      if (consumed < 0) consumed = input.length;
    }
  } catch (err) {
    if (!(err instanceof Http1Error)) throw err;
    error = `${err.code} ${err.status} ${err.message}`;
  }
  return { body: Buffer.concat(parts).toString('latin1'), trailers: d.trailers, consumed, received: d.received, error };
}

const whole = (input: Buffer): number[] => [input.length];
const byteByByte = (input: Buffer): number[] => Array.from({ length: input.length }, (_, i) => i + 1);

// ---- length and close ---------------------------------------------------------------------------------

test('length: hands on views of the input, stops at the length, leaves the rest', (t) => {
  const input = bytes('xxhello worldGET /next');
  const d = new BodyDecoder({ kind: 'length', length: 11 });
  t.false(d.done);
  const chunks: Buffer[] = [];
  t.is(d.feed(input, 2, 7, (c) => chunks.push(c)), 7);
  t.false(d.done);
  t.is(d.received, 5);
  t.is(d.feed(input, 7, input.length, (c) => chunks.push(c)), 13);
  t.true(d.done);
  t.is(d.received, 11);
  t.is(Buffer.concat(chunks).toString(), 'hello world');
  for (const c of chunks) t.is(c.buffer, input.buffer, 'a view, not a copy');
  t.is(chunks[0]!.byteOffset, input.byteOffset + 2);
  t.is(d.feed(input, 13, input.length, noData), 13, 'done: consumes nothing more');
  t.is(d.trailers, undefined);
  d.end();
});

test('length 0 is done from the start and takes nothing', (t) => {
  const d = new BodyDecoder({ kind: 'length', length: 0 });
  t.true(d.done);
  t.is(d.feed(bytes('GET'), 0, 3, noData), 0);
  d.end();
  t.is(d.received, 0);
});

test('close: everything is body until end()', (t) => {
  const input = bytes('all of it, including \r\n0\r\n\r\n');
  const d = new BodyDecoder({ kind: 'close' });
  const chunks: Buffer[] = [];
  t.is(d.feed(input, 0, 10, (c) => chunks.push(c)), 10);
  t.is(d.feed(input, 10, input.length, (c) => chunks.push(c)), input.length);
  t.false(d.done);
  d.end();
  t.true(d.done);
  t.is(Buffer.concat(chunks).toString('latin1'), input.toString('latin1'));
  t.is(d.received, input.length);
  for (const c of chunks) t.is(c.buffer, input.buffer);
});

test('an empty feed delivers nothing', (t) => {
  for (const framing of [{ kind: 'length', length: 3 }, CHUNKED, { kind: 'close' }] as Framing[]) {
    const d = new BodyDecoder(framing);
    t.is(d.feed(bytes('abc'), 1, 1, noData), 1);
  }
});

test('end() inside a length body: HPE_UNEXPECTED_EOF, then the same error again', (t) => {
  const d = new BodyDecoder({ kind: 'length', length: 10 });
  d.feed(bytes('abc'), 0, 3, () => undefined);
  const err = rejects(t, () => d.end(), 'HPE_UNEXPECTED_EOF', 400, /^the stream ended after 3 of 10 body bytes$/);
  t.is(t.throws(() => d.end()), err!);
  t.is(t.throws(() => d.feed(bytes('x'), 0, 1, noData)), err!);
});

const eofCases: [string, string, RegExp][] = [
  ['before any size', '', /inside the size line of chunk 1/],
  ['inside a size line', '5', /inside the size line of chunk 1/],
  ['inside an extension', '5;a="b', /inside the size line of chunk 1/],
  ['inside chunk data', '5\r\nhel', /inside the data of chunk 1 \(2 bytes missing\)/],
  ['before the CRLF after data', '5\r\nhello', /before the CRLF after chunk 1/],
  ['between CR and LF after data', '5\r\nhello\r', /before the CRLF after chunk 1/],
  ['inside the second size line', '5\r\nhello\r\n1', /inside the size line of chunk 2/],
  ['after the last chunk (missing final CRLF)', '5\r\nhello\r\n0\r\n', /inside the trailer section/],
  ['inside a trailer', '0\r\nX: a\r\n', /inside the trailer section/],
  ['between the final CR and LF', '0\r\n\r', /inside the trailer section/],
];

for (const [title, input, message] of eofCases) {
  test(`chunked end() ${title}: HPE_UNEXPECTED_EOF`, (t) => {
    const buf = bytes(input);
    const out = decode(CHUNKED, buf, whole(buf), true);
    t.truthy(out.error);
    t.regex(out.error!, /^HPE_UNEXPECTED_EOF 400 the stream ended /);
    t.regex(out.error!, message);
  });
}

// ---- chunked: accepted --------------------------------------------------------------------------------

const validChunked: [string, string, string, string[] | undefined][] = [
  ['one chunk', '5\r\nhello\r\n0\r\n\r\n', 'hello', undefined],
  ['several chunks, upper- and lower-case hex', '1\r\na\r\nA\r\n0123456789\r\nb\r\nabcdefghijk\r\n0\r\n\r\n', 'a0123456789abcdefghijk', undefined],
  ['leading zeros', '0005\r\nhello\r\n000\r\n\r\n', 'hello', undefined],
  ['no data chunks', '0\r\n\r\n', '', undefined],
  ['CR, LF and "0\\r\\n\\r\\n" inside data', '8\r\n\r\n0\r\n\r\nx\r\n0\r\n\r\n', '\r\n0\r\n\r\nx', undefined],
  ['extensions', '5;name\r\nhello\r\n3;a=b;c=d\r\nabc\r\n0;last=yes\r\n\r\n', 'helloabc', undefined],
  ['a quoted extension with escapes', '5;a="q \\" ;x\\\\"\r\nhello\r\n0\r\n\r\n', 'hello', undefined],
  ['BWS around ";" and "="', '5 \t;\ta = b ; c\t=\t"d" ;e\r\nhello\r\n0\r\n\r\n', 'hello', undefined],
  ['obs-text in a quoted extension', '2;a="\xe9\xff"\r\n\xe9\xff\r\n0\r\n\r\n', '\xe9\xff', undefined],
  ['trailers', '5\r\nhello\r\n0\r\nX-Checksum: abc\r\ngrpc-status:0\r\nEmpty:\r\n\r\n', 'hello', ['X-Checksum', 'abc', 'grpc-status', '0', 'Empty', '']],
  ['trailers trimmed, obs-text kept', '0\r\nX:  a \xe9\t\r\n\r\n', '', ['X', 'a \xe9']],
  ['a binary body', '4\r\n\x00\x01\xfe\xff\r\n0\r\n\r\n', '\x00\x01\xfe\xff', undefined],
  ['a long chunk', `400\r\n${'z'.repeat(1024)}\r\n0\r\n\r\n`, 'z'.repeat(1024), undefined],
];

for (const [title, input, body, trailers] of validChunked) {
  test(`chunked: ${title}`, (t) => {
    const next = 'GET /next HTTP/1.1\r\n';
    const buf = bytes(input + next);
    const out = decode(CHUNKED, buf, whole(buf));
    t.is(out.error, undefined);
    t.is(out.body, body);
    t.deepEqual(out.trailers, trailers);
    t.is(out.consumed, input.length, 'the next message is left alone');
    t.is(out.received, body.length);
  });
}

test('chunked: a size of 2^53 - 1 is read; the data would follow', (t) => {
  const d = new BodyDecoder(CHUNKED);
  const buf = bytes('1fffffffffffff\r\nab');
  const chunks: Buffer[] = [];
  t.is(d.feed(buf, 0, buf.length, (c) => chunks.push(c)), buf.length);
  t.is(Buffer.concat(chunks).toString(), 'ab');
  rejects(t, () => d.end(), 'HPE_UNEXPECTED_EOF', 400, /9007199254740989 bytes missing/);
});

test('chunked: data is handed on as views of the input', (t) => {
  const input = bytes('3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n');
  const d = new BodyDecoder(CHUNKED);
  const chunks: Buffer[] = [];
  t.is(d.feed(input, 0, input.length, (c) => chunks.push(c)), input.length);
  t.deepEqual(
    chunks.map((c) => [c.toString(), c.buffer === input.buffer, c.byteOffset - input.byteOffset]),
    [
      ['abc', true, 3],
      ['defg', true, 11],
    ],
  );
});

test(`chunked: trailers up to ${DEFAULT_MAX_TRAILER_BYTES} bytes by default`, (t) => {
  // A trailer section of `n` bytes, its final CRLF included (the last chunk's "0\r\n" is not part of it).
  const fill = (n: number): string => `0\r\nX: ${'t'.repeat(n - 7)}\r\n\r\n`;
  const fits = bytes(fill(DEFAULT_MAX_TRAILER_BYTES));
  const out = decode(CHUNKED, fits, byteByByte(fits));
  t.is(out.error, undefined);
  t.is(out.trailers?.[1]?.length, DEFAULT_MAX_TRAILER_BYTES - 7);
  const over = bytes(fill(DEFAULT_MAX_TRAILER_BYTES + 1));
  t.regex(decode(CHUNKED, over, whole(over)).error!, /^HPE_TRAILERS_TOO_LARGE 431 trailer section larger than 16384 bytes$/);
});

test('chunked: a smaller trailer limit', (t) => {
  const buf = bytes('0\r\nX: 12345\r\n\r\n');
  t.is(decode(CHUNKED, buf, whole(buf), false, 12).error, undefined);
  t.regex(decode(CHUNKED, buf, whole(buf), false, 11).error!, /^HPE_TRAILERS_TOO_LARGE 431 trailer section larger than 11 bytes/);
});

test('reset: one decoder for several messages of a connection', (t) => {
  const d = new BodyDecoder(CHUNKED);
  const stream = bytes('3\r\nabc\r\n0\r\nT: 1\r\n\r\nhello2\r\nhi\r\n0\r\n\r\nrest');
  const got: string[] = [];
  let pos = d.feed(stream, 0, stream.length, (c) => got.push(c.toString()));
  t.true(d.done);
  t.deepEqual(d.trailers, ['T', '1']);
  d.reset({ kind: 'length', length: 5 });
  t.is(d.received, 0);
  t.is(d.trailers, undefined);
  pos = d.feed(stream, pos, stream.length, (c) => got.push(c.toString()));
  t.true(d.done);
  d.reset(CHUNKED);
  pos = d.feed(stream, pos, stream.length, (c) => got.push(c.toString()));
  t.true(d.done);
  t.is(d.trailers, undefined);
  t.deepEqual(got, ['abc', 'hello', 'hi']);
  t.is(stream.toString('latin1', pos), 'rest');
});

test('reset clears a failure', (t) => {
  const d = new BodyDecoder(CHUNKED);
  rejects(t, () => d.feed(bytes('x'), 0, 1, noData), 'HPE_INVALID_CHUNK', 400);
  rejects(t, () => d.feed(bytes('5'), 0, 1, noData), 'HPE_INVALID_CHUNK', 400, /size expected, found byte 0x78/);
  d.reset(CHUNKED);
  const buf = bytes('1\r\nz\r\n0\r\n\r\n');
  const got: string[] = [];
  t.is(d.feed(buf, 0, buf.length, (c) => got.push(c.toString())), buf.length);
  t.deepEqual(got, ['z']);
});

// ---- chunked: rejected --------------------------------------------------------------------------------

const invalidChunked: [string, string, Http1ErrorCode, number, RegExp][] = [
  ['a chunk size of 0x5', '0x5\r\nhello\r\n0\r\n\r\n', 'HPE_INVALID_CHUNK', 400, /chunk 1: byte 0x78 after the size/],
  ['an empty size', '\r\nhello\r\n0\r\n\r\n', 'HPE_INVALID_CHUNK', 400, /chunk 1: size expected, found byte 0x0d/],
  ['a non-hex size', 'g\r\n', 'HPE_INVALID_CHUNK', 400, /size expected, found byte 0x67/],
  ['a negative size', '-5\r\nhello\r\n', 'HPE_INVALID_CHUNK', 400, /size expected, found byte 0x2d/],
  ['a size with a sign', '+5\r\nhello\r\n', 'HPE_INVALID_CHUNK', 400, /size expected, found byte 0x2b/],
  ['SP before the size', ' 5\r\nhello\r\n', 'HPE_INVALID_CHUNK', 400, /size expected, found byte 0x20/],
  ['trailing garbage after the size', '5x\r\nhello\r\n0\r\n\r\n', 'HPE_INVALID_CHUNK', 400, /byte 0x78 after the size/],
  ['whitespace then garbage after the size', '5 x\r\nhello\r\n', 'HPE_INVALID_CHUNK', 400, /after whitespace following the size/],
  ['trailing whitespace after the size', '5 \r\nhello\r\n', 'HPE_INVALID_CHUNK', 400, /byte 0x0d after whitespace following the size/],
  ['a bare LF ending the size line', '5\nhello\r\n0\r\n\r\n', 'HPE_INVALID_CHUNK', 400, /byte 0x0a after the size/],
  ['a bare CR ending the size line', '5\rhello\r\n', 'HPE_INVALID_CHUNK', 400, /size line ends with a bare CR/],
  ['data longer than its size', '5\r\nhello!\r\n0\r\n\r\n', 'HPE_INVALID_CHUNK', 400, /chunk 1: data not followed by CRLF \(byte 0x21 after 5 bytes\)/],
  ['data shorter than its size', '5\r\nhell\r\n0\r\n\r\n', 'HPE_INVALID_CHUNK', 400, /data not followed by CRLF/],
  ['a bare LF after data', '5\r\nhello\n0\r\n\r\n', 'HPE_INVALID_CHUNK', 400, /data not followed by CRLF \(byte 0x0a/],
  ['a bare CR after data', '5\r\nhello\r0\r\n\r\n', 'HPE_INVALID_CHUNK', 400, /data followed by a bare CR/],
  ['a size above 2^53 - 1', '20000000000000\r\n', 'HPE_INVALID_CHUNK', 400, /size larger than 2\^53 - 1/],
  ['a size of 17 hex digits', 'fffffffffffffffff\r\n', 'HPE_INVALID_CHUNK', 400, /size larger than 2\^53 - 1/],
  ['an empty extension', '5;\r\nhello\r\n', 'HPE_INVALID_CHUNK', 400, /byte 0x0d where an extension name should start/],
  ['an extension name that is not a token', '5;a(b\r\nhello\r\n', 'HPE_INVALID_CHUNK', 400, /byte 0x28 in an extension name/],
  ['an empty extension value', '5;a=\r\nhello\r\n', 'HPE_INVALID_CHUNK', 400, /where an extension value should start/],
  ['two words for an extension name', '5;a b\r\nhello\r\n', 'HPE_INVALID_CHUNK', 400, /after whitespace following an extension name/],
  ['two words for an extension value', '5;a=b c\r\nhello\r\n', 'HPE_INVALID_CHUNK', 400, /after whitespace following an extension value/],
  ['trailing whitespace after an extension', '5;a=b \r\nhello\r\n', 'HPE_INVALID_CHUNK', 400, /byte 0x0d after whitespace following an extension value/],
  ['an unterminated quoted value', '5;a="b\r\nhello\r\n', 'HPE_INVALID_CHUNK', 400, /byte 0x0d in a quoted extension value/],
  ['NUL in a quoted value', '5;a="\x00"\r\nhello\r\n', 'HPE_INVALID_CHUNK', 400, /byte 0x00 in a quoted/],
  ['an escaped CR in a quoted value', '5;a="\\\r"\r\nhello\r\n', 'HPE_INVALID_CHUNK', 400, /byte 0x0d escaped/],
  ['a byte after a quoted value', '5;a="b"c\r\nhello\r\n', 'HPE_INVALID_CHUNK', 400, /byte 0x63 after a quoted extension value/],
  ['a bare LF in an extension', '5;a\nhello\r\n', 'HPE_INVALID_CHUNK', 400, /byte 0x0a in an extension name/],
  [`a size line over ${MAX_CHUNK_SIZE_LINE} bytes`, `5;a=${'b'.repeat(MAX_CHUNK_SIZE_LINE)}\r\nhello\r\n`, 'HPE_INVALID_CHUNK', 400, /size line longer than 4096 bytes/],
  ['leading zeros over the size-line limit', `${'0'.repeat(MAX_CHUNK_SIZE_LINE + 1)}5\r\n`, 'HPE_INVALID_CHUNK', 400, /size line longer than 4096 bytes/],
  ['an error in a later chunk says which', '1\r\na\r\n1\r\nb\r\nz\r\n', 'HPE_INVALID_CHUNK', 400, /^chunk 3: size expected, found byte 0x7a$/],
  ['a missing final CRLF, then garbage', '5\r\nhello\r\n0\r\n\rX', 'HPE_INVALID_HEADER', 400, /bare CR in the trailer section/],
  ['a bare LF ending the trailer section', '0\r\nX: a\r\n\n', 'HPE_INVALID_HEADER', 400, /bare LF in the trailer section/],
  ['a bare LF in a trailer', '0\r\nX: a\nb\r\n\r\n', 'HPE_INVALID_HEADER', 400, /bare LF in the trailer section/],
  ['a bare CR in a trailer', '0\r\nX: a\rb\r\n\r\n', 'HPE_INVALID_HEADER', 400, /bare CR in the trailer section/],
  ['a bare LF right after the last chunk', '0\r\n\n', 'HPE_INVALID_HEADER', 400, /bare LF/],
  ['a trailer without a colon', '0\r\nNoColon\r\n\r\n', 'HPE_INVALID_HEADER', 400, /trailer 1: "NoColon" has no colon/],
  ['obs-fold in trailers', '0\r\nX: a\r\n b\r\n\r\n', 'HPE_INVALID_HEADER', 400, /trailer 2: line starts with whitespace/],
  ['NUL in a trailer value', '0\r\nX: a\x00\r\n\r\n', 'HPE_INVALID_HEADER', 400, /trailer 1 \("X"\): invalid byte 0x00/],
  ['whitespace before a trailer colon', '0\r\nX : a\r\n\r\n', 'HPE_INVALID_HEADER', 400, /whitespace between the field name and the colon/],
  ['more than 100 trailer fields', `0\r\n${'T: v\r\n'.repeat(101)}\r\n`, 'HPE_TRAILERS_TOO_LARGE', 431, /more than 100 trailer fields/],
];

for (const [title, input, code, status, message] of invalidChunked) {
  test(`chunked rejected: ${title}`, (t) => {
    const d = new BodyDecoder(CHUNKED);
    const buf = bytes(input);
    const err = rejects(t, () => d.feed(buf, 0, buf.length, () => undefined), code, status, message);
    t.false(d.done);
    t.is(t.throws(() => d.feed(buf, 0, buf.length, noData)), err!, 'a failed decoder keeps failing');
  });
}

test('a size line of exactly the limit is accepted', (t) => {
  // The limit counts the whole line: digits, extensions and CRLF.
  const line = `5;a=${'b'.repeat(MAX_CHUNK_SIZE_LINE - 6)}\r\n`;
  t.is(line.length, MAX_CHUNK_SIZE_LINE);
  const buf = bytes(`${line}hello\r\n0\r\n\r\n`);
  t.is(decode(CHUNKED, buf, whole(buf)).body, 'hello');
});

test('an exception from onData propagates and is not taken for a decode error', (t) => {
  const d = new BodyDecoder({ kind: 'length', length: 4 });
  const boom = new Error('consumer failed');
  t.is(
    t.throws(() =>
      d.feed(bytes('ab'), 0, 2, () => {
        throw boom;
      }),
    ),
    boom,
  );
  const got: string[] = [];
  d.feed(bytes('cd'), 0, 2, (c) => got.push(c.toString()));
  t.deepEqual(got, ['cd']);
  t.true(d.done);
});

// ---- any split gives the same outcome -----------------------------------------------------------------

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

const splitInputs: [string, Framing, string, boolean][] = [
  ...validChunked.map(([title, input]): [string, Framing, string, boolean] => [title, CHUNKED, `${input}NEXT`, false]),
  ...invalidChunked.filter(([, input]) => input.length < 600).map(([title, input]): [string, Framing, string, boolean] => [title, CHUNKED, input, false]),
  ...eofCases.map(([title, input]): [string, Framing, string, boolean] => [`EOF ${title}`, CHUNKED, input, true]),
  ['length', { kind: 'length', length: 7 }, 'abcdefgNEXT', false],
  ['close', { kind: 'close' }, 'ab\r\ncd', true],
];

test('body decoding: byte by byte and random splits give what feeding it whole gives', (t) => {
  const random = prng(0xb0d1);
  for (const [title, framing, input, eof] of splitInputs) {
    const buf = bytes(input);
    const expected = decode(framing, buf, whole(buf), eof);
    t.deepEqual(decode(framing, buf, byteByByte(buf), eof), expected, `${title}: byte by byte`);
    for (let round = 0; round < 40; round++) {
      const ends: number[] = [];
      for (let e = 0; e < buf.length; ) ends.push((e = Math.min(buf.length, e + 1 + Math.floor(random() * 6))));
      t.deepEqual(decode(framing, buf, ends, eof), expected, `${title}: split at ${ends.join(',')}`);
    }
    // Every single split point.
    for (let cut = 1; cut < buf.length; cut++) t.deepEqual(decode(framing, buf, [cut, buf.length], eof), expected, `${title}: cut at ${cut}`);
  }
});
