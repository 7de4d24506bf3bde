/**
 * A hand-rolled HTTP/2 client speaking raw frames, for requests that node:http2 refuses to send (CONNECT
 * with :path, CONNECT without :authority). HPACK: literal header fields without indexing, no Huffman.
 */
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';

export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8 } as const;

export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId, 5);
  return Buffer.concat([h, payload]);
}

function hpackLength(n: number): Buffer {
  // 7-bit prefix integer (RFC 7541 5.1), H bit clear.
  if (n < 127) return Buffer.from([n]);
  const out = [127];
  n -= 127;
  while (n >= 128) {
    out.push((n % 128) + 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

export function hpackLiteral(headers: Array<[string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of headers) {
    parts.push(Buffer.from([0x00]), hpackLength(name.length), Buffer.from(name), hpackLength(value.length), Buffer.from(value));
  }
  return Buffer.concat(parts);
}

export class RawH2 {
  readonly socket: TLSSocket;
  readonly frames: Frame[] = [];
  #buf = Buffer.alloc(0);
  #waiters: Array<() => void> = [];
  closed = false;

  private constructor(socket: TLSSocket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      while (this.#buf.length >= 9) {
        const len = this.#buf.readUIntBE(0, 3);
        if (this.#buf.length < 9 + len) break;
        this.frames.push({ type: this.#buf[3]!, flags: this.#buf[4]!, streamId: this.#buf.readUInt32BE(5) & 0x7fffffff, payload: this.#buf.subarray(9, 9 + len) });
        this.#buf = this.#buf.subarray(9 + len);
      }
      this.#wake();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
  }

  static async connect(port: number, tls: ConnectionOptions): Promise<RawH2> {
    const socket = tlsConnect({ host: '127.0.0.1', port, ...tls });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    const raw = new RawH2(socket);
    socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(FRAME.SETTINGS, 0, 0, Buffer.alloc(0))]));
    return raw;
  }

  headers(streamId: number, headers: Array<[string, string]>, endStream = false): void {
    this.socket.write(frame(FRAME.HEADERS, 0x4 | (endStream ? 0x1 : 0), streamId, hpackLiteral(headers)));
  }

  /** Waits for the first frame matching `pred` (or the connection's close, then undefined). */
  async next(pred: (f: Frame) => boolean): Promise<Frame | undefined> {
    for (;;) {
      const f = this.frames.find(pred);
      if (f) return f;
      if (this.closed) return undefined;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  destroy(): void {
    this.socket.destroy();
  }
}
