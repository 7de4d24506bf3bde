/**
 * HTTP/1.x message heads (RFC 9112 §2–§5): finding where a head ends in a growing buffer, and parsing
 * request and response heads strictly. Anything ambiguous is refused with a precise `Http1Error` rather
 * than guessed at: a proxy that reads a message differently from the server behind it is how requests get
 * smuggled.
 */
import { CLASS, CR, LF, SP, TARGET, TOKEN, VALUE, equalsIgnoreCase } from './chars.js';
import { Http1Error, excerpt } from './errors.js';
import { hex2, parseFieldLines } from './field-lines.js';

export { DEFAULT_MAX_HEADERS } from './field-lines.js';

/** Envoy's `max_request_headers_kb` default. */
export const DEFAULT_MAX_HEAD_BYTES = 60 * 1024;

export interface RequestHead {
  readonly method: string;
  readonly target: string;
  readonly minor: 0 | 1;
  /** `[name, value, name, value, …]`, names as received, values trimmed of SP/HTAB, latin1. */
  readonly rawHeaders: string[];
}

export interface ResponseHead {
  readonly status: number;
  readonly reason: string;
  readonly minor: 0 | 1;
  /** `[name, value, name, value, …]`, names as received, values trimmed of SP/HTAB, latin1. */
  readonly rawHeaders: string[];
}

/**
 * Where the head that starts at `start` ends: the index just past its terminating CRLF CRLF, or -1 if
 * `buf[start..end)` does not hold it all yet. Leading CRLFs (stray line ends between keep-alive messages,
 * RFC 9112 §2.2) are allowed before the start line and are part of the head. Throws HPE_HEAD_TOO_LARGE (431)
 * when the head is, or would be, larger than maxBytes.
 *
 * A bare CR or LF anywhere fails at once (HPE_INVALID_HEADER, 400, also in the start line: this function
 * does not know whether it reads a request or a response), rather than when the limit is reached.
 * Each call scans from `start`; a caller that calls again as bytes arrive should use `findHeadEndFrom`.
 */
export function findHeadEnd(buf: Buffer, start: number, end: number, maxBytes: number): number {
  return findHeadEndFrom(buf, start, end, maxBytes, start);
}

/**
 * `findHeadEnd` resuming a scan: `scanned` is the `end` of an earlier call on the same head that returned
 * -1 (the bytes before it are known to hold no terminator). Keeps the work linear in the head's size when it
 * arrives a few bytes at a time, which a slow client can force.
 */
export function findHeadEndFrom(buf: Buffer, start: number, end: number, maxBytes: number, scanned: number): number {
  const limit = Math.min(end, start + maxBytes);
  let content = start;
  while (content + 1 < limit && buf[content] === CR && buf[content + 1] === LF) content += 2;
  // A CR just before `scanned` had no successor to check yet; every later LF looks back at most 3 bytes.
  for (let i = Math.max(content, scanned - 1); i < limit; i++) {
    const c = buf[i]!;
    if (c > CR) continue;
    if (c === CR) {
      if (i + 1 < limit && buf[i + 1] !== LF) throw bareLineEnd(buf, start, content, i, 'CR');
    } else if (c === LF) {
      if (i === content || buf[i - 1] !== CR) throw bareLineEnd(buf, start, content, i, 'LF');
      if (i - 3 >= content && buf[i - 2] === LF) return i + 1;
    }
  }
  if (end - start >= maxBytes) {
    throw new Http1Error('HPE_HEAD_TOO_LARGE', 431, `head larger than ${maxBytes} bytes`);
  }
  return -1;
}

function bareLineEnd(buf: Buffer, start: number, content: number, at: number, what: 'CR' | 'LF'): Http1Error {
  const firstLf = buf.indexOf(LF, content);
  const where = firstLf >= 0 && firstLf < at ? 'a field line' : 'the start line';
  return new Http1Error('HPE_INVALID_HEADER', 400, `bare ${what} at byte ${at - start} of the head, in ${where} (lines end only with CRLF)`);
}

/** Parses a request head occupying buf[start..headEnd) (headEnd from findHeadEnd). Throws Http1Error. */
export function parseRequestHead(buf: Buffer, start: number, headEnd: number): RequestHead {
  let pos = skipEmptyLines(buf, start, headEnd);
  const methodStart = pos;
  while (pos < headEnd && (CLASS[buf[pos]!]! & TOKEN) !== 0) pos++;
  if (pos === methodStart || pos >= headEnd || buf[pos] !== SP) throw requestLineError(buf, methodStart, pos, headEnd, 'method');
  const method = buf.toString('latin1', methodStart, pos);
  pos++;
  const targetStart = pos;
  while (pos < headEnd && (CLASS[buf[pos]!]! & TARGET) !== 0) pos++;
  if (pos === targetStart || pos >= headEnd || buf[pos] !== SP) throw requestLineError(buf, targetStart, pos, headEnd, 'target');
  const target = buf.toString('latin1', targetStart, pos);
  pos++;
  const minor = parseVersion(buf, pos, headEnd, 'request line');
  pos += 8;
  if (pos >= headEnd || buf[pos] !== CR) {
    if (buf[pos] === SP) throw new Http1Error('HPE_INVALID_REQUEST_LINE', 400, 'request line: more than three parts (SP after the version)');
    throw afterVersionError(buf, pos, headEnd, 'request line');
  }
  pos = endOfLine(buf, pos, headEnd, 'HPE_INVALID_REQUEST_LINE', 'request line');
  const rawHeaders: string[] = [];
  parseFieldLines(buf, pos, headEnd, rawHeaders, 'header');
  checkRequestFields(rawHeaders, minor);
  return { method, target, minor, rawHeaders };
}

/** Parses a response head occupying buf[start..headEnd) (headEnd from findHeadEnd). Throws Http1Error. */
export function parseResponseHead(buf: Buffer, start: number, headEnd: number): ResponseHead {
  let pos = skipEmptyLines(buf, start, headEnd);
  if (!startsWithHttpSlash(buf, pos, headEnd)) {
    throw new Http1Error('HPE_INVALID_STATUS_LINE', 400, `status line: ${excerpt(buf, pos, lineEnd(buf, pos, headEnd))} does not start with "HTTP/"`);
  }
  const minor = parseVersion(buf, pos, headEnd, 'status line');
  pos += 8;
  if (pos >= headEnd || buf[pos] !== SP) {
    if (buf[pos] === CR) throw new Http1Error('HPE_INVALID_STATUS_LINE', 400, 'status line: no status code');
    throw afterVersionError(buf, pos, headEnd, 'status line');
  }
  pos++;
  const d0 = digit(buf, pos, headEnd);
  const d1 = digit(buf, pos + 1, headEnd);
  const d2 = digit(buf, pos + 2, headEnd);
  const after = pos + 3 < headEnd ? buf[pos + 3]! : -1;
  if (d0 < 1 || d1 < 0 || d2 < 0 || (after !== SP && after !== CR)) {
    throw new Http1Error('HPE_INVALID_STATUS_LINE', 400, `status line: status code ${excerpt(buf, pos, lineEnd(buf, pos, headEnd))} is not 3 digits from 100 to 999`);
  }
  const status = d0 * 100 + d1 * 10 + d2;
  pos += 3;
  let reason = '';
  if (after === SP) {
    pos++;
    const reasonStart = pos;
    while (pos < headEnd && (CLASS[buf[pos]!]! & VALUE) !== 0) pos++;
    if (pos >= headEnd || buf[pos] !== CR) {
      const c = pos < headEnd ? buf[pos]! : -1;
      const what = c === LF ? 'bare LF' : c < 0 ? 'line is cut off' : `invalid byte 0x${hex2(c)}`;
      throw new Http1Error('HPE_INVALID_STATUS_LINE', 400, `status line: ${what} in the reason phrase at byte ${pos - reasonStart}`);
    }
    reason = buf.toString('latin1', reasonStart, pos);
  }
  pos = endOfLine(buf, pos, headEnd, 'HPE_INVALID_STATUS_LINE', 'status line');
  const rawHeaders: string[] = [];
  parseFieldLines(buf, pos, headEnd, rawHeaders, 'header');
  return { status, reason, minor, rawHeaders };
}

function skipEmptyLines(buf: Buffer, pos: number, headEnd: number): number {
  while (pos + 1 < headEnd && buf[pos] === CR && buf[pos + 1] === LF) pos += 2;
  return pos;
}

/** Past the CRLF at `pos` (where a CR is), or an error for a bare CR. */
function endOfLine(buf: Buffer, pos: number, headEnd: number, code: 'HPE_INVALID_REQUEST_LINE' | 'HPE_INVALID_STATUS_LINE', what: string): number {
  if (pos + 1 >= headEnd || buf[pos + 1] !== LF) throw new Http1Error(code, 400, `${what}: bare CR (lines end only with CRLF)`);
  return pos + 2;
}

/** Where the line from `pos` ends (its CR or LF), for quoting. */
function lineEnd(buf: Buffer, pos: number, headEnd: number): number {
  let i = pos;
  while (i < headEnd && buf[i] !== CR && buf[i] !== LF) i++;
  return i;
}

function startsWithHttpSlash(buf: Buffer, pos: number, headEnd: number): boolean {
  return pos + 5 <= headEnd && buf[pos] === 0x48 && buf[pos + 1] === 0x54 && buf[pos + 2] === 0x54 && buf[pos + 3] === 0x50 && buf[pos + 4] === 0x2f;
}

function digit(buf: Buffer, pos: number, headEnd: number): number {
  if (pos >= headEnd) return -1;
  const d = buf[pos]! - 0x30;
  return d >= 0 && d <= 9 ? d : -1;
}

/**
 * The minor version of `HTTP/1.0` or `HTTP/1.1` at `pos` (8 bytes, case-sensitive, RFC 9112 §2.3). Another
 * well-formed `HTTP/x.y` is 505 (a version we do not speak); anything else is 400.
 */
function parseVersion(buf: Buffer, pos: number, headEnd: number, where: string): 0 | 1 {
  const major = digit(buf, pos + 5, headEnd);
  const minor = digit(buf, pos + 7, headEnd);
  if (!startsWithHttpSlash(buf, pos, headEnd) || major < 0 || buf[pos + 6] !== 0x2e || minor < 0 || pos + 8 > headEnd) {
    // A request line whose third part holds a SP had a space in its target: say so rather than "bad version".
    const end = lineEnd(buf, pos, headEnd);
    if (where === 'request line' && buf.subarray(pos, end).includes(SP)) {
      throw new Http1Error('HPE_INVALID_REQUEST_LINE', 400, 'request line: more than three parts (a target may not contain SP)');
    }
    throw new Http1Error('HPE_INVALID_VERSION', 400, `${where}: version ${excerpt(buf, pos, end)} is not HTTP/<digit>.<digit>`);
  }
  if (major !== 1 || minor > 1) {
    throw new Http1Error('HPE_INVALID_VERSION', 505, `${where}: HTTP/${major}.${minor} is not supported (only HTTP/1.0 and HTTP/1.1)`);
  }
  return minor === 0 ? 0 : 1;
}

/** The error for byte `pos` following a well-formed version where a line end (request) or SP (status) belongs. */
function afterVersionError(buf: Buffer, pos: number, headEnd: number, where: 'request line' | 'status line'): Http1Error {
  const c = pos < headEnd ? buf[pos]! : -1;
  if (c >= 0x30 && c <= 0x39) {
    return new Http1Error('HPE_INVALID_VERSION', 400, `${where}: version ${excerpt(buf, pos - 8, lineEnd(buf, pos - 8, headEnd))} is not HTTP/<digit>.<digit>`);
  }
  const code = where === 'request line' ? 'HPE_INVALID_REQUEST_LINE' : 'HPE_INVALID_STATUS_LINE';
  if (c < 0) return new Http1Error(code, 400, `${where}: cut off after the version`);
  const expected = where === 'request line' ? 'CRLF' : 'one SP';
  return new Http1Error(code, 400, `${where}: byte 0x${hex2(c)} after the version (expected ${expected})`);
}

/** The error for a method or target part that stopped at `pos`. */
function requestLineError(buf: Buffer, partStart: number, pos: number, headEnd: number, part: 'method' | 'target'): Http1Error {
  if (pos === partStart) {
    const c = pos < headEnd ? buf[pos]! : -1;
    const found = c < 0 ? 'the end of the head' : c === SP ? 'a second SP (exactly one SP separates the parts)' : `byte 0x${hex2(c)}`;
    return new Http1Error('HPE_INVALID_REQUEST_LINE', 400, `request line: expected the ${part}, found ${found}`);
  }
  const c = pos < headEnd ? buf[pos]! : -1;
  if (c === CR || c < 0) {
    return new Http1Error('HPE_INVALID_REQUEST_LINE', 400, `request line: ends after the ${part} ${excerpt(buf, partStart, pos)}`);
  }
  if (c === LF) return new Http1Error('HPE_INVALID_REQUEST_LINE', 400, 'request line: bare LF (lines end only with CRLF)');
  const what = part === 'method' ? 'a method (token)' : 'a request target (visible ASCII)';
  return new Http1Error('HPE_INVALID_REQUEST_LINE', 400, `request line: byte 0x${hex2(c)} after ${excerpt(buf, partStart, pos)} is not allowed in ${what}`);
}

/**
 * Rules that need the version and the fields together: an HTTP/1.1 request has exactly one Host (RFC 9112
 * §3.2: a server MUST answer 400 otherwise), an HTTP/1.0 one at most one; and an HTTP/1.0 request carries
 * no Transfer-Encoding (§6.1: its framing is faulty, the sender cannot have meant chunked).
 */
function checkRequestFields(rawHeaders: readonly string[], minor: 0 | 1): void {
  let hosts = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 4 && equalsIgnoreCase(name, 'host')) hosts++;
    else if (minor === 0 && name.length === 17 && equalsIgnoreCase(name, 'transfer-encoding')) {
      throw new Http1Error('HPE_INVALID_TRANSFER_ENCODING', 400, `header ${i / 2 + 1} ("${name}"): Transfer-Encoding in an HTTP/1.0 request`);
    }
  }
  if (hosts > 1) throw new Http1Error('HPE_INVALID_HEADER', 400, `${hosts} Host fields (at most one)`);
  if (hosts === 0 && minor === 1) throw new Http1Error('HPE_INVALID_HEADER', 400, 'HTTP/1.1 request without a Host field');
}
