/**
 * Copies bytes both ways between two duplex streams (an HBONE stream and a TCP socket) until both
 * directions are done.
 *
 * - Half-close: the end of one side's input ends only the other side's output (FIN, or END_STREAM on an
 *   HTTP/2 stream); the opposite direction keeps flowing.
 * - Back-pressure: a destination holding `RELAY_BUFFER_LIMIT` bytes (or more than its own high-water mark,
 *   if that is larger) pauses its source until it drains, so each direction buffers at most that much plus
 *   one chunk, on top of the kernel's socket buffers and, for HTTP/2, the flow-control window. The limit is
 *   above Node's 16 KiB default because an HTTP/2 stream completes writes asynchronously: pausing at 16 KiB
 *   would stop the source after every 64 KiB socket read and cost a loop turn per chunk.
 * - Batching: a socket destination gets bulk chunks (≥ `BATCH_MIN_CHUNK`) gathered with `cork()` until the
 *   end of the event-loop turn and written with one `writev`. An HTTP/2 receiver hands data over per TLS
 *   record (two pieces per 16 KiB DATA frame, as frames and records are not aligned), so without this a
 *   64 KiB socket read became about eight small write syscalls, each waking the reader on the other end.
 *   Small chunks (interactive traffic) are written at once and pay nothing. HTTP/2 stream destinations are
 *   not corked: nghttp2 already sends once per turn.
 * - Failure: an error, or a side that closes before finishing both directions (a reset, an aborted stream),
 *   tears down the other side abruptly: a TCP socket gets an RST, an HTTP/2 stream an RST_STREAM, so the
 *   peer learns the tunnel broke rather than seeing a clean end. (Node folds a reset issued right after a
 *   write into a FIN; the socket is closed either way.) A reset HTTP/2 stream also ends its readable side
 *   in Node, so `rstCode`/`aborted` are checked before passing an end on as a FIN.
 * - Cost: the listeners are created once per relay; the per-chunk path allocates nothing (a batch costs one
 *   `setImmediate` per loop turn).
 */
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { HboneError } from './errors.js';

export interface RelayResult {
  /** Bytes read from `a` (and written to `b`). */
  aToB: number;
  /** Bytes read from `b` (and written to `a`). */
  bToA: number;
  /** Why the tunnel was torn down, if it did not finish cleanly. */
  error?: Error;
}

/** Bytes a destination may hold before its source is paused (per direction). */
export const RELAY_BUFFER_LIMIT = 256 * 1024;

/** Chunks at least this large are bulk data: their writes to a socket are gathered per event-loop turn. */
export const BATCH_MIN_CHUNK = 8 * 1024;

/** Relays `a` ⇄ `b`; resolves once both streams have closed. Never rejects. */
export function relay(a: Duplex, b: Duplex): Promise<RelayResult> {
  return new Relay(a, b).done;
}

/** One direction: `src` → `dst`, pipe-style. */
class Pump {
  bytes = 0;
  readonly #src: Duplex;
  readonly #dst: Duplex;
  readonly #relay: Relay;
  /** Writes to `dst` are syscalls (a socket), worth gathering. */
  readonly #batches: boolean;
  /** `dst` is corked until #flush runs at the end of this loop turn. */
  #corked = false;

  constructor(src: Duplex, dst: Duplex, relay: Relay) {
    this.#src = src;
    this.#dst = dst;
    this.#relay = relay;
    this.#batches = dst instanceof Socket;
  }

  start(): void {
    this.#dst.on('drain', this.#onDrain);
    if (this.#src.readableEnded) {
      this.#onEnd();
      return;
    }
    this.#src.on('end', this.#onEnd);
    this.#src.on('data', this.#onData);
    // A 'data' listener does not restart a stream that was paused explicitly (a socket accepted with
    // `pauseOnConnect`, as proxies do while they decide where it goes): resume it, unless the
    // destination is already full, in which case 'drain' will.
    if (!this.#dst.writableNeedDrain) this.#src.resume();
  }

  readonly #onData = (chunk: Buffer): void => {
    this.bytes += chunk.length;
    const dst = this.#dst;
    if (this.#batches && !this.#corked && chunk.length >= BATCH_MIN_CHUNK) {
      this.#corked = true;
      dst.cork();
      setImmediate(this.#flush);
    }
    // write() says false past the destination's own high-water mark; 'drain' follows once it empties. Pause
    // only past our limit (which is then past the mark too, so 'drain' will come), or when `dst` can take
    // no more at all (a teardown is on its way).
    if (!dst.write(chunk) && (dst.writableLength >= RELAY_BUFFER_LIMIT || !dst.writable)) this.#src.pause();
  };

  /** End of the loop turn: write what was gathered. (`end()` and `destroy()` before this are fine: `end()` flushes, uncorking twice is a no-op.) */
  readonly #flush = (): void => {
    this.#corked = false;
    this.#dst.uncork();
  };

  readonly #onDrain = (): void => {
    this.#src.resume();
  };

  readonly #onEnd = (): void => {
    // Node ends an HTTP/2 stream's readable side on RST_STREAM too; a reset must not pass for a FIN.
    // `aborted`: reset while our side was still open (even with NO_ERROR, which destroy() sends).
    const src = this.#src as { rstCode?: number; aborted?: boolean };
    const rst = src.rstCode;
    if (src.aborted === true || (typeof rst === 'number' && rst !== 0)) {
      this.#relay.teardown(new HboneError('HBONE_ERR_RESET', `the tunnel stream was reset by the peer (HTTP/2 error code ${rst})`));
      return;
    }
    if (!this.#dst.destroyed && !this.#dst.writableEnded) this.#dst.end();
  };
}

class Relay {
  readonly done: Promise<RelayResult>;
  readonly #a: Duplex;
  readonly #b: Duplex;
  readonly #ab: Pump;
  readonly #ba: Pump;
  #resolve!: (r: RelayResult) => void;
  #open = 2;
  #error: Error | undefined;
  #tornDown = false;

  constructor(a: Duplex, b: Duplex) {
    this.#a = a;
    this.#b = b;
    this.done = new Promise((resolve) => {
      this.#resolve = resolve;
    });
    this.#ab = new Pump(a, b, this);
    this.#ba = new Pump(b, a, this);
    a.on('error', this.#onError);
    b.on('error', this.#onError);
    this.#watchClose(a, this.#onCloseA);
    this.#watchClose(b, this.#onCloseB);
    this.#ab.start();
    this.#ba.start();
  }

  #watchClose(s: Duplex, onClose: () => void): void {
    // A stream that already closed will not emit 'close' again.
    if (s.closed) process.nextTick(onClose);
    else s.on('close', onClose);
  }

  readonly #onError = (err: Error): void => {
    this.teardown(err);
  };

  readonly #onCloseA = (): void => {
    this.#closed(this.#a, 'first');
  };

  readonly #onCloseB = (): void => {
    this.#closed(this.#b, 'second');
  };

  #closed(s: Duplex, which: string): void {
    // Closing after both directions finished is the normal end; anything else is a break.
    if (!(s.readableEnded && s.writableFinished)) {
      this.teardown(new HboneError('HBONE_ERR_RESET', `the ${which} side of the tunnel closed before finishing`));
    }
    if (--this.#open === 0) {
      const result: RelayResult = { aToB: this.#ab.bytes, bToA: this.#ba.bytes };
      if (this.#error) result.error = this.#error;
      this.#resolve(result);
    }
  }

  /** Aborts both sides (once); the first reason is the one reported. */
  teardown(err: Error): void {
    if (this.#tornDown) return;
    this.#tornDown = true;
    this.#error = err;
    abort(this.#a, err);
    abort(this.#b, err);
  }
}

/** Destroys a stream so that its peer sees a failure: RST for TCP, RST_STREAM (INTERNAL_ERROR) for HTTP/2. */
function abort(s: Duplex, err: Error): void {
  if (s.destroyed) return;
  // libuv refuses an RST after a shutdown (FIN) was requested, and Node then never closes the handle:
  // once we have ended the socket, a plain destroy is the only safe close.
  if (s instanceof Socket && !s.connecting && !s.writableEnded) s.resetAndDestroy();
  else s.destroy(err);
}
