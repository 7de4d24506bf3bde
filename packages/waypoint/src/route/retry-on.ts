/**
 * Whether a failed attempt is covered by a route's retry policy: Envoy's `retry_on` conditions
 * (`x-envoy-retry-on` semantics) plus `retriable_status_codes`.
 *
 * - `5xx`: any 5xx status, and an attempt with no response at all (connect failure, reset, per-try
 *   timeout), which Envoy counts as 5xx too;
 * - `gateway-error`: 502, 503, 504, and no response at all;
 * - `reset`: no response at all (a reset, a disconnect, a per-try timeout);
 * - `connect-failure`: the connection to the host could not be made;
 * - `retriable-4xx`: 409;
 * - `retriable-status-codes`: a status listed in the policy's `retriable_status_codes` (without the
 *   condition the list is inert, as in Envoy; Istio adds the condition whenever `retryOn` names a code).
 *
 * A request refused by the waypoint's own circuit breaker (`overflow`) is never retried: Envoy does not
 * retry what it refused itself.
 */
import type { RetryPolicy } from '../config/types.js';
import type { AttemptOutcome } from '../upstream/outlier.js';

/** Whether `policy` retries an attempt that came to `outcome`. Allocation-free: called once per failed attempt. */
export function retriable(policy: RetryPolicy, outcome: AttemptOutcome): boolean {
  const on = policy.on;
  switch (outcome.kind) {
    case 'status': {
      const s = outcome.status;
      if (on.has('5xx') && s >= 500) return true;
      if (on.has('gateway-error') && (s === 502 || s === 503 || s === 504)) return true;
      if (on.has('retriable-4xx') && s === 409) return true;
      return on.has('retriable-status-codes') && policy.statusCodes.has(s);
    }
    case 'connect-failure':
      return on.has('connect-failure') || on.has('5xx') || on.has('gateway-error');
    case 'reset':
      return on.has('reset') || on.has('5xx') || on.has('gateway-error');
    case 'timeout':
      // A per-try timeout: no response at all, which Envoy's `reset` covers ("disconnect/reset/read
      // timeout"), and a 504 to `5xx` and `gateway-error`.
      return on.has('reset') || on.has('5xx') || on.has('gateway-error');
    case 'overflow':
      return false;
  }
}
