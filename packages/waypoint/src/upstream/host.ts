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
  /** Times ejected so far (never goes down; for stats). */
  ejections = 0;
  /**
   * The ejection-time multiplier (Envoy's `ejectTimeBackoff`): raised by each ejection, lowered by one for
   * every outlier-detection interval the host spends in service (see `outlier.ts`).
   */
  backoff = 0;
  /** Clock time when the current ejection ends; 0 when not ejected. */
  ejectedUntil = 0;
  /** From when the host's time in service counts toward lowering `backoff` (its return, or the last step). */
  inServiceSince = 0;

  constructor(key: string, endpoint: Endpoint) {
    this.key = key;
    this.endpoint = endpoint;
  }

  /**
   * Whether the host is ejected now. An ejection that has run out ends here, lazily, at the next look:
   * the host returns with its consecutive-error counts cleared (as Envoy's unejection does).
   */
  isEjected(now: number): boolean {
    if (this.ejectedUntil === 0) return false;
    if (now < this.ejectedUntil) return true;
    this.inServiceSince = this.ejectedUntil;
    this.ejectedUntil = 0;
    this.consecutive5xx = 0;
    this.consecutiveGatewayErrors = 0;
    return false;
  }
}

export function hostKey(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}
