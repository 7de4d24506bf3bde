/**
 * One attempt of one request to one host: a connection from the host's pool, the request head sent over
 * HTTP/1.1 (our client connection, `http1/client-connection.ts`) or HTTP/2 (a stream of a pooled session), the body
 * written by the caller to `sink`, and the response head as a promise. The response body and trailers come
 * from `UpstreamResponse`. The cluster's request counter and the host's in-flight count cover the attempt
 * from its start until `finish()`.
 */
import { constants as h2constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { Http1ClientConnection, RequestFraming } from '../http1/client-connection.js';
import type { BodySink, BodySource } from '../proxy/message.js';
import type { Cancellation } from './cancellation.js';
import type { ClusterState } from './cluster-state.js';
import { UpstreamError } from './errors.js';
import type { Host } from './host.js';
import { resetStream } from './reset.js';
import { contentLengthOf } from '../http1/framing.js';
import { addHeader, type HeaderMap } from '../route/headers.js';

export interface RequestHead {
  readonly method: string;
  /** Path and query. */
  readonly path: string;
  readonly authority: string;
  readonly headers: HeaderMap;
  /** The request has no body (framed upstream without one rather than chunked). */
  readonly bodyKnownEmpty: boolean;
  /** Trailers may follow the body: an HTTP/2 stream is then opened to wait for them (`waitForTrailers`). */
  readonly mayHaveTrailers: boolean;
}

export interface UpstreamResponse {
  readonly status: number;
  readonly headers: HeaderMap;
  readonly body: BodySource;
  /**
   * The head ended the response: no body, no trailers (an HTTP/2 HEADERS frame with END_STREAM, as in
   * gRPC's trailers-only replies). Always false for HTTP/1.1.
   */
  readonly headOnly: boolean;
  /** The trailers, once the body has ended (undefined when there were none). */
  trailers(): HeaderMap | undefined;
}

/** A started attempt. */
export interface Exchange {
  readonly host: Host;
  /** Write the request body here, then `end()` it. */
  readonly sink: BodySink;
  readonly response: Promise<UpstreamResponse>;
  /**
   * Rejects `response` with `reason` unless it has settled already (a timeout, the client gone); the
   * caller then resets the attempt. Nothing is sent by this alone.
   */
  cancel(reason: Error): void;
  /** Abandons the attempt (the upstream sees a reset). */
  reset(): void;
}

/** Starts an attempt; rejects when no connection can be had (`UO`, `UF`) or `cancel` aborts a wait for one. */
export async function startExchange(cluster: ClusterState, host: Host, protocol: 'http1' | 'http2', head: RequestHead, cancel: Cancellation): Promise<Exchange> {
  const pool = cluster.pool(host);
  if (protocol === 'http2') {
    const session = await pool.acquireH2(cancel);
    return h2Exchange(session, host, head, () => pool.streamClosed(session));
  }
  const conn = await pool.acquireH1(cancel);
  return h1Exchange(conn, host, head);
}

function h1Exchange(conn: Http1ClientConnection, host: Host, head: RequestHead): Exchange {
  const ex = conn.request(head, requestFraming(head), host.key);
  return {
    host,
    sink: ex,
    response: ex.response,
    cancel: (reason) => ex.cancel(reason),
    reset: () => {
      ex.destroy();
    },
  };
}

/**
 * How the request body is framed upstream: the downstream request's Content-Length when it had one (its
 * body was checked against it on the way in), none when it has no body, chunked otherwise.
 */
function requestFraming(head: RequestHead): RequestFraming {
  const length = contentLengthOf(head.headers);
  if (length !== undefined) return { kind: 'length', length };
  return head.bodyKnownEmpty ? { kind: 'none' } : { kind: 'chunked' };
}

function h2Exchange(session: ClientHttp2Session, host: Host, head: RequestHead, onClose: () => void): Exchange {
  let stream: ClientHttp2Stream;
  try {
    stream = session.request(
      { ...head.headers, ':method': head.method, ':path': head.path, ':authority': head.authority, ':scheme': 'http' },
      head.mayHaveTrailers ? { endStream: false, waitForTrailers: true } : { endStream: false },
    );
  } catch (err) {
    onClose();
    throw new UpstreamError('WP_ERR_RESET', `${host.key}: cannot open an HTTP/2 stream: ${(err as Error).message}`, { cause: err });
  }
  stream.once('close', onClose);
  let trailers: HeaderMap | undefined;
  stream.once('trailers', (t: IncomingHttpHeaders) => {
    trailers = fromH2Headers(t);
  });
  let fail!: (reason: Error) => void;
  const response = new Promise<UpstreamResponse>((resolve, reject) => {
    fail = reject;
    const onError = (err: Error): void => reject(new UpstreamError('WP_ERR_RESET', `${host.key}: ${err.message}`, { cause: err }));
    const onEarlyClose = (): void => reject(new UpstreamError('WP_ERR_RESET', `${host.key}: the stream closed before a response (RST code ${stream.rstCode ?? 'none'})`));
    stream.once('error', onError);
    stream.once('close', onEarlyClose);
    stream.once('response', (h: IncomingHttpHeaders, flags: number) => {
      stream.off('error', onError);
      stream.off('close', onEarlyClose);
      // The body's consumer handles later errors; this keeps one from being thrown meanwhile.
      stream.on('error', noop);
      resolve({ status: Number(h[':status']), headers: fromH2Headers(h), body: stream, headOnly: (flags & h2constants.NGHTTP2_FLAG_END_STREAM) !== 0, trailers: () => trailers });
    });
  });
  response.catch(noop);
  return {
    host,
    sink: head.mayHaveTrailers ? new TrailingStreamSink(stream) : stream,
    response,
    cancel: fail,
    reset: () => resetStream(stream, new UpstreamError('WP_ERR_RESET', `${host.key}: attempt abandoned`)),
  };
}

/**
 * An HTTP/2 request stream opened with `waitForTrailers`: Node emits 'wantTrailers' after the last DATA
 * frame and the stream stays open until trailers are sent, so the end always sends some (an empty set ends
 * the stream as plainly as END_STREAM on DATA would). Only such requests pay for this wrapper.
 */
class TrailingStreamSink implements BodySink {
  readonly #stream: ClientHttp2Stream;
  #trailers: HeaderMap = EMPTY_TRAILERS;

  constructor(stream: ClientHttp2Stream) {
    this.#stream = stream;
    stream.once('wantTrailers', () => {
      try {
        stream.sendTrailers(this.#trailers);
      } catch (err) {
        // A field Node refuses to encode: the upstream must not take the request as complete.
        resetStream(stream, new UpstreamError('WP_ERR_RESET', `cannot send the request trailers: ${(err as Error).message}`, { cause: err }));
      }
    });
  }

  write(chunk: Buffer): boolean {
    return this.#stream.write(chunk);
  }

  end(): void {
    this.#stream.end();
  }

  endWithTrailers(trailers: HeaderMap): void {
    this.#trailers = trailers;
    this.#stream.end();
  }

  on(event: 'drain', listener: () => void): this {
    this.#stream.on(event, listener);
    return this;
  }

  off(event: 'drain', listener: () => void): this {
    this.#stream.off(event, listener);
    return this;
  }

  get writableNeedDrain(): boolean {
    return this.#stream.writableNeedDrain;
  }

  get writableLength(): number {
    return this.#stream.writableLength;
  }

  get destroyed(): boolean {
    return this.#stream.destroyed;
  }

  destroy(): void {
    this.#stream.destroy();
  }
}

const EMPTY_TRAILERS: HeaderMap = Object.freeze(Object.create(null) as HeaderMap);

/** An HTTP/2 header object (pseudo-headers dropped) as a header map. */
export function fromH2Headers(h: IncomingHttpHeaders): HeaderMap {
  const map: HeaderMap = Object.create(null) as HeaderMap;
  for (const name of Object.keys(h)) {
    if (name.charCodeAt(0) === 58) continue;
    const v = h[name];
    if (v === undefined) continue;
    if (typeof v === 'string') addHeader(map, name, v);
    else for (const x of v) addHeader(map, name, x);
  }
  return map;
}

function noop(): void {}
