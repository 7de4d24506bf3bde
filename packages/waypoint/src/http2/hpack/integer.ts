/**
 * HPACK's prefix integers (RFC 7541 §5.1). Decoding returns the offset after the integer and leaves the
 * value in `decoded.value`, so that the hot path allocates nothing.
 */
import { HpackError } from './errors.js';

/** The value of the last `decodeInteger` (read it before the next call). */
export const decoded = { value: 0 };

/** The largest value accepted: anything bigger is an attack or a bug (and past 32-bit arithmetic). */
const MAX_VALUE = 0x7fff_ffff;

/** Decodes an integer whose `prefixBits`-bit prefix is in `buf[offset]`; returns the next offset. */
export function decodeInteger(buf: Uint8Array, offset: number, end: number, prefixBits: number): number {
  const mask = (1 << prefixBits) - 1;
  let value = buf[offset]! & mask;
  let o = offset + 1;
  if (value < mask) {
    decoded.value = value;
    return o;
  }
  let shift = 0;
  for (;;) {
    if (o >= end) throw new HpackError('HPACK_COMPRESSION_ERROR', `an integer at offset ${offset} is cut off`);
    const b = buf[o++]!;
    value += (b & 0x7f) * 2 ** shift;
    if (value > MAX_VALUE) throw new HpackError('HPACK_COMPRESSION_ERROR', `an integer at offset ${offset} is over 2^31-1`);
    if ((b & 0x80) === 0) break;
    shift += 7;
  }
  decoded.value = value;
  return o;
}

/** Writes `value` with a `prefixBits`-bit prefix, OR-ing `firstByteFlags` into the first octet; returns the next offset. */
export function encodeInteger(out: Uint8Array, offset: number, value: number, prefixBits: number, firstByteFlags: number): number {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) {
    out[offset] = firstByteFlags | value;
    return offset + 1;
  }
  out[offset] = firstByteFlags | mask;
  let o = offset + 1;
  let rest = value - mask;
  while (rest >= 0x80) {
    out[o++] = (rest & 0x7f) | 0x80;
    rest = Math.floor(rest / 0x80);
  }
  out[o++] = rest;
  return o;
}
