/**
 * Envoy's RBAC filters (HTTP and network) → `RbacPolicySet` / `NetworkRbacPolicySet`, with Istio's
 * semantics: every DENY filter first (a matching DENY policy denies), then every ALLOW filter (one of its
 * policies must match; an ALLOW filter with no policies denies everything, as Envoy does). Without an
 * ALLOW filter a request no DENY policy matched is allowed.
 *
 * Policies are evaluated in name order (Envoy holds them in an ordered map), so the policy a decision
 * names is deterministic. `shadow_rules` (Istio's dry-run) never change a decision and are not evaluated.
 */
import type { ConnectionAttributes, NetworkRbacPolicySet, RbacDecision, RbacPolicySet, RequestAttributes, RequestAuthentication } from '../config/types.js';
import type * as envoy from '../config/envoy-types.js';
import { join } from '../config/errors.js';
import { enumOf, refuseFields } from '../config/values.js';
import { compilePolicy, type HeaderMode, type Predicate, type RuleContext, type RuleOptions } from './rbac-rules.js';

export const HTTP_RBAC_TYPE = 'envoy.extensions.filters.http.rbac.v3.RBAC';
export const NETWORK_RBAC_TYPE = 'envoy.extensions.filters.network.rbac.v3.RBAC';

/** One compiled RBAC filter. */
export interface RbacFilterRules {
  readonly action: 'ALLOW' | 'DENY';
  readonly policies: readonly { readonly name: string; readonly matches: Predicate }[];
}

/**
 * Compiles one RBAC filter config at `at`. Returns undefined for a filter without `rules` (it enforces
 * nothing). `network` refuses the L7 fields the network filter cannot evaluate.
 */
export function compileRbacFilter(config: envoy.RbacFilter, at: string, network: boolean): RbacFilterRules | undefined {
  refuseFields(config, ['matcher', 'shadow_matcher'], at, 'is not supported (use rules)');
  if (network) {
    enumOf(config.enforcement_type, 'ONE_TIME_ON_FIRST_BYTE', ['ONE_TIME_ON_FIRST_BYTE'], join(at, 'enforcement_type'));
  }
  const rules = config.rules;
  if (rules === undefined) return undefined;
  const where = join(at, 'rules');
  refuseFields(rules, ['audit_logging_options'], where);
  const action = enumOf(rules.action, 'ALLOW', ['ALLOW', 'DENY'], join(where, 'action'));
  const options: RuleOptions = { network };
  const names = Object.keys(rules.policies ?? {}).sort();
  const policies = names.map((name) =>
    Object.freeze({ name, matches: compilePolicy(rules.policies![name]!, join(where, `policies[${JSON.stringify(name)}]`), options) }),
  );
  return Object.freeze({ action, policies: Object.freeze(policies) });
}

const ALLOWED_NO_POLICY: RbacDecision = Object.freeze({ allowed: true, policy: undefined });

/** Runs the filters in order: DENY filters before ALLOW filters (the listener compiler checks the order). */
function decide(filters: readonly RbacFilterRules[], ctx: RuleContext): RbacDecision {
  let allowedBy: string | undefined;
  for (const filter of filters) {
    // The reading of repeated headers that fails closed: any value for DENY, every value for ALLOW.
    const mode: HeaderMode = filter.action === 'DENY' ? 'any' : 'all';
    let matched: string | undefined;
    for (const policy of filter.policies) {
      if (policy.matches(ctx, mode)) {
        matched = policy.name;
        break;
      }
    }
    if (filter.action === 'DENY') {
      if (matched !== undefined) return { allowed: false, policy: matched, reason: `matched DENY policy ${JSON.stringify(matched)}` };
    } else if (matched === undefined) {
      return {
        allowed: false,
        policy: undefined,
        reason: filter.policies.length === 0 ? 'the ALLOW filter has no policy' : 'no ALLOW policy matched',
      };
    } else {
      allowedBy = matched;
    }
  }
  return allowedBy === undefined ? ALLOWED_NO_POLICY : { allowed: true, policy: allowedBy };
}

function ordered(filters: readonly (RbacFilterRules | undefined)[]): readonly RbacFilterRules[] {
  const present = filters.filter((f): f is RbacFilterRules => f !== undefined);
  return Object.freeze([...present.filter((f) => f.action === 'DENY'), ...present.filter((f) => f.action === 'ALLOW')]);
}

/** A chain's filters in evaluation order (DENY first), frozen; `empty` lets callers skip the evaluation. */
abstract class OrderedFilters {
  readonly #filters: readonly RbacFilterRules[];
  readonly empty: boolean;
  constructor(filters: readonly (RbacFilterRules | undefined)[]) {
    this.#filters = ordered(filters);
    this.empty = this.#filters.length === 0;
    Object.freeze(this);
  }
  protected decide(ctx: RuleContext): RbacDecision {
    return decide(this.#filters, ctx);
  }
}

class HttpRbac extends OrderedFilters implements RbacPolicySet {
  evaluate(request: RequestAttributes, connection: ConnectionAttributes, auth: RequestAuthentication | undefined): RbacDecision {
    // Checked before building the context, so a chain without policy costs no allocation per request.
    if (this.empty) return ALLOWED_NO_POLICY;
    return this.decide({ request, connection, auth });
  }
}

class NetworkRbac extends OrderedFilters implements NetworkRbacPolicySet {
  evaluate(connection: ConnectionAttributes): RbacDecision {
    if (this.empty) return ALLOWED_NO_POLICY;
    return this.decide({ request: undefined, connection, auth: undefined });
  }
}

/** The HTTP policy set of a chain from its compiled `envoy.filters.http.rbac` filters (DENY run first). */
export function rbacPolicySet(filters: readonly (RbacFilterRules | undefined)[]): RbacPolicySet {
  return new HttpRbac(filters);
}

/** The L4 policy set of a TCP chain from its compiled `envoy.filters.network.rbac` filters. */
export function networkRbacPolicySet(filters: readonly (RbacFilterRules | undefined)[]): NetworkRbacPolicySet {
  return new NetworkRbac(filters);
}

/** A policy set with no filters (allows everything). */
export const NO_RBAC: RbacPolicySet = rbacPolicySet([]);
export const NO_NETWORK_RBAC: NetworkRbacPolicySet = networkRbacPolicySet([]);
