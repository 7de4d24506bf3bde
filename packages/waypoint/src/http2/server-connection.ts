/**
 * The server side of one HTTP/2 connection (RFC 9113) over any Duplex, written for the waypoint: its
 * connections arrive inside HBONE tunnels, which are JavaScript streams, and Node's HTTP/2 server can only
 * take those through a `JSStreamSocket` plus its compatibility objects — four stream objects and several
 * ticks per request. Here a request is one `ServerStream` and one body emitter, frames are read in place
 * from the tunnel's chunks, and everything a turn of the event loop produces goes out in one write.
 *
 * What it does: the preface and SETTINGS exchange, HPACK (`hpack/`), request validation (`fields.ts`),
 * flow control both ways (large windows, credit given back as the consumer takes data, none while it is
 * paused), trailers both ways, PING, GOAWAY both ways (graceful close), RST_STREAM both ways, limits
 * (concurrent streams, header list size, header block size, control frames queued behind a full
 * transport, streams reset by the peer per second). What it does not: server push (never sent), PRIORITY
 * (read and ignored, as RFC 9113 allows), extended CONNECT.
 *
 * Errors follow §5.4: a connection error sends GOAWAY with the code and a reason and closes the transport;
 * a stream error resets that stream only. Every HEADERS block is decoded, even for a stream about to be
 * refused, so that the HPACK state stays what the peer's encoder assumes.
 */
import type { Duplex } from 'node:stream';
import { HpackDecoder, HpackEncoder, HpackError } from './hpack/index.js';
import { Http2Error } from './errors.js';
import { checkRequest, checkTrailers } from './fields.js';
import {
  CLIENT_PREFACE,
  DEFAULT_HEADER_TABLE_SIZE,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  ErrorCode,
  Flag,
  FRAME_HEADER_BYTES,
  FrameType,
  goawayFrame,
  MAX_MAX_FRAME_SIZE,
  MAX_WINDOW,
  pingAck,
  rstStreamFrame,
  SETTINGS_ACK,
  SettingId,
  settingsFrame,
  windowUpdateFrame,
  writeFrameHeader,
} from './frames.js';
import { ServerStream, type StreamOwner } from './server-stream.js';

export interface Http2ServerOptions {
  /** SETTINGS_MAX_CONCURRENT_STREAMS; more open streams are refused (REFUSED_STREAM). Default 1000. */
  readonly maxConcurrentStreams?: number;
  /** SETTINGS_INITIAL_WINDOW_SIZE: how much of a request body may be in flight. Default 4 MiB. */
  readonly initialWindowSize?: number;
  /** The connection's receive window, raised from 65,535 at the start. Default 16 MiB. */
  readonly connectionWindowSize?: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE (RFC 7541 §4.1 sizes); a larger request is answered 431. Default 64 KiB. */
  readonly maxHeaderListSize?: number;
}

export interface Http2ServerHandlers {
  /** A request passed the checks; `stream` is its response. */
  onRequest(stream: ServerStream): void;
  /** The peer broke the protocol (connection or stream error), or sent GOAWAY with an error: for the log. */
  onProtocolError(err: Http2Error): void;
  /** The connection is gone (the transport closed); every stream has been closed. */
  onClose(): void;
}

const enum Phase {
  /** Waiting for the 24-byte client preface. */
  Preface,
  /** The preface came; its first frame must be SETTINGS. */
  FirstSettings,
  Open,
  /** A connection error was sent, or the transport is gone: nothing more is read. */
  Dead,
}

/** A header block (HEADERS + CONTINUATION) may be at most this large before decoding; HPACK can't skip one. */
const MAX_HEADER_BLOCK = 256 * 1024;
/** Control frames we queue (SETTINGS ACK, PING ACK, RST_STREAM) while the transport is full, before ENHANCE_YOUR_CALM. */
const MAX_QUEUED_CONTROL = 10_000;
/** Streams the peer may reset within a second before the connection is closed (the "rapid reset" attack). */
const MAX_PEER_RESETS_PER_SECOND = 1_000;

export class Http2ServerConnection implements StreamOwner {
  readonly #transport: Duplex;
  readonly #handlers: Http2ServerHandlers;
  readonly #decoder: HpackDecoder;
  readonly #encoder = new HpackEncoder();
  readonly #streams = new Map<number, ServerStream>();
  readonly #maxConcurrent: number;
  readonly #initialWindow: number;
  readonly #connectionWindow: number;
  readonly #maxHeaderList: number;

  #phase = Phase.Preface;
  /** Bytes of an incomplete frame (or preface) from earlier chunks. */
  #partial: Buffer | undefined;
  /** The highest stream id the peer opened. */
  #lastStreamId = 0;
  /** A header block in CONTINUATION frames: its stream (0: none), the HEADERS flags, the pieces so far. */
  #continuing = 0;
  #continuingFlags = 0;
  #blockParts: Buffer[] = [];
  #blockBytes = 0;

  // Flow control, connection level.
  #sendWindow = DEFAULT_WINDOW;
  #recvWindow = DEFAULT_WINDOW;
  #recvUnacked = 0;
  /** The peer's SETTINGS_INITIAL_WINDOW_SIZE and SETTINGS_MAX_FRAME_SIZE. */
  #peerInitialWindow = DEFAULT_WINDOW;
  #peerMaxFrame = DEFAULT_MAX_FRAME_SIZE;
  /** Streams with data waiting for window, in the order they started waiting. */
  readonly #waiting = new Set<ServerStream>();

  // Output: everything of one turn goes out in one write.
  #out: Buffer[] = [];
  #outBytes = 0;
  #flushScheduled = false;
  #blocked = false;
  #queuedControl = 0;
  /** GOAWAY was sent: streams above `#goawayLastId` are refused, and the transport ends once idle. */
  #goawaySent = false;
  #goawayLastId = 0;
  #peerGoaway = false;
  #transportEnded = false;
  #closed = false;

  #resetsWindowStart = 0;
  #resetsInWindow = 0;

  constructor(transport: Duplex, handlers: Http2ServerHandlers, options: Http2ServerOptions = {}) {
    this.#transport = transport;
    this.#handlers = handlers;
    this.#maxConcurrent = options.maxConcurrentStreams ?? 1000;
    this.#initialWindow = options.initialWindowSize ?? 4 * 1024 * 1024;
    this.#connectionWindow = options.connectionWindowSize ?? 16 * 1024 * 1024;
    this.#maxHeaderList = options.maxHeaderListSize ?? 64 * 1024;
    this.#decoder = new HpackDecoder(DEFAULT_HEADER_TABLE_SIZE, this.#maxHeaderList);
    transport.on('data', this.#onData);
    transport.on('end', this.#onEnd);
    transport.on('close', this.#onTransportClose);
    transport.on('drain', this.#onTransportDrain);
    // Resetting the tunnel destroys it with an error; 'close' follows and is what we act on.
    transport.on('error', noop);
    // A sniffed tunnel was paused to look at its first bytes (they were put back with `unshift`).
    if (transport.isPaused()) transport.resume();
    // Our SETTINGS go first (the server preface, §3.4), with the connection window raised.
    this.#enqueue(
      settingsFrame([
        SettingId.MAX_CONCURRENT_STREAMS, this.#maxConcurrent,
        SettingId.INITIAL_WINDOW_SIZE, this.#initialWindow,
        SettingId.MAX_HEADER_LIST_SIZE, this.#maxHeaderList,
      ]),
    );
    if (this.#connectionWindow > DEFAULT_WINDOW) {
      this.#enqueue(windowUpdateFrame(0, this.#connectionWindow - DEFAULT_WINDOW));
      this.#recvWindow = this.#connectionWindow;
    }
  }

  /** Open streams. */
  get streamCount(): number {
    return this.#streams.size;
  }

  get transportBlocked(): boolean {
    return this.#blocked;
  }

  /** Graceful: GOAWAY(NO_ERROR) now; streams already opened finish; the transport ends when none is left. */
  close(): void {
    if (this.#phase === Phase.Dead) return;
    if (!this.#goawaySent) this.#sendGoaway(ErrorCode.NO_ERROR, 'the waypoint is closing this connection');
    this.#endIfIdle();
  }

  destroy(): void {
    this.#transport.destroy();
  }

  // ---- input ----

  readonly #onData = (chunk: Buffer): void => {
    if (this.#phase === Phase.Dead) return;
    let buf = chunk;
    if (this.#partial !== undefined) {
      buf = Buffer.concat([this.#partial, chunk]);
      this.#partial = undefined;
    }
    let off = 0;
    if (this.#phase === Phase.Preface) {
      if (buf.length < CLIENT_PREFACE.length) {
        if (!buf.equals(CLIENT_PREFACE.subarray(0, buf.length))) this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'the client preface is wrong');
        else this.#partial = buf;
        return;
      }
      if (buf.compare(CLIENT_PREFACE, 0, CLIENT_PREFACE.length, 0, CLIENT_PREFACE.length) !== 0) {
        this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'the client preface is wrong');
        return;
      }
      off = CLIENT_PREFACE.length;
      this.#phase = Phase.FirstSettings;
    }
    const n = buf.length;
    while (n - off >= FRAME_HEADER_BYTES) {
      const length = (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!;
      if (length > DEFAULT_MAX_FRAME_SIZE) {
        // We never raise SETTINGS_MAX_FRAME_SIZE.
        this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, `a frame of ${length} bytes is over SETTINGS_MAX_FRAME_SIZE ${DEFAULT_MAX_FRAME_SIZE}`);
        return;
      }
      const end = off + FRAME_HEADER_BYTES + length;
      if (end > n) break;
      const type = buf[off + 3]!;
      const flags = buf[off + 4]!;
      const id = buf.readUInt32BE(off + 5) & 0x7fff_ffff;
      this.#frame(buf, type, flags, id, off + FRAME_HEADER_BYTES, end);
      if ((this.#phase as Phase) === Phase.Dead) return;
      off = end;
    }
    if (off < n) this.#partial = off === 0 ? buf : buf.subarray(off);
  };

  #frame(buf: Buffer, type: number, flags: number, id: number, start: number, end: number): void {
    if (this.#continuing !== 0 && (type !== FrameType.CONTINUATION || id !== this.#continuing)) {
      this.#connectionError(ErrorCode.PROTOCOL_ERROR, `a ${frameName(type)} frame in the middle of stream ${this.#continuing}'s header block`);
      return;
    }
    if (this.#phase === Phase.FirstSettings) {
      if (type !== FrameType.SETTINGS || (flags & Flag.ACK) !== 0) {
        this.#connectionError(ErrorCode.PROTOCOL_ERROR, `the client's first frame is ${frameName(type)}, not SETTINGS`);
        return;
      }
      this.#phase = Phase.Open;
    }
    switch (type) {
      case FrameType.DATA:
        this.#onDataFrame(buf, flags, id, start, end);
        return;
      case FrameType.HEADERS:
        this.#onHeaders(buf, flags, id, start, end);
        return;
      case FrameType.CONTINUATION:
        this.#onContinuation(buf, flags, id, start, end);
        return;
      case FrameType.RST_STREAM:
        this.#onRstStream(buf, id, start, end);
        return;
      case FrameType.SETTINGS:
        this.#onSettings(buf, flags, id, start, end);
        return;
      case FrameType.PING:
        if (id !== 0) this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'PING on a stream');
        else if (end - start !== 8) this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, `PING of ${end - start} bytes`);
        else if ((flags & Flag.ACK) === 0) this.#enqueueControl(pingAck(buf, start));
        return;
      case FrameType.GOAWAY:
        this.#onGoaway(buf, id, start, end);
        return;
      case FrameType.WINDOW_UPDATE:
        this.#onWindowUpdate(buf, id, start, end);
        return;
      case FrameType.PRIORITY:
        if (id === 0) this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        else if (end - start !== 5) this.#streamError(id, ErrorCode.FRAME_SIZE_ERROR, `PRIORITY of ${end - start} bytes`);
        return;
      case FrameType.PUSH_PROMISE:
        this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'a client sent PUSH_PROMISE');
        return;
      default:
        // Unknown frame types are ignored (§4.1, §5.5).
        return;
    }
  }

  #onDataFrame(buf: Buffer, flags: number, id: number, start: number, end: number): void {
    if (id === 0) {
      this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0');
      return;
    }
    const length = end - start;
    // The whole frame, padding included, counts against the connection window whatever the stream's state.
    if (length > this.#recvWindow) {
      this.#connectionError(ErrorCode.FLOW_CONTROL_ERROR, `DATA of ${length} bytes over the connection window of ${this.#recvWindow}`);
      return;
    }
    this.#recvWindow -= length;
    this.#recvUnacked += length;
    if (this.#recvUnacked >= this.#connectionWindow >>> 1) {
      this.#enqueue(windowUpdateFrame(0, this.#recvUnacked));
      this.#recvWindow += this.#recvUnacked;
      this.#recvUnacked = 0;
    }
    let dataStart = start;
    let dataEnd = end;
    if ((flags & Flag.PADDED) !== 0) {
      const pad = length > 0 ? buf[start]! : 0;
      if (length === 0 || pad >= length) {
        this.#connectionError(ErrorCode.PROTOCOL_ERROR, `DATA padding of ${pad} bytes in a ${length}-byte frame`);
        return;
      }
      dataStart = start + 1;
      dataEnd = end - pad;
    }
    const s = this.#streams.get(id);
    if (s === undefined) {
      if (id > this.#lastStreamId) this.#connectionError(ErrorCode.PROTOCOL_ERROR, `DATA on idle stream ${id}`);
      else if (!(this.#goawaySent && id > this.#goawayLastId)) this.#enqueueControl(rstStreamFrame(id, ErrorCode.STREAM_CLOSED));
      return;
    }
    if (s.remoteClosed) {
      this.#streamError(id, ErrorCode.STREAM_CLOSED, `DATA on stream ${id} after its END_STREAM`);
      return;
    }
    if (length > s.recvWindow) {
      this.#streamError(id, ErrorCode.FLOW_CONTROL_ERROR, `DATA of ${length} bytes over stream ${id}'s window of ${s.recvWindow}`);
      return;
    }
    s.recvWindow -= length;
    s.recvUnacked += length;
    const dataLength = dataEnd - dataStart;
    s.received += dataLength;
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (s.contentLength >= 0 && (s.received > s.contentLength || (endStream && s.received !== s.contentLength))) {
      this.#streamError(id, ErrorCode.PROTOCOL_ERROR, `stream ${id}'s body of ${s.received}${endStream ? '' : '+'} bytes does not match its content-length ${s.contentLength}`);
      return;
    }
    if (dataLength > 0) {
      s.request.body.push(buf.subarray(dataStart, dataEnd));
      // The consumer may have reset the stream from inside its 'data' listener.
      if (s.destroyed) return;
    }
    if (endStream) s.onRemoteClosed();
    else if (!s.inputPaused && s.recvUnacked >= this.#initialWindow >>> 1) this.#giveBack(s);
    if (s.closed) this.#forget(s);
  }

  #onHeaders(buf: Buffer, flags: number, id: number, start: number, end: number): void {
    if (id === 0) {
      this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'HEADERS on stream 0');
      return;
    }
    let p = start;
    let pad = 0;
    if ((flags & Flag.PADDED) !== 0) {
      if (end - p < 1) {
        this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, 'a padded HEADERS frame without its pad length');
        return;
      }
      pad = buf[p++]!;
    }
    if ((flags & Flag.PRIORITY) !== 0) {
      if (end - p < 5) {
        this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, 'a HEADERS frame too short for its priority fields');
        return;
      }
      p += 5;
    }
    if (pad > end - p) {
      this.#connectionError(ErrorCode.PROTOCOL_ERROR, `HEADERS padding of ${pad} bytes is longer than the frame`);
      return;
    }
    const block = buf.subarray(p, end - pad);
    if ((flags & Flag.END_HEADERS) !== 0) {
      this.#headerBlock(id, flags, block);
      return;
    }
    this.#continuing = id;
    this.#continuingFlags = flags;
    this.#blockParts = [block];
    this.#blockBytes = block.length;
  }

  #onContinuation(buf: Buffer, flags: number, id: number, start: number, end: number): void {
    if (this.#continuing === 0) {
      this.#connectionError(ErrorCode.PROTOCOL_ERROR, `CONTINUATION on stream ${id} without a HEADERS before it`);
      return;
    }
    this.#blockBytes += end - start;
    if (this.#blockBytes > MAX_HEADER_BLOCK) {
      this.#connectionError(ErrorCode.ENHANCE_YOUR_CALM, `a header block over ${MAX_HEADER_BLOCK} bytes`);
      return;
    }
    this.#blockParts.push(buf.subarray(start, end));
    if ((flags & Flag.END_HEADERS) === 0) return;
    const block = Buffer.concat(this.#blockParts, this.#blockBytes);
    const headersFlags = this.#continuingFlags;
    this.#continuing = 0;
    this.#blockParts = [];
    this.#blockBytes = 0;
    this.#headerBlock(id, headersFlags, block);
  }

  /** A complete header block: decoded first (always), then a new request, trailers, or an error. */
  #headerBlock(id: number, flags: number, block: Buffer): void {
    const endStream = (flags & Flag.END_STREAM) !== 0;
    let fields: string[];
    let tooLarge = false;
    try {
      fields = this.#decoder.decode(block, 0, block.length);
    } catch (err) {
      if (!(err instanceof HpackError)) throw err;
      if (err.code !== 'HPACK_HEADER_LIST_TOO_LARGE') {
        this.#connectionError(ErrorCode.COMPRESSION_ERROR, `stream ${id}'s header block: ${err.reason}`);
        return;
      }
      fields = [];
      tooLarge = true;
    }
    const existing = this.#streams.get(id);
    if (existing !== undefined) {
      // A second HEADERS on an open stream is its trailer section: it must end the stream.
      if (existing.remoteClosed) this.#streamError(id, ErrorCode.STREAM_CLOSED, `HEADERS on stream ${id} after its END_STREAM`);
      else if (!endStream) this.#streamError(id, ErrorCode.PROTOCOL_ERROR, `trailers on stream ${id} without END_STREAM`);
      else if (tooLarge) this.#streamError(id, ErrorCode.PROTOCOL_ERROR, `stream ${id}'s trailers are over SETTINGS_MAX_HEADER_LIST_SIZE ${this.#maxHeaderList}`);
      else {
        const problem = checkTrailers(fields);
        if (problem !== undefined) this.#streamError(id, ErrorCode.PROTOCOL_ERROR, `stream ${id}'s trailers: ${problem}`);
        else if (existing.contentLength >= 0 && existing.received !== existing.contentLength) {
          this.#streamError(id, ErrorCode.PROTOCOL_ERROR, `stream ${id}'s body of ${existing.received} bytes does not match its content-length ${existing.contentLength}`);
        } else {
          existing.request.setTrailers(fields);
          existing.onRemoteClosed();
          if (existing.closed) this.#forget(existing);
        }
      }
      return;
    }
    if ((id & 1) === 0) {
      this.#connectionError(ErrorCode.PROTOCOL_ERROR, `a client opened even-numbered stream ${id}`);
      return;
    }
    if (id <= this.#lastStreamId) {
      // A stream we closed (or reset) before the peer knew: §5.1 says STREAM_CLOSED for it.
      this.#enqueueControl(rstStreamFrame(id, ErrorCode.STREAM_CLOSED));
      return;
    }
    this.#lastStreamId = id;
    if (this.#goawaySent || this.#peerGoaway) {
      this.#enqueueControl(rstStreamFrame(id, ErrorCode.REFUSED_STREAM));
      return;
    }
    if (this.#streams.size >= this.#maxConcurrent) {
      this.#enqueueControl(rstStreamFrame(id, ErrorCode.REFUSED_STREAM));
      return;
    }
    if (tooLarge) {
      this.#answerTooLarge(id, endStream);
      return;
    }
    const head = checkRequest(fields);
    if (typeof head === 'string') {
      this.#streamError(id, ErrorCode.PROTOCOL_ERROR, `stream ${id}: malformed request: ${head}`);
      return;
    }
    if (endStream && head.contentLength > 0) {
      this.#streamError(id, ErrorCode.PROTOCOL_ERROR, `stream ${id} ended with its headers but has content-length ${head.contentLength}`);
      return;
    }
    const s = new ServerStream(id, head, endStream, this, this.#peerInitialWindow, this.#initialWindow);
    this.#streams.set(id, s);
    this.#handlers.onRequest(s);
  }

  /** 431 for a request whose header list is over our limit (its body, if any, is refused with RST_STREAM NO_ERROR). */
  #answerTooLarge(id: number, endStream: boolean): void {
    this.#sendFieldsFor(id, [':status', '431', 'content-length', '0'], true);
    if (!endStream) this.#enqueueControl(rstStreamFrame(id, ErrorCode.NO_ERROR));
    this.#handlers.onProtocolError(new Http2Error('H2_STREAM_ERROR', ErrorCode.NO_ERROR, `stream ${id}'s header list is over SETTINGS_MAX_HEADER_LIST_SIZE ${this.#maxHeaderList}: answered 431`));
  }

  #onRstStream(buf: Buffer, id: number, start: number, end: number): void {
    if (id === 0) {
      this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
      return;
    }
    if (end - start !== 4) {
      this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, `RST_STREAM of ${end - start} bytes`);
      return;
    }
    if (id > this.#lastStreamId) {
      this.#connectionError(ErrorCode.PROTOCOL_ERROR, `RST_STREAM on idle stream ${id}`);
      return;
    }
    const s = this.#streams.get(id);
    if (s === undefined) return;
    const now = Date.now();
    if (now - this.#resetsWindowStart >= 1000) {
      this.#resetsWindowStart = now;
      this.#resetsInWindow = 0;
    }
    if (++this.#resetsInWindow > MAX_PEER_RESETS_PER_SECOND) {
      this.#connectionError(ErrorCode.ENHANCE_YOUR_CALM, `more than ${MAX_PEER_RESETS_PER_SECOND} streams reset by the client in a second`);
      return;
    }
    const code = buf.readUInt32BE(start);
    this.#forget(s);
    s.onReset(new Http2Error('H2_STREAM_RESET', code, `the client reset stream ${id}`));
  }

  #onSettings(buf: Buffer, flags: number, id: number, start: number, end: number): void {
    if (id !== 0) {
      this.#connectionError(ErrorCode.PROTOCOL_ERROR, `SETTINGS on stream ${id}`);
      return;
    }
    const length = end - start;
    if ((flags & Flag.ACK) !== 0) {
      if (length !== 0) this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, `a SETTINGS ACK with ${length} bytes`);
      return;
    }
    if (length % 6 !== 0) {
      this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, `SETTINGS of ${length} bytes, not a multiple of 6`);
      return;
    }
    let windowGrew = false;
    for (let p = start; p < end; p += 6) {
      const setting = buf.readUInt16BE(p);
      const value = buf.readUInt32BE(p + 2);
      switch (setting) {
        case SettingId.HEADER_TABLE_SIZE:
          this.#encoder.setMaxTableSize(value);
          break;
        case SettingId.ENABLE_PUSH:
          if (value > 1) {
            this.#connectionError(ErrorCode.PROTOCOL_ERROR, `SETTINGS_ENABLE_PUSH ${value}`);
            return;
          }
          break;
        case SettingId.INITIAL_WINDOW_SIZE: {
          if (value > MAX_WINDOW) {
            this.#connectionError(ErrorCode.FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE ${value} is over 2^31-1`);
            return;
          }
          const delta = value - this.#peerInitialWindow;
          this.#peerInitialWindow = value;
          for (const s of this.#streams.values()) {
            s.sendWindow += delta;
            if (s.sendWindow > MAX_WINDOW) {
              this.#connectionError(ErrorCode.FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE ${value} overflows stream ${s.id}'s window`);
              return;
            }
          }
          if (delta > 0) windowGrew = true;
          break;
        }
        case SettingId.MAX_FRAME_SIZE:
          if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_MAX_FRAME_SIZE) {
            this.#connectionError(ErrorCode.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE ${value} is outside 16384..16777215`);
            return;
          }
          this.#peerMaxFrame = value;
          break;
        default:
          // MAX_CONCURRENT_STREAMS and MAX_HEADER_LIST_SIZE bind what we open and send: no push, small heads.
          break;
      }
    }
    this.#enqueueControl(SETTINGS_ACK);
    if (windowGrew) this.#flushWaiting();
  }

  #onGoaway(buf: Buffer, id: number, start: number, end: number): void {
    if (id !== 0) {
      this.#connectionError(ErrorCode.PROTOCOL_ERROR, `GOAWAY on stream ${id}`);
      return;
    }
    if (end - start < 8) {
      this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, `GOAWAY of ${end - start} bytes`);
      return;
    }
    this.#peerGoaway = true;
    const code = buf.readUInt32BE(start + 4);
    if (code !== ErrorCode.NO_ERROR) {
      const debug = buf.toString('latin1', start + 8, Math.min(end, start + 8 + 256));
      this.#handlers.onProtocolError(new Http2Error('H2_CONNECTION_ERROR', code, `the client sent GOAWAY${debug.length > 0 ? `: ${JSON.stringify(debug)}` : ''}`));
    }
    this.#endIfIdle();
  }

  #onWindowUpdate(buf: Buffer, id: number, start: number, end: number): void {
    if (end - start !== 4) {
      this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, `WINDOW_UPDATE of ${end - start} bytes`);
      return;
    }
    const increment = buf.readUInt32BE(start) & 0x7fff_ffff;
    if (id === 0) {
      if (increment === 0) {
        this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'a WINDOW_UPDATE of 0 for the connection');
        return;
      }
      this.#sendWindow += increment;
      if (this.#sendWindow > MAX_WINDOW) {
        this.#connectionError(ErrorCode.FLOW_CONTROL_ERROR, 'WINDOW_UPDATE takes the connection window over 2^31-1');
        return;
      }
      this.#flushWaiting();
      return;
    }
    const s = this.#streams.get(id);
    if (s === undefined) {
      if (id > this.#lastStreamId) this.#connectionError(ErrorCode.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${id}`);
      return;
    }
    if (increment === 0) {
      this.#streamError(id, ErrorCode.PROTOCOL_ERROR, `a WINDOW_UPDATE of 0 for stream ${id}`);
      return;
    }
    s.sendWindow += increment;
    if (s.sendWindow > MAX_WINDOW) {
      this.#streamError(id, ErrorCode.FLOW_CONTROL_ERROR, `WINDOW_UPDATE takes stream ${id}'s window over 2^31-1`);
      return;
    }
    this.flushStream(s);
  }

  readonly #onEnd = (): void => {
    // The peer will send nothing more: streams still receiving cannot complete.
    this.#transportEnded = true;
    this.#peerGoaway = true;
    for (const s of [...this.#streams.values()]) {
      if (s.remoteClosed) continue;
      this.#forget(s);
      s.onReset(new Http2Error('H2_STREAM_RESET', ErrorCode.CANCEL, `the connection ended before stream ${s.id}'s request did`));
    }
    this.#endIfIdle();
  };

  readonly #onTransportClose = (): void => {
    if (this.#closed) return;
    this.#closed = true;
    this.#phase = Phase.Dead;
    this.#out = [];
    this.#outBytes = 0;
    this.#waiting.clear();
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    for (const s of streams) s.onReset(new Http2Error('H2_STREAM_RESET', ErrorCode.CANCEL, `the connection closed before stream ${s.id} completed`));
    this.#handlers.onClose();
  };

  readonly #onTransportDrain = (): void => {
    this.#blocked = false;
    this.#queuedControl = 0;
    for (const s of this.#streams.values()) s.onWritable();
  };

  // ---- StreamOwner ----

  sendFields(stream: ServerStream, fields: readonly string[], endStream: boolean): void {
    if (this.#phase === Phase.Dead || stream.destroyed) return;
    this.#sendFieldsFor(stream.id, fields, endStream);
    if (!endStream) return;
    stream.onLocalClosed();
    if (stream.closed) this.#forget(stream);
  }

  flushStream(s: ServerStream): void {
    if (this.#phase === Phase.Dead || s.destroyed) return;
    const pending = s.pending;
    if (pending !== undefined) {
      while (pending.length > 0) {
        const allowed = Math.min(this.#sendWindow, s.sendWindow);
        if (allowed <= 0) break;
        const chunk = pending[0]!;
        const take = Math.min(chunk.length, allowed, this.#peerMaxFrame);
        const last = take === chunk.length && pending.length === 1;
        const endStream = last && s.pendingEnd && !s.hasTrailers;
        this.#enqueueData(s.id, take === chunk.length ? chunk : chunk.subarray(0, take), endStream);
        this.#sendWindow -= take;
        s.sendWindow -= take;
        s.pendingBytes -= take;
        if (take === chunk.length) pending.shift();
        else pending[0] = chunk.subarray(take);
      }
      if (pending.length > 0) {
        this.#waiting.add(s);
        return;
      }
      s.pending = undefined;
      this.#waiting.delete(s);
      s.onWritable();
      if (s.pendingEnd) this.#finishStream(s, true);
      return;
    }
    if (s.pendingEnd) this.#finishStream(s, false);
  }

  resetStream(s: ServerStream, code: number, reason: Http2Error): void {
    if (s.closed) return;
    this.#enqueueControl(rstStreamFrame(s.id, code));
    this.#forget(s);
    s.onReset(reason);
  }

  inputResumed(s: ServerStream): void {
    if (!s.remoteClosed && s.recvUnacked >= this.#initialWindow >>> 1) this.#giveBack(s);
  }

  // ---- output ----

  /** Ends a stream whose data has all gone out: trailers (HEADERS with END_STREAM), else END_STREAM on the last DATA or an empty one. */
  #finishStream(s: ServerStream, endSentWithData: boolean): void {
    s.pendingEnd = false;
    const trailers = s.takeTrailers();
    if (trailers !== undefined) this.#sendFieldsFor(s.id, trailers, true);
    else if (!endSentWithData) this.#enqueueData(s.id, undefined, true);
    s.onLocalClosed();
    if (s.closed) this.#forget(s);
  }

  #giveBack(s: ServerStream): void {
    this.#enqueue(windowUpdateFrame(s.id, s.recvUnacked));
    s.recvWindow += s.recvUnacked;
    s.recvUnacked = 0;
  }

  #flushWaiting(): void {
    for (const s of [...this.#waiting]) {
      if (this.#sendWindow <= 0) return;
      this.flushStream(s);
    }
  }

  #forget(s: ServerStream): void {
    this.#streams.delete(s.id);
    this.#waiting.delete(s);
    if (this.#streams.size === 0) this.#endIfIdle();
  }

  /** HEADERS (+ CONTINUATION when the block is over the peer's frame size). */
  #sendFieldsFor(id: number, fields: readonly string[], endStream: boolean): void {
    const max = this.#encoder.encodedLength(fields);
    const block = Buffer.allocUnsafe(FRAME_HEADER_BYTES + max);
    const length = this.#encoder.encode(fields, block, FRAME_HEADER_BYTES) - FRAME_HEADER_BYTES;
    const endFlag = endStream ? Flag.END_STREAM : 0;
    if (length <= this.#peerMaxFrame) {
      writeFrameHeader(block, 0, length, FrameType.HEADERS, endFlag | Flag.END_HEADERS, id);
      this.#enqueue(block.subarray(0, FRAME_HEADER_BYTES + length));
      return;
    }
    let off = FRAME_HEADER_BYTES;
    const stop = FRAME_HEADER_BYTES + length;
    let first = true;
    while (off < stop) {
      const take = Math.min(this.#peerMaxFrame, stop - off);
      const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
      const last = off + take === stop;
      writeFrameHeader(header, 0, take, first ? FrameType.HEADERS : FrameType.CONTINUATION, (first ? endFlag : 0) | (last ? Flag.END_HEADERS : 0), id);
      this.#enqueue(header);
      this.#enqueue(block.subarray(off, off + take));
      off += take;
      first = false;
    }
  }

  #enqueueData(id: number, chunk: Buffer | undefined, endStream: boolean): void {
    const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
    writeFrameHeader(header, 0, chunk === undefined ? 0 : chunk.length, FrameType.DATA, endStream ? Flag.END_STREAM : 0, id);
    this.#enqueue(header);
    if (chunk !== undefined) this.#enqueue(chunk);
  }

  /** A frame we owe the peer whatever it does (ACKs, resets): bounded while the transport is full. */
  #enqueueControl(frame: Buffer): void {
    if (this.#blocked && ++this.#queuedControl > MAX_QUEUED_CONTROL) {
      this.#connectionError(ErrorCode.ENHANCE_YOUR_CALM, `more than ${MAX_QUEUED_CONTROL} control frames queued while the client does not read`);
      return;
    }
    this.#enqueue(frame);
  }

  #enqueue(buf: Buffer): void {
    this.#out.push(buf);
    this.#outBytes += buf.length;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(this.#flush);
    }
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    const out = this.#out;
    if (out.length === 0 || this.#closed) return;
    const data = out.length === 1 ? out[0]! : Buffer.concat(out, this.#outBytes);
    this.#out = [];
    this.#outBytes = 0;
    if (!this.#transport.writable) return;
    if (!this.#transport.write(data)) this.#blocked = true;
    if (this.#phase === Phase.Dead || (this.#streams.size === 0 && (this.#goawaySent || this.#peerGoaway || this.#transportEnded))) this.#endTransport();
  };

  #sendGoaway(code: number, reason: string): void {
    this.#goawaySent = true;
    this.#goawayLastId = this.#lastStreamId;
    this.#enqueue(goawayFrame(this.#lastStreamId, code, reason));
  }

  /** Ends the transport once no stream is left, after GOAWAY either way or the peer's end. */
  #endIfIdle(): void {
    if (this.#streams.size !== 0 || this.#closed) return;
    if (!(this.#goawaySent || this.#peerGoaway || this.#transportEnded)) return;
    if (this.#out.length > 0) return; // the flush ends it after writing
    this.#endTransport();
  }

  #endTransport(): void {
    if (this.#transport.writableEnded) return;
    this.#transport.end();
  }

  #connectionError(code: number, reason: string): void {
    if (this.#phase === Phase.Dead) return;
    this.#phase = Phase.Dead;
    this.#sendGoaway(code, reason);
    const err = new Http2Error('H2_CONNECTION_ERROR', code, reason);
    this.#handlers.onProtocolError(err);
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    this.#waiting.clear();
    for (const s of streams) s.onReset(new Http2Error('H2_STREAM_RESET', code, `the connection failed: ${reason}`));
  }

  #streamError(id: number, code: number, reason: string): void {
    const err = new Http2Error('H2_STREAM_ERROR', code, reason);
    this.#handlers.onProtocolError(err);
    const s = this.#streams.get(id);
    if (s !== undefined) this.resetStream(s, code, err);
    else this.#enqueueControl(rstStreamFrame(id, code));
  }
}

function frameName(type: number): string {
  for (const [name, value] of Object.entries(FrameType)) if (value === type) return name;
  return `type 0x${type.toString(16)}`;
}

function noop(): void {}
