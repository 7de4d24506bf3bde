/**
 * One immutable view of everything ztunnel knows: what the data path reads once per connection and makes
 * every routing and authorization decision against, so that it never sees half of an xDS push.
 */
import type { Identity } from '@ambit/mesh-core/identity';
import type { Policy } from '../authz/policy.js';
import { EMPTY_ADDRESS_INDICES, type AddressIndices } from './address-index.js';
import { networkAddressKey } from './ip.js';
import type { Endpoint, Service, Workload } from './model.js';
import { EMPTY_GROUP, EMPTY_POLICY_INDICES, GLOBAL_GROUP, type PolicyGroup, type PolicyIndices } from './policy-index.js';

/**
 * Counters that move forward with changes: `addresses` and `authorizations` with any change of that
 * resource type; `policy` whenever an authorization outcome may differ — a policy changed, or a workload
 * already held changed the policies it names (what a policy watcher re-checks connections on).
 */
export interface Generations {
  readonly addresses: number;
  readonly authorizations: number;
  readonly policy: number;
}

const NO_ENDPOINTS: ReadonlyMap<string, Endpoint> = new Map();

/** `::ffff:10.0.0.1` (a dual-stack socket's view of an IPv4 peer) → `10.0.0.1`; anything else as is. */
function unmapped(ip: string): string {
  return ip.length > 7 && ip.charCodeAt(0) === 58 && ip.startsWith('::ffff:') && ip.indexOf('.') > 0 ? ip.slice(7) : ip;
}

export class ProxySnapshot {
  /** Moves forward by one with every published snapshot (0: nothing applied yet). */
  readonly generation: number;
  readonly generations: Generations;
  /** Workloads by uid. */
  readonly workloads: ReadonlyMap<string, Workload>;
  /** Workloads by `network/ip`. */
  readonly workloadsByAddress: ReadonlyMap<string, Workload>;
  /** Workloads by node, then uid. */
  readonly workloadsByNode: ReadonlyMap<string, ReadonlyMap<string, Workload>>;
  /** Services by `namespace/hostname`. */
  readonly services: ReadonlyMap<string, Service>;
  /** Services by `network/vip`. */
  readonly servicesByVip: ReadonlyMap<string, Service>;
  /** Endpoints by service key, then workload uid. */
  readonly endpoints: ReadonlyMap<string, ReadonlyMap<string, Endpoint>>;
  /** Policies by `namespace/name`. */
  readonly policies: ReadonlyMap<string, Policy>;
  /** Policy groups: `''` global, else a namespace (see `policy-index.ts`). */
  readonly policyGroups: ReadonlyMap<string, PolicyGroup>;

  constructor(generation: number, generations: Generations, addresses: AddressIndices, policies: PolicyIndices) {
    this.generation = generation;
    this.generations = Object.freeze({ ...generations });
    this.workloads = addresses.workloads;
    this.workloadsByAddress = addresses.workloadsByAddress;
    this.workloadsByNode = addresses.workloadsByNode;
    this.services = addresses.services;
    this.servicesByVip = addresses.servicesByVip;
    this.endpoints = addresses.endpoints;
    this.policies = policies.policies;
    this.policyGroups = policies.groups;
    Object.freeze(this);
  }

  /** The snapshot before anything is applied. */
  static empty(): ProxySnapshot {
    return new ProxySnapshot(0, { addresses: 0, authorizations: 0, policy: 0 }, EMPTY_ADDRESS_INDICES, EMPTY_POLICY_INDICES);
  }

  /** The address half, for building the next snapshot. */
  get addressIndices(): AddressIndices {
    return this;
  }

  /** The policy half, for building the next snapshot. */
  get policyIndices(): PolicyIndices {
    return { policies: this.policies, groups: this.policyGroups };
  }

  /** The workload holding `ip` in `network` (`''`: the default network). IPv4-mapped IPv6 is unmapped. */
  findWorkloadByIp(ip: string, network = ''): Workload | undefined {
    return this.workloadsByAddress.get(networkAddressKey(network, unmapped(ip)));
  }

  findWorkload(uid: string): Workload | undefined {
    return this.workloads.get(uid);
  }

  /** The service whose virtual IP is `ip` in `network`. */
  findServiceByVip(ip: string, network = ''): Service | undefined {
    return this.servicesByVip.get(networkAddressKey(network, unmapped(ip)));
  }

  /** The service `namespace/hostname`. */
  findService(key: string): Service | undefined {
    return this.services.get(key);
  }

  /** The workloads behind a service (by uid), with their port maps; empty when none. */
  serviceEndpoints(serviceKey: string): ReadonlyMap<string, Endpoint> {
    return this.endpoints.get(serviceKey) ?? NO_ENDPOINTS;
  }

  /**
   * The workloads on `nodeName` this ztunnel proxies (tunnel protocol HBONE), sorted by uid: whose
   * certificates it prefetches and whose inbound traffic it serves.
   */
  localWorkloads(nodeName: string): Workload[] {
    const onNode = this.workloadsByNode.get(nodeName);
    if (onNode === undefined) return [];
    return [...onNode.values()].filter((w) => w.tunnelProtocol === 'HBONE').sort((a, b) => (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0));
  }

  /** The identity of the workload `uid`, if held. */
  workloadIdentity(uid: string): Identity | undefined {
    return this.workloads.get(uid)?.identity;
  }

  /** The global group: GLOBAL-scoped policies, which apply to every workload. */
  get globalPolicies(): PolicyGroup {
    return this.policyGroups.get(GLOBAL_GROUP) ?? EMPTY_GROUP;
  }

  /** The NAMESPACE-scoped policies of `namespace`. */
  namespacePolicies(namespace: string): PolicyGroup {
    return this.policyGroups.get(namespace) ?? EMPTY_GROUP;
  }

  /**
   * Every policy that applies to `workload` (global and its namespace's, each by key, then the selector
   * policies it names that are held), dry-run included, without duplicates. For config dumps and diagnostics; evaluation
   * walks the groups directly.
   */
  policiesFor(workload: Workload): Policy[] {
    const out = new Map<string, Policy>();
    const byKey = (group: PolicyGroup): string[] => [...group.policies.keys()].sort();
    for (const key of byKey(this.globalPolicies)) out.set(key, this.policies.get(key)!);
    for (const key of byKey(this.namespacePolicies(workload.namespace))) out.set(key, this.policies.get(key)!);
    for (const key of workload.authorizationPolicies) {
      const p = this.policies.get(key);
      if (p !== undefined) out.set(key, p);
    }
    return [...out.values()];
  }

  /** Selector policies `workload` names that are not held (yet): worth a warning in a config dump. */
  missingPolicies(workload: Workload): string[] {
    return workload.authorizationPolicies.filter((key) => !this.policies.has(key));
  }
}
