/**
 * A snapshot as plain JSON for the admin `/config_dump` (ztunnel's shape, in our field names): workloads,
 * services with their endpoints, and policies, each sorted by key; maps become objects, identities URIs.
 */
import type { Policy } from '../authz/policy.js';
import type { Service, Workload } from './model.js';
import type { Generations, ProxySnapshot } from './snapshot.js';

export type WorkloadDump = Omit<Workload, 'identity' | 'services'> & {
  readonly identity: string;
  /** Service key → { service port: target port }. */
  readonly services: Record<string, Record<string, number>>;
};

export type ServiceDump = Service & {
  /** Workload uid → { service port: target port }. */
  readonly endpoints: Record<string, Record<string, number>>;
};

export interface SnapshotDump {
  readonly generation: number;
  readonly generations: Generations;
  readonly workloads: readonly WorkloadDump[];
  readonly services: readonly ServiceDump[];
  /** Compiled policies; CIDRs appear as text. */
  readonly policies: readonly Policy[];
}

function portObject(ports: ReadonlyMap<number, number>): Record<string, number> {
  return Object.fromEntries([...ports].map(([servicePort, targetPort]) => [String(servicePort), targetPort]));
}

function byKey<T>(map: ReadonlyMap<string, T>): T[] {
  return [...map.keys()].sort().map((k) => map.get(k)!);
}

export function snapshotDump(snapshot: ProxySnapshot): SnapshotDump {
  return {
    generation: snapshot.generation,
    generations: snapshot.generations,
    workloads: byKey(snapshot.workloads).map((w) => ({
      ...w,
      identity: w.identity.uri,
      services: Object.fromEntries([...w.services].map(([key, ports]) => [key, portObject(ports)])),
    })),
    services: byKey(snapshot.services).map((s) => ({
      ...s,
      endpoints: Object.fromEntries([...snapshot.serviceEndpoints(s.key)].sort(([a], [b]) => (a < b ? -1 : 1)).map(([uid, e]) => [uid, portObject(e.ports)])),
    })),
    policies: byKey(snapshot.policies),
  };
}
