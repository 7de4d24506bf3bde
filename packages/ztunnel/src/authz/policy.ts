/**
 * Authorization policies compiled for evaluation: `istio.security.Authorization` → `Policy`, once, when a
 * response is decoded (never per connection). Compilation is also validation: anything ztunnel could not
 * evaluate exactly as written (a CIDR that is not one, a port out of range, a string match without a
 * type, a service account without a namespace) rejects the whole policy with the path to the problem,
 * because silently dropping a value from a positive list would widen an ALLOW.
 */
import type { Authorization, AuthorizationAction, AuthorizationScope, CidrAddress, Match, ServiceAccountMatch, StringMatch } from '@ambit/protos';
import { Cidr } from '../state/ip.js';

export type StringMatchType = 'exact' | 'prefix' | 'suffix' | 'presence';

/** One string condition on a namespace or principal (`value` is `''` for presence). */
export interface StringMatcher {
  readonly type: StringMatchType;
  readonly value: string;
}

export interface ServiceAccountMatcher {
  readonly namespace: string;
  readonly serviceAccount: string;
}

/**
 * One match: every non-empty field must hold (AND); within a field any value may (OR); `not*` fields hold
 * when no value does. A match with no field at all holds for every request.
 */
export interface PolicyMatch {
  readonly namespaces: readonly StringMatcher[];
  readonly notNamespaces: readonly StringMatcher[];
  readonly serviceAccounts: readonly ServiceAccountMatcher[];
  readonly notServiceAccounts: readonly ServiceAccountMatcher[];
  /** Compared against the peer identity without `spiffe://`. */
  readonly principals: readonly StringMatcher[];
  readonly notPrincipals: readonly StringMatcher[];
  readonly sourceIps: readonly Cidr[];
  readonly notSourceIps: readonly Cidr[];
  readonly destinationIps: readonly Cidr[];
  readonly notDestinationIps: readonly Cidr[];
  readonly destinationPorts: readonly number[];
  readonly notDestinationPorts: readonly number[];
}

/** Matches are ORed; an empty clause holds. */
export type PolicyClause = readonly PolicyMatch[];
/** Clauses are ANDed; a rule without clauses holds. */
export type PolicyRule = readonly PolicyClause[];

export interface Policy {
  /** `namespace/name`: the xDS resource name and how workloads refer to selector policies. */
  readonly key: string;
  readonly name: string;
  readonly namespace: string;
  /** GLOBAL (root namespace, every workload), NAMESPACE (its namespace), WORKLOAD_SELECTOR (named by workloads). */
  readonly scope: AuthorizationScope;
  readonly action: AuthorizationAction;
  /** Evaluated and logged, never enforced. */
  readonly dryRun: boolean;
  /** Rules are ORed; a policy without rules never matches. */
  readonly rules: readonly PolicyRule[];
}

const SCOPES: ReadonlySet<string> = new Set<AuthorizationScope>(['GLOBAL', 'NAMESPACE', 'WORKLOAD_SELECTOR']);
const ACTIONS: ReadonlySet<string> = new Set<AuthorizationAction>(['ALLOW', 'DENY']);
const NONE: readonly never[] = Object.freeze([]);

/** Thrown inside compilation only, to unwind to `compilePolicy` with the path of the problem. */
class Invalid extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(reason);
    this.reason = reason;
  }
}

/**
 * Compiles one Authorization. Returns the policy, or the reason it is rejected (which ends up in the NACK).
 * `resourceName` is the xDS name (`''` in state of the world); when given it must be `namespace/name`.
 */
export function compilePolicy(resource: Authorization, resourceName = ''): Policy | string {
  const name = resource.name ?? '';
  const namespace = resource.namespace ?? '';
  if (name === '') return 'authorization has no name';
  if (namespace === '') return `authorization ${name} has no namespace`;
  if (name.includes('/')) return `authorization name ${JSON.stringify(name)} contains "/"`;
  if (namespace.includes('/')) return `authorization namespace ${JSON.stringify(namespace)} contains "/"`;
  const key = `${namespace}/${name}`;
  if (resourceName !== '' && resourceName !== key) return `resource name ${JSON.stringify(resourceName)} does not match the authorization's namespace/name ${JSON.stringify(key)}`;
  const scope = resource.scope ?? 'GLOBAL';
  if (!SCOPES.has(scope)) return `unknown scope ${String(scope)}`;
  const action = resource.action ?? 'ALLOW';
  if (!ACTIONS.has(action)) return `unknown action ${String(action)} (AUDIT and CUSTOM are not supported at L4)`;
  let rules: PolicyRule[];
  try {
    rules = (resource.rules ?? []).map((rule, r) =>
      Object.freeze((rule.clauses ?? []).map((clause, c) => Object.freeze((clause.matches ?? []).map((m, i) => compileMatch(m, `rules[${r}].clauses[${c}].matches[${i}]`))))),
    );
  } catch (err) {
    if (err instanceof Invalid) return err.reason;
    throw err;
  }
  return Object.freeze({ key, name, namespace, scope, action, dryRun: resource.dry_run === true, rules: Object.freeze(rules) });
}

function compileMatch(m: Match, path: string): PolicyMatch {
  return Object.freeze({
    namespaces: strings(m.namespaces, `${path}.namespaces`),
    notNamespaces: strings(m.not_namespaces, `${path}.not_namespaces`),
    serviceAccounts: accounts(m.service_accounts, `${path}.service_accounts`),
    notServiceAccounts: accounts(m.not_service_accounts, `${path}.not_service_accounts`),
    principals: strings(m.principals, `${path}.principals`),
    notPrincipals: strings(m.not_principals, `${path}.not_principals`),
    sourceIps: cidrs(m.source_ips, `${path}.source_ips`),
    notSourceIps: cidrs(m.not_source_ips, `${path}.not_source_ips`),
    destinationIps: cidrs(m.destination_ips, `${path}.destination_ips`),
    notDestinationIps: cidrs(m.not_destination_ips, `${path}.not_destination_ips`),
    destinationPorts: ports(m.destination_ports, `${path}.destination_ports`),
    notDestinationPorts: ports(m.not_destination_ports, `${path}.not_destination_ports`),
  });
}

function strings(list: StringMatch[] | undefined, path: string): readonly StringMatcher[] {
  if (list === undefined || list.length === 0) return NONE;
  return Object.freeze(
    list.map((s, i): StringMatcher => {
      switch (s.match_type) {
        case 'exact':
          return Object.freeze({ type: 'exact', value: s.exact ?? '' });
        case 'prefix':
          return Object.freeze({ type: 'prefix', value: s.prefix ?? '' });
        case 'suffix':
          return Object.freeze({ type: 'suffix', value: s.suffix ?? '' });
        case 'presence':
          return Object.freeze({ type: 'presence', value: '' });
        case undefined:
          break;
      }
      throw new Invalid(`${path}[${i}] has no match type (exact, prefix, suffix or presence)`);
    }),
  );
}

function accounts(list: ServiceAccountMatch[] | undefined, path: string): readonly ServiceAccountMatcher[] {
  if (list === undefined || list.length === 0) return NONE;
  return Object.freeze(
    list.map((sa, i) => {
      const namespace = sa.namespace ?? '';
      const serviceAccount = sa.serviceAccount ?? '';
      if (namespace === '' || serviceAccount === '') throw new Invalid(`${path}[${i}] needs both namespace and serviceAccount`);
      return Object.freeze({ namespace, serviceAccount });
    }),
  );
}

function cidrs(list: CidrAddress[] | undefined, path: string): readonly Cidr[] {
  if (list === undefined || list.length === 0) return NONE;
  return Object.freeze(
    list.map((a, i) => {
      const cidr = Cidr.fromBytes(a.address ?? Buffer.alloc(0), a.length ?? 0);
      if (typeof cidr === 'string') throw new Invalid(`${path}[${i}]: ${cidr}`);
      return cidr;
    }),
  );
}

function ports(list: number[] | undefined, path: string): readonly number[] {
  if (list === undefined || list.length === 0) return NONE;
  for (const [i, p] of list.entries()) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Invalid(`${path}[${i}]: port ${p} is out of range 1-65535`);
  }
  return Object.freeze([...list]);
}
