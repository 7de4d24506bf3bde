/**
 * Envoy RBAC permissions and principals → predicates. Every predicate takes the request context and a
 * `mode` saying how to read a header sent several times: `any` (one value matching is enough) or `all`
 * (every value must match). The policy picks the mode that fails closed — DENY policies read `any`, ALLOW
 * policies read `all` — and each negation (`not_rule`, `not_id`) flips it, because under a negation the
 * safe reading is the opposite one. So repeating a header can only make a request more likely to be
 * denied (Envoy CVE-2026-26308 joined the values, letting `a` + `a` pass as `a,a`).
 */
import type { ConnectionAttributes, HeaderMatcher, RequestAttributes, RequestAuthentication, StringMatcher } from '../config/types.js';
import type * as envoy from '../config/envoy-types.js';
import { invalid, join } from '../config/errors.js';
import { compileHeaderMatcher } from '../config/request-matchers.js';
import { headerValues } from '../route/select.js';
import { compileStringMatcher } from '../config/string-matcher.js';
import { list, refuseFields, uint32 } from '../config/values.js';
import { Cidr } from './cidr.js';

export type HeaderMode = 'any' | 'all';

/** What a rule is evaluated against. `request` is undefined for network (L4) RBAC, whose rules never read it. */
export interface RuleContext {
  readonly request: RequestAttributes | undefined;
  readonly connection: ConnectionAttributes;
  readonly auth: RequestAuthentication | undefined;
}

export type Predicate = (ctx: RuleContext, mode: HeaderMode) => boolean;

/** Whether the rules being compiled belong to the network filter (L4 fields only). */
export interface RuleOptions {
  readonly network: boolean;
}

const flip = (mode: HeaderMode): HeaderMode => (mode === 'any' ? 'all' : 'any');

const ALWAYS: Predicate = () => true;

function l7Only(options: RuleOptions, at: string, what: string): void {
  if (options.network) invalid(at, `${what} needs an HTTP request; the network RBAC filter sees only connections`);
}

function cidr(range: envoy.CidrRange | undefined, at: string): Cidr {
  const result = Cidr.of(range?.address_prefix ?? '', uint32(range?.prefix_len, 0));
  if (typeof result === 'string') invalid(at, result);
  return result;
}

function headerPredicate(m: envoy.HeaderMatcher | undefined, at: string): Predicate {
  const matcher: HeaderMatcher = compileHeaderMatcher(m ?? {}, at);
  const name = matcher.name;
  return (ctx, mode) => ctx.request !== undefined && matcher.matches(headerValues(ctx.request, name), mode);
}

function all(predicates: readonly Predicate[]): Predicate {
  if (predicates.length === 1) return predicates[0]!;
  return (ctx, mode) => {
    for (const p of predicates) if (!p(ctx, mode)) return false;
    return true;
  };
}

function some(predicates: readonly Predicate[]): Predicate {
  if (predicates.length === 1) return predicates[0]!;
  return (ctx, mode) => {
    for (const p of predicates) if (p(ctx, mode)) return true;
    return false;
  };
}

function not(inner: Predicate): Predicate {
  return (ctx, mode) => !inner(ctx, flip(mode));
}

function nonEmpty<T>(items: readonly T[] | undefined, at: string): readonly T[] {
  const l = list(items);
  if (l.length === 0) invalid(at, 'is empty');
  return l;
}

/** Compiles an envoy.config.rbac.v3.Permission at `at`. */
export function compilePermission(p: envoy.Permission, at: string, options: RuleOptions): Predicate {
  switch (p.rule) {
    case 'any':
      if (p.any !== true) invalid(join(at, 'any'), 'must be true');
      return ALWAYS;
    case 'and_rules':
      return all(nonEmpty(p.and_rules?.rules, join(at, 'and_rules.rules')).map((r, i) => compilePermission(r, join(at, `and_rules.rules[${i}]`), options)));
    case 'or_rules':
      return some(nonEmpty(p.or_rules?.rules, join(at, 'or_rules.rules')).map((r, i) => compilePermission(r, join(at, `or_rules.rules[${i}]`), options)));
    case 'not_rule':
      return not(compilePermission(p.not_rule ?? {}, join(at, 'not_rule'), options));
    case 'header':
      l7Only(options, join(at, 'header'), 'a header rule');
      return headerPredicate(p.header, join(at, 'header'));
    case 'url_path': {
      const where = join(at, 'url_path');
      l7Only(options, where, 'a url_path rule');
      if (p.url_path?.rule !== 'path') invalid(where, 'must set path (a StringMatcher)');
      const matcher = compileStringMatcher(p.url_path.path, join(where, 'path'));
      // The normalized path without the query: what routing sees too, so `//admin` and `/a/../admin` are `/admin`.
      return (ctx) => ctx.request !== undefined && matcher.matches(ctx.request.path);
    }
    case 'destination_ip': {
      const range = cidr(p.destination_ip, join(at, 'destination_ip'));
      return (ctx) => range.contains(ctx.connection.destinationIp);
    }
    case 'destination_port': {
      const port = p.destination_port ?? 0;
      if (!Number.isInteger(port) || port < 1 || port > 65535) invalid(join(at, 'destination_port'), `port ${port} is out of range 1-65535`);
      return (ctx) => ctx.connection.destinationPort === port;
    }
    case 'destination_port_range': {
      const start = p.destination_port_range?.start ?? 0;
      const end = p.destination_port_range?.end ?? 0;
      if (!(start >= 0 && end <= 65536 && start < end)) invalid(join(at, 'destination_port_range'), `[${start}, ${end}) is not a port range`);
      return (ctx) => ctx.connection.destinationPort >= start && ctx.connection.destinationPort < end;
    }
    case 'metadata':
    case 'requested_server_name':
    case 'matcher':
    case 'uri_template':
      return invalid(join(at, p.rule), 'is not supported by the waypoint');
    case undefined:
    default:
      return invalid(at, 'sets no rule');
  }
}

// ---- Principals ----

/** The metadata keys of Istio's `istio_authn` filter that the waypoint provides. */
const AUTHN_FILTER = 'istio_authn';

type ValueTest = (value: unknown) => boolean;

/**
 * A claim or metadata value against a StringMatcher. Strings match as they are; numbers and booleans by
 * their JSON text (`42`, `true`), so a policy can name them; a list matches when one element does;
 * objects and null never match a string.
 */
function stringValueTest(matcher: StringMatcher): ValueTest {
  const test = (value: unknown): boolean => {
    if (typeof value === 'string') return matcher.matches(value);
    if (typeof value === 'number' || typeof value === 'boolean') return matcher.matches(String(value));
    if (Array.isArray(value)) {
      for (const element of value as unknown[]) if (typeof element !== 'object' && test(element)) return true;
    }
    return false;
  };
  return test;
}

function compileValueMatcher(v: envoy.ValueMatcher | undefined, at: string): ValueTest {
  if (v === undefined) invalid(at, 'missing');
  switch (v.match_pattern) {
    case 'string_match':
      return stringValueTest(compileStringMatcher(v.string_match, join(at, 'string_match')));
    case 'list_match': {
      if (v.list_match?.match_pattern !== 'one_of') invalid(join(at, 'list_match'), 'must set one_of');
      const inner = compileValueMatcher(v.list_match.one_of, join(at, 'list_match.one_of'));
      // Istio's authn filter keeps every claim as a list; a scalar claim is a list of one here.
      return (value) => (Array.isArray(value) ? (value as unknown[]).some(inner) : value !== undefined && inner(value));
    }
    case 'bool_match': {
      const expected = v.bool_match === true;
      return (value) => value === expected;
    }
    case 'double_match': {
      if (v.double_match?.match_pattern !== 'exact') invalid(join(at, 'double_match'), 'only exact is supported');
      const expected = v.double_match.exact ?? 0;
      return (value) => value === expected;
    }
    case 'present_match': {
      const expected = v.present_match === true;
      return (value) => (value !== undefined && value !== null) === expected;
    }
    case 'null_match':
      return (value) => value === null;
    case undefined:
    default:
      return invalid(at, `unsupported value matcher ${JSON.stringify(v.match_pattern ?? 'none')}`);
  }
}

/** Navigates claims by name: `['groups']`, or nested objects `['realm_access', 'roles']`. */
function claimAt(claims: Readonly<Record<string, unknown>>, path: readonly string[]): unknown {
  let value: unknown = claims;
  for (const key of path) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    if (!Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** The namespace of `spiffe://td/ns/<ns>/sa/<sa>`, or undefined. */
function namespaceOf(principal: string): string | undefined {
  const m = /^spiffe:\/\/[^/]+\/ns\/([^/]+)\/sa\/[^/]+$/.exec(principal);
  return m?.[1];
}

function metadataSource(keys: readonly string[], at: string): (ctx: RuleContext) => unknown {
  const [first, ...rest] = keys;
  const extra = (): void => {
    if (rest.length > 0) invalid(join(at, 'path[1]'), `${JSON.stringify(first)} takes no further path`);
  };
  switch (first) {
    case 'request.auth.principal':
      extra();
      return (ctx) => ctx.auth?.principal;
    case 'request.auth.audiences':
      extra();
      return (ctx) => ctx.auth?.claims['aud'];
    case 'request.auth.presenter':
      extra();
      return (ctx) => ctx.auth?.claims['azp'];
    case 'request.auth.claims':
      if (rest.length === 0) invalid(join(at, 'path'), 'request.auth.claims needs the claim name as the next path segment');
      return (ctx) => (ctx.auth === undefined ? undefined : claimAt(ctx.auth.claims, rest));
    case 'source.principal':
      extra();
      // Istio's form: the SPIFFE URI without its scheme.
      return (ctx) => ctx.connection.sourcePrincipal?.replace(/^spiffe:\/\//, '');
    case 'source.namespace':
      extra();
      return (ctx) => (ctx.connection.sourcePrincipal === undefined ? undefined : namespaceOf(ctx.connection.sourcePrincipal));
    case undefined:
    default:
      return invalid(join(at, 'path[0].key'), `unsupported ${AUTHN_FILTER} key ${JSON.stringify(first ?? '')} (supported: request.auth.principal, request.auth.claims, request.auth.audiences, request.auth.presenter, source.principal, source.namespace)`);
  }
}

function metadataPredicate(m: envoy.MetadataMatcher | undefined, at: string): Predicate {
  if (m === undefined) invalid(at, 'missing');
  if (m.filter !== AUTHN_FILTER) invalid(join(at, 'filter'), `${JSON.stringify(m.filter ?? '')} is not supported (only ${AUTHN_FILTER})`);
  const keys = nonEmpty(m.path, join(at, 'path')).map((segment, i) => {
    const key = segment.key ?? '';
    if (key === '') invalid(join(at, `path[${i}].key`), 'is empty');
    return key;
  });
  const source = metadataSource(keys, at);
  const test = compileValueMatcher(m.value, join(at, 'value'));
  const invert = m.invert === true;
  return (ctx) => test(source(ctx)) !== invert;
}

function sourceIpPredicate(range: envoy.CidrRange | undefined, at: string): Predicate {
  const c = cidr(range, at);
  return (ctx) => c.contains(ctx.connection.sourceIp);
}

/** Compiles an envoy.config.rbac.v3.Principal at `at`. */
export function compilePrincipal(p: envoy.Principal, at: string, options: RuleOptions): Predicate {
  switch (p.identifier) {
    case 'any':
      if (p.any !== true) invalid(join(at, 'any'), 'must be true');
      return ALWAYS;
    case 'and_ids':
      return all(nonEmpty(p.and_ids?.ids, join(at, 'and_ids.ids')).map((r, i) => compilePrincipal(r, join(at, `and_ids.ids[${i}]`), options)));
    case 'or_ids':
      return some(nonEmpty(p.or_ids?.ids, join(at, 'or_ids.ids')).map((r, i) => compilePrincipal(r, join(at, `or_ids.ids[${i}]`), options)));
    case 'not_id':
      return not(compilePrincipal(p.not_id ?? {}, join(at, 'not_id'), options));
    case 'authenticated': {
      if (p.authenticated?.principal_name === undefined) return (ctx) => ctx.connection.sourcePrincipal !== undefined;
      const matcher = compileStringMatcher(p.authenticated.principal_name, join(at, 'authenticated.principal_name'));
      return (ctx) => ctx.connection.sourcePrincipal !== undefined && matcher.matches(ctx.connection.sourcePrincipal);
    }
    // The waypoint knows one source address (the Forwarded `for=` of the HBONE CONNECT, else the peer);
    // it is both the direct and the original remote address.
    case 'source_ip':
      return sourceIpPredicate(p.source_ip, join(at, 'source_ip'));
    case 'direct_remote_ip':
      return sourceIpPredicate(p.direct_remote_ip, join(at, 'direct_remote_ip'));
    case 'remote_ip':
      return sourceIpPredicate(p.remote_ip, join(at, 'remote_ip'));
    case 'header':
      l7Only(options, join(at, 'header'), 'a header principal');
      return headerPredicate(p.header, join(at, 'header'));
    case 'metadata':
      l7Only(options, join(at, 'metadata'), 'a request.auth principal');
      return metadataPredicate(p.metadata, join(at, 'metadata'));
    case 'url_path':
    case 'filter_state':
      return invalid(join(at, p.identifier), 'is not supported by the waypoint');
    case undefined:
    default:
      return invalid(at, 'sets no identifier');
  }
}

/** An envoy.config.rbac.v3.Policy: one permission and one principal must hold. */
export function compilePolicy(policy: envoy.RbacPolicy, at: string, options: RuleOptions): Predicate {
  refuseFields(policy, ['condition', 'checked_condition'], at, 'is not supported (CEL conditions)');
  const permission = some(nonEmpty(policy.permissions, join(at, 'permissions')).map((p, i) => compilePermission(p, join(at, `permissions[${i}]`), options)));
  const principal = some(nonEmpty(policy.principals, join(at, 'principals')).map((p, i) => compilePrincipal(p, join(at, `principals[${i}]`), options)));
  return (ctx, mode) => permission(ctx, mode) && principal(ctx, mode);
}
