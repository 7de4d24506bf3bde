/**
 * Resetting an HTTP/2 stream so that the peer cannot take it for a finished one.
 *
 * Node's `Http2Stream.close(code)` and an error-less `destroy()` first end the writable side when it is
 * still open, so the peer receives END_STREAM before (or instead of) the RST_STREAM: an upstream reads a
 * truncated request body as complete, and a client a truncated response (seen on Node 20.20: `close(2)`
 * after a partial response delivered 'end' and rstCode 0 to the client; `close(8)` mid-request delivered
 * 'end' to the server before 'aborted'). Only `destroy(err)` sends RST_STREAM(INTERNAL_ERROR) alone. The
 * same holds for the HBONE tunnel streams that carry HTTP/1.1, so those are reset the same way.
 */
import type { Duplex } from 'node:stream';

/** Resets `stream` (RST_STREAM(INTERNAL_ERROR) for an HTTP/2 stream, a TCP reset for a socket). */
export function resetStream(stream: Duplex, reason: Error): void {
  if (!stream.destroyed) stream.destroy(reason);
}
