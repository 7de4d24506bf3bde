/**
 * Pairs of connected TCP sockets over loopback: the way a connection between two pods of this node goes
 * through HBONE. With node-level capture, ztunnel's own dial to `podIP:15008` is locally generated, so it
 * is routed straight to the pod (capture only sees packets arriving from interfaces) and would never
 * reach the HBONE listener. Instead the outbound side's HBONE client is handed one end of a loopback pair
 * and the HBONE server the other (`HboneServer.accept`, told which pod was dialled and by whom), and the
 * tunnel runs exactly as between nodes: mutual TLS with both pods' identities, HTTP/2 CONNECT, the same
 * authorization and delivery. As in ztunnel, there is no same-node shortcut around HBONE.
 *
 * The two ends meet by port: the accepted end's remote port is the connecting end's local port. A
 * connection from anyone else (any local process may connect to 127.0.0.1) matches no pending pair and is
 * closed after `strangerTimeoutMs`.
 */
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Clock, Timer } from '@ambit/mesh-core/lifecycle';
import { ProxyClosedError } from './errors.js';

export interface SocketPair {
  /** The connecting end (for the HBONE client). */
  readonly client: Socket;
  /** The accepted end, paused (for the HBONE server). */
  readonly server: Socket;
}

interface Waiting {
  client?: Socket;
  server?: Socket;
  resolve?: (pair: SocketPair) => void;
  reject?: (err: Error) => void;
  timer?: Timer;
}

const LOOPBACK = '127.0.0.1';
const DEFAULT_STRANGER_TIMEOUT_MS = 5_000;

export class LoopbackJoiner {
  readonly #server: Server;
  readonly #clock: Clock;
  readonly #strangerTimeoutMs: number;
  /** By the connecting end's local port. */
  readonly #waiting = new Map<number, Waiting>();
  readonly #port: number;
  #closed = false;

  private constructor(server: Server, clock: Clock, strangerTimeoutMs: number) {
    this.#server = server;
    this.#clock = clock;
    this.#strangerTimeoutMs = strangerTimeoutMs;
    this.#port = (server.address() as AddressInfo).port;
    server.on('connection', (socket: Socket) => this.#accepted(socket));
  }

  /** Listens on 127.0.0.1 on a free port. */
  static async open(clock: Clock, strangerTimeoutMs = DEFAULT_STRANGER_TIMEOUT_MS): Promise<LoopbackJoiner> {
    const server = createServer({ pauseOnConnect: true, noDelay: true });
    server.listen(0, LOOPBACK);
    await once(server, 'listening');
    return new LoopbackJoiner(server, clock, strangerTimeoutMs);
  }

  /** The port pairs are made through (for diagnostics). */
  get port(): number {
    return this.#port;
  }

  /** A new connected pair. */
  async pair(): Promise<SocketPair> {
    if (this.#closed) throw new ProxyClosedError('join a loopback pair');
    const client = connect({ host: LOOPBACK, port: this.#port, noDelay: true });
    try {
      await once(client, 'connect');
    } catch (err) {
      client.destroy();
      throw err;
    }
    const port = client.localPort!;
    return await new Promise<SocketPair>((resolve, reject) => {
      const entry = this.#waiting.get(port);
      if (entry?.server !== undefined) {
        // The server side was accepted first.
        entry.timer?.cancel();
        this.#waiting.delete(port);
        resolve({ client, server: entry.server });
        return;
      }
      this.#waiting.set(port, { client, resolve, reject });
    });
  }

  /** Stops making pairs; pairs already made are their users'. */
  async close(): Promise<void> {
    this.destroy();
    if (this.#server.listening) await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#server.listening) this.#server.close();
    for (const entry of this.#waiting.values()) {
      entry.timer?.cancel();
      entry.client?.destroy();
      entry.server?.destroy();
      entry.reject?.(new ProxyClosedError('join a loopback pair'));
    }
    this.#waiting.clear();
  }

  #accepted(socket: Socket): void {
    if (this.#closed || socket.remoteAddress !== LOOPBACK) {
      socket.destroy();
      return;
    }
    const port = socket.remotePort!;
    const entry = this.#waiting.get(port);
    if (entry?.client !== undefined && entry.resolve !== undefined) {
      this.#waiting.delete(port);
      entry.resolve({ client: entry.client, server: socket });
      return;
    }
    // Either our client's 'connect' has not run yet, or this is not ours: wait a little for the client.
    const timer = this.#clock.setTimeout(
      () => {
        if (this.#waiting.get(port)?.server === socket) this.#waiting.delete(port);
        socket.destroy();
      },
      this.#strangerTimeoutMs,
      { keepAlive: false },
    );
    socket.on('error', () => socket.destroy());
    this.#waiting.set(port, { server: socket, timer });
  }
}
