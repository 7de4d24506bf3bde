/**
 * AuthorizationPolicy → `istio.security.Authorization`, the L4 form ztunnel enforces, following istiod's
 * conversion for ambient:
 *
 * - scope: WORKLOAD_SELECTOR with a selector (the policy is then named in the selected workloads'
 *   `authorization_policies`), NAMESPACE without one, GLOBAL without one in the root namespace;
 * - policies with `targetRefs` belong to waypoints and are not sent; AUDIT and CUSTOM are not supported
 *   by ztunnel and are reported and skipped;
 * - each policy rule becomes one Rule whose Clauses are ANDed: one clause holding a Match per `to`
 *   operation (ports), one holding a Match per `from` source, and one per `when` condition;
 * - principals and namespaces keep Istio's wildcards (`*`, `prefix*`, `*suffix`); service accounts without
 *   a namespace mean the policy's namespace; IP blocks become CIDRs;
 * - HTTP-only attributes (hosts, methods, paths, request principals, remote IPs, non-L4 `when` keys)
 *   cannot be enforced at L4. In an ALLOW policy the rule that uses them is dropped, so it allows nothing;
 *   in a DENY policy they are removed, so the rule denies more. Both are stricter than written, and both
 *   are reported.
 */
import type { Authorization, CidrAddress, Clause, Match, Rule, ServiceAccountMatch } from '@ambit/protos';
import { parseCidr } from '../input/ip.js';
import type { AuthorizationCondition, AuthorizationPolicyObject, AuthorizationRule } from '../input/objects.js';
import type { ModelContext } from './context.js';
import { stringMatch } from './proto-helpers.js';

export interface ConvertedPolicy {
  readonly object: AuthorizationPolicyObject;
  /** `namespace/name`: the xDS resource name. */
  readonly resourceName: string;
  readonly authorization: Authorization;
}

const L4_CONDITION_KEYS = new Set(['source.ip', 'source.namespace', 'source.principal', 'destination.ip', 'destination.port']);

export function convertAuthorizationPolicies(ctx: ModelContext): ConvertedPolicy[] {
  const out: ConvertedPolicy[] = [];
  for (const object of ctx.authorizationPolicies) {
    const authorization = convertAuthorizationPolicy(ctx, object);
    if (authorization !== undefined) {
      out.push({ object, resourceName: `${object.metadata.namespace}/${object.metadata.name}`, authorization });
    }
  }
  return out;
}

function convertAuthorizationPolicy(ctx: ModelContext, policy: AuthorizationPolicyObject): Authorization | undefined {
  if (policy.targetRefs.length > 0) return undefined;
  const { name, namespace } = policy.metadata;
  if (policy.action === 'AUDIT' || policy.action === 'CUSTOM') {
    ctx.report(policy, ['spec', 'action'], `ztunnel does not support the ${policy.action} action; the policy is not sent to ztunnel`);
    return undefined;
  }
  const scope = policy.selector !== undefined ? 'WORKLOAD_SELECTOR' : namespace === ctx.options.rootNamespace ? 'GLOBAL' : 'NAMESPACE';
  const rules: Rule[] = [];
  policy.rules.forEach((rule, index) => {
    const converted = convertRule(ctx, policy, rule, index);
    if (converted !== undefined) rules.push(converted);
  });
  return {
    name,
    namespace,
    scope,
    action: policy.action,
    ...(rules.length > 0 ? { rules } : {}),
    ...(policy.dryRun ? { dry_run: true } : {}),
  };
}

function convertRule(ctx: ModelContext, policy: AuthorizationPolicyObject, rule: AuthorizationRule, index: number): Rule | undefined {
  const namespace = policy.metadata.namespace;
  const httpOnly = new Set<string>();
  const clauses: Clause[] = [];

  if (rule.to.length > 0) {
    const matches = rule.to.map((op) => {
      for (const field of ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'] as const) {
        if (op[field] !== undefined) httpOnly.add(field);
      }
      return compact({ destination_ports: op.ports?.map(Number), not_destination_ports: op.notPorts?.map(Number) });
    });
    clauses.push({ matches });
  }

  if (rule.from.length > 0) {
    const matches = rule.from.map((src) => {
      for (const field of ['requestPrincipals', 'notRequestPrincipals', 'remoteIpBlocks', 'notRemoteIpBlocks'] as const) {
        if (src[field] !== undefined) httpOnly.add(field);
      }
      for (const principal of [...(src.principals ?? []), ...(src.notPrincipals ?? [])]) {
        if (principal.startsWith('spiffe://')) {
          ctx.report(
            policy,
            ['spec', 'rules', index],
            `principal ${JSON.stringify(principal)} starts with spiffe://; Istio principals are written without it ("cluster.local/ns/<ns>/sa/<sa>"), so this one never matches`,
          );
        }
      }
      return compact({
        source_ips: src.ipBlocks?.map(cidr),
        not_source_ips: src.notIpBlocks?.map(cidr),
        namespaces: src.namespaces?.map(stringMatch),
        not_namespaces: src.notNamespaces?.map(stringMatch),
        service_accounts: src.serviceAccounts?.map((sa) => serviceAccountMatch(sa, namespace)),
        not_service_accounts: src.notServiceAccounts?.map((sa) => serviceAccountMatch(sa, namespace)),
        principals: src.principals?.map(stringMatch),
        not_principals: src.notPrincipals?.map(stringMatch),
      });
    });
    clauses.push({ matches });
  }

  for (const condition of rule.when) {
    if (!L4_CONDITION_KEYS.has(condition.key)) httpOnly.add(condition.key);
    clauses.push({ matches: [conditionMatch(condition)] });
  }

  if (httpOnly.size > 0) {
    const found = [...httpOnly].sort().join(', ');
    const effect =
      policy.action === 'ALLOW'
        ? 'In this ALLOW policy the rule is dropped, so it allows nothing'
        : 'In this DENY policy the rule is enforced without them, so it denies more';
    ctx.report(
      policy,
      ['spec', 'rules', index],
      `ztunnel cannot enforce HTTP attributes (found: ${found}); bind the policy to a waypoint with targetRefs to enforce them. ${effect}: stricter than written`,
    );
    if (policy.action === 'ALLOW') return undefined;
  }
  return clauses.length > 0 ? { clauses } : {};
}

/** A `when` condition as one Match; conditions on HTTP attributes leave it empty (which matches anything). */
function conditionMatch(condition: AuthorizationCondition): Match {
  const { key, values, notValues } = condition;
  switch (key) {
    case 'source.ip':
      return compact({ source_ips: values?.map(cidr), not_source_ips: notValues?.map(cidr) });
    case 'source.namespace':
      return compact({ namespaces: values?.map(stringMatch), not_namespaces: notValues?.map(stringMatch) });
    case 'source.principal':
      return compact({ principals: values?.map(stringMatch), not_principals: notValues?.map(stringMatch) });
    case 'destination.ip':
      return compact({ destination_ips: values?.map(cidr), not_destination_ips: notValues?.map(cidr) });
    case 'destination.port':
      return compact({ destination_ports: values?.map(Number), not_destination_ports: notValues?.map(Number) });
    default:
      return {};
  }
}

function cidr(text: string): CidrAddress {
  // Validated by the decoder.
  const { address, length } = parseCidr(text)!;
  return { address, length };
}

function serviceAccountMatch(value: string, policyNamespace: string): ServiceAccountMatch {
  const slash = value.indexOf('/');
  return slash < 0 ? { namespace: policyNamespace, serviceAccount: value } : { namespace: value.slice(0, slash), serviceAccount: value.slice(slash + 1) };
}

/** Drops absent and empty lists, so that a Match holds only what it constrains. */
function compact(match: { [K in keyof Match]?: Match[K] | undefined }): Match {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(match)) {
    if (Array.isArray(value) && value.length > 0) out[key] = value;
  }
  return out;
}
