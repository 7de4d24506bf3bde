/**
 * Route pieces shared by the Gateway API and VirtualService translations: forwarding to one or several
 * weighted clusters, retries, mirrors, header operations, direct responses.
 */
import type { ClusterSet } from './clusters.js';
import { duration, headerMutations, type HeaderMutations } from './envoy-builders.js';
import type { HashPolicy, HeaderValueOption, RetryPolicy, Route, RouteAction, WeightedClusterEntry } from './envoy-types.js';

/**
 * The retry policy of a route that sets none: Istio's default of two retries, on the failures that never
 * reached the backend (Istio also retries refused streams and 503s; `connect-failure` is the part that
 * the contract's retry conditions express without retrying requests a backend may have processed).
 */
export const DEFAULT_RETRY: RetryPolicy = Object.freeze({ retry_on: 'connect-failure', num_retries: { value: 2 } });

/** No route timeout unless one is configured, as Istio sets it (Envoy's own default would be 15 s). */
export const NO_TIMEOUT_MS = 0;

export interface WeightedTarget {
  readonly cluster: string;
  readonly weight: number;
  readonly mutations: HeaderMutations;
}

export interface HeaderOps {
  readonly add: HeaderValueOption[];
  readonly remove: string[];
}

export function emptyOps(): HeaderOps {
  return { add: [], remove: [] };
}

/**
 * `route.cluster` for one target (its header operations then belong to the route), `weighted_clusters`
 * for several. Weights are > 0.
 */
export function clusterSpecifier(targets: readonly WeightedTarget[]): { action: Pick<RouteAction, 'cluster' | 'weighted_clusters'>; mutations: HeaderMutations } {
  if (targets.length === 1) return { action: { cluster: targets[0]!.cluster }, mutations: targets[0]!.mutations };
  const clusters: WeightedClusterEntry[] = targets.map((t) => ({ name: t.cluster, weight: { value: t.weight }, ...t.mutations }));
  return { action: { weighted_clusters: { clusters } }, mutations: {} };
}

/** Combines route-level header operations with the single target's (the target's come last). */
export function mergeMutations(route: HeaderMutations, target: HeaderMutations): HeaderMutations {
  const join = <T>(a: readonly T[] | undefined, b: readonly T[] | undefined): readonly T[] => [...(a ?? []), ...(b ?? [])];
  return headerMutations(
    { add: [...join(route.request_headers_to_add, target.request_headers_to_add)], remove: [...join(route.request_headers_to_remove, target.request_headers_to_remove)] },
    { add: [...join(route.response_headers_to_add, target.response_headers_to_add)], remove: [...join(route.response_headers_to_remove, target.response_headers_to_remove)] },
  );
}

/**
 * The hash policy for consistent hashing when every target's cluster asks for the same one (the
 * DestinationRule's `consistentHash`); undefined otherwise. `conflict` says the targets disagree.
 */
export function sharedHashPolicy(clusters: ClusterSet, targets: readonly WeightedTarget[]): { policy: HashPolicy[] | undefined; conflict: boolean } {
  const policies = targets.map((t) => clusters.hashPolicy(t.cluster));
  const first = JSON.stringify(policies[0]);
  if (policies.some((p) => JSON.stringify(p) !== first)) return { policy: undefined, conflict: true };
  return { policy: policies[0], conflict: false };
}

export interface RetrySpec {
  readonly retryOn: readonly string[];
  /** Envoy `retriable_status_codes` (the statuses `retriable-status-codes` in `retryOn` retries). */
  readonly retriableStatusCodes?: readonly number[];
  readonly attempts: number;
  readonly perTryTimeoutMs?: number;
  readonly backoffMs?: number;
}

/** An Envoy retry policy; undefined when it retries nothing (no attempts or no conditions). */
export function retryPolicy(spec: RetrySpec): RetryPolicy | undefined {
  if (spec.attempts === 0 || spec.retryOn.length === 0) {
    // A per-try timeout still bounds the single attempt.
    if (spec.perTryTimeoutMs === undefined) return undefined;
  }
  return {
    retry_on: spec.retryOn.join(','),
    num_retries: { value: spec.retryOn.length === 0 ? 0 : spec.attempts },
    ...(spec.retriableStatusCodes !== undefined && spec.retriableStatusCodes.length > 0 ? { retriable_status_codes: spec.retriableStatusCodes } : {}),
    ...(spec.perTryTimeoutMs !== undefined ? { per_try_timeout: duration(spec.perTryTimeoutMs) } : {}),
    ...(spec.backoffMs !== undefined ? { retry_back_off: { base_interval: duration(spec.backoffMs), max_interval: duration(spec.backoffMs * 10) } } : {}),
  };
}

/** A route that answers by itself (Gateway API's 500 for a rule without usable backends, Envoy's 503 `NC`). */
export function directResponse(name: string, match: Route['match'], status: number, body: string): Route {
  return { name, match, direct_response: { status, body: { inline_string: body } } };
}
