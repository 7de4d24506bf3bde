/**
 * What the waypoint keeps per upstream endpoint across snapshots: the endpoint as last configured,
 * requests in flight (least-request balancing), and outlier-detection state. A snapshot that keeps an
 * endpoint (same `ip:port`) keeps its `Host`, so an ejection or the consecutive-error count survives a
 * configuration push, as in Envoy.
 */
import type { Endpoint } from '../config/types.js';

export class Host {
  /** `ip:port` (IPv6: `[ip]:port`): the key, and the `:authority` of its HBONE tunnels. */
  readonly key: string;
  endpoint: Endpoint;
  /** Requests in flight to this host. */
  active = 0;
  consecutive5xx = 0;
  consecutiveGatewayErrors = 0;
  /** Times ejected so far (the ejection time is base × this). */
  ejections = 0;
  /** Clock time when the current ejection ends; 0 when not ejected. */
  ejectedUntil = 0;

  constructor(key: string, endpoint: Endpoint) {
    this.key = key;
    this.endpoint = endpoint;
  }

  /** Whether the host is ejected now; an ejection that has run out ends here (lazily, at the next look). */
  isEjected(now: number): boolean {
    if (this.ejectedUntil === 0) return false;
    if (now < this.ejectedUntil) return true;
    this.ejectedUntil = 0;
    this.consecutive5xx = 0;
    this.consecutiveGatewayErrors = 0;
    return false;
  }
}

export function hostKey(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}
