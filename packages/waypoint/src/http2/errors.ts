import { MeshError } from '@ambit/mesh-core/errors';
import { errorCodeName } from './frames.js';

/**
 * Stable codes of the waypoint's HTTP/2 server:
 * - `H2_CONNECTION_ERROR`: the peer broke the protocol for the whole connection; it was sent GOAWAY with
 *   `h2Code` and closed (RFC 9113 §5.4.1).
 * - `H2_STREAM_ERROR`: one stream was malformed or broke flow control; it was reset with `h2Code`.
 * - `H2_STREAM_RESET`: the peer reset the stream (RST_STREAM with `h2Code`), or the connection ended first.
 * - `H2_INVALID_HEADER`: the proxy asked to send a field HTTP/2 cannot carry (its own fault: nothing is sent).
 */
export type Http2ErrorCode = 'H2_CONNECTION_ERROR' | 'H2_STREAM_ERROR' | 'H2_STREAM_RESET' | 'H2_INVALID_HEADER';

export class Http2Error extends MeshError {
  declare readonly code: Http2ErrorCode;
  /** The HTTP/2 error code sent or received (RFC 9113 §7). */
  readonly h2Code: number;

  constructor(code: Http2ErrorCode, h2Code: number, reason: string) {
    super(code, `${reason} (${errorCodeName(h2Code)})`);
    this.h2Code = h2Code;
  }
}
