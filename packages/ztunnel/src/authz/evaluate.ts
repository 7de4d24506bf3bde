/**
 * L4 authorization of one inbound connection against one snapshot, in ztunnel's order:
 *
 * 1. applicable policies: the global group, the destination workload's namespace group, and the selector
 *    policies the workload names (`authorizationPolicies`; names not held are skipped);
 * 2. any enforced DENY that matches → deny;
 * 3. no enforced ALLOW at all → allow;
 * 4. any enforced ALLOW that matches → allow; otherwise deny.
 *
 * Dry-run policies never change the outcome. When some apply, the decision also carries `dryRun`: the
 * outcome had they been enforced, for the log. Decisions are shared frozen objects (one per policy and
 * outcome), so an evaluation without dry-run policies allocates nothing.
 */
import type { ProxySnapshot } from '../state/snapshot.js';
import { beginRequest, endRequest, matchesCurrent, type AuthzRequest } from './match.js';
import type { Policy } from './policy.js';

/**
 * - `deny-policy`: a DENY policy matched (`policy`);
 * - `allow-policy`: an ALLOW policy matched (`policy`);
 * - `no-allow-policies`: nothing denied and no ALLOW policy applies;
 * - `no-allow-match`: ALLOW policies apply and none matched.
 */
export type AuthzReason = 'deny-policy' | 'allow-policy' | 'no-allow-policies' | 'no-allow-match';

export interface AuthzDecision {
  readonly allowed: boolean;
  readonly reason: AuthzReason;
  /** The policy that decided, for `deny-policy` and `allow-policy`. */
  readonly policy: Policy | undefined;
  /** Present when dry-run policies apply: the decision had they been enforced. */
  readonly dryRun: AuthzDecision | undefined;
}

const NO_ALLOW_POLICIES: AuthzDecision = Object.freeze({ allowed: true, reason: 'no-allow-policies', policy: undefined, dryRun: undefined });
const NO_ALLOW_MATCH: AuthzDecision = Object.freeze({ allowed: false, reason: 'no-allow-match', policy: undefined, dryRun: undefined });
const byPolicy = new WeakMap<Policy, AuthzDecision>();

function decidedBy(policy: Policy): AuthzDecision {
  let decision = byPolicy.get(policy);
  if (decision === undefined) {
    const allowed = policy.action === 'ALLOW';
    decision = Object.freeze({ allowed, reason: allowed ? 'allow-policy' : 'deny-policy', policy, dryRun: undefined });
    byPolicy.set(policy, decision);
  }
  return decision;
}

/** The first policy of `list` (of `action`, when given) that matches the current request. */
function firstMatch(list: readonly Policy[], action?: 'ALLOW' | 'DENY'): Policy | undefined {
  for (let i = 0; i < list.length; i++) {
    const p = list[i]!;
    if ((action === undefined || p.action === action) && matchesCurrent(p)) return p;
  }
  return undefined;
}

function hasAction(list: readonly Policy[], action: 'ALLOW' | 'DENY'): boolean {
  for (let i = 0; i < list.length; i++) if (list[i]!.action === action) return true;
  return false;
}

/** Selector policies named by the workload, held, of `action`, enforced (or dry-run too with `dry`). */
function firstSelectorMatch(snapshot: ProxySnapshot, refs: readonly string[], action: 'ALLOW' | 'DENY', dry: boolean): Policy | undefined {
  for (let i = 0; i < refs.length; i++) {
    const p = snapshot.policies.get(refs[i]!);
    if (p !== undefined && p.action === action && (dry || !p.dryRun) && matchesCurrent(p)) return p;
  }
  return undefined;
}

function hasSelector(snapshot: ProxySnapshot, refs: readonly string[], action: 'ALLOW' | 'DENY', dry: boolean): boolean {
  for (let i = 0; i < refs.length; i++) {
    const p = snapshot.policies.get(refs[i]!);
    if (p !== undefined && p.action === action && (dry || !p.dryRun)) return true;
  }
  return false;
}

function hasDryRun(snapshot: ProxySnapshot, refs: readonly string[], namespace: string): boolean {
  if (snapshot.globalPolicies.dryRun.length > 0 || snapshot.namespacePolicies(namespace).dryRun.length > 0) return true;
  for (let i = 0; i < refs.length; i++) if (snapshot.policies.get(refs[i]!)?.dryRun === true) return true;
  return false;
}

/** The decision for the current request; with `dry`, dry-run policies count as enforced. */
function decide(snapshot: ProxySnapshot, namespace: string, refs: readonly string[], dry: boolean): AuthzDecision {
  const global = snapshot.globalPolicies;
  const local = snapshot.namespacePolicies(namespace);
  const deny =
    firstMatch(global.deny) ??
    firstMatch(local.deny) ??
    (dry ? (firstMatch(global.dryRun, 'DENY') ?? firstMatch(local.dryRun, 'DENY')) : undefined) ??
    firstSelectorMatch(snapshot, refs, 'DENY', dry);
  if (deny !== undefined) return decidedBy(deny);
  const haveAllow =
    global.allow.length > 0 ||
    local.allow.length > 0 ||
    (dry && (hasAction(global.dryRun, 'ALLOW') || hasAction(local.dryRun, 'ALLOW'))) ||
    hasSelector(snapshot, refs, 'ALLOW', dry);
  if (!haveAllow) return NO_ALLOW_POLICIES;
  const allow =
    firstMatch(global.allow) ??
    firstMatch(local.allow) ??
    (dry ? (firstMatch(global.dryRun, 'ALLOW') ?? firstMatch(local.dryRun, 'ALLOW')) : undefined) ??
    firstSelectorMatch(snapshot, refs, 'ALLOW', dry);
  return allow !== undefined ? decidedBy(allow) : NO_ALLOW_MATCH;
}

/**
 * Authorizes `request` against `snapshot`. Throws `AuthzRequestError` when the request is malformed (a
 * port or address that is not one): a bug in the caller, which should fail that connection.
 */
export function authorize(snapshot: ProxySnapshot, request: AuthzRequest): AuthzDecision {
  const workload = request.destination.workload;
  const refs = workload.authorizationPolicies;
  beginRequest(request);
  try {
    const enforced = decide(snapshot, workload.namespace, refs, false);
    if (!hasDryRun(snapshot, refs, workload.namespace)) return enforced;
    return Object.freeze({ ...enforced, dryRun: decide(snapshot, workload.namespace, refs, true) });
  } finally {
    endRequest();
  }
}

/** One line for logs: `allowed by policy demo/httpbin`, `denied: no ALLOW policy matched`… */
export function describeDecision(decision: AuthzDecision): string {
  switch (decision.reason) {
    case 'deny-policy':
      return `denied by policy ${decision.policy!.key}`;
    case 'allow-policy':
      return `allowed by policy ${decision.policy!.key}`;
    case 'no-allow-policies':
      return 'allowed: no ALLOW policy applies';
    case 'no-allow-match':
      return 'denied: no ALLOW policy matched';
  }
}
