/**
 * The 64-bit hash of consistent load balancing (ring hash, Maglev, hash policies): FNV-1a over UTF-16 code
 * units, folded into a 52-bit safe integer so that it stays a plain number. Not Envoy's xxHash: the
 * placement of keys differs from Envoy's, the properties (stable, uniform) do not.
 */
const FNV_OFFSET_HI = 0xcbf29ce4;
const FNV_OFFSET_LO = 0x84222325;

/** A 52-bit hash of `s` (a non-negative safe integer). */
export function hash52(s: string, seed = 0): number {
  // 64-bit FNV-1a in two 32-bit halves (prime 2^40 + 0x1b3).
  let hi = FNV_OFFSET_HI ^ seed;
  let lo = FNV_OFFSET_LO;
  for (let i = 0; i < s.length; i++) {
    lo ^= s.charCodeAt(i);
    // (hi:lo) * 0x100000001b3 = (hi:lo) * 0x1b3 + (lo << 40)
    const loMul = lo * 0x1b3;
    const carry = Math.floor(loMul / 0x100000000);
    hi = (Math.imul(hi, 0x1b3) + carry + ((lo << 8) >>> 0)) >>> 0;
    lo = loMul >>> 0;
  }
  // Finalize (avalanche) so that similar keys spread over the ring.
  hi = Math.imul(hi ^ (hi >>> 16), 0x85ebca6b) >>> 0;
  lo = Math.imul(lo ^ (lo >>> 13), 0xc2b2ae35) >>> 0;
  hi = (hi ^ lo) >>> 0;
  return (hi & 0xfffff) * 0x100000000 + lo;
}

/** Combines the hashes of several policies (Envoy rotates and XORs; any mixing that keeps order works). */
export function combineHash(a: number, b: number): number {
  return hash52(`${a}:${b}`);
}
