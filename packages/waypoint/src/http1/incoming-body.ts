/**
 * A message body arriving on one of our HTTP/1.1 connections, as a `BodySource` (Readable's flowing-mode
 * subset) without a Readable per message: the connection pushes decoded slices, the consumer gets them as
 * 'data' events, and back-pressure goes straight to the connection's input (`InputControl`) instead of
 * through a stream buffer.
 *
 * Flowing as Readable: not flowing until a 'data' listener is added or `resume()` is called; `pause()`
 * holds chunks (the connection stops reading); `resume()` delivers what was held, then 'end' if it came.
 * 'error' is emitted only when someone listens (an unheard error must not become an exception here: the
 * connection reports it to the request's owner in its own way); 'close' once, after 'end' or on abort.
 */
import { EventEmitter } from 'node:events';
import type { BodySource } from '../proxy/message.js';

/** The reading side of the connection a body arrives on. */
export interface InputControl {
  /** The consumer cannot take more now: stop reading from the peer. */
  pauseInput(): void;
  /** The consumer takes data again. */
  resumeInput(): void;
}

export class IncomingBody extends EventEmitter implements BodySource {
  readonly #input: InputControl;
  /** null: neither paused nor resumed yet (a 'data' listener starts the flow, as Readable's). */
  #flowing: boolean | null = null;
  /** Chunks pushed while not flowing; undefined while none (most bodies never wait). */
  #held: Buffer[] | undefined;
  #endPending = false;
  #ended = false;
  #closed = false;
  #delivering = false;
  #flushScheduled = false;

  constructor(input: InputControl) {
    super();
    this.#input = input;
  }

  get readableEnded(): boolean {
    return this.#ended;
  }

  override on(event: string | symbol, listener: Parameters<EventEmitter['on']>[1]): this {
    super.on(event, listener);
    if (event === 'data' && this.#flowing === null) this.resume();
    return this;
  }

  pause(): this {
    this.#flowing = false;
    return this;
  }

  /**
   * Held chunks and a held 'end' are delivered on the next tick, as Readable does, so that listeners added
   * right after the first 'data' listener (typically 'end') hear them.
   */
  resume(): this {
    this.#flowing = true;
    if (this.#held !== undefined || this.#endPending) {
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        process.nextTick(flush, this);
      }
    } else {
      this.#input.resumeInput();
    }
    return this;
  }

  /** For `process.nextTick`: delivers what was held while not flowing. */
  flushHeld(): void {
    this.#flushScheduled = false;
    this.#deliverHeld();
    // After the end too: the connection's next message must not stay paused by this one.
    if (this.#flowing === true && this.#held === undefined) this.#input.resumeInput();
  }

  /** From the connection: the next decoded slice. */
  push(chunk: Buffer): void {
    if (this.#flowing !== true || this.#held !== undefined) {
      (this.#held ??= []).push(chunk);
      this.#input.pauseInput();
      return;
    }
    this.emit('data', chunk);
    if (this.#flowing !== true) this.#input.pauseInput();
  }

  /** From the connection: the body is complete. */
  pushEnd(): void {
    if (this.#flowing === true && this.#held === undefined) this.#end();
    else this.#endPending = true;
  }

  /** From the connection: the body will not complete (the peer went away or broke the framing). */
  abort(err: Error): void {
    if (this.#ended || this.#closed) return;
    this.#held = undefined;
    this.#endPending = false;
    if (this.listenerCount('error') > 0) this.emit('error', err);
    this.#close();
  }

  #deliverHeld(): void {
    // A listener may pause or resume from inside 'data': the outer call keeps delivering.
    if (this.#delivering) return;
    this.#delivering = true;
    try {
      const held = this.#held;
      if (held !== undefined) {
        while (held.length > 0 && this.#flowing === true) this.emit('data', held.shift()!);
        if (held.length === 0) this.#held = undefined;
      }
      if (this.#endPending && this.#held === undefined && this.#flowing === true) {
        this.#endPending = false;
        this.#end();
      }
    } finally {
      this.#delivering = false;
    }
  }

  #end(): void {
    this.#ended = true;
    this.emit('end');
    this.#close();
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    process.nextTick(emitClose, this);
  }
}

function flush(body: IncomingBody): void {
  body.flushHeld();
}

function emitClose(body: IncomingBody): void {
  body.emit('close');
}
