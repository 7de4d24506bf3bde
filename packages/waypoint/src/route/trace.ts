/**
 * Trace context propagation through the waypoint, one hop each time it forwards a request:
 *
 * - W3C `traceparent` (`00-<trace id>-<parent id>-<flags>`): the trace id and flags are kept, the parent id
 *   becomes a new span id of ours. A missing or malformed header starts a new trace (random ids, flags 00:
 *   the waypoint records nothing, so it does not ask for sampling). `tracestate` passes untouched.
 * - B3 (`x-b3-traceid`, `x-b3-spanid`, `x-b3-parentspanid`, `x-b3-sampled`), when the client sent it: the
 *   trace id is kept, its span id becomes the parent, and a new span id is ours. The single `b3` header is
 *   rewritten the same way.
 */
import { randomBytes } from 'node:crypto';
import { firstValue, type HeaderMap } from './headers.js';

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const HEX_ID = /^[0-9a-f]{16}([0-9a-f]{16})?$/;

/** Random ids come in blocks: one `randomBytes` call serves many requests. */
let pool = Buffer.alloc(0);
let offset = 0;

function randomHex(bytes: number): string {
  if (offset + bytes > pool.length) {
    pool = randomBytes(4096);
    offset = 0;
  }
  const s = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return s;
}

function nonZeroHex(bytes: number): string {
  for (;;) {
    const s = randomHex(bytes);
    if (!/^0+$/.test(s)) return s;
  }
}

/** Rewrites the trace headers of `headers` for the next hop; returns the trace id (for the access log). */
export function propagateTrace(headers: HeaderMap): string {
  const span = nonZeroHex(8);
  let traceId: string;
  const tp = firstValue(headers, 'traceparent');
  const m = tp === undefined ? null : TRACEPARENT.exec(tp.trim().toLowerCase());
  if (m !== null && m[1] !== 'ff' && !/^0+$/.test(m[2]!) && !/^0+$/.test(m[3]!)) {
    traceId = m[2]!;
    headers['traceparent'] = `00-${traceId}-${span}-${m[4]!}`;
  } else {
    traceId = nonZeroHex(16);
    headers['traceparent'] = `00-${traceId}-${span}-00`;
    delete headers['tracestate'];
  }
  const b3Trace = firstValue(headers, 'x-b3-traceid');
  if (b3Trace !== undefined && HEX_ID.test(b3Trace.toLowerCase())) {
    const parent = firstValue(headers, 'x-b3-spanid');
    if (parent !== undefined && HEX_ID.test(parent.toLowerCase())) headers['x-b3-parentspanid'] = parent;
    headers['x-b3-spanid'] = span;
  }
  const b3 = firstValue(headers, 'b3');
  if (b3 !== undefined) {
    // b3: {traceid}-{spanid}[-{sampled}[-{parentspanid}]]
    const parts = b3.split('-');
    if (parts.length >= 2 && HEX_ID.test(parts[0]!) && HEX_ID.test(parts[1]!)) {
      // The parent can only be written after a sampling state.
      headers['b3'] = parts[2] === undefined ? `${parts[0]!}-${span}` : `${parts[0]!}-${span}-${parts[2]}-${parts[1]!}`;
    }
  }
  return traceId;
}

/** A request id for `x-request-id` when the client sent none. */
export function newRequestId(): string {
  const h = randomHex(16);
  // UUID v4 layout: version nibble 4, variant 10xx.
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
