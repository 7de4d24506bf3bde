/**
 * An HTTP/2 stream of the inner (in-tunnel) server as the proxy's `DownstreamRequest` and
 * `DownstreamResponse` (HTTP/1.1 has its own connection types, `http1/server-connection.ts`).
 *
 * Node's core stream API, not its compatibility layer (`Http2ServerRequest`/`Http2ServerResponse`): that
 * layer costs two more objects and their event plumbing per request, and always asks for trailers, which
 * makes every response end with an extra empty DATA frame. Here trailers are asked for only when a
 * response may carry them: one without a Content-Length (gRPC, streamed bodies). Trailers that come anyway
 * for a response with a Content-Length are dropped.
 */
import { constants, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { HeaderMap } from '../route/headers.js';
import { resetStream } from '../upstream/reset.js';
import type { DownstreamRequest, DownstreamResponse } from './message.js';

export function h2Request(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, rawHeaders: readonly string[]): DownstreamRequest {
  return {
    protocol: 'http2',
    method: headers[':method'] ?? 'GET',
    url: headers[':path'] ?? '',
    authority: headers[':authority'] ?? headers.host,
    rawHeaders,
    body: stream,
    bodyKnownEmpty: (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0,
  };
}

export class H2Response implements DownstreamResponse {
  statusCode = 200;
  readonly #stream: ServerHttp2Stream;
  #pending: HeaderMap | undefined;
  #trailers: HeaderMap | undefined;
  /** Our own record: a stream reset by the client reports its writable side ended without `end()`. */
  #ended = false;

  constructor(stream: ServerHttp2Stream) {
    this.#stream = stream;
  }

  get headersSent(): boolean {
    return this.#stream.headersSent;
  }

  get destroyed(): boolean {
    return this.#stream.destroyed;
  }

  get writableEnded(): boolean {
    return this.#ended;
  }

  writeHead(status: number, headers: HeaderMap): this {
    this.statusCode = status;
    const waitForTrailers = headers['content-length'] === undefined;
    const out = headers as OutgoingHttpHeaders;
    out[':status'] = status;
    this.#stream.respond(out, { waitForTrailers });
    if (waitForTrailers) this.#stream.once('wantTrailers', this.#sendTrailers);
    return this;
  }

  setHeader(name: string, value: string | string[]): void {
    (this.#pending ??= Object.create(null) as HeaderMap)[name.toLowerCase()] = value;
  }

  addTrailers(trailers: HeaderMap): void {
    this.#trailers = trailers;
  }

  write(chunk: Buffer): boolean {
    if (!this.#stream.headersSent) this.writeHead(this.statusCode, this.#pending ?? (Object.create(null) as HeaderMap));
    return this.#stream.write(chunk);
  }

  end(chunk?: Buffer): this {
    const stream = this.#stream;
    if (this.#ended || stream.destroyed) return this;
    this.#ended = true;
    if (!stream.headersSent) {
      if (chunk === undefined || chunk.length === 0) {
        // A head that ends the response: one HEADERS frame with END_STREAM (gRPC's trailers-only reply).
        const out = (this.#pending ?? Object.create(null)) as OutgoingHttpHeaders;
        out[':status'] = this.statusCode;
        stream.respond(out, { endStream: true });
        return this;
      }
      this.writeHead(this.statusCode, this.#pending ?? (Object.create(null) as HeaderMap));
    }
    if (chunk === undefined) stream.end();
    else stream.end(chunk);
    return this;
  }

  on(event: 'drain', listener: () => void): this {
    this.#stream.on(event, listener);
    return this;
  }

  off(event: 'drain', listener: () => void): this {
    this.#stream.off(event, listener);
    return this;
  }

  once(event: 'close', listener: () => void): this {
    this.#stream.once(event, listener);
    return this;
  }

  reset(reason: Error): void {
    resetStream(this.#stream, reason);
  }

  readonly #sendTrailers = (): void => {
    // Empty trailers make Node end the stream with an empty DATA frame instead.
    this.#stream.sendTrailers((this.#trailers ?? {}));
  };
}
