import { MeshError } from '@ambit/mesh-core/errors';

/**
 * Stable codes of HTTP/1.x parse and encode failures (named after llhttp's, so that logs read alike):
 * - `HPE_HEAD_TOO_LARGE` (431): the head is longer than its limit, or has too many fields.
 * - `HPE_INVALID_REQUEST_LINE` / `HPE_INVALID_STATUS_LINE` (400): the start line is malformed.
 * - `HPE_INVALID_VERSION`: 505 for a well-formed version other than 1.0 and 1.1, 400 for garbage.
 * - `HPE_INVALID_HEADER` (400): a malformed field line (also a bare CR or LF anywhere in the head).
 * - `HPE_INVALID_CONTENT_LENGTH` (400), `HPE_INVALID_TRANSFER_ENCODING` (400): unusable framing fields.
 * - `HPE_UNSUPPORTED_TRANSFER_ENCODING` (501): a transfer coding other than `chunked`.
 * - `HPE_INVALID_CHUNK` (400): a malformed chunked body.
 * - `HPE_TRAILERS_TOO_LARGE` (431): the trailer section is longer than its limit.
 * - `HPE_UNEXPECTED_EOF` (400): the stream ended inside a body whose end is known.
 */
export type Http1ErrorCode =
  | 'HPE_HEAD_TOO_LARGE'
  | 'HPE_INVALID_REQUEST_LINE'
  | 'HPE_INVALID_STATUS_LINE'
  | 'HPE_INVALID_VERSION'
  | 'HPE_INVALID_HEADER'
  | 'HPE_INVALID_CONTENT_LENGTH'
  | 'HPE_INVALID_TRANSFER_ENCODING'
  | 'HPE_UNSUPPORTED_TRANSFER_ENCODING'
  | 'HPE_INVALID_CHUNK'
  | 'HPE_TRAILERS_TOO_LARGE'
  | 'HPE_UNEXPECTED_EOF';

/**
 * A malformed or unacceptable HTTP/1.x message; `status` is what a server answers (400, 431, 501, 505).
 * The same codes and statuses are used for responses read from an upstream: a proxy answers 502 for any of
 * them. The encoder throws it with status 500: a header it refuses to write is the proxy's own fault.
 */
export class Http1Error extends MeshError {
  declare readonly code: Http1ErrorCode;
  readonly status: number;

  constructor(code: Http1ErrorCode, status: number, reason: string) {
    super(code, reason);
    this.status = status;
  }
}

/** At most this many bytes of peer input are quoted in an error message. */
const EXCERPT_BYTES = 64;

/**
 * `buf[start..end)` quoted for an error message: at most 64 bytes, printable ASCII as it is, anything else
 * as `\xNN` (so that a log line can never be split or coloured by what a peer sent), `…` when cut.
 */
export function excerpt(buf: Uint8Array, start: number, end: number): string {
  const stop = Math.min(end, start + EXCERPT_BYTES);
  let out = '"';
  for (let i = start; i < stop; i++) out += quoteCode(buf[i]!);
  return stop < end ? `${out}"…` : `${out}"`;
}

/** A string quoted the same way as `excerpt` (code units above 0xFF appear as `\u{…}`). */
export function excerptString(s: string): string {
  const stop = Math.min(s.length, EXCERPT_BYTES);
  let out = '"';
  for (let i = 0; i < stop; i++) out += quoteCode(s.charCodeAt(i));
  return stop < s.length ? `${out}"…` : `${out}"`;
}

function quoteCode(c: number): string {
  if (c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c) return String.fromCharCode(c);
  if (c === 0x22) return '\\"';
  if (c === 0x5c) return '\\\\';
  if (c > 0xff) return `\\u{${c.toString(16)}}`;
  return `\\x${c.toString(16).padStart(2, '0')}`;
}
