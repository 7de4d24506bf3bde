/**
 * The policy half of a snapshot: policies by key, and by the scope through which they apply — the global
 * group (GLOBAL scope, every workload) and one group per namespace (NAMESPACE scope). WORKLOAD_SELECTOR
 * policies are in no group: a workload names them in `authorizationPolicies`.
 *
 * Each group is pre-split into enforced DENY, enforced ALLOW and dry-run lists, sorted by key, so that
 * evaluation walks arrays in a fixed order and allocates nothing.
 */
import type { Policy } from '../authz/policy.js';
import { CowMap } from './cow.js';

/** The key of the global group in `PolicyIndices.groups` (no namespace is empty). */
export const GLOBAL_GROUP = '';

export interface PolicyGroup {
  /** Every policy of the group by key. */
  readonly policies: ReadonlyMap<string, Policy>;
  /** Enforced DENY policies, by key. */
  readonly deny: readonly Policy[];
  /** Enforced ALLOW policies, by key. */
  readonly allow: readonly Policy[];
  /** Dry-run policies of either action, by key. */
  readonly dryRun: readonly Policy[];
}

export const EMPTY_GROUP: PolicyGroup = Object.freeze({
  policies: new Map<string, Policy>(),
  deny: Object.freeze([]),
  allow: Object.freeze([]),
  dryRun: Object.freeze([]),
});

export interface PolicyIndices {
  readonly policies: ReadonlyMap<string, Policy>;
  /** `GLOBAL_GROUP` and one entry per namespace with NAMESPACE-scoped policies. */
  readonly groups: ReadonlyMap<string, PolicyGroup>;
}

export const EMPTY_POLICY_INDICES: PolicyIndices = Object.freeze({ policies: new Map(), groups: new Map() });

function groupOf(policy: Policy): string | undefined {
  switch (policy.scope) {
    case 'GLOBAL':
      return GLOBAL_GROUP;
    case 'NAMESPACE':
      return policy.namespace;
    case 'WORKLOAD_SELECTOR':
      return undefined;
  }
}

function buildGroup(members: ReadonlyMap<string, Policy>): PolicyGroup {
  const sorted = [...members.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return Object.freeze({
    policies: members,
    deny: Object.freeze(sorted.filter((p) => !p.dryRun && p.action === 'DENY')),
    allow: Object.freeze(sorted.filter((p) => !p.dryRun && p.action === 'ALLOW')),
    dryRun: Object.freeze(sorted.filter((p) => p.dryRun)),
  });
}

/**
 * Applies removals then upserts to `prev`; returns the next indices, or `prev` itself when nothing changed.
 * Only the groups a change touches are rebuilt.
 */
export function applyPolicyChanges(prev: PolicyIndices, upserts: readonly Policy[], removals: readonly string[]): PolicyIndices {
  const policies = new CowMap(prev.policies);
  const touched = new Map<string, Map<string, Policy>>();
  const members = (group: string): Map<string, Policy> => {
    let m = touched.get(group);
    if (m === undefined) touched.set(group, (m = new Map(prev.groups.get(group)?.policies ?? [])));
    return m;
  };
  const remove = (key: string): void => {
    const old = policies.get(key);
    if (old === undefined) return;
    policies.delete(key);
    const group = groupOf(old);
    if (group !== undefined) members(group).delete(key);
  };
  for (const key of removals) remove(key);
  for (const policy of upserts) {
    remove(policy.key);
    policies.set(policy.key, policy);
    const group = groupOf(policy);
    if (group !== undefined) members(group).set(policy.key, policy);
  }
  if (!policies.changed) return prev;
  const groups = new CowMap(prev.groups);
  for (const [group, m] of touched) {
    if (m.size === 0) groups.delete(group);
    else groups.set(group, buildGroup(m));
  }
  return Object.freeze({ policies: policies.result(), groups: groups.result() });
}
