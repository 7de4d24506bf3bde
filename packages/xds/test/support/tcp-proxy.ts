/**
 * A loopback TCP relay in front of a test server, whose `kill()` drops every connection with a reset at
 * once: what a client sees when the control plane's process or node dies (no GOAWAY, no RST_STREAM).
 */
import net from 'node:net';

export class TcpProxy {
  readonly #upstreamPort: number;
  #server: net.Server | undefined;
  #port = 0;
  readonly #sockets = new Set<net.Socket>();
  /** Connections accepted since creation (over restarts). */
  accepted = 0;

  constructor(upstreamPort: number) {
    this.#upstreamPort = upstreamPort;
  }

  get target(): string {
    return `127.0.0.1:${this.#port}`;
  }

  async start(port = this.#port): Promise<number> {
    const server = net.createServer((downstream) => {
      this.accepted++;
      const upstream = net.connect(this.#upstreamPort, '127.0.0.1');
      for (const [a, b] of [[downstream, upstream], [upstream, downstream]] as const) {
        this.#sockets.add(a);
        a.on('error', () => b.destroy());
        a.on('close', () => {
          this.#sockets.delete(a);
          b.destroy();
        });
        a.pipe(b);
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.#server = server;
    this.#port = (server.address() as net.AddressInfo).port;
    return this.#port;
  }

  /** Resets every connection and stops listening (the port refuses connections until `start()`). */
  async kill(): Promise<void> {
    for (const socket of this.#sockets) socket.resetAndDestroy();
    this.#sockets.clear();
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
