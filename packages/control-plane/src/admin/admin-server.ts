/**
 * The admin HTTP endpoint (istiod's 15014 monitoring port, ztunnel's 15000 admin): read-only views of
 * the control plane. Bind it to loopback: config_dump shows the whole mesh.
 *
 * - `GET /debug/config_dump` (also `/config_dump`): JSON, see config-dump.ts;
 * - `GET /metrics` (also `/stats/prometheus`): the process registry in Prometheus text format;
 * - `GET /ready` (also `/healthz/ready`): 200 when serving, 503 with the reasons otherwise.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@ambit/mesh-core/telemetry';
import type { Registry } from 'prom-client';

export interface Readiness {
  readonly ready: boolean;
  /** Why not, when not ready. */
  readonly reasons: readonly string[];
}

export interface AdminServerOptions {
  readonly host: string;
  readonly port: number;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly configDump: () => unknown;
  readonly readiness: () => Readiness;
}

const ROUTES = ['/debug/config_dump', '/config_dump', '/metrics', '/stats/prometheus', '/ready', '/healthz/ready'];

export class AdminServer {
  readonly #options: AdminServerOptions;
  readonly #logger: Logger;
  readonly #server: http.Server;

  constructor(options: AdminServerOptions) {
    this.#options = options;
    this.#logger = options.logger.child({ component: 'admin' });
    this.#server = http.createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        this.#logger.error({ err, url: req.url }, 'admin request failed');
        if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
        else res.destroy();
      });
    });
  }

  /** Starts listening; resolves with the bound address (port 0 picks a free one). */
  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.#server.once('error', onError);
      this.#server.listen(this.#options.port, this.#options.host, () => {
        this.#server.off('error', onError);
        resolve(this.#server.address() as AddressInfo);
      });
    });
  }

  /** Stops accepting and waits for requests in flight (idle keep-alive connections are closed). */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.#server.listening) {
        resolve();
        return;
      }
      this.#server.close(() => resolve());
      this.#server.closeIdleConnections();
    });
  }

  destroy(): void {
    this.#server.close();
    this.#server.closeAllConnections();
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://admin').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      send(res, 405, 'text/plain; charset=utf-8', `method ${req.method ?? ''} not allowed; use GET\n`);
      return;
    }
    switch (path) {
      case '/debug/config_dump':
      case '/config_dump':
        send(res, 200, 'application/json', `${JSON.stringify(this.#options.configDump(), null, 2)}\n`);
        return;
      case '/metrics':
      case '/stats/prometheus':
        send(res, 200, this.#options.registry.contentType, await this.#options.registry.metrics());
        return;
      case '/ready':
      case '/healthz/ready': {
        const r = this.#options.readiness();
        if (r.ready) send(res, 200, 'text/plain; charset=utf-8', 'ready\n');
        else send(res, 503, 'text/plain; charset=utf-8', `not ready:\n${r.reasons.map((x) => `- ${x}\n`).join('')}`);
        return;
      }
      default:
        send(res, 404, 'text/plain; charset=utf-8', `not found; endpoints: ${ROUTES.join(', ')}\n`);
    }
  }
}

function send(res: http.ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
