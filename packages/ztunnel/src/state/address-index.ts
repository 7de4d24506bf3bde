/**
 * The address half of a snapshot and how a batch of Address changes moves it forward.
 *
 * Invariants (every published snapshot satisfies them; the store tests check them after each batch):
 * - `workloads` holds each workload by uid, `services` each service by `namespace/hostname`;
 * - `workloadsByAddress` maps `network/ip` to a workload holding that address, `servicesByVip` maps
 *   `network/vip` to a service holding it. When two claim one address the later write wins, and removing
 *   or changing the loser never unindexes the winner (an IP moving between pods in any order);
 * - `workloadsByNode` maps node → uid → workload for workloads with a node;
 * - `endpoints` maps service key → uid → endpoint for every workload whose `services` names that key,
 *   whether or not the service itself is known yet (a workload may arrive before its service);
 * - nothing refers to a workload or service that is no longer held.
 */
import { CowMap, CowMapOfMaps } from './cow.js';
import { networkAddressKey } from './ip.js';
import type { AddressResource, Endpoint, Service, Workload } from './model.js';

export interface AddressIndices {
  readonly workloads: ReadonlyMap<string, Workload>;
  readonly workloadsByAddress: ReadonlyMap<string, Workload>;
  readonly workloadsByNode: ReadonlyMap<string, ReadonlyMap<string, Workload>>;
  readonly services: ReadonlyMap<string, Service>;
  readonly servicesByVip: ReadonlyMap<string, Service>;
  readonly endpoints: ReadonlyMap<string, ReadonlyMap<string, Endpoint>>;
}

export const EMPTY_ADDRESS_INDICES: AddressIndices = Object.freeze({
  workloads: new Map(),
  workloadsByAddress: new Map(),
  workloadsByNode: new Map(),
  services: new Map(),
  servicesByVip: new Map(),
  endpoints: new Map(),
});

export interface AddressApplyResult {
  readonly indices: AddressIndices;
  /** Some workload already held changed its namespace or its `authorizationPolicies`. */
  readonly policyRefsChanged: boolean;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * Applies removals (names of workloads or services) then upserts to `prev`. Returns `prev` itself when
 * nothing changed (e.g. only removals of names not held).
 */
export function applyAddressChanges(prev: AddressIndices, upserts: readonly AddressResource[], removals: readonly string[]): AddressApplyResult {
  const workloads = new CowMap(prev.workloads);
  const byAddress = new CowMap(prev.workloadsByAddress);
  const byNode = new CowMapOfMaps(prev.workloadsByNode);
  const services = new CowMap(prev.services);
  const byVip = new CowMap(prev.servicesByVip);
  const endpoints = new CowMapOfMaps(prev.endpoints);
  let policyRefsChanged = false;

  const removeWorkload = (w: Workload): void => {
    workloads.delete(w.uid);
    for (const ip of w.addresses) {
      const key = networkAddressKey(w.network, ip);
      if (byAddress.get(key) === w) byAddress.delete(key);
    }
    if (w.node !== '') byNode.delete(w.node, w.uid);
    for (const service of w.services.keys()) endpoints.delete(service, w.uid);
  };
  const insertWorkload = (w: Workload): void => {
    const old = workloads.get(w.uid);
    if (old !== undefined) {
      removeWorkload(old);
      if (old.namespace !== w.namespace || !sameList(old.authorizationPolicies, w.authorizationPolicies)) policyRefsChanged = true;
    }
    const service = services.get(w.uid);
    if (service !== undefined) removeService(service);
    workloads.set(w.uid, w);
    for (const ip of w.addresses) byAddress.set(networkAddressKey(w.network, ip), w);
    if (w.node !== '') byNode.set(w.node, w.uid, w);
    for (const [key, ports] of w.services) endpoints.set(key, w.uid, Object.freeze({ workload: w, ports }));
  };
  const removeService = (s: Service): void => {
    services.delete(s.key);
    for (const vip of s.vips) {
      const key = networkAddressKey(vip.network, vip.address);
      if (byVip.get(key) === s) byVip.delete(key);
    }
  };
  const insertService = (s: Service): void => {
    const old = services.get(s.key);
    if (old !== undefined) removeService(old);
    const workload = workloads.get(s.key);
    if (workload !== undefined) removeWorkload(workload);
    services.set(s.key, s);
    for (const vip of s.vips) byVip.set(networkAddressKey(vip.network, vip.address), s);
  };

  for (const name of removals) {
    const w = workloads.get(name);
    if (w !== undefined) removeWorkload(w);
    const s = services.get(name);
    if (s !== undefined) removeService(s);
  }
  for (const resource of upserts) {
    if (resource.kind === 'workload') insertWorkload(resource.workload);
    else insertService(resource.service);
  }

  if (!workloads.changed && !services.changed) return { indices: prev, policyRefsChanged: false };
  return {
    indices: Object.freeze({
      workloads: workloads.result(),
      workloadsByAddress: byAddress.result(),
      workloadsByNode: byNode.result(),
      services: services.result(),
      servicesByVip: byVip.result(),
      endpoints: endpoints.result(),
    }),
    policyRefsChanged,
  };
}
