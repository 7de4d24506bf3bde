/**
 * HTTP/2 framing (RFC 9113 §4 and §6): the numbers of the wire format, and the writers of the frames the
 * waypoint's server sends. Reading is done in place by the connection (`server-connection.ts`), which
 * looks at the 9-byte header and hands the payload on as a slice, so nothing here allocates per frame
 * except the output buffers themselves.
 */

/** Every frame starts with a 9-byte header: length (24), type (8), flags (8), R + stream id (1 + 31). */
export const FRAME_HEADER_BYTES = 9;

/** The client connection preface (RFC 9113 §3.4), before its first SETTINGS frame. */
export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const Flag = {
  END_STREAM: 0x1,
  /** SETTINGS and PING. */
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

/** Error codes of RST_STREAM and GOAWAY (RFC 9113 §7). */
export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

const ERROR_NAMES = Object.fromEntries(Object.entries(ErrorCode).map(([k, v]) => [v, k])) as Record<number, string>;

/** `PROTOCOL_ERROR` for 0x1; unknown codes (which must be treated as INTERNAL_ERROR's kin) as hex. */
export function errorCodeName(code: number): string {
  return ERROR_NAMES[code] ?? `0x${code.toString(16)}`;
}

export const SettingId = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

/** The protocol's defaults, in force until the peer's SETTINGS say otherwise. */
export const DEFAULT_WINDOW = 65_535;
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
export const DEFAULT_HEADER_TABLE_SIZE = 4_096;
/** The largest flow-control window and window increment (2^31 - 1). */
export const MAX_WINDOW = 0x7fff_ffff;
/** The largest MAX_FRAME_SIZE a peer may announce (2^24 - 1). */
export const MAX_MAX_FRAME_SIZE = 0xff_ffff;

/** Writes a frame header at `offset` of `buf`; returns the offset after it. */
export function writeFrameHeader(buf: Buffer, offset: number, length: number, type: number, flags: number, streamId: number): number {
  buf[offset] = (length >>> 16) & 0xff;
  buf[offset + 1] = (length >>> 8) & 0xff;
  buf[offset + 2] = length & 0xff;
  buf[offset + 3] = type;
  buf[offset + 4] = flags;
  buf.writeUInt32BE(streamId, offset + 5);
  return offset + FRAME_HEADER_BYTES;
}

/** A SETTINGS frame carrying `[id, value, …]` pairs. */
export function settingsFrame(pairs: readonly number[]): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + pairs.length * 3);
  let o = writeFrameHeader(buf, 0, pairs.length * 3, FrameType.SETTINGS, 0, 0);
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    buf.writeUInt16BE(pairs[i]!, o);
    buf.writeUInt32BE(pairs[i + 1]!, o + 2);
    o += 6;
  }
  return buf;
}

export const SETTINGS_ACK = settingsAck();

function settingsAck(): Buffer {
  const buf = Buffer.alloc(FRAME_HEADER_BYTES);
  writeFrameHeader(buf, 0, 0, FrameType.SETTINGS, Flag.ACK, 0);
  return buf;
}

/** PING with ACK, echoing the 8 opaque bytes at `payload[start..start+8)`. */
export function pingAck(payload: Buffer, start: number): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 8);
  writeFrameHeader(buf, 0, 8, FrameType.PING, Flag.ACK, 0);
  payload.copy(buf, FRAME_HEADER_BYTES, start, start + 8);
  return buf;
}

export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
  writeFrameHeader(buf, 0, 4, FrameType.WINDOW_UPDATE, 0, streamId);
  buf.writeUInt32BE(increment, FRAME_HEADER_BYTES);
  return buf;
}

export function rstStreamFrame(streamId: number, code: number): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
  writeFrameHeader(buf, 0, 4, FrameType.RST_STREAM, 0, streamId);
  buf.writeUInt32BE(code, FRAME_HEADER_BYTES);
  return buf;
}

/** GOAWAY with the last stream id processed, the error code, and a reason as debug data (at most 256 bytes). */
export function goawayFrame(lastStreamId: number, code: number, debug: string): Buffer {
  const text = Buffer.from(debug.slice(0, 256), 'latin1');
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 8 + text.length);
  writeFrameHeader(buf, 0, 8 + text.length, FrameType.GOAWAY, 0, 0);
  buf.writeUInt32BE(lastStreamId, FRAME_HEADER_BYTES);
  buf.writeUInt32BE(code, FRAME_HEADER_BYTES + 4);
  text.copy(buf, FRAME_HEADER_BYTES + 8);
  return buf;
}
