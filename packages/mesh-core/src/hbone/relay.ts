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
 *
 * Cost. A proxy holds thousands of mostly idle relays, so a relay is one small object and nothing else: the
 * listeners are module-level functions shared by every relay, which find their relay through a symbol
 * property on the stream that emitted (`this` of an event listener), and no closure, promise or bound
 * function is made per relay (`startRelay` tells an owner object when it is done). The per-chunk path
 * allocates nothing; the sockets corked in one loop turn are uncorked together by one `setImmediate`.
 * A stream takes part in at most one relay in its life.
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

/**
 * Told once, when both streams of a relay have closed. A method on an object (the connection's own record,
 * typically) rather than a callback, so that a caller needs no closure per relay either. Must not throw: it
 * runs inside a stream's 'close' event.
 */
export interface RelayOwner {
  relayDone(result: RelayResult): void;
}

/** Bytes a destination may hold before its source is paused (per direction). */
export const RELAY_BUFFER_LIMIT = 256 * 1024;

/** Chunks at least this large are bulk data: their writes to a socket are gathered per event-loop turn. */
export const BATCH_MIN_CHUNK = 8 * 1024;

/** Relays `a` ⇄ `b`; resolves once both streams have closed. Never rejects. */
export function relay(a: Duplex, b: Duplex): Promise<RelayResult> {
  return new Promise((resolve) => {
    startRelay(a, b, { relayDone: resolve });
  });
}

/** Relays `a` ⇄ `b` and calls `owner.relayDone` once both streams have closed. */
export function startRelay(a: Duplex, b: Duplex, owner: RelayOwner): void {
  new Relay(a, b, owner).start();
}

const kRelay: unique symbol = Symbol('ambit.relay');

/** A stream in a relay: the relay hangs off it, for the shared listeners. */
interface Relayed extends Duplex {
  [kRelay]?: Relay;
}

// Bits of Relay#flags.
/** `b` / `a` is a socket: writes to it are worth gathering. */
const BATCH_TO_B = 1;
const BATCH_TO_A = 2;
/** `b` / `a` is corked until the flush at the end of this loop turn. */
const CORKED_B = 4;
const CORKED_A = 8;
/** In the flush queue. */
const QUEUED = 16;
const TORN_DOWN = 32;

class Relay {
  readonly #a: Relayed;
  readonly #b: Relayed;
  readonly #owner: RelayOwner;
  #aToB = 0;
  #bToA = 0;
  #open = 2;
  #flags = 0;
  #error: Error | undefined;

  constructor(a: Duplex, b: Duplex, owner: RelayOwner) {
    this.#a = a;
    this.#b = b;
    this.#owner = owner;
    if (b instanceof Socket) this.#flags |= BATCH_TO_B;
    if (a instanceof Socket) this.#flags |= BATCH_TO_A;
  }

  start(): void {
    const a = this.#a;
    const b = this.#b;
    a[kRelay] = this;
    b[kRelay] = this;
    a.on('error', onError);
    b.on('error', onError);
    watchClose(a);
    watchClose(b);
    this.#startDirection(a, b);
    this.#startDirection(b, a);
  }

  #startDirection(src: Relayed, dst: Relayed): void {
    dst.on('drain', onDrain);
    if (src.readableEnded) {
      this.ended(src);
      return;
    }
    src.on('end', onEnd);
    src.on('data', onData);
    // A 'data' listener does not restart a stream that was paused explicitly (a socket accepted with
    // `pauseOnConnect`, as proxies do while they decide where it goes): resume it, unless the
    // destination is already full, in which case 'drain' will.
    if (!dst.writableNeedDrain) src.resume();
  }

  /** A chunk from `src`: the per-chunk path. */
  data(src: Relayed, chunk: Buffer): void {
    let dst: Relayed;
    let batch: number;
    let corked: number;
    if (src === this.#a) {
      this.#aToB += chunk.length;
      dst = this.#b;
      batch = BATCH_TO_B;
      corked = CORKED_B;
    } else {
      this.#bToA += chunk.length;
      dst = this.#a;
      batch = BATCH_TO_A;
      corked = CORKED_A;
    }
    const flags = this.#flags;
    if ((flags & (batch | corked)) === batch && chunk.length >= BATCH_MIN_CHUNK) {
      this.#flags = flags | corked;
      dst.cork();
      if ((flags & QUEUED) === 0) {
        this.#flags |= QUEUED;
        queueFlush(this);
      }
    }
    // write() says false past the destination's own high-water mark; 'drain' follows once it empties. Pause
    // only past our limit (which is then past the mark too, so 'drain' will come), or when `dst` can take
    // no more at all (a teardown is on its way).
    if (!dst.write(chunk) && (dst.writableLength >= RELAY_BUFFER_LIMIT || !dst.writable)) src.pause();
  }

  /** End of the loop turn: write what was gathered. (`end()` and `destroy()` before this are fine: `end()` flushes, uncorking twice is a no-op.) */
  flush(): void {
    const flags = this.#flags;
    this.#flags = flags & ~(CORKED_A | CORKED_B | QUEUED);
    if ((flags & CORKED_B) !== 0) this.#b.uncork();
    if ((flags & CORKED_A) !== 0) this.#a.uncork();
  }

  /** `dst` emptied its buffer: let its source flow again. */
  drained(dst: Relayed): void {
    (dst === this.#b ? this.#a : this.#b).resume();
  }

  /** `src` ended its readable side: pass the end on, unless it was a reset. */
  ended(src: Relayed): void {
    // Node ends an HTTP/2 stream's readable side on RST_STREAM too; a reset must not pass for a FIN.
    // `aborted`: reset while our side was still open (even with NO_ERROR, which destroy() sends).
    const s = src as { rstCode?: number; aborted?: boolean };
    const rst = s.rstCode;
    if (s.aborted === true || (typeof rst === 'number' && rst !== 0)) {
      this.teardown(new HboneError('HBONE_ERR_RESET', `the tunnel stream was reset by the peer (HTTP/2 error code ${rst})`));
      return;
    }
    const dst = src === this.#a ? this.#b : this.#a;
    if (!dst.destroyed && !dst.writableEnded) dst.end();
  }

  closed(s: Relayed): void {
    // Closing after both directions finished is the normal end; anything else is a break.
    if (!(s.readableEnded && s.writableFinished)) {
      this.teardown(new HboneError('HBONE_ERR_RESET', `the ${s === this.#a ? 'first' : 'second'} side of the tunnel closed before finishing`));
    }
    if (--this.#open === 0) {
      const result: RelayResult = { aToB: this.#aToB, bToA: this.#bToA };
      if (this.#error) result.error = this.#error;
      this.#owner.relayDone(result);
    }
  }

  /** Aborts both sides (once); the first reason is the one reported. */
  teardown(err: Error): void {
    if ((this.#flags & TORN_DOWN) !== 0) return;
    this.#flags |= TORN_DOWN;
    this.#error = err;
    abort(this.#a, err);
    abort(this.#b, err);
  }
}

// The listeners every relay shares; `this` is the stream that emitted.

function onData(this: Relayed, chunk: Buffer): void {
  this[kRelay]!.data(this, chunk);
}

function onEnd(this: Relayed): void {
  this[kRelay]!.ended(this);
}

function onDrain(this: Relayed): void {
  this[kRelay]!.drained(this);
}

function onError(this: Relayed, err: Error): void {
  this[kRelay]!.teardown(err);
}

function onClose(this: Relayed): void {
  this[kRelay]!.closed(this);
}

function closedBefore(s: Relayed): void {
  s[kRelay]!.closed(s);
}

function watchClose(s: Relayed): void {
  // A stream that already closed will not emit 'close' again.
  if (s.closed) process.nextTick(closedBefore, s);
  else s.on('close', onClose);
}

/** Relays with a corked destination, uncorked together at the end of the loop turn. */
const flushQueue: Relay[] = [];

function queueFlush(relay: Relay): void {
  if (flushQueue.push(relay) === 1) setImmediate(flushAll);
}

function flushAll(): void {
  // Indexed, so a relay queued while flushing is flushed too (its batch is as old as this turn).
  for (let i = 0; i < flushQueue.length; i++) flushQueue[i]!.flush();
  flushQueue.length = 0;
}

/** Destroys a stream so that its peer sees a failure: RST for TCP, RST_STREAM (INTERNAL_ERROR) for HTTP/2. */
function abort(s: Duplex, err: Error): void {
  if (s.destroyed) return;
  // libuv refuses an RST after a shutdown (FIN) was requested, and Node then never closes the handle:
  // once we have ended the socket, a plain destroy is the only safe close.
  if (s instanceof Socket && !s.connecting && !s.writableEnded) s.resetAndDestroy();
  else s.destroy(err);
}
