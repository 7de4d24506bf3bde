/**
 * One request stream of the waypoint's HTTP/2 server, as the proxy sees it: an `Http2Request` (the
 * `DownstreamRequest`, its body an `IncomingBody` fed by the connection) and the stream itself as the
 * `DownstreamResponse`. Flow-control state lives here; frames are written by the connection
 * (`server-connection.ts`), which this talks to through `StreamOwner`.
 *
 * No EventEmitter on the response side: its two events ('drain', 'close') have at most a few listeners,
 * kept in arrays, so a request costs one emitter (the body) instead of Node's four stream objects.
 */
import { addHeader, type HeaderMap } from '../route/headers.js';
import { IncomingBody, type InputControl } from '../http1/incoming-body.js';
import type { DownstreamRequest, DownstreamResponse } from '../proxy/message.js';
import { Http2Error } from './errors.js';
import { badName, badValue, isConnectionSpecific, type RequestHead } from './fields.js';
import { ErrorCode } from './frames.js';

/** What a stream asks of its connection. */
export interface StreamOwner {
  /** Sends a field section (HEADERS + CONTINUATION) for the stream; with `endStream`, the stream's side is closed. */
  sendFields(stream: ServerStream, fields: readonly string[], endStream: boolean): void;
  /** Sends what the windows allow of the stream's queued data; the rest waits for WINDOW_UPDATE. */
  flushStream(stream: ServerStream): void;
  /** Resets the stream (RST_STREAM) and forgets it. */
  resetStream(stream: ServerStream, code: number, reason: Http2Error): void;
  /** The consumer takes the body again: the stream's window may be given back. */
  inputResumed(stream: ServerStream): void;
  /** The transport holds more than its high-water mark. */
  readonly transportBlocked: boolean;
}

/** Per-stream bytes queued (beyond the windows or behind a full transport) before `write` says "wait". */
const STREAM_HIGH_WATER = 64 * 1024;

export class Http2Request implements DownstreamRequest {
  readonly protocol = 'http2' as const;
  readonly method: string;
  readonly url: string;
  readonly authority: string | undefined;
  readonly rawHeaders: readonly string[];
  readonly body: IncomingBody;
  readonly bodyKnownEmpty: boolean;
  readonly mayHaveTrailers: boolean;
  #trailers: HeaderMap | undefined;

  constructor(head: RequestHead, endStream: boolean, input: InputControl) {
    this.method = head.method;
    this.url = head.path;
    this.authority = head.authority ?? firstField(head.fields, 'host');
    this.rawHeaders = head.fields;
    this.body = new IncomingBody(input);
    this.bodyKnownEmpty = endStream;
    this.mayHaveTrailers = !endStream && head.contentLength < 0;
  }

  trailers(): HeaderMap | undefined {
    return this.#trailers;
  }

  /** From the connection: the trailer section (already checked), before the body's end. */
  setTrailers(fields: readonly string[]): void {
    if (fields.length === 0) return;
    const map = Object.create(null) as HeaderMap;
    for (let i = 0; i + 1 < fields.length; i += 2) addHeader(map, fields[i]!, fields[i + 1]!);
    this.#trailers = map;
  }
}

export class ServerStream implements DownstreamResponse, InputControl {
  readonly id: number;
  readonly request: Http2Request;
  readonly #owner: StreamOwner;

  // Flow control (RFC 9113 §6.9), maintained by the connection.
  /** What we may still send on this stream. */
  sendWindow: number;
  /** What the peer may still send before we give credit back. */
  recvWindow: number;
  /** Bytes received and delivered whose credit has not been given back yet. */
  recvUnacked = 0;
  /** The body's consumer is paused: no credit is given back (the peer stops after one window). */
  inputPaused = false;

  // Request side.
  /** `content-length` of the request, -1 without. */
  readonly contentLength: number;
  received = 0;
  /** END_STREAM came from the peer. */
  remoteClosed: boolean;

  // Response side.
  statusCode = 200;
  #headersSent = false;
  #ended = false;
  /** END_STREAM was written (with the last DATA or HEADERS frame). */
  localClosed = false;
  /** Data waiting for window (or for the transport); `pendingBytes` their total. */
  pending: Buffer[] | undefined;
  pendingBytes = 0;
  /** END_STREAM (with trailers, when set) is to follow the pending data. */
  pendingEnd = false;
  #trailers: string[] | undefined;
  #headers: HeaderMap | undefined;
  #needDrain = false;
  /** Reset by either side, or the connection is gone. */
  #reset = false;
  #closed = false;
  #closeEmitted = false;
  #drainListeners: (() => void)[] | undefined;
  #closeListeners: (() => void)[] | undefined;

  constructor(id: number, head: RequestHead, endStream: boolean, owner: StreamOwner, sendWindow: number, recvWindow: number) {
    this.id = id;
    this.#owner = owner;
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
    this.contentLength = head.contentLength;
    this.remoteClosed = endStream;
    this.request = new Http2Request(head, endStream, this);
    if (endStream) this.request.body.pushEnd();
  }

  // InputControl, for the request body.
  pauseInput(): void {
    this.inputPaused = true;
  }

  resumeInput(): void {
    if (!this.inputPaused) return;
    this.inputPaused = false;
    this.#owner.inputResumed(this);
  }

  // DownstreamResponse.
  get headersSent(): boolean {
    return this.#headersSent;
  }

  get destroyed(): boolean {
    return this.#reset;
  }

  get writableEnded(): boolean {
    return this.#ended;
  }

  /** The stream is done with (both sides ended, or reset): 'close' was emitted. */
  get closed(): boolean {
    return this.#closed;
  }

  writeHead(status: number, headers: HeaderMap): this {
    if (this.#headersSent || this.#reset) return this;
    this.statusCode = status;
    if (this.#headers !== undefined) for (const name in this.#headers) if (headers[name] === undefined) headers[name] = this.#headers[name]!;
    this.#sendHead(headers, false);
    return this;
  }

  setHeader(name: string, value: string | string[]): void {
    (this.#headers ??= Object.create(null) as HeaderMap)[name.toLowerCase()] = value;
  }

  addTrailers(trailers: HeaderMap): void {
    this.#trailers = fieldList(trailers, undefined);
  }

  write(chunk: Buffer): boolean {
    if (this.#ended || this.#reset) return false;
    if (!this.#headersSent) this.#sendHead(this.#headers ?? (Object.create(null) as HeaderMap), false);
    if (chunk.length > 0) this.#queue(chunk);
    this.#owner.flushStream(this);
    if (this.pendingBytes >= STREAM_HIGH_WATER || this.#owner.transportBlocked) {
      this.#needDrain = true;
      return false;
    }
    return true;
  }

  end(chunk?: Buffer): this {
    if (this.#ended || this.#reset) return this;
    this.#ended = true;
    if (!this.#headersSent) {
      // A reply without a body is one HEADERS frame with END_STREAM (gRPC's trailers-only reply needs that).
      if (chunk === undefined || chunk.length === 0) {
        this.#sendHead(this.#headers ?? (Object.create(null) as HeaderMap), true);
        return this;
      }
      this.#sendHead(this.#headers ?? (Object.create(null) as HeaderMap), false);
    }
    if (chunk !== undefined && chunk.length > 0) this.#queue(chunk);
    this.pendingEnd = true;
    this.#owner.flushStream(this);
    return this;
  }

  on(_event: 'drain', listener: () => void): this {
    (this.#drainListeners ??= []).push(listener);
    return this;
  }

  off(_event: 'drain', listener: () => void): this {
    const l = this.#drainListeners;
    if (l !== undefined) {
      const i = l.indexOf(listener);
      if (i >= 0) l.splice(i, 1);
    }
    return this;
  }

  once(_event: 'close', listener: () => void): this {
    if (this.#closeEmitted) return this;
    (this.#closeListeners ??= []).push(listener);
    return this;
  }

  reset(reason: Error): void {
    if (this.#reset || this.#closed) return;
    this.#owner.resetStream(this, ErrorCode.INTERNAL_ERROR, new Http2Error('H2_STREAM_RESET', ErrorCode.INTERNAL_ERROR, `the waypoint broke off the response: ${reason.message}`));
  }

  // From the connection.

  /** The trailing END_STREAM to send after the pending data: the trailers' HEADERS, else undefined (an empty DATA). */
  takeTrailers(): string[] | undefined {
    const t = this.#trailers;
    this.#trailers = undefined;
    return t;
  }

  /** Trailers are to end the stream (so the last DATA frame must not carry END_STREAM). */
  get hasTrailers(): boolean {
    return this.#trailers !== undefined;
  }

  /** The queued data went out (or fits the windows now): a writer told to wait may go on. */
  onWritable(): void {
    if (!this.#needDrain || this.pendingBytes >= STREAM_HIGH_WATER || this.#owner.transportBlocked) return;
    this.#needDrain = false;
    const l = this.#drainListeners;
    if (l !== undefined) for (const f of l.slice()) f();
  }

  /** END_STREAM was written. */
  onLocalClosed(): void {
    this.localClosed = true;
    this.#maybeClose();
  }

  /** END_STREAM came from the peer (after the body was pushed). */
  onRemoteClosed(): void {
    this.remoteClosed = true;
    this.request.body.pushEnd();
    this.#maybeClose();
  }

  /** Reset by either side, or the connection is gone: the body (if unfinished) fails, and 'close' follows. */
  onReset(err: Http2Error): void {
    if (this.#closed) return;
    this.#reset = true;
    this.pending = undefined;
    this.pendingBytes = 0;
    this.request.body.abort(err);
    this.#close();
  }

  #maybeClose(): void {
    if (this.localClosed && this.remoteClosed) this.#close();
  }

  /**
   * 'close' comes on the next tick, as a Node stream's does: whoever reset or ended the stream finishes its
   * own bookkeeping first (the proxy reads an early 'close' as the client leaving).
   */
  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#drainListeners = undefined;
    process.nextTick(emitClose, this);
  }

  /** For `process.nextTick`. */
  emitClose(): void {
    this.#closeEmitted = true;
    const l = this.#closeListeners;
    this.#closeListeners = undefined;
    if (l !== undefined) for (const f of l) f();
  }

  #sendHead(headers: HeaderMap, endStream: boolean): void {
    const fields = fieldList(headers, String(this.statusCode));
    this.#headersSent = true;
    this.#owner.sendFields(this, fields, endStream);
  }

  #queue(chunk: Buffer): void {
    (this.pending ??= []).push(chunk);
    this.pendingBytes += chunk.length;
  }
}

/**
 * A header map as a flat field list for HPACK (`:status` first when given): names lower-cased, fields HTTP/2
 * must not carry dropped (connection management, `host`, whose role `:authority` has), and names or
 * values it cannot carry refused with `H2_INVALID_HEADER`.
 */
export function fieldList(headers: HeaderMap, status: string | undefined): string[] {
  const out: string[] = status === undefined ? [] : [':status', status];
  for (const raw in headers) {
    const name = hasUpper(raw) ? raw.toLowerCase() : raw;
    if (name === 'host' || isConnectionSpecific(name)) continue;
    const problem = badName(name);
    if (problem !== undefined) throw new Http2Error('H2_INVALID_HEADER', ErrorCode.INTERNAL_ERROR, problem);
    const value = headers[raw]!;
    if (typeof value === 'string') pushField(out, name, value);
    else for (const v of value) pushField(out, name, v);
  }
  return out;
}

function emitClose(stream: ServerStream): void {
  stream.emitClose();
}

function pushField(out: string[], name: string, value: string): void {
  const problem = badValue(name, value);
  if (problem !== undefined) throw new Http2Error('H2_INVALID_HEADER', ErrorCode.INTERNAL_ERROR, problem);
  out.push(name, value);
}

function hasUpper(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return true;
  }
  return false;
}

function firstField(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}
