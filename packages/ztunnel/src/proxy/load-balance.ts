/**
 * Picks the endpoint of a service that one outbound connection goes to, as ztunnel's `load_balance`
 * (`src/state.rs`) does:
 *
 * 1. candidates: the service's workloads with an address in this network, healthy unless the service's
 *    health policy is ALLOW_ALL, and serving the port (target port: the workload's own port map, else the
 *    service's target port; zero means unresolved and skips the endpoint);
 * 2. locality (`load_balancing` with a mode other than UNSPECIFIED): each candidate's rank is how many of
 *    the `routing_preference` scopes, in order, it shares with the source before the first it does not;
 *    STRICT keeps only candidates matching every scope, FAILOVER keeps those of the best rank;
 * 3. a weighted random choice by `capacity` (a capacity of 0 is never chosen).
 *
 * Pure over a snapshot: `random` is injected (tests pass a fixed sequence).
 */
import { isIPv4 } from 'node:net';
import type { LoadBalancingScope } from '@ambit/protos';
import type { Endpoint, Service, Workload } from '../state/model.js';
import type { ProxySnapshot } from '../state/snapshot.js';

/** A number in [0, 1), as `Math.random`. */
export type Random = () => number;

/** The chosen endpoint and where on it the connection goes. */
export interface SelectedEndpoint {
  readonly workload: Workload;
  /** The workload address used: of the same IP family as the original destination when it has one. */
  readonly address: string;
  readonly targetPort: number;
}

interface Candidate {
  readonly endpoint: Endpoint;
  readonly address: string;
  readonly targetPort: number;
}

/** The target port of `endpoint` for `servicePort`, or 0 when it does not serve it. */
export function endpointTargetPort(service: Service, endpoint: Endpoint, servicePort: number): number {
  const own = endpoint.ports.get(servicePort);
  if (own !== undefined && own !== 0) return own;
  for (const p of service.ports) if (p.servicePort === servicePort) return p.targetPort;
  return 0;
}

/** The address of `workload` to dial: the first of the destination's family, else the first; '' when none. */
export function workloadAddress(workload: Workload, preferV4: boolean): string {
  for (const a of workload.addresses) if (isIPv4(a) === preferV4) return a;
  return workload.addresses[0] ?? '';
}

function scopeMatches(scope: LoadBalancingScope, source: Workload, w: Workload): boolean {
  switch (scope) {
    case 'REGION':
      return source.locality.region === w.locality.region;
    case 'ZONE':
      return source.locality.zone === w.locality.zone;
    case 'SUBZONE':
      return source.locality.subzone === w.locality.subzone;
    case 'NODE':
      return source.node === w.node;
    case 'CLUSTER':
      return source.clusterId === w.clusterId;
    case 'NETWORK':
      return source.network === w.network;
    case 'UNSPECIFIED_SCOPE':
      return true;
  }
}

function rankOf(scopes: readonly LoadBalancingScope[], source: Workload, w: Workload): number {
  let rank = 0;
  for (const scope of scopes) {
    if (!scopeMatches(scope, source, w)) break;
    rank++;
  }
  return rank;
}

/** The candidates locality allows (all of them without a locality-aware mode). */
function byLocality(service: Service, source: Workload, candidates: Candidate[]): Candidate[] {
  const lb = service.loadBalancing;
  if (lb === undefined || (lb.mode !== 'STRICT' && lb.mode !== 'FAILOVER') || lb.routingPreference.length === 0) return candidates;
  const scopes = lb.routingPreference;
  const ranks = candidates.map((c) => rankOf(scopes, source, c.endpoint.workload));
  if (lb.mode === 'STRICT') return candidates.filter((_c, i) => ranks[i] === scopes.length);
  const best = Math.max(...ranks);
  return candidates.filter((_c, i) => ranks[i] === best);
}

function weighted(candidates: readonly Candidate[], random: Random): Candidate | undefined {
  let total = 0;
  for (const c of candidates) total += c.endpoint.workload.capacity;
  if (total <= 0) return undefined;
  let point = random() * total;
  for (const c of candidates) {
    const weight = c.endpoint.workload.capacity;
    if (weight <= 0) continue;
    if (point < weight) return c;
    point -= weight;
  }
  // Rounding at the top end: the last candidate with weight.
  for (let i = candidates.length - 1; i >= 0; i--) if (candidates[i]!.endpoint.workload.capacity > 0) return candidates[i];
  return undefined;
}

/**
 * The endpoint of `service` for a connection from `source` to `servicePort` (in `network`), or undefined
 * when none is healthy, serves the port and is allowed by locality.
 */
export function selectEndpoint(
  snapshot: ProxySnapshot,
  service: Service,
  servicePort: number,
  source: Workload,
  options: { readonly network: string; readonly preferV4: boolean; readonly random: Random },
): SelectedEndpoint | undefined {
  const allowUnhealthy = service.loadBalancing?.healthPolicy === 'ALLOW_ALL';
  const candidates: Candidate[] = [];
  for (const endpoint of snapshot.serviceEndpoints(service.key).values()) {
    const w = endpoint.workload;
    if (w.network !== options.network) continue;
    if (!allowUnhealthy && w.status !== 'HEALTHY') continue;
    const targetPort = endpointTargetPort(service, endpoint, servicePort);
    if (targetPort === 0) continue;
    const address = workloadAddress(w, options.preferV4);
    if (address === '') continue;
    candidates.push({ endpoint, address, targetPort });
  }
  // Map order is insertion order, which differs between snapshots built differently: sort by uid so that
  // a given random number picks the same endpoint in equal snapshots.
  candidates.sort((a, b) => (a.endpoint.workload.uid < b.endpoint.workload.uid ? -1 : 1));
  const chosen = weighted(byLocality(service, source, candidates), options.random);
  return chosen === undefined ? undefined : { workload: chosen.endpoint.workload, address: chosen.address, targetPort: chosen.targetPort };
}
