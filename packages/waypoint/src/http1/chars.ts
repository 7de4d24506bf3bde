/**
 * Byte classes of RFC 9110/9112 as lookup tables, so that parse loops test a byte with one load and a mask
 * instead of a chain of comparisons or a regex.
 */

export const CR = 13;
export const LF = 10;
export const SP = 32;
export const HTAB = 9;
export const COLON = 58;

/** tchar (RFC 9110 §5.6.2): the bytes of a token (method, field name, transfer coding, chunk-ext name). */
export const TOKEN = 1;
/** field-vchar, SP or HTAB (RFC 9110 §5.5): HTAB, 0x20–0x7E and obs-text 0x80–0xFF. No other CTL, no DEL. */
export const VALUE = 2;
/** A request-target byte: visible ASCII 0x21–0x7E. */
export const TARGET = 4;
/** qdtext of a quoted-string (RFC 9110 §5.6.4): HTAB, SP, 0x21, 0x23–0x5B, 0x5D–0x7E, obs-text. */
export const QDTEXT = 8;

/** Bit set per byte value, of the classes above. */
export const CLASS: Uint8Array = buildClasses();

/** The value of a hex digit, or -1. */
export const HEX: Int8Array = buildHex();

function buildClasses(): Uint8Array {
  const t = new Uint8Array(256);
  const tokenPunct = "!#$%&'*+-.^_`|~";
  for (let c = 0x30; c <= 0x39; c++) t[c]! |= TOKEN;
  for (let c = 0x41; c <= 0x5a; c++) t[c]! |= TOKEN;
  for (let c = 0x61; c <= 0x7a; c++) t[c]! |= TOKEN;
  for (let i = 0; i < tokenPunct.length; i++) t[tokenPunct.charCodeAt(i)]! |= TOKEN;
  t[HTAB]! |= VALUE | QDTEXT;
  for (let c = 0x20; c <= 0x7e; c++) t[c]! |= VALUE;
  for (let c = 0x80; c <= 0xff; c++) t[c]! |= VALUE | QDTEXT;
  for (let c = 0x21; c <= 0x7e; c++) t[c]! |= TARGET;
  for (let c = 0x20; c <= 0x7e; c++) if (c !== 0x22 && c !== 0x5c) t[c]! |= QDTEXT;
  return t;
}

function buildHex(): Int8Array {
  const t = new Int8Array(256).fill(-1);
  for (let d = 0; d < 10; d++) t[0x30 + d] = d;
  for (let d = 0; d < 6; d++) {
    t[0x41 + d] = 10 + d;
    t[0x61 + d] = 10 + d;
  }
  return t;
}

/** Whether `s` is a non-empty token. */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || (CLASS[c]! & TOKEN) === 0) return false;
  }
  return true;
}

/** Whether `s` equals `lower` (lower-case letters, digits and punctuation) ignoring ASCII case, without allocating. */
export function equalsIgnoreCase(s: string, lower: string): boolean {
  if (s.length !== lower.length) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const l = lower.charCodeAt(i);
    // Only ASCII upper-case letters fold; `c | 0x20` alone would also fold e.g. CR (0x0D) onto `-` (0x2D).
    if (c !== l && !(c >= 0x41 && c <= 0x5a && c + 0x20 === l)) return false;
  }
  return true;
}

/** Whether `s[a..b)` equals `lower` ignoring ASCII case, without allocating. */
export function rangeEqualsIgnoreCase(s: string, a: number, b: number, lower: string): boolean {
  if (b - a !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    const c = s.charCodeAt(a + i);
    const l = lower.charCodeAt(i);
    if (c !== l && !(c >= 0x41 && c <= 0x5a && c + 0x20 === l)) return false;
  }
  return true;
}

/** The first index in `s[a..b)` that is not SP/HTAB (`b` if none). */
export function skipOws(s: string, a: number, b: number): number {
  while (a < b) {
    const c = s.charCodeAt(a);
    if (c !== SP && c !== HTAB) break;
    a++;
  }
  return a;
}

/** The end of `s[a..b)` without trailing SP/HTAB. */
export function trimOwsEnd(s: string, a: number, b: number): number {
  while (b > a) {
    const c = s.charCodeAt(b - 1);
    if (c !== SP && c !== HTAB) break;
    b--;
  }
  return b;
}

/** The index of the next `,` in `s` from `a`, or `s.length`. */
export function nextComma(s: string, a: number): number {
  const i = s.indexOf(',', a);
  return i < 0 ? s.length : i;
}
