/**
 * Message framing (RFC 9112 §6) and connection management fields (§9). Framing decides where one message
 * ends and the next begins, which is exactly what request smuggling attacks: every field that could be
 * read two ways is refused, never resolved by a guess.
 */
import { CLASS, TOKEN, equalsIgnoreCase, nextComma, rangeEqualsIgnoreCase, skipOws, trimOwsEnd } from './chars.js';
import { Http1Error, excerptString } from './errors.js';
import type { HeaderMap } from '../route/headers.js';

export type Framing = { readonly kind: 'length'; readonly length: number } | { readonly kind: 'chunked' } | { readonly kind: 'close' };

/** Shared framings (they are immutable), so that the common cases allocate nothing. */
const EMPTY: Framing = Object.freeze({ kind: 'length', length: 0 });
const CHUNKED: Framing = Object.freeze({ kind: 'chunked' });
const CLOSE: Framing = Object.freeze({ kind: 'close' });

/** What the Transfer-Encoding fields, taken together as one list, say. */
const enum Codings {
  /** No Transfer-Encoding field. */
  None,
  /** Exactly `chunked`. */
  Chunked,
  /** Other codings, then `chunked` last. */
  CodedThenChunked,
  /** `chunked` is not the last coding (or absent). */
  NotChunkedLast,
}

/**
 * How a request's body is delimited (RFC 9112 §6.3), or Http1Error:
 * - Transfer-Encoding and Content-Length together: 400 (§6.1 allows refusing; it is the classic smuggling).
 * - Transfer-Encoding exactly `chunked` (over any number of fields): chunked.
 * - `chunked` not the last coding (`gzip`, `chunked, gzip`): 400, as §6.3 requires of a server.
 * - other codings before a final `chunked` (`gzip, chunked`): 501. We do not decode codings, so a request
 *   we could frame correctly still cannot be passed on faithfully (the coding is hop-by-hop); Envoy
 *   answers 501 too.
 * - `chunked` twice, an empty field or element, a non-token: 400.
 * - Content-Length: its single value (repeated only identically); no body fields at all: length 0.
 * (Transfer-Encoding in an HTTP/1.0 request is refused by `parseRequestHead`, which knows the version.)
 */
export function requestFraming(rawHeaders: readonly string[]): Framing {
  const codings = transferCodings(rawHeaders);
  const length = contentLength(rawHeaders);
  if (codings !== Codings.None && length >= 0) {
    throw new Http1Error('HPE_INVALID_CONTENT_LENGTH', 400, 'both Transfer-Encoding and Content-Length (refused: request smuggling)');
  }
  switch (codings) {
    case Codings.Chunked:
      return CHUNKED;
    case Codings.CodedThenChunked:
      throw new Http1Error('HPE_UNSUPPORTED_TRANSFER_ENCODING', 501, 'transfer codings other than chunked are not supported');
    case Codings.NotChunkedLast:
      throw new Http1Error('HPE_INVALID_TRANSFER_ENCODING', 400, 'chunked is not the last transfer coding of the request');
    case Codings.None:
      return length > 0 ? { kind: 'length', length } : EMPTY;
  }
}

/**
 * How a response's body is delimited, given its status and the request's method (RFC 9112 §6.3):
 * - 1xx, 204, 304, an answer to HEAD, a 2xx answer to CONNECT: no body.
 * - Transfer-Encoding with `chunked` last: chunked; any Content-Length is ignored (Transfer-Encoding wins,
 *   §6.3 item 3). Codings before it stay applied to the body (the caller must keep them in mind).
 * - Transfer-Encoding without `chunked` last: read until the connection closes.
 * - Content-Length (validated as for requests): that length. Neither: until close.
 * `chunked` twice or malformed fields are still refused (400-coded; a proxy answers 502).
 */
export function responseFraming(rawHeaders: readonly string[], status: number, requestMethod: string): Framing {
  if (status < 200 || status === 204 || status === 304) return EMPTY;
  if (requestMethod === 'HEAD') return EMPTY;
  if (status < 300 && requestMethod === 'CONNECT') return EMPTY;
  const codings = transferCodings(rawHeaders);
  if (codings === Codings.Chunked || codings === Codings.CodedThenChunked) return CHUNKED;
  if (codings === Codings.NotChunkedLast) return CLOSE;
  const length = contentLength(rawHeaders);
  if (length < 0) return CLOSE;
  return length > 0 ? { kind: 'length', length } : EMPTY;
}

/**
 * Reads every Transfer-Encoding field as one comma list (RFC 9110 §5.3). Each element is a token, optionally
 * with parameters (`gzip;q=1`, counted as a coding other than chunked, whose parameters are not read
 * further); `chunked` takes no parameters and appears at most once. Empty fields and empty elements are
 * refused rather than skipped: a peer that sends them is not one whose framing we want to guess.
 */
function transferCodings(rawHeaders: readonly string[]): Codings {
  let result = Codings.None;
  let chunkedAt = -1;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length !== 17 || !equalsIgnoreCase(name, 'transfer-encoding')) continue;
    const value = rawHeaders[i + 1]!;
    const field = i / 2 + 1;
    for (let a = 0; a <= value.length; ) {
      const comma = nextComma(value, a);
      const s = skipOws(value, a, comma);
      const e = trimOwsEnd(value, s, comma);
      if (s === e) throw teError(field, name, value, 'empty transfer coding');
      let t = s;
      while (t < e && isTokenCode(value.charCodeAt(t))) t++;
      if (t === s || (t < e && value.charCodeAt(skipOws(value, t, e)) !== 0x3b)) {
        throw teError(field, name, value, `${excerptString(value.slice(s, e))} is not a transfer coding`);
      }
      const chunked = rangeEqualsIgnoreCase(value, s, t, 'chunked');
      if (chunked && t < e) throw teError(field, name, value, 'chunked takes no parameters');
      if (chunked && chunkedAt >= 0) throw teError(field, name, value, 'chunked applied twice (refused: request smuggling)');
      if (chunked) chunkedAt = field;
      result = chunked ? (result === Codings.None ? Codings.Chunked : Codings.CodedThenChunked) : Codings.NotChunkedLast;
      a = comma + 1;
    }
  }
  return result;
}

function isTokenCode(c: number): boolean {
  return c <= 0xff && (CLASS[c]! & TOKEN) !== 0;
}

function teError(field: number, name: string, value: string, why: string): Http1Error {
  return new Http1Error('HPE_INVALID_TRANSFER_ENCODING', 400, `header ${field} ("${name}"): ${excerptString(value)}: ${why}`);
}

/**
 * The Content-Length of a message, or -1 without one. Each value is 1*DIGIT up to 2^53 - 1; several fields,
 * or a comma list, are accepted only when every value is the same number (RFC 9110 §8.6), anything else is
 * 400 (signs, spaces inside, hex, empty elements, different values).
 */
export function contentLength(rawHeaders: readonly string[]): number {
  let length = -1;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length !== 14 || !equalsIgnoreCase(name, 'content-length')) continue;
    length = lengthField(rawHeaders[i + 1]!, length, i / 2 + 1, name);
  }
  return length;
}

/**
 * `contentLength`'s rule for a header map (the proxy's, built from a message `contentLength` already
 * accepted, or from HTTP/2): the single length, or undefined when there is none or it is not valid.
 */
export function contentLengthOf(headers: HeaderMap): number | undefined {
  const v = headers['content-length'];
  if (v === undefined) return undefined;
  try {
    if (typeof v === 'string') return lengthField(v, -1, 1, 'content-length');
    let length = -1;
    for (let i = 0; i < v.length; i++) length = lengthField(v[i]!, length, i + 1, 'content-length');
    return length < 0 ? undefined : length;
  } catch {
    return undefined;
  }
}

/** One Content-Length field value (a comma list of equal lengths) given the length so far (-1: none). */
function lengthField(value: string, length: number, field: number, name: string): number {
  for (let a = 0; a <= value.length; ) {
    const comma = nextComma(value, a);
    const s = skipOws(value, a, comma);
    const e = trimOwsEnd(value, s, comma);
    let n = 0;
    for (let j = s; j < e; j++) {
      const d = value.charCodeAt(j) - 0x30;
      if (d < 0 || d > 9) throw clError(field, name, value, 'is not a decimal length');
      n = n * 10 + d;
      if (n > Number.MAX_SAFE_INTEGER) throw clError(field, name, value, 'is larger than 2^53 - 1');
    }
    if (s === e) throw clError(field, name, value, 'has an empty length');
    if (length >= 0 && n !== length) throw clError(field, name, value, `differs from the length ${length} given before (refused: request smuggling)`);
    length = n;
    a = comma + 1;
  }
  return length;
}

function clError(field: number, name: string, value: string, why: string): Http1Error {
  return new Http1Error('HPE_INVALID_CONTENT_LENGTH', 400, `header ${field} ("${name}"): ${excerptString(value)} ${why}`);
}

export interface ConnectionOptions {
  /** `Connection: close`. */
  readonly close: boolean;
  /** `Connection: keep-alive` (what an HTTP/1.0 peer must say to keep the connection). */
  readonly keepAlive: boolean;
  /** The `Upgrade` field's value when `Connection` names `upgrade` (several fields joined by ", "). */
  readonly upgrade: string | undefined;
  /**
   * `Expect: 100-continue` (case-insensitive, as an element of the list). An HTTP/1.0 request's must be
   * ignored (RFC 9110 §10.1.1): the caller knows the version.
   */
  readonly expectContinue: boolean;
}

const CONN_CLOSE = 1;
const CONN_KEEP_ALIVE = 2;
const CONN_UPGRADE = 4;

/** The `Connection` tokens (case-insensitive, comma lists, several fields), `Upgrade` (when Connection names `upgrade`) and `Expect: 100-continue`. */
export function connectionOptions(rawHeaders: readonly string[]): ConnectionOptions {
  let flags = 0;
  let upgrade: string | undefined;
  let expectContinue = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const value = rawHeaders[i + 1]!;
    if (name.length === 10 && equalsIgnoreCase(name, 'connection')) flags |= connectionTokens(value);
    else if (name.length === 7 && equalsIgnoreCase(name, 'upgrade')) upgrade = upgrade === undefined ? value : `${upgrade}, ${value}`;
    else if (name.length === 6 && equalsIgnoreCase(name, 'expect')) expectContinue ||= listHas(value, '100-continue');
  }
  return {
    close: (flags & CONN_CLOSE) !== 0,
    keepAlive: (flags & CONN_KEEP_ALIVE) !== 0,
    upgrade: (flags & CONN_UPGRADE) !== 0 && upgrade !== undefined && upgrade !== '' ? upgrade : undefined,
    expectContinue,
  };
}

/** Whether a connection stays open after this message: HTTP/1.1 unless `close`; HTTP/1.0 only with `keep-alive`. */
export function keepsAlive(minor: 0 | 1, options: ConnectionOptions): boolean {
  if (options.close) return false;
  return minor === 1 || options.keepAlive;
}

function connectionTokens(value: string): number {
  let flags = 0;
  for (let a = 0; a <= value.length; ) {
    const comma = nextComma(value, a);
    const s = skipOws(value, a, comma);
    const e = trimOwsEnd(value, s, comma);
    if (rangeEqualsIgnoreCase(value, s, e, 'close')) flags |= CONN_CLOSE;
    else if (rangeEqualsIgnoreCase(value, s, e, 'keep-alive')) flags |= CONN_KEEP_ALIVE;
    else if (rangeEqualsIgnoreCase(value, s, e, 'upgrade')) flags |= CONN_UPGRADE;
    a = comma + 1;
  }
  return flags;
}

function listHas(value: string, lower: string): boolean {
  for (let a = 0; a <= value.length; ) {
    const comma = nextComma(value, a);
    const s = skipOws(value, a, comma);
    if (rangeEqualsIgnoreCase(value, s, trimOwsEnd(value, s, comma), lower)) return true;
    a = comma + 1;
  }
  return false;
}
