/**
 * The waypoint's HTTP/1.1 codec: pure functions and small state machines, no I/O. The connection layer
 * finds and parses heads (`head.ts`), decides framing (`framing.ts`), decodes bodies (`body-decoder.ts`) and
 * writes heads and chunks (`encode.ts`).
 */
export { Http1Error, type Http1ErrorCode } from './errors.js';
export {
  DEFAULT_MAX_HEAD_BYTES,
  DEFAULT_MAX_HEADERS,
  findHeadEnd,
  findHeadEndFrom,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  type ResponseHead,
} from './head.js';
export { connectionOptions, contentLength, keepsAlive, requestFraming, responseFraming, type ConnectionOptions, type Framing } from './framing.js';
export { BodyDecoder, DEFAULT_MAX_TRAILER_BYTES, MAX_CHUNK_SIZE_LINE } from './body-decoder.js';
export { CHUNK_SUFFIX, chunkPrefix, lastChunk, requestHead, responseHead, type BodyFraming, type HeaderMap } from './encode.js';
