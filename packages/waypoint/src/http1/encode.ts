/**
 * HTTP/1.1 heads and chunk framing as latin1 strings, for the connection layer to write. Every name and
 * value is checked on the way out, so that a header changed by a route (or sent by the other side of the
 * proxy) can never split a message or smuggle one: what this writes, `head.ts` parses back the same.
 */
import { STATUS_CODES } from 'node:http';
import type { HeaderMap } from '../route/headers.js';
import { equalsIgnoreCase, isToken } from './chars.js';
import { Http1Error, excerptString } from './errors.js';

export type { HeaderMap } from '../route/headers.js';

/** How the body that follows a head is framed; `none` writes neither Content-Length nor Transfer-Encoding. */
export type BodyFraming = { readonly kind: 'length'; readonly length: number } | { readonly kind: 'chunked' } | { readonly kind: 'none' };

/** The line end after the data of a chunk. */
export const CHUNK_SUFFIX: Buffer = Buffer.from('\r\n', 'latin1');

/**
 * A request head as a latin1 string: `METHOD SP path SP HTTP/1.1 CRLF`, `host`, then every header of
 * `headers` (arrays as repeated fields), then `content-length: N` or `transfer-encoding: chunked` per `body`
 * (none: neither), CRLF.
 *
 * `content-length`, `transfer-encoding`, `connection` and `host` in `headers` are skipped (any case): the
 * framing comes from `body`, the host from `host`, and connection management belongs to the connection, so
 * the message can never carry two framings. Throws Http1Error (status 500) for a method that is not a
 * token, a path that is not visible ASCII, a name that is not a token or a value with a CTL other than
 * HTAB, DEL or a character above 0xFF (which latin1 would truncate, U+010A into LF).
 */
export function requestHead(method: string, path: string, host: string, headers: HeaderMap, body: BodyFraming): string {
  if (!isToken(method)) throw new Http1Error('HPE_INVALID_REQUEST_LINE', 500, `method ${excerptString(method)} is not a token`);
  checkTarget(path);
  checkValue('host', host);
  return `${method} ${path} HTTP/1.1\r\nhost: ${host}\r\n${fieldLines(headers)}${framingLine(body)}\r\n`;
}

/**
 * A response head: status line with the standard reason phrase (node:http STATUS_CODES, or `Unknown`),
 * headers (skipped and checked as for `requestHead`), then framing as above, plus `connection: close` when
 * `close`. Throws Http1Error (500) for a status outside 100–999 and for the header faults above.
 */
export function responseHead(status: number, headers: HeaderMap, body: BodyFraming, close: boolean): string {
  if (!Number.isInteger(status) || status < 100 || status > 999) {
    throw new Http1Error('HPE_INVALID_STATUS_LINE', 500, `status ${status} is not from 100 to 999`);
  }
  const reason = STATUS_CODES[status] ?? 'Unknown';
  return `HTTP/1.1 ${status} ${reason}\r\n${fieldLines(headers)}${framingLine(body)}${close ? 'connection: close\r\n' : ''}\r\n`;
}

/** `${size in hex}\r\n` for a chunk of `size` bytes (size > 0). */
export function chunkPrefix(size: number): string {
  // A zero size would be read as the last chunk: the body would end early and the rest be a new message.
  if (!Number.isSafeInteger(size) || size <= 0) throw new Http1Error('HPE_INVALID_CHUNK', 500, `chunk size ${size} is not a positive integer`);
  return `${size.toString(16)}\r\n`;
}

/** The last chunk, with trailer fields if any (skipped and checked as for heads), and the final CRLF. */
export function lastChunk(trailers: HeaderMap | undefined): string {
  return trailers === undefined ? '0\r\n\r\n' : `0\r\n${fieldLines(trailers)}\r\n`;
}

function framingLine(body: BodyFraming): string {
  switch (body.kind) {
    case 'none':
      return '';
    case 'chunked':
      return 'transfer-encoding: chunked\r\n';
    case 'length':
      if (!Number.isSafeInteger(body.length) || body.length < 0) {
        throw new Http1Error('HPE_INVALID_CONTENT_LENGTH', 500, `content length ${body.length} is not a non-negative integer`);
      }
      return `content-length: ${body.length}\r\n`;
  }
}

function fieldLines(headers: HeaderMap): string {
  let out = '';
  for (const name in headers) {
    const value = headers[name]!;
    if (isManagedName(name)) continue;
    if (!isToken(name)) throw new Http1Error('HPE_INVALID_HEADER', 500, `header name ${excerptString(name)} is not a token`);
    if (typeof value === 'string') {
      checkValue(name, value);
      out += `${name}: ${value}\r\n`;
    } else {
      for (const v of value) {
        checkValue(name, v);
        out += `${name}: ${v}\r\n`;
      }
    }
  }
  return out;
}

/** The names the codec writes itself (framing, host, connection management). */
function isManagedName(name: string): boolean {
  switch (name.length) {
    case 4:
      return equalsIgnoreCase(name, 'host');
    case 10:
      return equalsIgnoreCase(name, 'connection');
    case 14:
      return equalsIgnoreCase(name, 'content-length');
    case 17:
      return equalsIgnoreCase(name, 'transfer-encoding');
    default:
      return false;
  }
}

/** A field value may hold HTAB, SP, visible ASCII and obs-text (0x80–0xFF): what `head.ts` accepts. */
function checkValue(name: string, value: string): void {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff) {
      throw new Http1Error('HPE_INVALID_HEADER', 500, `header ${excerptString(name)}: character 0x${c.toString(16)} at ${i} is not allowed in a value`);
    }
  }
}

function checkTarget(path: string): void {
  if (path.length === 0) throw new Http1Error('HPE_INVALID_REQUEST_LINE', 500, 'empty request target');
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) {
      throw new Http1Error('HPE_INVALID_REQUEST_LINE', 500, `request target ${excerptString(path)}: character 0x${c.toString(16)} at ${i} is not visible ASCII`);
    }
  }
}
