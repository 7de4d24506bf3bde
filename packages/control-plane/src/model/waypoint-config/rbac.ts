/**
 * AuthorizationPolicy (bound to a waypoint with targetRefs) → Envoy RBAC, as istiod builds it:
 *
 * - one RBAC filter per action: DENY policies in one, ALLOW policies in the other (the HTTP chain runs
 *   DENY then ALLOW); an ALLOW filter whose policies all have no rules allows nothing;
 * - each policy rule is one RBAC policy `ns[<ns>]-policy[<name>]-rule[<i>]`: one permission per `to`
 *   operation and one principal per `from` source (ORed by Envoy), each the AND of its fields; a field's
 *   values are ORed and its `not…` values negated; `when` conditions are ANDed into every permission
 *   (destination keys) or principal (the others). An empty rule matches everything;
 * - principals get the `spiffe://` prefix and match `authenticated.principal_name`; namespaces and service
 *   accounts are regular expressions on it (metacharacters escaped); request principals, audiences,
 *   presenters and claims are `metadata` of the `istio_authn` filter, which the waypoint fills from a
 *   verified JWT; header values are matched per value (never joined);
 * - Istio's value forms: `*` (any non-empty value), `prefix*`, `*suffix`, else exact; hosts ignore case.
 *
 * What a chain cannot enforce fails closed, as for ztunnel: HTTP attributes on a TCP chain, and keys the
 * waypoint does not evaluate anywhere (`connection.sni`, `experimental.envoy.filters.*`, path templates).
 * In an ALLOW policy the rule that uses them is dropped (it allows nothing); in a DENY policy they are
 * removed from the rule (it denies more). Both are reported.
 */
import type { AuthorizationCondition, AuthorizationOperation, AuthorizationPolicyObject, AuthorizationRule, AuthorizationSource } from '../../input/objects.js';
import type { ModelContext } from '../context.js';
import { cidrRange, escapeRegex, istioStringMatcher, regex } from './envoy-builders.js';
import type { HeaderMatcher, MetadataMatcher, Permission, Principal, RbacPolicy, RbacRules, StringMatcher } from './envoy-types.js';

export interface RbacFilters {
  readonly deny?: RbacRules;
  readonly allow?: RbacRules;
}

const AUTHN_FILTER = 'istio_authn';

/**
 * The RBAC rules for `policies` on an HTTP chain (`forTcp` false) or a TCP chain. `reportTcp` false keeps
 * quiet about HTTP attributes on the TCP chain of an undeclared port: that chain only takes the traffic
 * the waypoint did not recognize as HTTP, so failing closed there is expected, not news.
 */
export function rbacFilters(ctx: ModelContext, policies: readonly AuthorizationPolicyObject[], forTcp: boolean, reportTcp = true): RbacFilters {
  const deny: Record<string, RbacPolicy> = {};
  const allow: Record<string, RbacPolicy> = {};
  let hasDeny = false;
  let hasAllow = false;
  for (const policy of policies) {
    const { action } = policy;
    if (action === 'AUDIT' || action === 'CUSTOM') {
      ctx.report(policy, ['spec', 'action'], `the waypoint does not support the ${action} action; the policy is not enforced`, 'error');
      continue;
    }
    if (policy.dryRun) {
      ctx.report(policy, ['metadata', 'annotations', 'istio.io/dry-run'], 'dry-run policies are not enforced by the waypoint (it keeps no shadow rules)');
      continue;
    }
    if (action === 'DENY') hasDeny = true;
    else hasAllow = true;
    const target = action === 'DENY' ? deny : allow;
    policy.rules.forEach((rule, index) => {
      const translated = translateRule(ctx, policy, rule, index, forTcp, !forTcp || reportTcp);
      if (translated !== undefined) target[`ns[${policy.metadata.namespace}]-policy[${policy.metadata.name}]-rule[${index}]`] = translated;
    });
  }
  return {
    ...(hasDeny ? { deny: { action: 'DENY', policies: deny } } : {}),
    ...(hasAllow ? { allow: { action: 'ALLOW', policies: allow } } : {}),
  };
}

/** Collects the parts of one permission or principal, and what could not be enforced. */
class Parts<T> {
  readonly items: T[] = [];
  constructor(readonly unsupported: Set<string>) {}

  add(item: T | undefined): void {
    if (item !== undefined) this.items.push(item);
  }
}

function translateRule(
  ctx: ModelContext,
  policy: AuthorizationPolicyObject,
  rule: AuthorizationRule,
  index: number,
  forTcp: boolean,
  report: boolean,
): RbacPolicy | undefined {
  const unsupported = new Set<string>();
  const ops: readonly AuthorizationOperation[] = rule.to.length > 0 ? rule.to : [{}];
  const sources: readonly AuthorizationSource[] = rule.from.length > 0 ? rule.from : [{}];
  const permissions = ops.map((op) => {
    const parts = new Parts<Permission>(unsupported);
    operationParts(op, parts, forTcp);
    for (const condition of rule.when) conditionPermission(condition, parts, forTcp);
    return { and_rules: { rules: parts.items.length > 0 ? parts.items : [{ any: true as const }] } };
  });
  const principals = sources.map((src) => {
    const parts = new Parts<Principal>(unsupported);
    sourceParts(src, policy.metadata.namespace, parts, forTcp);
    for (const condition of rule.when) conditionPrincipal(condition, parts, forTcp);
    return { and_ids: { ids: parts.items.length > 0 ? parts.items : [{ any: true as const }] } };
  });
  if (unsupported.size > 0) {
    const found = [...unsupported].sort().join(', ');
    const where = forTcp ? 'on a TCP chain (a port not declared HTTP)' : 'on the waypoint';
    const effect =
      policy.action === 'ALLOW'
        ? 'In this ALLOW policy the rule is dropped there, so it allows nothing'
        : 'In this DENY policy the rule is enforced there without them, so it denies more';
    const httpOnly = forTcp && [...unsupported].every((u) => !UNSUPPORTED_KEY.test(u) && !u.endsWith('templates'));
    if (report || !httpOnly) ctx.report(policy, ['spec', 'rules', index], `cannot be enforced ${where} as written (found: ${found}). ${effect}: stricter than written`);
    if (policy.action === 'ALLOW') return undefined;
  }
  return { permissions, principals };
}

/** OR of `values` mapped by `one`, and NOT(OR) of `notValues`, as Istio nests them. */
function positiveNegative<T>(
  values: readonly string[] | undefined,
  notValues: readonly string[] | undefined,
  one: (value: string) => T,
  or: (items: T[]) => T,
  not: (item: T) => T,
  parts: Parts<T>,
): void {
  if (values !== undefined && values.length > 0) parts.add(or(values.map(one)));
  if (notValues !== undefined && notValues.length > 0) parts.add(not(or(notValues.map(one))));
}

const orRules = (rules: Permission[]): Permission => ({ or_rules: { rules } });
const notRule = (rule: Permission): Permission => ({ not_rule: rule });
const orIds = (ids: Principal[]): Principal => ({ or_ids: { ids } });
const notId = (id: Principal): Principal => ({ not_id: id });

/** A header matcher in Istio's forms; `*` means the header is present with any value. */
function headerMatch(name: string, value: string, ignoreCase = false): HeaderMatcher {
  return value === '*' ? { name, present_match: true } : { name, string_match: istioStringMatcher(value, '', ignoreCase) };
}

const TEMPLATE = /\{\*\*?\}/;

function operationParts(op: AuthorizationOperation, parts: Parts<Permission>, forTcp: boolean): void {
  const http = (field: string, values: readonly string[] | undefined): boolean => {
    if (values === undefined || values.length === 0) return false;
    if (forTcp) parts.unsupported.add(field);
    return !forTcp;
  };
  if (http('hosts', op.hosts) || http('notHosts', op.notHosts)) {
    positiveNegative(op.hosts, op.notHosts, (v) => ({ header: headerMatch(':authority', v, true) }), orRules, notRule, parts);
  }
  if (http('methods', op.methods) || http('notMethods', op.notMethods)) {
    positiveNegative(op.methods, op.notMethods, (v) => ({ header: headerMatch(':method', v) }), orRules, notRule, parts);
  }
  for (const [field, values] of [['paths', op.paths], ['notPaths', op.notPaths]] as const) {
    if (values?.some((v) => TEMPLATE.test(v))) parts.unsupported.add(`${field} templates`);
  }
  const pathsUsable = !(op.paths ?? []).some((v) => TEMPLATE.test(v)) && !(op.notPaths ?? []).some((v) => TEMPLATE.test(v));
  if ((http('paths', op.paths) || http('notPaths', op.notPaths)) && pathsUsable) {
    positiveNegative(op.paths, op.notPaths, (v) => ({ url_path: { path: istioStringMatcher(v) } }), orRules, notRule, parts);
  }
  positiveNegative(op.ports, op.notPorts, (v) => ({ destination_port: Number(v) }), orRules, notRule, parts);
}

/** A regular expression on the SPIFFE principal matching namespace `value` (Istio wildcards allowed). */
function namespaceRegex(value: string): StringMatcher {
  return { safe_regex: regex(`.*/ns/${wildcardRegex(value)}/.*`) };
}

function wildcardRegex(value: string): string {
  if (value === '*') return '.*';
  if (value.startsWith('*')) return `.*${escapeRegex(value.slice(1))}`;
  if (value.endsWith('*')) return `${escapeRegex(value.slice(0, -1))}.*`;
  return escapeRegex(value);
}

function serviceAccountRegex(value: string, policyNamespace: string): StringMatcher {
  const slash = value.indexOf('/');
  const [ns, sa] = slash < 0 ? [policyNamespace, value] : [value.slice(0, slash), value.slice(slash + 1)];
  // Escaped: an unescaped `.` in a service account must not match any character (CVE-2026-39350).
  return { safe_regex: regex(`spiffe://[^/]+/ns/${escapeRegex(ns)}/sa/${escapeRegex(sa)}`) };
}

function authnMetadata(key: string, value: string): MetadataMatcher {
  return { filter: AUTHN_FILTER, path: [{ key }], value: { string_match: istioStringMatcher(value) } };
}

function claimMetadata(claims: readonly string[], value: string): MetadataMatcher {
  return {
    filter: AUTHN_FILTER,
    path: [{ key: 'request.auth.claims' }, ...claims.map((key) => ({ key }))],
    value: { list_match: { one_of: { string_match: istioStringMatcher(value) } } },
  };
}

function sourceParts(src: AuthorizationSource, policyNamespace: string, parts: Parts<Principal>, forTcp: boolean): void {
  const authenticated = (m: StringMatcher): Principal => ({ authenticated: { principal_name: m } });
  positiveNegative(src.principals, src.notPrincipals, (v) => authenticated(istioStringMatcher(v, 'spiffe://')), orIds, notId, parts);
  const requestPrincipals = (src.requestPrincipals?.length ?? 0) + (src.notRequestPrincipals?.length ?? 0) > 0;
  if (requestPrincipals && forTcp) parts.unsupported.add('requestPrincipals');
  if (requestPrincipals && !forTcp) {
    positiveNegative(src.requestPrincipals, src.notRequestPrincipals, (v) => ({ metadata: authnMetadata('request.auth.principal', v) }), orIds, notId, parts);
  }
  positiveNegative(src.namespaces, src.notNamespaces, (v) => authenticated(namespaceRegex(v)), orIds, notId, parts);
  positiveNegative(src.serviceAccounts, src.notServiceAccounts, (v) => authenticated(serviceAccountRegex(v, policyNamespace)), orIds, notId, parts);
  positiveNegative(src.ipBlocks, src.notIpBlocks, (v) => ({ direct_remote_ip: cidrRange(v) }), orIds, notId, parts);
  positiveNegative(src.remoteIpBlocks, src.notRemoteIpBlocks, (v) => ({ remote_ip: cidrRange(v) }), orIds, notId, parts);
}

const DESTINATION_KEYS = new Set(['destination.ip', 'destination.port']);
const UNSUPPORTED_KEY = /^(connection\.sni|experimental\.envoy\.filters\.)/;

function conditionPermission(condition: AuthorizationCondition, parts: Parts<Permission>, _forTcp: boolean): void {
  const { key, values, notValues } = condition;
  if (!DESTINATION_KEYS.has(key)) return;
  const one = key === 'destination.port' ? (v: string): Permission => ({ destination_port: Number(v) }) : (v: string): Permission => ({ destination_ip: cidrRange(v) });
  positiveNegative(values, notValues, one, orRules, notRule, parts);
}

function conditionPrincipal(condition: AuthorizationCondition, parts: Parts<Principal>, forTcp: boolean): void {
  const { key, values, notValues } = condition;
  if (DESTINATION_KEYS.has(key)) return;
  if (UNSUPPORTED_KEY.test(key)) {
    parts.unsupported.add(key);
    return;
  }
  const add = (one: (value: string) => Principal): void => positiveNegative(values, notValues, one, orIds, notId, parts);
  switch (key) {
    case 'source.ip':
      return add((v) => ({ direct_remote_ip: cidrRange(v) }));
    case 'remote.ip':
      return add((v) => ({ remote_ip: cidrRange(v) }));
    case 'source.namespace':
      return add((v) => ({ authenticated: { principal_name: namespaceRegex(v) } }));
    case 'source.principal':
      return add((v) => ({ authenticated: { principal_name: istioStringMatcher(v, 'spiffe://') } }));
  }
  // Everything else is about the HTTP request.
  if (forTcp) {
    parts.unsupported.add(key);
    return;
  }
  const header = /^request\.headers\[(.+)\]$/.exec(key);
  if (header !== null) return add((v) => ({ header: headerMatch(header[1]!.toLowerCase(), v) }));
  const claims = /^request\.auth\.claims((\[[^\][]+\])+)$/.exec(key);
  if (claims !== null) {
    const names = [...claims[1]!.matchAll(/\[([^\][]+)\]/g)].map((m) => m[1]!);
    return add((v) => ({ metadata: claimMetadata(names, v) }));
  }
  // request.auth.principal, request.auth.audiences, request.auth.presenter
  return add((v) => ({ metadata: authnMetadata(key, v) }));
}
