import type { Duplex } from 'node:stream';

/**
 * Node's HTTP/1.1 client and server write their message heads as latin1 strings, corked together with the
 * body. An HTTP/2 stream (our tunnel) takes strings in `writev` and, apparently, converts them after the
 * call returns, when the memory holding the converted string can already be reused: on the client side of
 * a stream the first bytes of a request head arrived corrupted, every time (Node 20.20; see
 * test/decode-strings.test.ts for what was seen). Making the stream's Writable convert strings to Buffers
 * up front (as every other Writable does by default) keeps only Buffers on that path. Applied to every
 * tunnel that carries HTTP/1.1 from Node's client. The waypoint itself no longer uses Node's HTTP/1.1
 * (its own connections write Buffers only); the tests' clients do, over tunnels, hence this helper.
 */
export function decodeStrings(stream: Duplex): void {
  const state = (stream as unknown as { _writableState?: { decodeStrings: boolean } })._writableState;
  if (state !== undefined) state.decodeStrings = true;
}
