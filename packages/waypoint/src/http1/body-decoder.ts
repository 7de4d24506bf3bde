/**
 * Incremental decoding of one message body: a fixed length, chunked (RFC 9112 §7.1) or until close. Body
 * bytes are handed on as subarrays of the caller's buffer, never copied; only a trailer section is copied,
 * into a buffer kept across messages. The state machine takes input split anywhere, down to single bytes.
 */
import { CLASS, CR, HEX, HTAB, LF, QDTEXT, SP, TOKEN, VALUE } from './chars.js';
import { Http1Error } from './errors.js';
import { hex2, parseFieldLines } from './field-lines.js';
import type { Framing } from './framing.js';

/** Default limit of a trailer section, its final CRLF included. */
export const DEFAULT_MAX_TRAILER_BYTES = 16 * 1024;
/** A chunk-size line (size, extensions, CRLF) longer than this is refused: extensions are ignored anyway. */
export const MAX_CHUNK_SIZE_LINE = 4 * 1024;

const CRLF = Buffer.from('\r\n', 'latin1');

// States. A chunk-size line is `1*HEXDIG *( BWS ";" BWS ext-name [ BWS "=" BWS ( token / quoted-string ) ] ) CRLF`.
const LENGTH = 0;
const CLOSE = 1;
const SIZE = 2; // hex digits
const SIZE_WS = 3; // BWS after the digits: only before ";"
const EXT_BEFORE_NAME = 4; // after ";"
const EXT_NAME = 5;
const EXT_AFTER_NAME = 6; // BWS after a name: only before "=" or ";"
const EXT_BEFORE_VALUE = 7; // after "="
const EXT_TOKEN = 8;
const EXT_AFTER_VALUE = 9; // BWS after a value: only before ";"
const EXT_QUOTED = 10;
const EXT_ESCAPE = 11; // after a backslash in a quoted-string
const EXT_AFTER_QUOTED = 12;
const SIZE_LF = 13; // after the size line's CR
const DATA = 14;
const DATA_CR = 15;
const DATA_LF = 16;
const TRAILER_LINE_START = 17;
const TRAILER_LINE = 18;
const TRAILER_LINE_LF = 19;
const TRAILER_END_LF = 20;
const DONE = 21;
const FAILED = 22;

/** Decodes one message body incrementally. Body bytes go to `onData` as subarrays of the input (no copy). */
export class BodyDecoder {
  #state = DONE;
  /** Bytes left in the body (length) or in the current chunk (chunked). */
  #remaining = 0;
  #received = 0;
  /** The chunk size being read, and the bytes of its line so far. */
  #size = 0;
  #lineBytes = 0;
  /** Chunks begun (1-based number of the current one), for messages. */
  #chunk = 0;
  #trailers: string[] | undefined;
  #trailerBuf: Buffer | undefined;
  #trailerLen = 0;
  readonly #maxTrailerBytes: number;
  #error: Http1Error | undefined;

  constructor(framing: Framing, maxTrailerBytes = DEFAULT_MAX_TRAILER_BYTES) {
    this.#maxTrailerBytes = maxTrailerBytes;
    this.reset(framing);
  }

  /** Whether the whole body (and trailers) has been read. `length` 0 is done from the start. */
  get done(): boolean {
    return this.#state === DONE;
  }

  /** Trailer fields (rawHeaders shape) of a chunked body, once done; undefined when there were none. */
  get trailers(): string[] | undefined {
    return this.#trailers;
  }

  /** Body bytes delivered so far. */
  get received(): number {
    return this.#received;
  }

  /** Reuse for another message on the same connection (avoid an allocation per request). */
  reset(framing: Framing): void {
    this.#received = 0;
    this.#trailers = undefined;
    this.#trailerLen = 0;
    this.#error = undefined;
    this.#chunk = 0;
    switch (framing.kind) {
      case 'length':
        this.#remaining = framing.length;
        this.#state = framing.length > 0 ? LENGTH : DONE;
        break;
      case 'chunked':
        this.#startSizeLine();
        break;
      case 'close':
        this.#state = CLOSE;
        break;
    }
  }

  /**
   * Consumes buf[start..end); returns the index up to which bytes were consumed (the rest belongs to the
   * next message when `done`). Throws Http1Error (HPE_INVALID_CHUNK, HPE_TRAILERS_TOO_LARGE,
   * HPE_INVALID_HEADER for bad trailer lines); after that the decoder throws the same error until `reset`.
   */
  feed(buf: Buffer, start: number, end: number, onData: (chunk: Buffer) => void): number {
    if (this.#error !== undefined) throw this.#error;
    try {
      return this.#feed(buf, start, end, onData);
    } catch (err) {
      if (err instanceof Http1Error) {
        this.#error = err;
        this.#state = FAILED;
      }
      throw err;
    }
  }

  /** The peer ended the stream: completes a `close` body; throws HPE_UNEXPECTED_EOF for an unfinished length or chunked body. */
  end(): void {
    if (this.#error !== undefined) throw this.#error;
    const state = this.#state;
    if (state === DONE) return;
    if (state === CLOSE) {
      this.#state = DONE;
      return;
    }
    let where: string;
    if (state === LENGTH) where = `after ${this.#received} of ${this.#received + this.#remaining} body bytes`;
    else if (state === DATA) where = `inside the data of chunk ${this.#chunk} (${this.#remaining} bytes missing)`;
    else if (state === DATA_CR || state === DATA_LF) where = `before the CRLF after chunk ${this.#chunk}`;
    else if (state >= TRAILER_LINE_START) where = 'inside the trailer section';
    else where = `inside the size line of chunk ${this.#chunk}`;
    this.#error = new Http1Error('HPE_UNEXPECTED_EOF', 400, `the stream ended ${where}`);
    this.#state = FAILED;
    throw this.#error;
  }

  #feed(buf: Buffer, start: number, end: number, onData: (chunk: Buffer) => void): number {
    let i = start;
    while (i < end) {
      switch (this.#state) {
        case LENGTH:
        case DATA: {
          const n = Math.min(this.#remaining, end - i);
          this.#remaining -= n;
          this.#received += n;
          const chunk = buf.subarray(i, i + n);
          i += n;
          if (this.#remaining === 0) this.#state = this.#state === LENGTH ? DONE : DATA_CR;
          onData(chunk);
          break;
        }
        case CLOSE: {
          this.#received += end - i;
          const chunk = buf.subarray(i, end);
          i = end;
          onData(chunk);
          break;
        }
        case DONE:
          return i;
        case SIZE: {
          // The common case, digits then CRLF, without a call per byte.
          let c = buf[i]!;
          let h = HEX[c]!;
          while (h >= 0) {
            if (++this.#lineBytes > MAX_CHUNK_SIZE_LINE) throw this.#chunkError(`size line longer than ${MAX_CHUNK_SIZE_LINE} bytes`);
            this.#size = this.#size * 16 + h;
            // Checked per digit, so the sum stays far inside the range where doubles are exact enough to compare.
            if (this.#size > Number.MAX_SAFE_INTEGER) throw this.#chunkError('size larger than 2^53 - 1');
            if (++i === end) return i;
            c = buf[i]!;
            h = HEX[c]!;
          }
          this.#sizeLineByte(c);
          i++;
          break;
        }
        case DATA_CR:
          if (buf[i] !== CR) throw this.#chunkError(`data not followed by CRLF (byte 0x${hex2(buf[i]!)} after ${this.#size} bytes)`);
          this.#state = DATA_LF;
          i++;
          break;
        case DATA_LF:
          if (buf[i] !== LF) throw this.#chunkError('data followed by a bare CR');
          this.#startSizeLine();
          i++;
          break;
        case TRAILER_LINE_START:
        case TRAILER_LINE:
        case TRAILER_LINE_LF:
        case TRAILER_END_LF:
          i = this.#trailerBytes(buf, i, end);
          break;
        default:
          this.#sizeLineByte(buf[i]!);
          i++;
      }
    }
    return i;
  }

  #startSizeLine(): void {
    this.#state = SIZE;
    this.#size = 0;
    this.#lineBytes = 0;
    this.#chunk++;
  }

  /** One byte of a chunk-size line after its digits (or a non-digit where the first digit belongs). */
  #sizeLineByte(c: number): void {
    if (++this.#lineBytes > MAX_CHUNK_SIZE_LINE) throw this.#chunkError(`size line longer than ${MAX_CHUNK_SIZE_LINE} bytes`);
    const state = this.#state;
    if (state === SIZE && this.#lineBytes === 1) throw this.#chunkError(`size expected, found byte 0x${hex2(c)}`);
    const tchar = (CLASS[c]! & TOKEN) !== 0;
    const ws = c === SP || c === HTAB;
    switch (state) {
      case SIZE:
        if (c === CR) return this.#to(SIZE_LF);
        if (c === 0x3b) return this.#to(EXT_BEFORE_NAME);
        if (ws) return this.#to(SIZE_WS);
        throw this.#chunkError(`byte 0x${hex2(c)} after the size (only hex digits, then ";" extensions)`);
      case SIZE_WS:
        if (ws) return;
        if (c === 0x3b) return this.#to(EXT_BEFORE_NAME);
        throw this.#chunkError(`byte 0x${hex2(c)} after whitespace following the size (only ";" may follow)`);
      case EXT_BEFORE_NAME:
        if (ws) return;
        if (tchar) return this.#to(EXT_NAME);
        throw this.#chunkError(`byte 0x${hex2(c)} where an extension name should start`);
      case EXT_NAME:
        if (tchar) return;
        if (c === 0x3d) return this.#to(EXT_BEFORE_VALUE);
        if (c === 0x3b) return this.#to(EXT_BEFORE_NAME);
        if (c === CR) return this.#to(SIZE_LF);
        if (ws) return this.#to(EXT_AFTER_NAME);
        throw this.#chunkError(`byte 0x${hex2(c)} in an extension name`);
      case EXT_AFTER_NAME:
        if (ws) return;
        if (c === 0x3d) return this.#to(EXT_BEFORE_VALUE);
        if (c === 0x3b) return this.#to(EXT_BEFORE_NAME);
        throw this.#chunkError(`byte 0x${hex2(c)} after whitespace following an extension name (only "=" or ";")`);
      case EXT_BEFORE_VALUE:
        if (ws) return;
        if (c === 0x22) return this.#to(EXT_QUOTED);
        if (tchar) return this.#to(EXT_TOKEN);
        throw this.#chunkError(`byte 0x${hex2(c)} where an extension value should start`);
      case EXT_TOKEN:
        if (tchar) return;
        if (c === 0x3b) return this.#to(EXT_BEFORE_NAME);
        if (c === CR) return this.#to(SIZE_LF);
        if (ws) return this.#to(EXT_AFTER_VALUE);
        throw this.#chunkError(`byte 0x${hex2(c)} in an extension value`);
      case EXT_AFTER_VALUE:
        if (ws) return;
        if (c === 0x3b) return this.#to(EXT_BEFORE_NAME);
        throw this.#chunkError(`byte 0x${hex2(c)} after whitespace following an extension value (only ";")`);
      case EXT_QUOTED:
        if (c === 0x22) return this.#to(EXT_AFTER_QUOTED);
        if (c === 0x5c) return this.#to(EXT_ESCAPE);
        if ((CLASS[c]! & QDTEXT) !== 0) return;
        throw this.#chunkError(`byte 0x${hex2(c)} in a quoted extension value`);
      case EXT_ESCAPE:
        // quoted-pair: HTAB / SP / VCHAR / obs-text.
        if ((CLASS[c]! & VALUE) !== 0) return this.#to(EXT_QUOTED);
        throw this.#chunkError(`byte 0x${hex2(c)} escaped in a quoted extension value`);
      case EXT_AFTER_QUOTED:
        if (c === 0x3b) return this.#to(EXT_BEFORE_NAME);
        if (c === CR) return this.#to(SIZE_LF);
        if (ws) return this.#to(EXT_AFTER_VALUE);
        throw this.#chunkError(`byte 0x${hex2(c)} after a quoted extension value`);
      case SIZE_LF:
        if (c !== LF) throw this.#chunkError('size line ends with a bare CR');
        if (this.#size === 0) return this.#to(TRAILER_LINE_START);
        this.#remaining = this.#size;
        return this.#to(DATA);
      default:
        throw new Error(`BodyDecoder: size line byte in state ${state}`);
    }
  }

  #to(state: number): void {
    this.#state = state;
  }

  /**
   * Trailer section bytes from `i`: copied (they must be parsed as a whole, and may arrive split), checked
   * for bare CR and LF on the way; parsed as field lines at the empty line. Returns where it stopped.
   */
  #trailerBytes(buf: Buffer, i: number, end: number): number {
    while (i < end) {
      const c = buf[i]!;
      switch (this.#state) {
        case TRAILER_LINE_START:
          if (c === CR) {
            this.#state = TRAILER_END_LF;
            i++;
            break;
          }
          this.#state = TRAILER_LINE;
          break;
        case TRAILER_LINE: {
          let j = i;
          while (j < end && buf[j] !== CR && buf[j] !== LF) j++;
          if (j < end && buf[j] === LF) throw this.#trailerError('bare LF in the trailer section (lines end only with CRLF)');
          if (j < end) {
            j++;
            this.#state = TRAILER_LINE_LF;
          }
          this.#keepTrailer(buf, i, j);
          i = j;
          break;
        }
        case TRAILER_LINE_LF:
          if (c !== LF) throw this.#trailerError('bare CR in the trailer section (lines end only with CRLF)');
          this.#keepTrailer(buf, i, i + 1);
          this.#state = TRAILER_LINE_START;
          i++;
          break;
        case TRAILER_END_LF: {
          if (c !== LF) throw this.#trailerError('bare CR in the trailer section (lines end only with CRLF)');
          i++;
          if (this.#trailerLen > 0) {
            // The CR may have come in an earlier buffer: append the line end from a constant.
            this.#keepTrailer(CRLF, 0, 2);
            const trailers: string[] = [];
            parseFieldLines(this.#trailerBuf!, 0, this.#trailerLen, trailers, 'trailer');
            this.#trailers = trailers;
          }
          this.#state = DONE;
          return i;
        }
        default:
          return i;
      }
    }
    return i;
  }

  #keepTrailer(buf: Buffer, from: number, to: number): void {
    const len = this.#trailerLen + (to - from);
    if (len > this.#maxTrailerBytes) {
      throw new Http1Error('HPE_TRAILERS_TOO_LARGE', 431, `trailer section larger than ${this.#maxTrailerBytes} bytes`);
    }
    let store = this.#trailerBuf;
    if (store === undefined || store.length < len) {
      const grown = Buffer.allocUnsafe(Math.min(this.#maxTrailerBytes, Math.max(256, len * 2)));
      if (store !== undefined) store.copy(grown, 0, 0, this.#trailerLen);
      this.#trailerBuf = store = grown;
    }
    buf.copy(store, this.#trailerLen, from, to);
    this.#trailerLen = len;
  }

  #chunkError(why: string): Http1Error {
    return new Http1Error('HPE_INVALID_CHUNK', 400, `chunk ${this.#chunk}: ${why}`);
  }

  #trailerError(why: string): Http1Error {
    return new Http1Error('HPE_INVALID_HEADER', 400, why);
  }
}
