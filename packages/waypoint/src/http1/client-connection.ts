/**
 * The client side of one pooled HTTP/1.1 connection to an upstream host (over an HBONE tunnel or TCP):
 * one exchange at a time. The request head leaves with the first body bytes (or alone at `end()`), the
 * body is framed by Content-Length when the downstream request had one and chunked otherwise, and the
 * response is parsed with the same strict codec as requests (`head.ts`, `framing.ts`, `body-decoder.ts`).
 *
 * Reuse: the connection goes back to its pool (`onIdle`) only when the request was sent whole, the
 * response was read whole, both sides allow keep-alive and nothing unexpected followed. Anything else
 * (an early response, a close-delimited body, extra bytes, an error) ends the connection.
 */
import type { Duplex } from 'node:stream';
import { headerMapFromRaw, type HeaderMap } from '../route/headers.js';
import type { BodySink } from '../proxy/message.js';
import type { UpstreamResponse } from '../upstream/exchange.js';
import { UpstreamError } from '../upstream/errors.js';
import { resetStream } from '../upstream/reset.js';
import { BodyDecoder } from './body-decoder.js';
import { lastChunk, requestHead } from './encode.js';
import { Http1Error } from './errors.js';
import { connectionOptions, keepsAlive, responseFraming } from './framing.js';
import { DEFAULT_MAX_HEAD_BYTES, findHeadEndFrom, parseResponseHead } from './head.js';
import { IncomingBody, type InputControl } from './incoming-body.js';
import { writeFramed } from './write-framed.js';

export type RequestFraming = { readonly kind: 'length'; readonly length: number } | { readonly kind: 'chunked' } | { readonly kind: 'none' };

export interface Http1RequestHead {
  readonly method: string;
  readonly path: string;
  readonly authority: string;
  readonly headers: HeaderMap;
}


export class Http1ClientConnection implements InputControl {
  readonly stream: Duplex;
  readonly #onIdle: (conn: Http1ClientConnection) => void;
  readonly #decoder = new BodyDecoder({ kind: 'length', length: 0 });
  #exchange: ClientExchange | undefined;
  #input: Buffer | undefined;
  /** Bytes of an incomplete head already scanned (a head arriving in pieces is scanned once). */
  #headScanned = 0;
  #paused = false;
  #parsing = false;
  #reusable = true;

  constructor(stream: Duplex, onIdle: (conn: Http1ClientConnection) => void) {
    this.stream = stream;
    this.#onIdle = onIdle;
    stream.on('data', this.#onData);
    stream.on('end', this.#onEnd);
    stream.on('close', this.#onClose);
    stream.on('drain', this.#onDrain);
    // While idle no exchange listens; a late error must not become an uncaught exception.
    stream.on('error', noop);
  }

  /** Can take a request now. */
  get usable(): boolean {
    return this.#reusable && this.#exchange === undefined && !this.stream.destroyed && this.stream.writable;
  }

  /** Starts an exchange; the caller writes the body to it (`BodySink`) and awaits `response`. */
  request(head: Http1RequestHead, framing: RequestFraming, hostKey: string): ClientExchange {
    if (!this.usable) throw new UpstreamError('WP_ERR_RESET', `${hostKey}: the pooled connection cannot take a request`);
    const ex = new ClientExchange(this, head, framing, hostKey);
    this.#exchange = ex;
    this.#input = undefined;
    this.#headScanned = 0;
    return ex;
  }

  pauseInput(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.stream.pause();
  }

  resumeInput(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.stream.resume();
    // From inside a 'data' listener: the parse loop in progress goes on by itself.
    if (this.#input !== undefined && !this.#parsing) {
      const buf = this.#input;
      this.#input = undefined;
      this.#parse(buf);
    }
  }

  /** Ends the connection (it cannot be reused). */
  destroy(reason?: Error): void {
    this.#reusable = false;
    if (reason === undefined) this.stream.destroy();
    else resetStream(this.stream, reason);
  }

  readonly #onData = (chunk: Buffer): void => {
    if (this.#exchange === undefined) {
      // Nothing was asked: bytes now are the upstream's error, and the connection is not trustworthy.
      this.destroy();
      return;
    }
    if (this.#input !== undefined) {
      chunk = Buffer.concat([this.#input, chunk]);
      this.#input = undefined;
    }
    this.#parse(chunk);
  };

  #parse(buf: Buffer): void {
    this.#parsing = true;
    try {
      this.#parseFrom(buf);
    } finally {
      this.#parsing = false;
    }
  }

  #parseFrom(buf: Buffer): void {
    let off = 0;
    while (off < buf.length) {
      const ex = this.#exchange;
      if (ex === undefined) {
        // More bytes after a complete response: the framing cannot be trusted.
        this.destroy();
        return;
      }
      if (this.#paused) {
        this.#input = buf.subarray(off);
        return;
      }
      try {
        if (ex.body === undefined) {
          const end = findHeadEndFrom(buf, off, buf.length, DEFAULT_MAX_HEAD_BYTES, off + this.#headScanned);
          if (end < 0) {
            this.#headScanned = buf.length - off;
            this.#input = buf.subarray(off);
            return;
          }
          this.#headScanned = 0;
          const head = parseResponseHead(buf, off, end);
          off = end;
          // Interim responses (100 Continue, 103 Early Hints) are not passed on.
          if (head.status < 200 && head.status !== 101) continue;
          if (head.status === 101) throw new Http1Error('HPE_INVALID_STATUS_LINE', 502, 'the upstream switched protocols, which was not asked for');
          const framing = responseFraming(head.rawHeaders, head.status, ex.method);
          if (!keepsAlive(head.minor, connectionOptions(head.rawHeaders)) || framing.kind === 'close') this.#reusable = false;
          this.#decoder.reset(framing);
          ex.received(head.status, head.rawHeaders, this);
          if (this.#decoder.done) this.#responseDone(ex);
          continue;
        }
        off = this.#decoder.feed(buf, off, buf.length, ex.onBodyData);
        if (this.#decoder.done) this.#responseDone(ex);
      } catch (err) {
        this.#fail(ex, err);
        return;
      }
    }
  }

  #responseDone(ex: ClientExchange): void {
    ex.responseComplete(this.#decoder.trailers);
    this.#settle(ex);
  }

  /** Called when either side of the exchange completes: frees the connection once both have. */
  settle(ex: ClientExchange): void {
    this.#settle(ex);
  }

  #settle(ex: ClientExchange): void {
    if (this.#exchange !== ex || !ex.responseEnded) return;
    if (!ex.requestEnded) {
      // Answered before the request was sent whole: the connection cannot carry another request.
      this.#exchange = undefined;
      this.destroy();
      return;
    }
    this.#exchange = undefined;
    if (this.#reusable && !this.stream.destroyed) this.#onIdle(this);
    else this.destroy();
  }

  #fail(ex: ClientExchange, err: unknown): void {
    const protocol = err instanceof Http1Error;
    const error =
      err instanceof UpstreamError
        ? err
        : new UpstreamError(protocol ? 'WP_ERR_PROTOCOL' : 'WP_ERR_RESET', `${ex.hostKey}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    this.#exchange = undefined;
    ex.failed(error);
    this.destroy(error);
  }

  readonly #onDrain = (): void => {
    this.#exchange?.drained();
  };

  readonly #onEnd = (): void => {
    this.#reusable = false;
    const ex = this.#exchange;
    if (ex === undefined) {
      this.destroy();
      return;
    }
    if (ex.body !== undefined) {
      try {
        this.#decoder.end();
      } catch (err) {
        this.#fail(ex, err);
        return;
      }
      if (this.#decoder.done) this.#responseDone(ex);
      return;
    }
    this.#fail(ex, new UpstreamError('WP_ERR_RESET', `${ex.hostKey}: the upstream closed the connection before a response`));
  };

  readonly #onClose = (): void => {
    this.#reusable = false;
    const ex = this.#exchange;
    if (ex === undefined) return;
    this.#exchange = undefined;
    ex.failed(new UpstreamError('WP_ERR_RESET', `${ex.hostKey}: the connection closed before a complete response`));
  };
}

/** One request and its response on an `Http1ClientConnection`. The request body side is a `BodySink`. */
export class ClientExchange implements BodySink {
  readonly response: Promise<UpstreamResponse>;
  readonly method: string;
  readonly hostKey: string;
  /** The response body, once the head is in. */
  body: IncomingBody | undefined;
  requestEnded = false;
  responseEnded = false;
  readonly #conn: Http1ClientConnection;
  #head: string | undefined;
  readonly #chunked: boolean;
  /** Bytes still owed under Content-Length; -1 when chunked. */
  #remaining: number;
  #trailers: HeaderMap | undefined;
  #drainListeners: (() => void)[] | undefined;
  #resolve!: (r: UpstreamResponse) => void;
  #reject!: (err: Error) => void;
  #settled = false;

  constructor(conn: Http1ClientConnection, head: Http1RequestHead, framing: RequestFraming, hostKey: string) {
    this.#conn = conn;
    this.method = head.method;
    this.hostKey = hostKey;
    this.#head = requestHead(head.method, head.path, head.authority, head.headers, framing);
    this.#chunked = framing.kind === 'chunked';
    this.#remaining = framing.kind === 'length' ? framing.length : framing.kind === 'none' ? 0 : -1;
    this.response = new Promise<UpstreamResponse>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // An abandoned attempt's response may reject with nobody waiting for it.
    this.response.catch(noop);
  }

  get writableNeedDrain(): boolean {
    return this.#conn.stream.writableNeedDrain;
  }

  get writableLength(): number {
    return this.#conn.stream.writableLength;
  }

  get destroyed(): boolean {
    return this.#conn.stream.destroyed;
  }

  /**
   * 'drain' listeners live here, not on the pooled stream: that outlives the exchange, and listeners left
   * on it would pile up (and keep every request's body alive) across the requests it carries.
   */
  on(_event: 'drain', listener: () => void): this {
    (this.#drainListeners ??= []).push(listener);
    return this;
  }

  off(_event: 'drain', listener: () => void): this {
    const list = this.#drainListeners;
    const i = list === undefined ? -1 : list.indexOf(listener);
    if (i >= 0) list!.splice(i, 1);
    return this;
  }

  /** From the connection: the stream took what was buffered. */
  drained(): void {
    const list = this.#drainListeners;
    if (list === undefined) return;
    for (const l of [...list]) l();
  }

  write(chunk: Buffer): boolean {
    if (this.requestEnded || this.destroyed) return false;
    if (chunk.length === 0) return true;
    if (this.#remaining >= 0) {
      if (chunk.length > this.#remaining) {
        this.#conn.destroy(new UpstreamError('WP_ERR_RESET', `${this.hostKey}: the request body is longer than its Content-Length`));
        return false;
      }
      this.#remaining -= chunk.length;
    }
    const stream = this.#conn.stream;
    const head = this.#head;
    this.#head = undefined;
    return writeFramed(stream, head, this.#chunked, chunk);
  }

  end(): this {
    return this.#end(undefined);
  }

  /**
   * Ends a chunked request with a trailer section. A request framed by Content-Length (or without a body)
   * cannot carry one: the trailers are dropped, as Envoy drops them.
   */
  endWithTrailers(trailers: HeaderMap): void {
    this.#end(this.#chunked ? trailers : undefined);
  }

  #end(trailers: HeaderMap | undefined): this {
    if (this.requestEnded || this.destroyed) return this;
    if (this.#remaining > 0) {
      this.#conn.destroy(new UpstreamError('WP_ERR_RESET', `${this.hostKey}: the request body ended ${this.#remaining} bytes short of its Content-Length`));
      return this;
    }
    this.requestEnded = true;
    const head = this.#head ?? '';
    this.#head = undefined;
    let tail: string;
    try {
      tail = this.#chunked ? lastChunk(trailers) : '';
    } catch (err) {
      // A trailer value the encoder refuses (CR, LF, NUL): the request cannot be finished as it came.
      this.#conn.destroy(new UpstreamError('WP_ERR_RESET', `${this.hostKey}: ${(err as Error).message}`, { cause: err }));
      return this;
    }
    if (head.length + tail.length > 0) this.#conn.stream.write(Buffer.from(head + tail, 'latin1'));
    this.#conn.settle(this);
    return this;
  }

  /** Abandons the exchange: the connection is reset (the upstream cannot take a partial request as whole). */
  destroy(): this {
    this.#conn.destroy(new UpstreamError('WP_ERR_RESET', `${this.hostKey}: attempt abandoned`));
    return this;
  }

  /** Rejects `response` unless it has settled (a timeout, the client gone). */
  cancel(reason: Error): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#reject(reason);
  }

  /** From the connection: the response head. */
  received(status: number, rawHeaders: readonly string[], input: InputControl): void {
    const body = new IncomingBody(input);
    this.body = body;
    if (this.#settled) return;
    this.#settled = true;
    this.#resolve({
      status,
      headers: headerMapFromRaw(rawHeaders),
      body,
      headOnly: false,
      trailers: () => this.#trailers,
    });
  }

  readonly onBodyData = (chunk: Buffer): void => {
    this.body!.push(chunk);
  };

  /** From the connection: the response body (and trailers) complete. */
  responseComplete(trailers: string[] | undefined): void {
    this.responseEnded = true;
    if (trailers !== undefined && trailers.length > 0) this.#trailers = headerMapFromRaw(trailers);
    this.body!.pushEnd();
  }

  /** From the connection: the exchange broke (before or after the head). */
  failed(err: UpstreamError): void {
    this.body?.abort(err);
    if (this.#settled) return;
    this.#settled = true;
    this.#reject(err);
  }
}

function noop(): void {}
