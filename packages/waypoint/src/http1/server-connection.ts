/**
 * The server side of one HTTP/1.1 connection inside an HBONE tunnel: reads requests one at a time (a
 * pipelined request waits, unparsed, until the one before it has been answered and its body read), hands
 * each to the proxy as a `DownstreamRequest` / `DownstreamResponse` pair, and writes the responses.
 *
 * Why not Node's `http` server: profiling the waypoint showed about half of its CPU per request in that
 * server's and client's JavaScript (IncomingMessage and ServerResponse streams, their event plumbing, a
 * header object per message). Here a request is one parse of its head (`head.ts`), a body decoder reused
 * across requests, and a response written as one buffer where it fits (head and body together).
 *
 * States: waiting for a head → (the request's body arriving | the response being written, in any
 * order) → both done → the next head. The tunnel's input is paused whenever the body's consumer cannot
 * take more, and while a response is awaited (pipelined bytes stay in the tunnel's buffers).
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { resetStream } from '../upstream/reset.js';
import { headerMapFromRaw, type HeaderMap } from '../route/headers.js';
import type { DownstreamRequest, DownstreamResponse } from '../proxy/message.js';
import { BodyDecoder } from './body-decoder.js';
import { lastChunk, responseHead } from './encode.js';
import { Http1Error } from './errors.js';
import { connectionOptions, contentLengthOf, keepsAlive, requestFraming, type Framing } from './framing.js';
import { DEFAULT_MAX_HEAD_BYTES, findHeadEndFrom, parseRequestHead, type RequestHead } from './head.js';
import { IncomingBody, type InputControl } from './incoming-body.js';
import { writeFramed } from './write-framed.js';

export interface Http1ServerHandlers {
  /** A request to answer on `res` (called while parsing: do not block). */
  onRequest(req: Http1Request, res: Http1Response): void;
  /**
   * A request with `Connection: upgrade`: the connection stops reading and hands over the stream, with the
   * bytes that followed the head (`rest`). The stream is paused.
   */
  onUpgrade(req: Http1Request, stream: Duplex, rest: Buffer): void;
  /** A request that could not be parsed; it was answered (or the tunnel reset) and the connection closed. */
  onProtocolError(err: Http1Error): void;
}

const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
/** Statuses whose responses never have a body (RFC 9110 §6.4.1). */
function bodyless(status: number): boolean {
  return status < 200 || status === 204 || status === 304;
}

export class Http1Request implements DownstreamRequest {
  readonly protocol = 'http1';
  readonly method: string;
  readonly url: string;
  readonly authority: string | undefined;
  readonly rawHeaders: readonly string[];
  readonly body: IncomingBody;
  readonly bodyKnownEmpty: boolean;
  readonly mayHaveTrailers: boolean;
  readonly minor: 0 | 1;
  /** The `Upgrade` protocol asked for (with `Connection: upgrade`). */
  readonly upgrade: string | undefined;
  #trailers: readonly string[] | undefined;

  constructor(head: RequestHead, framing: Framing, upgrade: string | undefined, input: InputControl) {
    this.method = head.method;
    this.url = head.target;
    this.rawHeaders = head.rawHeaders;
    this.minor = head.minor;
    this.upgrade = upgrade;
    this.bodyKnownEmpty = framing.kind === 'length' && framing.length === 0;
    this.mayHaveTrailers = framing.kind === 'chunked';
    this.body = new IncomingBody(input);
    let authority: string | undefined;
    const raw = head.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') {
        authority = raw[i + 1];
        break;
      }
    }
    this.authority = authority;
  }

  trailers(): HeaderMap | undefined {
    return this.#trailers === undefined ? undefined : headerMapFromRaw(this.#trailers);
  }

  /** From the connection, before the body's end: the chunked body's trailer fields (`[name, value, …]`). */
  receivedTrailers(raw: readonly string[] | undefined): void {
    this.#trailers = raw;
  }
}

export class Http1ServerConnection implements InputControl {
  readonly #stream: Duplex;
  readonly #handlers: Http1ServerHandlers;
  readonly #maxHeadBytes: number;
  /** Bytes received and not yet parsed (a head in progress, or what follows the current request). */
  #input: Buffer | undefined;
  /** Bytes of an incomplete head already scanned (a head arriving in pieces is scanned once). */
  #headScanned = 0;
  readonly #decoder = new BodyDecoder({ kind: 'length', length: 0 });
  #req: Http1Request | undefined;
  #res: Http1Response | undefined;
  #bodyDone = true;
  #responseDone = true;
  /** The current request allows another after it (and we are not draining). */
  #keepAlive = true;
  #bodyPaused = false;
  #streamPaused = false;
  #pumping = false;
  #pumpAgain = false;
  #clientEnded = false;
  #closing = false;
  #done = false;

  constructor(stream: Duplex, handlers: Http1ServerHandlers, maxHeadBytes = DEFAULT_MAX_HEAD_BYTES) {
    this.#stream = stream;
    this.#handlers = handlers;
    this.#maxHeadBytes = maxHeadBytes;
    stream.on('data', this.#onData);
    stream.on('end', this.#onEnd);
    stream.on('close', this.#onClose);
    stream.on('drain', this.#onDrain);
    // Resetting the tunnel (`reset`) destroys it with an error; 'close' follows and is what we act on.
    stream.on('error', noop);
  }

  get stream(): Duplex {
    return this.#stream;
  }

  /** Draining: an idle connection ends now; a busy one answers `Connection: close` (if it still can) and ends after. */
  close(): void {
    this.#closing = true;
    if (this.#req === undefined) this.#finish();
  }

  /** Writes for the current response; false when the tunnel wants a 'drain' first. */
  write(data: Buffer): boolean {
    return this.#stream.write(data);
  }

  cork(): void {
    this.#stream.cork();
  }

  uncork(): void {
    this.#stream.uncork();
  }

  /** Whether a response written now must end the connection. */
  get closeAfterResponse(): boolean {
    return this.#closing || !this.#keepAlive;
  }

  get destroyed(): boolean {
    return this.#stream.destroyed;
  }

  reset(reason: Error): void {
    resetStream(this.#stream, reason);
  }

  pauseInput(): void {
    this.#bodyPaused = true;
    this.#updateFlow();
  }

  resumeInput(): void {
    if (!this.#bodyPaused) return;
    this.#bodyPaused = false;
    this.#updateFlow();
    if (this.#input !== undefined) this.#pump();
  }

  readonly #onData = (chunk: Buffer): void => {
    this.#input = this.#input === undefined ? chunk : Buffer.concat([this.#input, chunk]);
    this.#pump();
  };

  #pump(): void {
    if (this.#pumping) {
      this.#pumpAgain = true;
      return;
    }
    this.#pumping = true;
    try {
      do {
        this.#pumpAgain = false;
        this.#step();
      } while (this.#pumpAgain && !this.#done);
    } finally {
      this.#pumping = false;
    }
  }

  /** Parses as much of the input as the state allows; what is left stays in `#input`. */
  #step(): void {
    const buf = this.#input;
    if (buf === undefined || this.#done) return;
    let off = 0;
    while (off < buf.length && !this.#done) {
      if (this.#req === undefined) {
        const next = this.#startRequest(buf, off);
        if (next < 0) break;
        off = next;
        continue;
      }
      if (!this.#bodyDone) {
        if (this.#bodyPaused) break;
        try {
          off = this.#decoder.feed(buf, off, buf.length, this.#onBodyData);
        } catch (err) {
          this.#input = undefined;
          this.#bodyBroken(err as Error);
          return;
        }
        if (this.#decoder.done) this.#onBodyDone();
        continue;
      }
      // Body read, response still being written: the rest is a pipelined request, parsed later.
      break;
    }
    this.#input = off < buf.length && !this.#done ? buf.subarray(off) : undefined;
    this.#updateFlow();
  }

  /** Parses a head at `off`; returns where its body starts, or -1 when the head is incomplete or was refused. */
  #startRequest(buf: Buffer, off: number): number {
    let req: Http1Request;
    let headEnd: number;
    let framing: Framing;
    let expectContinue: boolean;
    try {
      headEnd = findHeadEndFrom(buf, off, buf.length, this.#maxHeadBytes, off + this.#headScanned);
      if (headEnd < 0) {
        this.#headScanned = buf.length - off;
        return -1;
      }
      this.#headScanned = 0;
      const head = parseRequestHead(buf, off, headEnd);
      framing = requestFraming(head.rawHeaders);
      const options = connectionOptions(head.rawHeaders);
      this.#keepAlive = keepsAlive(head.minor, options);
      expectContinue = options.expectContinue;
      req = new Http1Request(head, framing, options.upgrade, this);
    } catch (err) {
      this.#refuse(err as Error);
      return -1;
    }
    if (req.upgrade !== undefined) {
      this.#handOver(req, buf.subarray(headEnd));
      return -1;
    }
    const res = new Http1Response(this, req);
    this.#req = req;
    this.#res = res;
    this.#responseDone = false;
    this.#bodyDone = req.bodyKnownEmpty;
    this.#decoder.reset(framing);
    if (expectContinue && !req.bodyKnownEmpty) this.#stream.write(CONTINUE);
    this.#handlers.onRequest(req, res);
    if (this.#bodyDone && this.#req === req) req.body.pushEnd();
    return headEnd;
  }

  readonly #onBodyData = (chunk: Buffer): void => {
    this.#req?.body.push(chunk);
  };

  #onBodyDone(): void {
    this.#bodyDone = true;
    const req = this.#req!;
    req.receivedTrailers(this.#decoder.trailers);
    req.body.pushEnd();
    if (this.#responseDone) this.#next();
  }

  /** Called by the response when its last byte has been written. */
  responseEnded(close: boolean): void {
    this.#responseDone = true;
    if (close || this.closeAfterResponse) {
      this.#finish();
      return;
    }
    if (!this.#bodyDone) {
      // Answered before the body was read whole (a denial, an early reply): read the rest and drop it,
      // so that the next request starts where it should.
      const body = this.#req!.body;
      body.removeAllListeners('data');
      body.resume();
      return;
    }
    this.#next();
  }

  #next(): void {
    this.#req = undefined;
    this.#res = undefined;
    if (this.#clientEnded || this.#closing) {
      this.#finish();
      return;
    }
    this.#updateFlow();
    // A pipelined request already here: parse it on the next tick, not inside the previous response's end().
    if (this.#input !== undefined) process.nextTick(pumpLater, this);
  }

  /** For `process.nextTick`. */
  pumpNow(): void {
    this.#pump();
  }

  #updateFlow(): void {
    if (this.#done) return;
    const hold = this.#bodyPaused || (this.#req !== undefined && this.#bodyDone && !this.#responseDone);
    if (hold && !this.#streamPaused) {
      this.#streamPaused = true;
      this.#stream.pause();
    } else if (!hold && this.#streamPaused) {
      this.#streamPaused = false;
      this.#stream.resume();
    }
  }

  /** An unparsable head: answered with its status and the connection closed. */
  #refuse(err: Error): void {
    const e = err instanceof Http1Error ? err : new Http1Error('HPE_INVALID_REQUEST_LINE', 400, err.message);
    this.#done = true;
    this.#input = undefined;
    this.#handlers.onProtocolError(e);
    const text = `${e.status === 431 ? 'Request Header Fields Too Large' : e.status === 501 ? 'Not Implemented' : e.status === 505 ? 'HTTP Version Not Supported' : 'Bad Request'}\n`;
    const status = e.status === 431 ? '431 Request Header Fields Too Large' : e.status === 501 ? '501 Not Implemented' : e.status === 505 ? '505 HTTP Version Not Supported' : '400 Bad Request';
    this.#detach();
    if (this.#stream.writable) this.#stream.end(Buffer.from(`HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\ncontent-length: ${text.length}\r\nconnection: close\r\n\r\n${text}`, 'latin1'));
    else this.#stream.destroy();
  }

  /** A body whose framing broke (a bad chunk, an early end): the request cannot complete; reset the tunnel. */
  #bodyBroken(err: Error): void {
    this.#handlers.onProtocolError(err instanceof Http1Error ? err : new Http1Error('HPE_INVALID_CHUNK', 400, err.message));
    this.#req?.body.abort(err);
    this.reset(err);
  }

  #handOver(req: Http1Request, rest: Buffer): void {
    this.#done = true;
    this.#input = undefined;
    this.#detach();
    this.#stream.pause();
    this.#handlers.onUpgrade(req, this.#stream, rest);
  }

  #detach(): void {
    this.#stream.off('data', this.#onData);
    this.#stream.off('end', this.#onEnd);
    this.#stream.off('close', this.#onClose);
    this.#stream.off('drain', this.#onDrain);
  }

  /** Ends the connection after its last response. */
  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#input = undefined;
    this.#stream.end();
    // Whatever the client still sends is read and dropped until it closes its side.
    this.#streamPaused = false;
    this.#stream.resume();
  }

  readonly #onEnd = (): void => {
    this.#clientEnded = true;
    if (this.#req === undefined) {
      this.#finish();
      return;
    }
    if (!this.#bodyDone) {
      try {
        this.#decoder.end();
      } catch (err) {
        this.#bodyBroken(err as Error);
        return;
      }
      this.#onBodyDone();
    }
    // Otherwise: the response goes out, then the connection ends (`#next`).
  };

  readonly #onClose = (): void => {
    this.#done = true;
    this.#input = undefined;
    const req = this.#req;
    const res = this.#res;
    if (req !== undefined && !this.#bodyDone) req.body.abort(new Http1Error('HPE_UNEXPECTED_EOF', 400, 'the tunnel closed before the request body was complete'));
    if (res !== undefined && !this.#responseDone) res.aborted();
  };

  readonly #onDrain = (): void => {
    this.#res?.emit('drain');
  };
}

function noop(): void {}

function pumpLater(conn: Http1ServerConnection): void {
  conn.pumpNow();
}

/** The response to one request of an `Http1ServerConnection`. */
export class Http1Response extends EventEmitter implements DownstreamResponse {
  statusCode = 200;
  readonly #conn: Http1ServerConnection;
  readonly #req: Http1Request;
  /** The head, kept until the first write so that head and body leave together. */
  #head: string | undefined;
  #headersSent = false;
  #ended = false;
  #aborted = false;
  #closeEmitted = false;
  #chunked = false;
  /** No body may be sent (HEAD, 1xx/204/304): writes are dropped. */
  #noBody = false;
  /** Bytes still owed under a Content-Length; -1 for chunked or close-delimited. */
  #remaining = -1;
  /** Ends the connection after this response (close-delimited body, or the connection is closing). */
  #close = false;
  #pendingHeaders: HeaderMap | undefined;
  #trailers: HeaderMap | undefined;

  constructor(conn: Http1ServerConnection, req: Http1Request) {
    super();
    this.#conn = conn;
    this.#req = req;
  }

  get headersSent(): boolean {
    return this.#headersSent;
  }

  get writableEnded(): boolean {
    return this.#ended;
  }

  get destroyed(): boolean {
    return this.#aborted || this.#conn.destroyed;
  }

  setHeader(name: string, value: string | string[]): void {
    (this.#pendingHeaders ??= Object.create(null) as HeaderMap)[name.toLowerCase()] = value;
  }

  addTrailers(trailers: HeaderMap): void {
    this.#trailers = trailers;
  }

  writeHead(status: number, headers: HeaderMap): this {
    if (this.#headersSent) throw new Error('the response head was already sent');
    this.statusCode = status;
    this.#headersSent = true;
    let close = this.#conn.closeAfterResponse;
    let body: { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'none' };
    const length = contentLengthOf(headers);
    if (bodyless(status) || this.#req.method === 'HEAD') {
      this.#noBody = true;
      // A HEAD response keeps the Content-Length the GET would have had.
      body = this.#req.method === 'HEAD' && length !== undefined && !bodyless(status) ? { kind: 'length', length } : { kind: 'none' };
    } else if (length !== undefined) {
      body = { kind: 'length', length };
      this.#remaining = length;
    } else if (this.#req.minor === 1) {
      body = { kind: 'chunked' };
      this.#chunked = true;
    } else {
      // An HTTP/1.0 client and no length: the end of the connection ends the body.
      body = { kind: 'none' };
      close = true;
    }
    this.#close = close;
    this.#head = responseHead(status, headers, body, close);
    return this;
  }

  write(chunk: Buffer): boolean {
    if (this.#ended || this.destroyed) return false;
    if (!this.#headersSent) this.writeHead(this.statusCode, this.#pendingHeaders ?? (Object.create(null) as HeaderMap));
    if (this.#noBody || chunk.length === 0) return this.#flushHead();
    if (this.#remaining >= 0) {
      if (chunk.length > this.#remaining) {
        this.#conn.reset(new Error(`the response body is longer than its Content-Length (${chunk.length} bytes with ${this.#remaining} owed)`));
        return false;
      }
      this.#remaining -= chunk.length;
    }
    const head = this.#head;
    this.#head = undefined;
    return writeFramed(this.#conn, head, this.#chunked, chunk);
  }

  end(chunk?: Buffer): this {
    if (this.#ended) return this;
    if (chunk !== undefined && chunk.length > 0) this.write(chunk);
    else if (!this.#headersSent) this.writeHead(this.statusCode, this.#pendingHeaders ?? (Object.create(null) as HeaderMap));
    if (this.destroyed) return this;
    if (this.#remaining > 0) {
      this.#conn.reset(new Error(`the response ended ${this.#remaining} bytes short of its Content-Length`));
      return this;
    }
    this.#ended = true;
    if (this.#chunked) {
      const last = lastChunk(this.#trailers);
      const head = this.#head;
      this.#head = undefined;
      this.#conn.write(Buffer.from(head === undefined ? last : head + last, 'latin1'));
    } else {
      this.#flushHead();
    }
    this.#conn.responseEnded(this.#close);
    this.#emitClose();
    return this;
  }

  reset(reason: Error): void {
    this.#aborted = true;
    this.#conn.reset(reason);
    this.#emitClose();
  }

  /** The tunnel closed before the response was complete. */
  aborted(): void {
    this.#aborted = true;
    this.#emitClose();
  }

  #flushHead(): boolean {
    const head = this.#head;
    if (head === undefined) return true;
    this.#head = undefined;
    return this.#conn.write(Buffer.from(head, 'latin1'));
  }

  #emitClose(): void {
    if (this.#closeEmitted) return;
    this.#closeEmitted = true;
    process.nextTick(emitClose, this);
  }
}

function emitClose(res: Http1Response): void {
  res.emit('close');
}
