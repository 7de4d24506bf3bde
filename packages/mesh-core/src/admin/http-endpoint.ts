/**
 * A small HTTP server for a proxy's own endpoints (admin, metrics, readiness; ztunnel's and the
 * waypoint's): exact paths, one handler per path and method, JSON or text bodies. Unknown paths answer 404 with the list of known ones; a known
 * path with another method answers 405 with `allow`. A handler that throws answers 500 and is logged;
 * nothing a client sends can take the server down.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '../telemetry/index.js';

export interface EndpointResponse {
  readonly status: number;
  readonly body: string;
  /** Default `text/plain; charset=utf-8`. */
  readonly contentType?: string;
}

export type EndpointHandler = (req: IncomingMessage) => EndpointResponse | Promise<EndpointResponse>;

/** Path → method → handler. */
export type Routes = Readonly<Record<string, Readonly<Partial<Record<'GET' | 'POST', EndpointHandler>>>>>;

/** Pretty-printed JSON with a final newline (people read these with curl). */
export function json(status: number, value: unknown): EndpointResponse {
  return { status, body: `${JSON.stringify(value, null, 2)}\n`, contentType: 'application/json' };
}

/** Plain text, ending with exactly one newline of its own. */
export function text(status: number, body: string): EndpointResponse {
  return { status, body: body.endsWith('\n') ? body : `${body}\n` };
}

/** One listening endpoint; `name` is its log component. */
export class HttpEndpoint {
  readonly name: string;
  readonly #server: Server;
  readonly #routes: Routes;
  readonly #logger: Logger;
  readonly #sockets = new Set<Socket>();

  constructor(name: string, routes: Routes, logger: Logger) {
    this.name = name;
    this.#routes = routes;
    this.#logger = logger.child({ component: name });
    this.#server = createServer((req, res) => void this.#handle(req, res));
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  /** Listens on `host:port` (0: a free port) and resolves with the address. */
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

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    const methods = Object.hasOwn(this.#routes, path) ? this.#routes[path] : undefined;
    let response: EndpointResponse;
    if (methods === undefined) {
      response = text(404, `no such endpoint ${path}; try ${Object.keys(this.#routes).join(', ')}`);
    } else {
      const handler = req.method === 'GET' || req.method === 'POST' ? methods[req.method] : undefined;
      if (handler === undefined) {
        res.setHeader('allow', Object.keys(methods).join(', '));
        response = text(405, `${path} takes ${Object.keys(methods).join(' or ')}`);
      } else {
        try {
          response = await handler(req);
        } catch (err) {
          this.#logger.error({ err, path }, 'endpoint handler failed');
          response = text(500, `internal error: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    }
    // The request body, if any, is not used: drain it so the connection can be reused.
    req.resume();
    res.writeHead(response.status, { 'content-type': response.contentType ?? 'text/plain; charset=utf-8' });
    res.end(response.body);
  }
}
