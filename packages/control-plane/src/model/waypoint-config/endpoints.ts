/**
 * ClusterLoadAssignments: for each cluster, the pods behind its Service port (a subset's pods only), at
 * their resolved target port, grouped by locality (from their node), healthy when ready (or always, for a
 * Service that publishes not-ready addresses).
 *
 * Endpoints come from the workloads the model already computed (their `services` map holds each pod's
 * resolved target ports, their status and locality), so they agree with what ztunnels are told; pod
 * labels are looked up only for subsets.
 *
 * Cost follows the change: the last result is remembered per set of clusters (`EndpointSpec`s, one per
 * frame) with the workloads of each service. Unchanged workloads give the same result; a patched
 * computation (a few pods changed, see compute.ts) recomputes only the assignments of the services those
 * pods were or are in, and every other assignment keeps its object, so the snapshot diff is an identity
 * check.
 */
import type { Address, Workload } from '@ambit/protos';
import { bytesToIp } from '../../input/ip.js';
import type { PodObject } from '../../input/objects.js';
import { selects } from '../labels.js';
import type { EndpointSpec } from './clusters.js';
import type { ClusterLoadAssignment, LbEndpoint, LocalityLbEndpoints } from './envoy-types.js';

/** What changed since `base`: the uids whose workload was added, changed or removed. */
export interface WorkloadsPatch {
  readonly base: ReadonlyMap<string, Address>;
  readonly changed: ReadonlySet<string>;
}

interface Remembered {
  readonly addresses: ReadonlyMap<string, Address>;
  readonly result: ReadonlyMap<string, ClusterLoadAssignment>;
  /** Service resource name → uids of its workloads (services some cluster is fed by only). */
  readonly members: Map<string, Set<string>>;
}

const remembered = new WeakMap<readonly EndpointSpec[], Remembered>();
const specIndexes = new WeakMap<readonly EndpointSpec[], ReadonlyMap<string, readonly EndpointSpec[]>>();

export function buildEndpoints(
  specs: readonly EndpointSpec[],
  pods: readonly PodObject[],
  addresses: ReadonlyMap<string, Address>,
  patch?: WorkloadsPatch,
): ReadonlyMap<string, ClusterLoadAssignment> {
  const last = remembered.get(specs);
  if (last !== undefined && last.addresses === addresses) return last.result;
  const next =
    last !== undefined && patch !== undefined && last.addresses === patch.base
      ? incremental(specs, pods, addresses, patch, last)
      : full(specs, pods, addresses);
  remembered.set(specs, next);
  return next.result;
}

function specsByService(specs: readonly EndpointSpec[]): ReadonlyMap<string, readonly EndpointSpec[]> {
  let index = specIndexes.get(specs);
  if (index === undefined) {
    const map = new Map<string, EndpointSpec[]>();
    for (const spec of specs) {
      const list = map.get(spec.serviceKey);
      if (list === undefined) map.set(spec.serviceKey, [spec]);
      else list.push(spec);
    }
    specIndexes.set(specs, (index = map));
  }
  return index;
}

function full(specs: readonly EndpointSpec[], pods: readonly PodObject[], addresses: ReadonlyMap<string, Address>): Remembered {
  const byService = specsByService(specs);
  const members = new Map<string, Set<string>>();
  for (const key of byService.keys()) members.set(key, new Set());
  if (byService.size > 0) {
    for (const [uid, address] of addresses) {
      for (const key of Object.keys(address.workload?.services ?? {})) members.get(key)?.add(uid);
    }
  }
  const labelsOf = podLabels(specs, pods);
  const result = new Map<string, ClusterLoadAssignment>();
  for (const spec of specs) result.set(spec.clusterName, assignment(spec, members.get(spec.serviceKey)!, addresses, labelsOf));
  return { addresses, result, members };
}

function incremental(
  specs: readonly EndpointSpec[],
  pods: readonly PodObject[],
  addresses: ReadonlyMap<string, Address>,
  patch: WorkloadsPatch,
  last: Remembered,
): Remembered {
  const byService = specsByService(specs);
  const members = last.members;
  const affected = new Set<string>();
  for (const uid of patch.changed) {
    for (const key of Object.keys(patch.base.get(uid)?.workload?.services ?? {})) {
      if (members.get(key)?.delete(uid)) affected.add(key);
    }
    for (const key of Object.keys(addresses.get(uid)?.workload?.services ?? {})) {
      const set = members.get(key);
      if (set === undefined) continue;
      set.add(uid);
      affected.add(key);
    }
  }
  if (affected.size === 0) return { addresses, result: last.result, members };
  const affectedSpecs = [...affected].flatMap((key) => byService.get(key) ?? []);
  const labelsOf = podLabels(affectedSpecs, pods);
  const result = new Map(last.result);
  for (const spec of affectedSpecs) result.set(spec.clusterName, assignment(spec, members.get(spec.serviceKey)!, addresses, labelsOf));
  return { addresses, result, members };
}

/** One cluster's assignment from the workloads of its service. */
function assignment(
  spec: EndpointSpec,
  uids: ReadonlySet<string>,
  addresses: ReadonlyMap<string, Address>,
  labelsOf: (workload: Workload) => Readonly<Record<string, string>>,
): ClusterLoadAssignment {
  const groups = new Map<string, { locality: LocalityLbEndpoints['locality']; endpoints: { ip: string; endpoint: LbEndpoint }[] }>();
  for (const uid of uids) {
    const workload = addresses.get(uid)?.workload;
    const ipBytes = workload?.addresses?.[0];
    if (workload === undefined || ipBytes === undefined) continue;
    const port = workload.services?.[spec.serviceKey]?.ports?.find((p) => p.service_port === spec.servicePort);
    if (port === undefined) continue;
    if (spec.subsetLabels !== undefined && !selects(spec.subsetLabels, labelsOf(workload))) continue;
    const ip = bytesToIp(ipBytes);
    const l = workload.locality;
    const key = `${l?.region ?? ''}/${l?.zone ?? ''}/${l?.subzone ?? ''}`;
    let group = groups.get(key);
    if (group === undefined) {
      const locality =
        l === undefined ? undefined : { ...(l.region ? { region: l.region } : {}), ...(l.zone ? { zone: l.zone } : {}), ...(l.subzone ? { sub_zone: l.subzone } : {}) };
      groups.set(key, (group = { locality, endpoints: [] }));
    }
    group.endpoints.push({
      ip,
      endpoint: {
        endpoint: { address: { socket_address: { address: ip, port_value: port.target_port ?? spec.servicePort } } },
        health_status: spec.allHealthy || workload.status === 'HEALTHY' ? 'HEALTHY' : 'UNHEALTHY',
        load_balancing_weight: { value: 1 },
      },
    });
  }
  const endpoints: LocalityLbEndpoints[] = [...groups.keys()].sort().map((key) => {
    const group = groups.get(key)!;
    group.endpoints.sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
    return { ...(group.locality !== undefined ? { locality: group.locality } : {}), lb_endpoints: group.endpoints.map((e) => e.endpoint) };
  });
  return { cluster_name: spec.clusterName, endpoints };
}

/** Pod labels by workload, indexed only when a subset needs them. */
function podLabels(specs: readonly EndpointSpec[], pods: readonly PodObject[]): (workload: Workload) => Readonly<Record<string, string>> {
  if (!specs.some((s) => s.subsetLabels !== undefined)) return () => ({});
  const byName = new Map<string, Readonly<Record<string, string>>>();
  for (const pod of pods) byName.set(`${pod.metadata.namespace}/${pod.metadata.name}`, pod.metadata.labels);
  return (workload) => byName.get(`${workload.namespace ?? ''}/${workload.name ?? ''}`) ?? {};
}
