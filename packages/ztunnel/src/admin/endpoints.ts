/**
 * The routes of ztunnel's three HTTP endpoints:
 *
 * - admin (127.0.0.1:15000): `/config_dump` (workloads, services, policies, certificates with expiry, the
 *   configuration, capture and proxy status) and `POST /quitquitquit` (drain and exit, as SIGTERM);
 * - stats (:15020): `/metrics` and `/stats/prometheus`, the process registry in Prometheus text format
 *   (mesh-core's `statsRoutes`, which the waypoint serves too);
 * - readiness (:15021): `/healthz/ready`, 200 `ready` or 500 with what is pending, one item a line.
 */
import { json, text, type Routes } from '@ambit/mesh-core/admin';
import type { Readiness } from '../readiness.js';


export interface AdminActions {
  /** The JSON for `/config_dump` (a promise of it: worker threads are asked for their figures). */
  configDump(): unknown;
  /** `/quitquitquit`: starts the drain; the answer is sent before the process goes. */
  quit(): void;
}

export function adminRoutes(actions: AdminActions): Routes {
  return {
    '/': { GET: () => text(200, 'ztunnel admin: GET /config_dump, POST /quitquitquit') },
    '/config_dump': { GET: async () => json(200, await actions.configDump()) },
    '/quitquitquit': {
      POST: () => {
        // After the response is written: the drain closes this very endpoint.
        setImmediate(() => actions.quit());
        return text(200, 'OK');
      },
    },
  };
}

export function readinessRoutes(readiness: Readiness): Routes {
  return {
    '/healthz/ready': {
      GET: () => {
        const status = readiness.status();
        return status.ready ? text(200, 'ready') : text(500, `not ready:\n${status.pending.map((p) => `- ${p}`).join('\n')}`);
      },
    },
  };
}
