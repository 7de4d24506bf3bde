/**
 * A small HTTP server for the waypoint's own endpoints (admin, metrics, readiness): exact paths, GET only,
 * JSON or text. Unknown paths answer 404; a handler that throws answers 500 and is logged.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';

export interface EndpointResponse {
  readonly status: number;
  readonly body: string;
  readonly contentType: string;
}

export type Routes = Readonly<Record<string, () => EndpointResponse | Promise<EndpointResponse>>>;

export function json(status: number, value: unknown): EndpointResponse {
  return { status, body: `${JSON.stringify(value, null, 2)}\n`, contentType: 'application/json' };
}

export function text(status: number, body: string): EndpointResponse {
  return { status, body: `${body}\n`, contentType: 'text/plain; charset=utf-8' };
}

export class Endpoint {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  constructor(name: string, routes: Routes, logger: Logger) {
    const log = logger.child({ component: name });
    this.#server = createServer((req, res) => {
      req.resume();
      const path = (req.url ?? '/').split('?', 1)[0]!;
      const handler = Object.hasOwn(routes, path) ? routes[path] : undefined;
      const respond = (r: EndpointResponse): void => {
        res.writeHead(r.status, { 'content-type': r.contentType });
        res.end(r.body);
      };
      if (handler === undefined || req.method !== 'GET') {
        respond(text(handler === undefined ? 404 : 405, handler === undefined ? `no such endpoint ${path}; try ${Object.keys(routes).join(', ')}` : `${path} takes GET`));
        return;
      }
      Promise.resolve()
        .then(handler)
        .then(respond, (err: unknown) => {
          log.error({ err, path }, 'endpoint handler failed');
          respond(text(500, `internal error: ${err instanceof Error ? err.message : String(err)}`));
        });
    });
    this.#server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.once('close', () => this.#sockets.delete(s));
    });
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    this.#server.listen(port, host);
    await Promise.race([once(this.#server, 'listening'), once(this.#server, 'error').then(([err]) => Promise.reject(err as Error))]);
    return this.#server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    if (!this.#server.listening) return;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    await closed;
  }

  destroy(): void {
    if (this.#server.listening) this.#server.close();
    for (const s of this.#sockets) s.destroy();
  }
}
