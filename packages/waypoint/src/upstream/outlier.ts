/**
 * Passive outlier detection, Envoy's consecutive-5xx and consecutive-gateway-failure detectors with their
 * defaults for the settings the snapshot does not carry (every enforcing_* at 100%, errors of local origin
 * not split out, no jitter, `max_ejection_time` 300 s or the base time if longer):
 *
 * - Every finished attempt reports its outcome. A 5xx counts toward `consecutive5xx`; a 502/503/504, and
 *   every local failure (connect failure, reset, timeout: Envoy maps those to 503/504), toward
 *   `consecutiveGatewayErrors` too; anything else clears both counts. A circuit-breaker overflow never
 *   reached the host and is not reported.
 * - A count reaching its threshold (exactly, as Envoy compares) trips the detector, which clears that count
 *   whether or not the host is then ejected, so that a refused ejection takes another full run of errors
 *   to try again.
 * - Ejection is refused when `100 × (ejected + 1) / hosts` would exceed `maxEjectionPercent` (current
 *   Envoy counts the host about to go; a 10% limit on fewer than ten hosts thus ejects none, and Envoy's
 *   `always_eject_one_host`, which would allow one anyway, is not in the snapshot).
 * - The ejection lasts `min(base × backoff, max)`, where `backoff` goes up by one per ejection (while
 *   `backoff × base < max + base`) and down by one per `intervalMs` the host then spends in service. Envoy
 *   does both on a timer sweep; here they are computed when next needed from the injectable clock: the
 *   return when hosts are picked (`Host.isEjected`), the decay when the host trips again or is inspected.
 *   A host thus returns exactly when its time is up rather than at the next sweep, and the decay counts
 *   intervals from its return rather than on the sweep's grid.
 */
import type { OutlierDetection } from '../config/types.js';
import type { Host } from './host.js';

/** What one attempt came to, for outlier detection and retries. */
export type AttemptOutcome =
  | { readonly kind: 'status'; readonly status: number }
  | { readonly kind: 'connect-failure' }
  | { readonly kind: 'reset' }
  | { readonly kind: 'timeout' }
  /** Refused by a circuit breaker before reaching the host: not the host's fault, never retried. */
  | { readonly kind: 'overflow' };

/** Envoy's default `max_ejection_time`. */
export const DEFAULT_MAX_EJECTION_MS = 300_000;

/** The longest an ejection may last under `config`. */
export function maxEjectionMs(config: OutlierDetection): number {
  return Math.max(DEFAULT_MAX_EJECTION_MS, config.baseEjectionMs);
}

/** Lowers the host's backoff by one per full interval it has spent in service since it last changed. */
export function decayBackoff(config: OutlierDetection, host: Host, now: number): void {
  if (host.backoff === 0 || host.isEjected(now) || config.intervalMs <= 0) return;
  const steps = Math.floor((now - host.inServiceSince) / config.intervalMs);
  if (steps <= 0) return;
  host.backoff = Math.max(0, host.backoff - steps);
  host.inServiceSince += steps * config.intervalMs;
}

/** Records the outcome; returns true when the host was ejected by it. */
export function recordOutcome(config: OutlierDetection | undefined, host: Host, outcome: AttemptOutcome, hosts: readonly Host[], now: number): boolean {
  if (config === undefined || outcome.kind === 'overflow') return false;
  const status = outcome.kind === 'status' ? outcome.status : 0;
  if (outcome.kind === 'status' && status < 500) {
    host.consecutive5xx = 0;
    host.consecutiveGatewayErrors = 0;
    return false;
  }
  const gateway = outcome.kind !== 'status' || status === 502 || status === 503 || status === 504;
  if (gateway) host.consecutiveGatewayErrors++;
  else host.consecutiveGatewayErrors = 0;
  host.consecutive5xx++;
  let tripped = false;
  if (config.consecutiveGatewayErrors > 0 && gateway && host.consecutiveGatewayErrors === config.consecutiveGatewayErrors) {
    tripped = true;
    host.consecutiveGatewayErrors = 0;
  }
  if (config.consecutive5xx > 0 && host.consecutive5xx === config.consecutive5xx) {
    tripped = true;
    host.consecutive5xx = 0;
  }
  // Already out (an attempt that started before the ejection finished after it): nothing more to do.
  if (!tripped || host.isEjected(now)) return false;
  let ejected = 0;
  for (const h of hosts) if (h.isEjected(now)) ejected++;
  if ((100 * (ejected + 1)) / hosts.length > config.maxEjectionPercent) return false;
  decayBackoff(config, host, now);
  const max = maxEjectionMs(config);
  if (host.backoff * config.baseEjectionMs < max + config.baseEjectionMs) host.backoff++;
  host.ejections++;
  host.ejectedUntil = now + Math.min(config.baseEjectionMs * host.backoff, max);
  return true;
}
