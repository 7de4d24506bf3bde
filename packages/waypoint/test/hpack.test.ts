/**
 * HPACK (`http2/hpack/`) against RFC 7541's own examples (Appendix C, dynamic table states included), its
 * error cases, and round trips; interop with nghttp2 is covered by `http2-server.test.ts`, where Node's
 * client, curl and h2load encode for our decoder and decode our encoder's blocks.
 */
import test from 'ava';
import { decodeInteger, decoded, encodeInteger, HpackDecoder, HpackEncoder, HpackError, huffmanDecode, huffmanEncode, huffmanEncodedLength } from '../src/http2/hpack/index.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function pairs(flat: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}

function decodeAll(d: HpackDecoder, block: Buffer): [string, string][] {
  return pairs(d.decode(block, 0, block.length));
}

test('C.1: integers at a 5-bit prefix (10, 1337) and at an 8-bit prefix (42)', (t) => {
  const out = Buffer.alloc(8);
  t.deepEqual(out.subarray(0, encodeInteger(out, 0, 10, 5, 0)), hex('0a'));
  t.deepEqual(out.subarray(0, encodeInteger(out, 0, 1337, 5, 0)), hex('1f9a0a'));
  t.deepEqual(out.subarray(0, encodeInteger(out, 0, 42, 8, 0)), hex('2a'));
  const b = hex('1f9a0a');
  t.is(decodeInteger(b, 0, b.length, 5), 3);
  t.is(decoded.value, 1337);
});

test('integers round-trip at every prefix size, and bad ones are refused', (t) => {
  const out = Buffer.alloc(16);
  for (let prefix = 1; prefix <= 8; prefix++) {
    for (const v of [0, (1 << prefix) - 2, (1 << prefix) - 1, 1 << prefix, 127, 128, 16_383, 16_384, 2 ** 31 - 1]) {
      const end = encodeInteger(out, 0, v, prefix, 0);
      t.is(decodeInteger(out, 0, end, prefix), end);
      t.is(decoded.value, v, `prefix ${prefix} value ${v}`);
    }
  }
  const cut = hex('1f9a');
  t.throws(() => decodeInteger(cut, 0, cut.length, 5), { instanceOf: HpackError, message: /cut off/ });
  const huge = hex('1fffffffff0f');
  t.throws(() => decodeInteger(huge, 0, huge.length, 5), { instanceOf: HpackError, message: /over 2\^31-1/ });
});

test('C.2: a literal with indexing, without, never indexed, and an indexed field', (t) => {
  const d = new HpackDecoder();
  t.deepEqual(decodeAll(d, hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572')), [['custom-key', 'custom-header']]);
  t.is(d.tableSize, 55);
  t.deepEqual(decodeAll(d, hex('040c 2f73 616d 706c 652f 7061 7468')), [[':path', '/sample/path']]);
  t.deepEqual(decodeAll(d, hex('1008 7061 7373 776f 7264 0673 6563 7265 74')), [['password', 'secret']]);
  t.deepEqual(decodeAll(d, hex('82')), [[':method', 'GET']]);
  t.is(d.tableSize, 55, 'only the first was indexed');
});

test('C.3 and C.4: three requests on one decoder, without and with Huffman, leave the appendix\'s table', (t) => {
  for (const [label, blocks] of [
    ['C.3', ['8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', '8286 84be 5808 6e6f 2d63 6163 6865', '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65']],
    ['C.4', ['8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', '8286 84be 5886 a8eb 1064 9cbf', '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf']],
  ] as const) {
    const d = new HpackDecoder();
    t.deepEqual(decodeAll(d, hex(blocks[0])), [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']], label);
    t.is(d.tableSize, 57);
    t.deepEqual(decodeAll(d, hex(blocks[1])), [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']], label);
    t.is(d.tableSize, 110);
    t.deepEqual(decodeAll(d, hex(blocks[2])), [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']], label);
    t.is(d.tableSize, 164);
    t.deepEqual(d.tableEntries(), [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']]);
  }
});

test('C.5 and C.6: responses on a 256-byte table evict the oldest entries', (t) => {
  for (const [label, blocks] of [
    [
      'C.5',
      [
        '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
        '4803 3330 37c1 c0bf',
        '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31',
      ],
    ],
    [
      'C.6',
      [
        '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
        '4883 640e ffc1 c0bf',
        '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
      ],
    ],
  ] as const) {
    const d = new HpackDecoder(256);
    t.deepEqual(decodeAll(d, hex(blocks[0])), [[':status', '302'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'], ['location', 'https://www.example.com']], label);
    t.is(d.tableSize, 222);
    t.deepEqual(decodeAll(d, hex(blocks[1])), [[':status', '307'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'], ['location', 'https://www.example.com']], label);
    t.is(d.tableSize, 222);
    t.deepEqual(
      decodeAll(d, hex(blocks[2])),
      [
        [':status', '200'],
        ['cache-control', 'private'],
        ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'],
        ['location', 'https://www.example.com'],
        ['content-encoding', 'gzip'],
        ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
      ],
      label,
    );
    t.is(d.tableSize, 215);
    t.deepEqual(d.tableEntries().map(([n]) => n), ['set-cookie', 'content-encoding', 'date']);
  }
});

test('Huffman: every octet round-trips, and seeded random strings do too', (t) => {
  const all = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i));
  const out = Buffer.alloc(huffmanEncodedLength(all));
  t.is(huffmanEncode(all, out, 0), out.length);
  t.is(huffmanDecode(out, 0, out.length), all);
  let seed = 42;
  const rand = (): number => ((seed = (seed * 1_103_515_245 + 12_345) >>> 0) >>> 16) & 0xff;
  for (let n = 0; n < 200; n++) {
    const s = String.fromCharCode(...Array.from({ length: n }, rand));
    const b = Buffer.alloc(huffmanEncodedLength(s));
    t.is(huffmanEncode(s, b, 0), b.length);
    t.is(huffmanDecode(b, 0, b.length), s);
  }
  // RFC 7541 C.4.1's "www.example.com".
  const w = Buffer.alloc(huffmanEncodedLength('www.example.com'));
  huffmanEncode('www.example.com', w, 0);
  t.deepEqual(w, hex('f1e3 c2e5 f23a 6ba0 ab90 f4ff'));
});

test('Huffman: EOS inside, padding over 7 bits, and zero padding are refused', (t) => {
  // EOS (30 ones) then padding.
  const eos = hex('ffff ffff');
  t.throws(() => huffmanDecode(eos, 0, eos.length), { instanceOf: HpackError, message: /EOS/ });
  // 'a' (00011) then 11 one-bits: a byte of padding too many.
  const long = hex('1fff');
  t.throws(() => huffmanDecode(long, 0, long.length), { instanceOf: HpackError, message: /bits of padding/ });
  // 'a' (00011) then 000.
  const zeros = hex('18');
  t.throws(() => huffmanDecode(zeros, 0, zeros.length), { instanceOf: HpackError, message: /zero bits/ });
});

test('decoder errors: index 0, an index past the table, a size update too big or too late, a cut literal', (t) => {
  const cases: [string, RegExp][] = [
    ['80', /index 0/],
    ['be', /past the dynamic table/],
    ['3fe21f', /update to 4097, over the 4096 allowed/],
    ['8220', /after a field/],
    ['400a 6375 7374', /runs past the block's end/],
    ['40', /missing/],
  ];
  for (const [block, message] of cases) {
    const b = hex(block);
    const err = t.throws(() => new HpackDecoder().decode(b, 0, b.length), { instanceOf: HpackError, message });
    t.is(err?.code, 'HPACK_COMPRESSION_ERROR');
  }
});

test('a header list over the limit throws HPACK_HEADER_LIST_TOO_LARGE after indexing it, so the next block decodes right', (t) => {
  const d = new HpackDecoder(4096, 100);
  const big = hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572 400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572');
  const err = t.throws(() => d.decode(big, 0, big.length), { instanceOf: HpackError });
  t.is(err?.code, 'HPACK_HEADER_LIST_TOO_LARGE');
  t.is(d.tableSize, 110, 'both literals were indexed');
  t.deepEqual(decodeAll(d, hex('be')), [['custom-key', 'custom-header']]);
});

test('the encoder: static hits are one octet, other fields literals our decoder reads back; a smaller peer table is signalled', (t) => {
  const e = new HpackEncoder();
  const fields = [':status', '200', 'content-type', 'text/plain', 'x-custom', 'v'.repeat(300), 'server', 'ambit', ':status', '404'];
  const out = Buffer.alloc(e.encodedLength(fields));
  const end = e.encode(fields, out, 0);
  t.is(out[0], 0x88, ':status 200 is static index 8');
  t.deepEqual(new HpackDecoder().decode(out, 0, end), fields);
  e.setMaxTableSize(0);
  const again = Buffer.alloc(e.encodedLength([':status', '200']));
  const n = e.encode([':status', '200'], again, 0);
  t.deepEqual(again.subarray(0, n), hex('2088'), 'a size update to 0 first');
  const third = Buffer.alloc(e.encodedLength([':status', '200']));
  t.deepEqual(third.subarray(0, e.encode([':status', '200'], third, 0)), hex('88'), 'and only once');
});
