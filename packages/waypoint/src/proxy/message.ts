/**
 * The shapes the proxy's request handling works with, whatever carries the request: the waypoint's own
 * HTTP/1.1 connections (`http1/server-connection.ts`, `http1/client-connection.ts`) and Node's HTTP/2
 * (server requests and responses, client streams). Only what the handler, the router and the body pump
 * use is named here, so that both sides stay interchangeable and the HTTP/1.1 side stays lean: no
 * Readable/Writable machinery per request.
 */
import type { HeaderMap } from '../route/headers.js';

/** A body being received (a request body downstream, a response body upstream): Readable's flowing-mode subset. */
export interface BodySource {
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  off(event: 'data', listener: (chunk: Buffer) => void): unknown;
  once(event: 'end' | 'close', listener: () => void): unknown;
  once(event: 'error', listener: (err: Error) => void): unknown;
  pause(): unknown;
  resume(): unknown;
  /** The whole body has been delivered ('end' was emitted). */
  readonly readableEnded: boolean;
}

/** Where a request body is sent (an upstream attempt or a mirror): Writable's subset. */
export interface BodySink {
  write(chunk: Buffer): boolean;
  end(): unknown;
  /**
   * Ends the body with a trailer section. Only sinks that can carry one have it: a chunked HTTP/1.1 request,
   * an HTTP/2 stream opened to wait for trailers. Elsewhere trailers are dropped, as Envoy does.
   */
  endWithTrailers?(trailers: HeaderMap): void;
  on(event: 'drain', listener: () => void): unknown;
  off(event: 'drain', listener: () => void): unknown;
  readonly writableNeedDrain: boolean;
  /** Bytes accepted but not yet handed on (a mirror over its limit is dropped). */
  readonly writableLength: number;
  readonly destroyed: boolean;
  destroy(): unknown;
}

/** A request as it arrived from the client. */
export interface DownstreamRequest {
  readonly protocol: 'http1' | 'http2';
  readonly method: string;
  /** The request target as sent (origin-form path and query, for HTTP/2 `:path`). */
  readonly url: string;
  /** `:authority`, else `Host`; undefined when the client sent neither. */
  readonly authority: string | undefined;
  /** `[name, value, …]` as received (HTTP/2 pseudo-headers included, which the handler skips). */
  readonly rawHeaders: readonly string[];
  readonly body: BodySource;
  /** The request has no body at all (HTTP/1.1 without Content-Length or chunked; HTTP/2 END_STREAM on HEADERS). */
  readonly bodyKnownEmpty: boolean;
  /**
   * Trailers may follow the body: HTTP/1.1 chunked, or HTTP/2 with a body and no Content-Length (gRPC and
   * other streaming bodies). Known at the head, because an HTTP/2 upstream stream must be opened to wait for
   * them; trailers on other requests are dropped.
   */
  readonly mayHaveTrailers: boolean;
  /** The request's trailers, once the body has ended (undefined when there were none). */
  trailers(): HeaderMap | undefined;
}

/** The response to a downstream request. */
export interface DownstreamResponse {
  statusCode: number;
  readonly headersSent: boolean;
  /** The client is gone or the response was reset: nothing more can be sent. */
  readonly destroyed: boolean;
  /** `end()` was called. */
  readonly writableEnded: boolean;
  writeHead(status: number, headers: HeaderMap): unknown;
  /** A header for a response ended without `writeHead` (a head-only reply). */
  setHeader(name: string, value: string | string[]): unknown;
  addTrailers(trailers: HeaderMap): void;
  write(chunk: Buffer): boolean;
  end(chunk?: Buffer): unknown;
  on(event: 'drain', listener: () => void): unknown;
  off(event: 'drain', listener: () => void): unknown;
  /** 'close': the response is complete or the client went away (exactly once). */
  once(event: 'close', listener: () => void): unknown;
  /**
   * Breaks off a response the client may have started to receive, so that it can never be read as
   * complete: RST_STREAM(INTERNAL_ERROR) for HTTP/2, a reset tunnel for HTTP/1.1 (see `upstream/reset.ts`).
   */
  reset(reason: Error): void;
}
