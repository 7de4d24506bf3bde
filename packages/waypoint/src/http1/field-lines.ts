/**
 * Field lines (RFC 9112 §5), shared by heads and chunked trailers: `name ":" OWS value OWS CRLF`, repeated,
 * then an empty line. Parsed with byte-class loops; the only allocations are the name and value strings.
 */
import { CLASS, COLON, CR, HTAB, LF, SP, TOKEN, VALUE } from './chars.js';
import { Http1Error, excerpt } from './errors.js';

/** At most this many fields in a head or a trailer section (Envoy's `max_headers_count` default). */
export const DEFAULT_MAX_HEADERS = 100;

/** What the lines are, for messages and for the error raised when there are too many. */
export type FieldSection = 'header' | 'trailer';

/**
 * Parses the field lines in `buf[pos..end)`, which must end with the empty line (its CRLF ends exactly at
 * `end`), appending `name, value` pairs to `out`. Names keep their case; values lose leading and trailing
 * SP/HTAB and are decoded as latin1 (obs-text bytes 0x80–0xFF kept, as Node does).
 */
export function parseFieldLines(buf: Buffer, pos: number, end: number, out: string[], section: FieldSection): void {
  let n = 0;
  for (;;) {
    if (pos >= end) throw fieldError(`${section} section does not end with an empty line`);
    let c = buf[pos]!;
    if (c === CR) {
      if (pos + 1 >= end || buf[pos + 1] !== LF) throw fieldError(`bare CR after ${section} ${n} (lines end only with CRLF)`);
      if (pos + 2 !== end) throw fieldError(`${end - pos - 2} bytes after the empty line that ends the ${section} section`);
      return;
    }
    n++;
    if (n > DEFAULT_MAX_HEADERS) {
      throw new Http1Error(
        section === 'header' ? 'HPE_HEAD_TOO_LARGE' : 'HPE_TRAILERS_TOO_LARGE',
        431,
        `more than ${DEFAULT_MAX_HEADERS} ${section} fields`,
      );
    }
    if (c === SP || c === HTAB) {
      throw fieldError(`${section} ${n}: line starts with whitespace (obsolete line folding is not accepted)`);
    }
    const nameStart = pos;
    while (pos < end && (CLASS[buf[pos]!]! & TOKEN) !== 0) pos++;
    if (pos >= end) throw fieldError(`${section} ${n}: ${excerpt(buf, nameStart, pos)} is cut off`);
    c = buf[pos]!;
    if (c !== COLON) throw nameError(buf, nameStart, pos, c, n, section);
    if (pos === nameStart) throw fieldError(`${section} ${n}: empty field name`);
    const nameEnd = pos;
    const name = buf.toString('latin1', nameStart, nameEnd);
    pos++;
    while (pos < end && (buf[pos] === SP || buf[pos] === HTAB)) pos++;
    const valueStart = pos;
    let valueEnd = pos;
    while (pos < end) {
      c = buf[pos]!;
      if ((CLASS[c]! & VALUE) === 0) break;
      pos++;
      if (c !== SP && c !== HTAB) valueEnd = pos;
    }
    if (pos >= end) throw fieldError(`${section} ${n} (${excerpt(buf, nameStart, nameEnd)}): line is cut off`);
    if (c !== CR) {
      const what = c === LF ? 'bare LF (lines end only with CRLF)' : `invalid byte 0x${hex2(c)}`;
      throw fieldError(`${section} ${n} (${excerpt(buf, nameStart, nameEnd)}): ${what} at value byte ${pos - valueStart}`);
    }
    if (pos + 1 >= end || buf[pos + 1] !== LF) {
      throw fieldError(`${section} ${n} (${excerpt(buf, nameStart, nameEnd)}): bare CR (lines end only with CRLF)`);
    }
    out.push(name, buf.toString('latin1', valueStart, valueEnd));
    pos += 2;
  }
}

/** The error for a field name stopped by byte `c` at `pos`. */
function nameError(buf: Buffer, nameStart: number, pos: number, c: number, n: number, section: FieldSection): Http1Error {
  const name = excerpt(buf, nameStart, pos);
  if (c === SP || c === HTAB) return fieldError(`${section} ${n} (${name}): whitespace between the field name and the colon`);
  if (c === CR) return fieldError(`${section} ${n}: ${name} has no colon`);
  if (c === LF) return fieldError(`${section} ${n}: bare LF in ${name} (lines end only with CRLF)`);
  return fieldError(`${section} ${n}: byte 0x${hex2(c)} after ${name} is not allowed in a field name`);
}

function fieldError(reason: string): Http1Error {
  return new Http1Error('HPE_INVALID_HEADER', 400, reason);
}

export function hex2(c: number): string {
  return c < 16 ? `0${c.toString(16)}` : c.toString(16);
}
