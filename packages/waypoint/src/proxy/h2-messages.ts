/**
 * Node's HTTP/2 compatibility request and response as the proxy's `DownstreamRequest` and
 * `DownstreamResponse` (HTTP/1.1 has its own connection types, `http1/server-connection.ts`).
 *
 * The compatibility layer, not the core stream API: a version on `ServerHttp2Stream` (no compatibility
 * objects, trailers asked for only without a Content-Length) measured 10-15% more CPU per request in the
 * waypoint benchmark's HTTP/2 case (h2load -c4 -m8, 1 KiB each way; 0.144-0.148 against 0.127-0.133 ms
 * per request, alternating runs on one machine), so it was not kept.
 */
import type { Http2ServerRequest, Http2ServerResponse, IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import type { HeaderMap } from '../route/headers.js';
import { fromH2Headers } from '../upstream/exchange.js';
import { resetStream } from '../upstream/reset.js';
import type { DownstreamRequest, DownstreamResponse } from './message.js';

export function h2Request(req: Http2ServerRequest): DownstreamRequest {
  const h = req.headers;
  return {
    protocol: 'http2',
    method: req.method,
    url: req.url,
    authority: h[':authority'] ?? h.host,
    rawHeaders: req.rawHeaders,
    body: req,
    bodyKnownEmpty: req.stream.endAfterHeaders,
    mayHaveTrailers: !req.stream.endAfterHeaders && h['content-length'] === undefined,
    trailers: () => trailersOf(req),
  };
}

/** The compatibility request's trailers (an empty object until a trailing HEADERS frame came) as a header map. */
function trailersOf(req: Http2ServerRequest): HeaderMap | undefined {
  const t = req.trailers as IncomingHttpHeaders | undefined;
  if (t === undefined) return undefined;
  for (const _ in t) return fromH2Headers(t);
  return undefined;
}

export class H2Response implements DownstreamResponse {
  readonly #res: Http2ServerResponse;

  constructor(res: Http2ServerResponse) {
    this.#res = res;
  }

  get statusCode(): number {
    return this.#res.statusCode;
  }

  set statusCode(status: number) {
    this.#res.statusCode = status;
  }

  get headersSent(): boolean {
    return this.#res.headersSent;
  }

  get destroyed(): boolean {
    return this.#res.stream.destroyed;
  }

  get writableEnded(): boolean {
    return this.#res.writableEnded;
  }

  writeHead(status: number, headers: HeaderMap): this {
    this.#res.writeHead(status, headers as OutgoingHttpHeaders);
    return this;
  }

  setHeader(name: string, value: string | string[]): void {
    this.#res.setHeader(name, value);
  }

  addTrailers(trailers: HeaderMap): void {
    this.#res.addTrailers(trailers);
  }

  write(chunk: Buffer): boolean {
    return this.#res.write(chunk);
  }

  end(chunk?: Buffer): this {
    if (chunk === undefined) this.#res.end();
    else this.#res.end(chunk);
    return this;
  }

  on(event: 'drain', listener: () => void): this {
    this.#res.on(event, listener);
    return this;
  }

  off(event: 'drain', listener: () => void): this {
    this.#res.off(event, listener);
    return this;
  }

  once(event: 'close', listener: () => void): this {
    this.#res.once(event, listener);
    return this;
  }

  reset(reason: Error): void {
    resetStream(this.#res.stream, reason);
  }
}
