/**
 * The downstream request body, streamed to the current upstream attempt with back-pressure, copied to
 * mirrors without it, and kept for replay while it fits in the retry buffer.
 *
 * - Back-pressure: when the attempt's sink is full, the client's stream is paused until it drains. Mirrors
 *   never pause it (a mirror must not slow the request): a mirror holding more than the buffer limit
 *   unwritten is dropped.
 * - Replay: chunks are kept until the body passes `limit` bytes; after that the body cannot be replayed and
 *   `replayable` is false (no retry, and a mirror connected late is skipped).
 * - Per chunk: one bound listener, no allocation besides keeping the chunk.
 * - Trailers: read from the request when its body ends, filtered (`forwardableTrailers`), and sent to every
 *   sink that can carry them (`endWithTrailers`), replays and mirrors included; dropped where none can.
 */
import { forwardableTrailers, type HeaderMap } from '../route/headers.js';
import type { BodySink, BodySource, DownstreamRequest } from './message.js';

export class RequestBody {
  readonly #src: BodySource;
  readonly #request: Pick<DownstreamRequest, 'trailers'> | undefined;
  readonly #limit: number;
  #trailers: HeaderMap | undefined;
  #chunks: Buffer[] = [];
  #bytes = 0;
  #replayable = true;
  #ended = false;
  #sink: BodySink | undefined;
  readonly #mirrors = new Set<BodySink>();
  #started = false;

  /** `request` gives the trailers once `src` has ended (none when absent). */
  constructor(src: BodySource, limit: number, request?: Pick<DownstreamRequest, 'trailers'>) {
    this.#src = src;
    this.#limit = limit;
    this.#request = request;
  }

  /** The trailers being forwarded, once the body has ended. */
  get trailers(): HeaderMap | undefined {
    return this.#trailers;
  }

  /** Bytes received from the client so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Whether every byte so far is still held (a new attempt can send the body from the start). */
  get replayable(): boolean {
    return this.#replayable;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Makes `sink` the attempt that receives the body: what was received so far, then the rest as it comes. */
  attach(sink: BodySink): void {
    this.detach();
    if (!this.#replayable) throw new Error('the request body was larger than the retry buffer and cannot be sent again');
    this.#sink = sink;
    sink.on('drain', this.#onDrain);
    for (const c of this.#chunks) sink.write(c);
    if (this.#ended) this.#end(sink);
    this.#start();
    if (!sink.writableNeedDrain) this.#src.resume();
  }

  /** Stops sending to the current attempt (it failed or is being abandoned). */
  detach(): void {
    if (this.#sink === undefined) return;
    this.#sink.off('drain', this.#onDrain);
    this.#sink = undefined;
    // Nowhere to go until the next attempt: hold the client.
    if (!this.#ended) this.#src.pause();
  }

  /** Copies the body to a mirror (from the start when possible); false when it is too late to do so. */
  mirror(sink: BodySink): boolean {
    if (!this.#replayable) return false;
    for (const c of this.#chunks) sink.write(c);
    if (this.#ended) this.#end(sink);
    else this.#mirrors.add(sink);
    this.#start();
    return true;
  }

  #start(): void {
    if (this.#started) return;
    this.#started = true;
    // An HTTP/2 request whose HEADERS carried END_STREAM can have emitted its 'end' before the first attempt
    // starts (seen with Node 20's http2 core stream API, test/upstream-h2.test.ts): nothing to wait for.
    if (this.#src.readableEnded) {
      this.#onEnd();
      return;
    }
    this.#src.on('data', this.#onData);
    this.#src.once('end', this.#onEnd);
  }

  readonly #onData = (chunk: Buffer): void => {
    this.#bytes += chunk.length;
    if (this.#replayable) {
      if (this.#bytes <= this.#limit) this.#chunks.push(chunk);
      else {
        this.#replayable = false;
        this.#chunks = [];
      }
    }
    for (const m of this.#mirrors) {
      if (m.destroyed || m.writableLength > this.#limit) {
        this.#mirrors.delete(m);
        m.destroy();
      } else {
        m.write(chunk);
      }
    }
    const sink = this.#sink;
    if (sink === undefined) this.#src.pause();
    else if (!sink.write(chunk)) this.#src.pause();
  };

  readonly #onDrain = (): void => {
    this.#src.resume();
  };

  readonly #onEnd = (): void => {
    this.#ended = true;
    this.#trailers = this.#request === undefined ? undefined : forwardableTrailers(this.#request.trailers());
    if (this.#sink !== undefined) this.#end(this.#sink);
    for (const m of this.#mirrors) this.#end(m);
    this.#mirrors.clear();
  };

  #end(sink: BodySink): void {
    const trailers = this.#trailers;
    if (trailers !== undefined && sink.endWithTrailers !== undefined) sink.endWithTrailers(trailers);
    else sink.end();
  }
}
