/**
 * ClusterLoadAssignments: for each cluster, the pods behind its Service port (a subset's pods only), at
 * their resolved target port, grouped by locality (from their node), healthy when ready (or always, for a
 * Service that publishes not-ready addresses).
 *
 * Endpoints come from the workloads the model already computed (their `services` map holds each pod's
 * resolved target ports, their status and locality), so they agree with what ztunnels are told; pod
 * labels are looked up only for subsets. The result is remembered per (frame, workloads) pair: a change
 * that touches neither reuses it.
 */
import type { Address, Workload } from '@ambit/protos';
import { bytesToIp } from '../../input/ip.js';
import type { PodObject } from '../../input/objects.js';
import { selects } from '../labels.js';
import type { EndpointSpec } from './clusters.js';
import type { ClusterLoadAssignment, LbEndpoint, LocalityLbEndpoints } from './envoy-types.js';

interface Remembered {
  readonly addresses: ReadonlyMap<string, Address>;
  readonly result: ReadonlyMap<string, ClusterLoadAssignment>;
}

const remembered = new WeakMap<readonly EndpointSpec[], Remembered>();

export function buildEndpoints(
  specs: readonly EndpointSpec[],
  pods: readonly PodObject[],
  addresses: ReadonlyMap<string, Address>,
): ReadonlyMap<string, ClusterLoadAssignment> {
  const last = remembered.get(specs);
  if (last !== undefined && last.addresses === addresses) return last.result;
  const result = compute(specs, pods, addresses);
  remembered.set(specs, { addresses, result });
  return result;
}

function compute(specs: readonly EndpointSpec[], pods: readonly PodObject[], addresses: ReadonlyMap<string, Address>): Map<string, ClusterLoadAssignment> {
  const byService = new Map<string, EndpointSpec[]>();
  for (const spec of specs) {
    const list = byService.get(spec.serviceKey);
    if (list === undefined) byService.set(spec.serviceKey, [spec]);
    else list.push(spec);
  }
  const collected = new Map<string, { key: string; locality: LocalityLbEndpoints['locality']; endpoint: LbEndpoint }[]>();
  for (const spec of specs) collected.set(spec.clusterName, []);
  if (specs.length > 0) {
    const labelsOf = podLabels(specs, pods);
    for (const address of addresses.values()) {
      const workload = address.workload;
      if (workload?.services === undefined) continue;
      const ip = workload.addresses?.[0];
      if (ip === undefined) continue;
      for (const [serviceKey, portList] of Object.entries(workload.services)) {
        const forService = byService.get(serviceKey);
        if (forService === undefined) continue;
        for (const spec of forService) {
          const port = portList.ports?.find((p) => p.service_port === spec.servicePort);
          if (port === undefined) continue;
          if (spec.subsetLabels !== undefined && !selects(spec.subsetLabels, labelsOf(workload))) continue;
          collected.get(spec.clusterName)!.push(endpointOf(workload, bytesToIp(ip), port.target_port ?? spec.servicePort, spec.allHealthy));
        }
      }
    }
  }
  const out = new Map<string, ClusterLoadAssignment>();
  for (const spec of specs) {
    const groups = new Map<string, { locality: LocalityLbEndpoints['locality']; endpoints: { ip: string; endpoint: LbEndpoint }[] }>();
    for (const e of collected.get(spec.clusterName)!) {
      let group = groups.get(e.key);
      if (group === undefined) groups.set(e.key, (group = { locality: e.locality, endpoints: [] }));
      group.endpoints.push({ ip: e.endpoint.endpoint.address.socket_address.address, endpoint: e.endpoint });
    }
    const endpoints: LocalityLbEndpoints[] = [...groups.keys()].sort().map((key) => {
      const group = groups.get(key)!;
      group.endpoints.sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
      return { ...(group.locality !== undefined ? { locality: group.locality } : {}), lb_endpoints: group.endpoints.map((e) => e.endpoint) };
    });
    out.set(spec.clusterName, { cluster_name: spec.clusterName, endpoints });
  }
  return out;
}

/** Pod labels by workload, indexed only when a subset needs them. */
function podLabels(specs: readonly EndpointSpec[], pods: readonly PodObject[]): (workload: Workload) => Readonly<Record<string, string>> {
  if (!specs.some((s) => s.subsetLabels !== undefined)) return () => ({});
  const byName = new Map<string, Readonly<Record<string, string>>>();
  for (const pod of pods) byName.set(`${pod.metadata.namespace}/${pod.metadata.name}`, pod.metadata.labels);
  return (workload) => byName.get(`${workload.namespace ?? ''}/${workload.name ?? ''}`) ?? {};
}

function endpointOf(workload: Workload, ip: string, port: number, allHealthy: boolean): { key: string; locality: LocalityLbEndpoints['locality']; endpoint: LbEndpoint } {
  const l = workload.locality;
  const locality =
    l === undefined ? undefined : { ...(l.region ? { region: l.region } : {}), ...(l.zone ? { zone: l.zone } : {}), ...(l.subzone ? { sub_zone: l.subzone } : {}) };
  return {
    key: `${l?.region ?? ''}/${l?.zone ?? ''}/${l?.subzone ?? ''}`,
    locality,
    endpoint: {
      endpoint: { address: { socket_address: { address: ip, port_value: port } } },
      health_status: allHealthy || workload.status === 'HEALTHY' ? 'HEALTHY' : 'UNHEALTHY',
      load_balancing_weight: { value: 1 },
    },
  };
}
