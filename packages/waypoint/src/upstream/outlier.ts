/**
 * Passive outlier detection (Envoy's consecutive-5xx and consecutive-gateway-failure detectors): every
 * finished attempt reports its outcome; a host reaching either threshold is ejected for
 * `baseEjectionMs × times ejected`, unless that would put the cluster's ejected share at or above
 * `maxEjectionPercent` (computed before the ejection, as Envoy does, so one host can always go when the
 * limit is above 0). An ejected host returns once its time has passed; the check is made when hosts are
 * picked, against an injectable clock, so tests need no real time.
 */
import type { OutlierDetection } from '../config/types.js';
import type { Host } from './host.js';

/** What one attempt came to, for outlier detection. */
export type AttemptOutcome = { readonly kind: 'status'; readonly status: number } | { readonly kind: 'connect-failure' } | { readonly kind: 'reset' } | { readonly kind: 'timeout' };

/** Records the outcome; returns true when the host was ejected by it. */
export function recordOutcome(config: OutlierDetection | undefined, host: Host, outcome: AttemptOutcome, hosts: readonly Host[], now: number): boolean {
  if (config === undefined) return false;
  const status = outcome.kind === 'status' ? outcome.status : 0;
  const gateway = outcome.kind !== 'status' || status === 502 || status === 503 || status === 504;
  const is5xx = outcome.kind !== 'status' || status >= 500;
  if (!is5xx) {
    host.consecutive5xx = 0;
    host.consecutiveGatewayErrors = 0;
    return false;
  }
  host.consecutive5xx++;
  if (gateway) host.consecutiveGatewayErrors++;
  else host.consecutiveGatewayErrors = 0;
  const trip =
    (config.consecutive5xx > 0 && host.consecutive5xx >= config.consecutive5xx) ||
    (config.consecutiveGatewayErrors > 0 && host.consecutiveGatewayErrors >= config.consecutiveGatewayErrors);
  if (!trip || host.isEjected(now)) return false;
  let ejected = 0;
  for (const h of hosts) if (h.isEjected(now)) ejected++;
  if ((ejected * 100) / hosts.length >= config.maxEjectionPercent) return false;
  host.ejections++;
  host.ejectedUntil = now + config.baseEjectionMs * host.ejections;
  host.consecutive5xx = 0;
  host.consecutiveGatewayErrors = 0;
  return true;
}
