/**
 * HTTP/1.1 `Upgrade: h2c` (RFC 7540 §3.2) for the waypoint's HTTP/2 server connection (`http2/`), which
 * only knows connections that begin with the preface.
 *
 * After the 101, the client sends the HTTP/2 preface and its first SETTINGS, and expects the upgrade
 * request to be answered on stream 1. We feed the HTTP/2 server a connection that begins as if the client
 * had sent that request itself:
 *
 *   preface | SETTINGS (HTTP2-Settings values, then the client's own SETTINGS values) |
 *   HEADERS (+CONTINUATION) for stream 1 | DATA for stream 1 (the HTTP/1.1 body, if any) | the client's
 *   bytes after its first SETTINGS
 *
 * The client's first SETTINGS is merged into ours instead of passing through, so the server acknowledges
 * exactly one SETTINGS frame, as the client expects (the HTTP2-Settings values need no acknowledgement;
 * the 101 stands for one). Header fields are encoded as HPACK literals without indexing, which leaves the
 * server's HPACK decoder state as the client's encoder assumes it (empty).
 *
 * Limits: the upgrade request's body must have a Content-Length of at most 65,535 bytes (what the server
 * may receive on stream 1 before its own SETTINGS apply); a chunked body is refused.
 */
import type { Duplex } from 'node:stream';
import { H2_PREFACE } from './sniff.js';

export const MAX_UPGRADE_BODY = 65_535;
const FRAME_HEADER = 9;
const MAX_FRAME_PAYLOAD = 16_384;
const TYPE = { DATA: 0, HEADERS: 1, SETTINGS: 4, CONTINUATION: 9 } as const;
const FLAG = { END_STREAM: 0x1, END_HEADERS: 0x4 } as const;

/** Headers of the upgrade request that must not become HTTP/2 fields (connection-specific). */
const DROP = new Set(['connection', 'upgrade', 'http2-settings', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'host']);

/** The upgrade request, as parsed by the HTTP/1.1 connection. */
export interface UpgradeRequest {
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: readonly string[];
}

/** Every value of header `name` (lower case), in order. */
function headerValues(req: UpgradeRequest, name: string): string[] {
  const out: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) out.push(raw[i + 1]!);
  return out;
}

/** Why an upgrade cannot be done, as an HTTP/1.1 status and reason; undefined when it can. */
export function checkH2cUpgrade(req: UpgradeRequest): { status: number; reason: string } | { settings: Buffer; bodyLength: number } {
  const upgradeHeader = headerValues(req, 'upgrade').join(', ');
  const upgrade = upgradeHeader.toLowerCase().split(',').map((s) => s.trim());
  if (!upgrade.includes('h2c')) return { status: 403, reason: `upgrade to ${JSON.stringify(upgradeHeader)} is not supported` };
  const values = headerValues(req, 'http2-settings');
  if (values.length !== 1) return { status: 400, reason: 'an h2c upgrade needs exactly one HTTP2-Settings header' };
  const raw = values[0]!.trim();
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(raw)) return { status: 400, reason: 'HTTP2-Settings is not base64url' };
  const settings = Buffer.from(raw, 'base64url');
  if (settings.length % 6 !== 0) return { status: 400, reason: `HTTP2-Settings decodes to ${settings.length} bytes, not a multiple of 6` };
  if (headerValues(req, 'transfer-encoding').length > 0) return { status: 400, reason: 'an h2c upgrade request with a chunked body is not supported; send Content-Length or use prior knowledge' };
  const lengths = headerValues(req, 'content-length');
  if (lengths.length > 1) return { status: 400, reason: 'an h2c upgrade request needs at most one Content-Length' };
  const cl = lengths[0];
  const bodyLength = cl === undefined ? 0 : /^[0-9]{1,15}$/.test(cl) ? Number(cl) : -1;
  if (!Number.isSafeInteger(bodyLength) || bodyLength < 0) return { status: 400, reason: 'bad Content-Length' };
  if (bodyLength > MAX_UPGRADE_BODY) return { status: 413, reason: `an h2c upgrade request body may be at most ${MAX_UPGRADE_BODY} bytes` };
  return { settings, bodyLength };
}

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId, 5);
  return Buffer.concat([h, payload]);
}

/** RFC 7541 §5.1 integer with a 7-bit prefix (the H bit clear: no Huffman). */
function hpackInt(n: number, out: number[]): void {
  if (n < 127) {
    out.push(n);
    return;
  }
  out.push(127);
  n -= 127;
  while (n >= 128) {
    out.push((n % 128) + 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
}

/** Literal header fields without indexing, new names (RFC 7541 §6.2.2). */
export function hpackLiterals(fields: readonly (readonly [string, string])[]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    const prefix: number[] = [0x00];
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    hpackInt(n.length, prefix);
    const mid: number[] = [];
    hpackInt(v.length, mid);
    parts.push(Buffer.from(prefix), n, Buffer.from(mid), v);
  }
  return Buffer.concat(parts);
}

/** The HTTP/2 fields of the upgrade request. */
export function upgradeFields(req: UpgradeRequest): [string, string][] {
  const fields: [string, string][] = [
    [':method', req.method],
    [':scheme', 'http'],
    [':authority', headerValues(req, 'host')[0] ?? ''],
    [':path', req.url],
  ];
  const connectionListed = new Set(headerValues(req, 'connection').join(',').toLowerCase().split(',').map((s) => s.trim()));
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (DROP.has(name) || connectionListed.has(name)) continue;
    if (name === 'te' && raw[i + 1]!.trim().toLowerCase() !== 'trailers') continue;
    fields.push([name, raw[i + 1]!]);
  }
  return fields;
}

/** The synthetic start of the HTTP/2 connection (everything before the client's remaining bytes). */
export function synthesizeUpgrade(fields: readonly (readonly [string, string])[], settings: Buffer, clientSettings: Buffer, body: Buffer): Buffer {
  const out: Buffer[] = [H2_PREFACE, frame(TYPE.SETTINGS, 0, 0, Buffer.concat([settings, clientSettings]))];
  const block = hpackLiterals(fields);
  const endStream = body.length === 0 ? FLAG.END_STREAM : 0;
  for (let off = 0; off < block.length || off === 0; off += MAX_FRAME_PAYLOAD) {
    const piece = block.subarray(off, off + MAX_FRAME_PAYLOAD);
    const last = off + MAX_FRAME_PAYLOAD >= block.length;
    const type = off === 0 ? TYPE.HEADERS : TYPE.CONTINUATION;
    out.push(frame(type, (last ? FLAG.END_HEADERS : 0) | (off === 0 ? endStream : 0), 1, piece));
    if (block.length === 0) break;
  }
  for (let off = 0; off < body.length; off += MAX_FRAME_PAYLOAD) {
    const last = off + MAX_FRAME_PAYLOAD >= body.length;
    out.push(frame(TYPE.DATA, last ? FLAG.END_STREAM : 0, 1, body.subarray(off, off + MAX_FRAME_PAYLOAD)));
  }
  return Buffer.concat(out);
}

/**
 * Reads exactly `n` bytes that follow `head` on `stream` (the upgrade body, then the client's preface and
 * first SETTINGS). Resolves with [those bytes, what came after]; rejects if the stream ends first.
 */
export function readExactly(stream: Duplex, head: Buffer, n: number | ((buf: Buffer) => number | undefined)): Promise<[Buffer, Buffer]> {
  return new Promise((resolve, reject) => {
    let buf = head;
    const need = (): number | undefined => (typeof n === 'number' ? n : n(buf));
    const check = (): boolean => {
      const k = need();
      if (k === undefined || buf.length < k) return false;
      if (k < 0) {
        cleanup();
        reject(new Error('the client did not start HTTP/2 with a preface and SETTINGS after the 101'));
        return true;
      }
      cleanup();
      stream.pause();
      resolve([buf.subarray(0, k), buf.subarray(k)]);
      return true;
    };
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      check();
    };
    const onEnd = (): void => {
      cleanup();
      reject(new Error('the client closed the connection during the h2c upgrade'));
    };
    const cleanup = (): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('close', onEnd);
    };
    if (check()) return;
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('close', onEnd);
    stream.resume();
  });
}

/**
 * How many bytes the client's preface and first SETTINGS frame take at the start of `buf`: undefined
 * while incomplete, -1 when the bytes are not a preface followed by SETTINGS.
 */
export function prefaceAndSettingsLength(buf: Buffer): number | undefined {
  const n = Math.min(buf.length, H2_PREFACE.length);
  if (!buf.subarray(0, n).equals(H2_PREFACE.subarray(0, n))) return -1;
  if (buf.length < H2_PREFACE.length + FRAME_HEADER) return undefined;
  const at = H2_PREFACE.length;
  const len = buf.readUIntBE(at, 3);
  if (buf[at + 3] !== TYPE.SETTINGS || (buf[at + 4]! & 0x1) !== 0 || buf.readUInt32BE(at + 5) !== 0 || len % 6 !== 0 || len > MAX_FRAME_PAYLOAD) return -1;
  return at + FRAME_HEADER + len;
}
