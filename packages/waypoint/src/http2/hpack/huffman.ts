/**
 * The Huffman code of HPACK string literals (RFC 7541 §5.2, Appendix B).
 *
 * The code is canonical (within a length, codes rise with the symbol; each length starts where the
 * previous one ended, shifted), so only the 257 code lengths are written down here, in Appendix B's order;
 * the codes are derived from them at load, and checked against a few of the appendix's own codes so that
 * a mistyped length fails at once rather than on some header later.
 *
 * Decoding walks the canonical code a bit at a time (at most 30 steps per symbol, 5 to 8 for the
 * characters headers are made of). That is fast enough here: nghttp2 and other encoders index repeated
 * fields in the dynamic table, so a connection decodes Huffman strings mostly for its first request.
 */
import { HpackError } from './errors.js';

// prettier-ignore
const CODE_LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, //   0-15
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, //  16-31
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, //           ' ' .. '/'
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, //              '0' .. '?'
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, //                '@' .. 'O'
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, //             'P' .. '_'
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, //                '`' .. 'o'
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, //            'p' .. 127
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 128-143
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 144-159
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 160-175
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 176-191
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 192-207
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 208-223
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 224-239
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 240-255
  30, //                                                              EOS (256)
];

const EOS = 256;
const MAX_LENGTH = 30;

/** `CODES[sym]`: the symbol's code, right-aligned in `CODE_LENGTHS[sym]` bits. */
const CODES = new Uint32Array(257);
/** Per length: the first code of that length, how many codes have it, and where its symbols start in `SORTED`. */
const FIRST_CODE = new Int32Array(MAX_LENGTH + 1);
const COUNT = new Int32Array(MAX_LENGTH + 1);
const OFFSET = new Int32Array(MAX_LENGTH + 1);
/** Symbols sorted by (length, symbol): the canonical order. */
const SORTED = new Uint16Array(257);

(function deriveCodes(): void {
  if (CODE_LENGTHS.length !== 257) throw new Error(`HPACK Huffman table has ${CODE_LENGTHS.length} lengths, not 257`);
  for (const len of CODE_LENGTHS) COUNT[len]!++;
  let code = 0;
  let offset = 0;
  for (let len = 1; len <= MAX_LENGTH; len++) {
    FIRST_CODE[len] = code;
    OFFSET[len] = offset;
    offset += COUNT[len]!;
    code = (code + COUNT[len]!) * 2;
  }
  const next = Int32Array.from(FIRST_CODE);
  const fill = Int32Array.from(OFFSET);
  for (let len = 1; len <= MAX_LENGTH; len++) {
    for (let sym = 0; sym < 257; sym++) {
      if (CODE_LENGTHS[sym] !== len) continue;
      CODES[sym] = next[len]!++;
      SORTED[fill[len]!++] = sym;
    }
  }
  // A complete prefix code ends exactly at 2^30 (Kraft's equality), and these are the appendix's codes.
  const checks: readonly (readonly [number, number])[] = [[48, 0x0], [97, 0x3], [32, 0x14], [0, 0x1ff8], [255, 0x3ffffee], [EOS, 0x3fffffff]];
  for (const [sym, expected] of checks) {
    if (CODES[sym] !== expected) throw new Error(`HPACK Huffman table: symbol ${sym} derives code 0x${CODES[sym]!.toString(16)}, Appendix B has 0x${expected.toString(16)}`);
  }
})();

/** Decodes `buf[start..end)` into a latin1 string (one character per octet). */
export function huffmanDecode(buf: Uint8Array, start: number, end: number): string {
  let out = '';
  let code = 0;
  let len = 0;
  for (let i = start; i < end; i++) {
    const byte = buf[i]!;
    for (let bit = 7; bit >= 0; bit--) {
      code = (code << 1) | ((byte >>> bit) & 1);
      len++;
      const index = code - FIRST_CODE[len]!;
      if (index < COUNT[len]! && index >= 0) {
        const sym = SORTED[OFFSET[len]! + index]!;
        if (sym === EOS) throw new HpackError('HPACK_COMPRESSION_ERROR', 'a Huffman string contains the EOS symbol');
        out += String.fromCharCode(sym);
        code = 0;
        len = 0;
      } else if (len === MAX_LENGTH) {
        throw new HpackError('HPACK_COMPRESSION_ERROR', 'a Huffman string has an invalid code');
      }
    }
  }
  // What is left must be padding: fewer than 8 bits, all ones (a prefix of EOS).
  if (len > 7) throw new HpackError('HPACK_COMPRESSION_ERROR', `a Huffman string ends with ${len} bits of padding`);
  if (code !== (1 << len) - 1) throw new HpackError('HPACK_COMPRESSION_ERROR', 'a Huffman string is padded with zero bits');
  return out;
}

/** The octets `s` (latin1) takes Huffman-coded. */
export function huffmanEncodedLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += CODE_LENGTHS[s.charCodeAt(i) & 0xff]!;
  return (bits + 7) >>> 3;
}

/** Writes `s` (latin1) Huffman-coded at `out[offset]`, padded with ones; returns the offset after it. */
export function huffmanEncode(s: string, out: Uint8Array, offset: number): number {
  let acc = 0;
  let bits = 0;
  let o = offset;
  for (let i = 0; i < s.length; i++) {
    const sym = s.charCodeAt(i) & 0xff;
    const len = CODE_LENGTHS[sym]!;
    let code = CODES[sym]!;
    let left = len;
    // Feed the code in pieces that keep the accumulator under 32 bits.
    while (left > 0) {
      const take = Math.min(left, 24 - bits > 0 ? 24 - bits : 8);
      const piece = (code >>> (left - take)) & ((1 << take) - 1);
      acc = (acc << take) | piece;
      bits += take;
      left -= take;
      code &= left === 0 ? 0 : (1 << left) - 1;
      while (bits >= 8) {
        bits -= 8;
        out[o++] = (acc >>> bits) & 0xff;
      }
      acc &= (1 << bits) - 1;
    }
  }
  if (bits > 0) out[o++] = ((acc << (8 - bits)) | ((1 << (8 - bits)) - 1)) & 0xff;
  return o;
}
