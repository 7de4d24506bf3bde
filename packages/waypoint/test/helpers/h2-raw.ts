/**
 * A raw HTTP/2 peer for tests that must send what no real client would: frames built by hand, header
 * blocks as HPACK literals written here (independent of the waypoint's encoder), and a frame reader
 * that collects what the server answers.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly stream: number;
  readonly payload: Buffer;
}

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

/** HPACK "literal header field without indexing, new name" (RFC 7541 §6.2.2) for each pair, no Huffman. */
export function literalBlock(fields: readonly (readonly [string, string])[]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) parts.push(Buffer.from([0x00]), stringLiteral(name), stringLiteral(value));
  return Buffer.concat(parts);
}

function stringLiteral(s: string): Buffer {
  const bytes = Buffer.from(s, 'latin1');
  const len: number[] = [];
  if (bytes.length < 127) len.push(bytes.length);
  else {
    len.push(127);
    let rest = bytes.length - 127;
    while (rest >= 128) {
      len.push((rest % 128) + 128);
      rest = Math.floor(rest / 128);
    }
    len.push(rest);
  }
  return Buffer.concat([Buffer.from(len), bytes]);
}

export const GET_FIELDS: readonly (readonly [string, string])[] = [
  [':method', 'GET'],
  [':scheme', 'http'],
  [':path', '/'],
  [':authority', 'example.test'],
];

/** A connected raw peer: `send` frames, `next` the server's frames in order, `closed` when the server ends. */
export class RawPeer {
  readonly socket: Socket;
  readonly #frames: Frame[] = [];
  #buf = Buffer.alloc(0);
  #waiter: (() => void) | undefined;
  ended = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, chunk]);
      while (this.#buf.length >= 9) {
        const len = this.#buf.readUIntBE(0, 3);
        if (this.#buf.length < 9 + len) break;
        this.#frames.push({ type: this.#buf[3]!, flags: this.#buf[4]!, stream: this.#buf.readUInt32BE(5) & 0x7fffffff, payload: this.#buf.subarray(9, 9 + len) });
        this.#buf = this.#buf.subarray(9 + len);
      }
      this.#wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.#wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.#wake();
    });
    socket.on('error', () => undefined);
  }

  /** Connects and sends the preface and an empty SETTINGS (unless `handshake` is false). */
  static async open(port: number, handshake = true): Promise<RawPeer> {
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    const peer = new RawPeer(socket);
    if (handshake) peer.send(PREFACE, frame(4, 0, 0));
    return peer;
  }

  send(...bufs: Buffer[]): void {
    this.socket.write(Buffer.concat(bufs));
  }

  /** The next frame matching `pred` (frames before it are dropped), or undefined if the server ends first. */
  async next(pred: (f: Frame) => boolean = () => true, timeoutMs = 5000): Promise<Frame | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.#frames.length > 0) {
        const f = this.#frames.shift()!;
        if (pred(f)) return f;
      }
      if (this.ended) return undefined;
      if (Date.now() > deadline) throw new Error('no matching frame within the timeout');
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
        setTimeout(resolve, 50);
      });
    }
  }

  /** Waits until the server has closed its side. */
  async untilEnded(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      if (Date.now() > deadline) throw new Error('the server did not close the connection');
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
        setTimeout(resolve, 50);
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }
}
