/**
 * Whether one compiled policy matches one L4 request, with ztunnel's semantics:
 *
 * - a policy without rules never matches; rules are ORed; a rule's clauses are ANDed (a rule without
 *   clauses holds); a clause's matches are ORed (an empty clause holds); a match's fields are ANDed and
 *   a match without fields holds. (ztunnel skips an empty match inside a non-empty clause; istiod emits
 *   one for a DENY rule whose only conditions were HTTP attributes and means it to match everything,
 *   which is what our control plane relies on too, so here it holds.)
 * - a positive field holds when any of its values matches; a `not*` field holds when none does;
 * - without mTLS there is no identity: namespace, service-account and principal values never match (so
 *   `notPrincipals: [presence]`, the STRICT policy, holds for plaintext);
 * - principals are compared after `spiffe://`; destination ports against the resolved target port.
 *
 * Nothing here allocates: request addresses are parsed once per request into module-level scratch words
 * (evaluation is synchronous and never re-entered), and only if a policy has an address condition.
 */
import { SPIFFE_SCHEME, type Identity } from '@ambit/mesh-core/identity';
import { AuthzRequestError } from '../errors.js';
import { parseIpWords, type Cidr, type IpFamily } from '../state/ip.js';
import type { Workload } from '../state/model.js';
import type { Policy, PolicyMatch, ServiceAccountMatcher, StringMatcher } from './policy.js';

/** One L4 connection to authorize, as the inbound data path sees it. */
export interface AuthzRequest {
  readonly source: {
    /** The peer's identity from its mTLS certificate; absent for plaintext. */
    readonly identity?: Identity | undefined;
    readonly ip: string;
  };
  readonly destination: {
    /** The local workload the connection is for. */
    readonly workload: Workload;
    readonly ip: string;
    /** The resolved target port. */
    readonly port: number;
  };
}

const SCHEME_LENGTH = SPIFFE_SCHEME.length;

/** Parsed request addresses for the request being evaluated (see `beginRequest`). */
const SRC_WORDS = new Uint32Array(4);
const DST_WORDS = new Uint32Array(4);
let current: AuthzRequest | undefined;
/** -1: not parsed yet for `current`. */
let srcFamily: IpFamily | -1 = -1;
let dstFamily: IpFamily | -1 = -1;

/** Makes `request` the one being evaluated; its addresses are parsed on first use. */
export function beginRequest(request: AuthzRequest): void {
  const port = request.destination.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new AuthzRequestError(`destination port ${port} is not a port number`);
  current = request;
  srcFamily = -1;
  dstFamily = -1;
}

/** Forgets the request (so that the module does not keep its workload alive). */
export function endRequest(): void {
  current = undefined;
}

function sourceFamily(): IpFamily {
  if (srcFamily < 0) {
    srcFamily = parseIpWords(current!.source.ip, SRC_WORDS);
    if (srcFamily === 0) throw new AuthzRequestError(`source address ${JSON.stringify(current!.source.ip)} is not an IP address`);
  }
  return srcFamily as IpFamily;
}

function destinationFamily(): IpFamily {
  if (dstFamily < 0) {
    dstFamily = parseIpWords(current!.destination.ip, DST_WORDS);
    if (dstFamily === 0) throw new AuthzRequestError(`destination address ${JSON.stringify(current!.destination.ip)} is not an IP address`);
  }
  return dstFamily as IpFamily;
}

function anyCidr(list: readonly Cidr[], family: IpFamily, words: Uint32Array): boolean {
  for (let i = 0; i < list.length; i++) if (list[i]!.contains(family, words)) return true;
  return false;
}

function anyPort(list: readonly number[], port: number): boolean {
  for (let i = 0; i < list.length; i++) if (list[i] === port) return true;
  return false;
}

function stringMatches(m: StringMatcher, value: string): boolean {
  switch (m.type) {
    case 'exact':
      return value === m.value;
    case 'prefix':
      return value.startsWith(m.value);
    case 'suffix':
      return value.endsWith(m.value);
    case 'presence':
      return value.length > 0;
  }
}

/** `m` against `uri` minus its `spiffe://`, without slicing the string. */
function principalMatches(m: StringMatcher, uri: string): boolean {
  switch (m.type) {
    case 'exact':
      return uri.length - SCHEME_LENGTH === m.value.length && uri.startsWith(m.value, SCHEME_LENGTH);
    case 'prefix':
      return uri.startsWith(m.value, SCHEME_LENGTH);
    case 'suffix':
      return uri.length - SCHEME_LENGTH >= m.value.length && uri.endsWith(m.value);
    case 'presence':
      return uri.length > SCHEME_LENGTH;
  }
}

function anyNamespace(list: readonly StringMatcher[], identity: Identity | undefined): boolean {
  if (identity === undefined) return false;
  for (let i = 0; i < list.length; i++) if (stringMatches(list[i]!, identity.namespace)) return true;
  return false;
}

function anyPrincipal(list: readonly StringMatcher[], identity: Identity | undefined): boolean {
  if (identity === undefined) return false;
  for (let i = 0; i < list.length; i++) if (principalMatches(list[i]!, identity.uri)) return true;
  return false;
}

function anyServiceAccount(list: readonly ServiceAccountMatcher[], identity: Identity | undefined): boolean {
  if (identity === undefined) return false;
  for (let i = 0; i < list.length; i++) {
    const sa = list[i]!;
    if (sa.namespace === identity.namespace && sa.serviceAccount === identity.serviceAccount) return true;
  }
  return false;
}

/** Every non-empty field of `m` holds for the current request (cheap fields first). */
function matchHolds(m: PolicyMatch, request: AuthzRequest): boolean {
  const port = request.destination.port;
  if (m.destinationPorts.length > 0 && !anyPort(m.destinationPorts, port)) return false;
  if (m.notDestinationPorts.length > 0 && anyPort(m.notDestinationPorts, port)) return false;
  if (m.sourceIps.length > 0 && !anyCidr(m.sourceIps, sourceFamily(), SRC_WORDS)) return false;
  if (m.notSourceIps.length > 0 && anyCidr(m.notSourceIps, sourceFamily(), SRC_WORDS)) return false;
  if (m.destinationIps.length > 0 && !anyCidr(m.destinationIps, destinationFamily(), DST_WORDS)) return false;
  if (m.notDestinationIps.length > 0 && anyCidr(m.notDestinationIps, destinationFamily(), DST_WORDS)) return false;
  const identity = request.source.identity;
  if (m.namespaces.length > 0 && !anyNamespace(m.namespaces, identity)) return false;
  if (m.notNamespaces.length > 0 && anyNamespace(m.notNamespaces, identity)) return false;
  if (m.serviceAccounts.length > 0 && !anyServiceAccount(m.serviceAccounts, identity)) return false;
  if (m.notServiceAccounts.length > 0 && anyServiceAccount(m.notServiceAccounts, identity)) return false;
  if (m.principals.length > 0 && !anyPrincipal(m.principals, identity)) return false;
  if (m.notPrincipals.length > 0 && anyPrincipal(m.notPrincipals, identity)) return false;
  return true;
}

/** Whether `policy` matches the request passed to the last `beginRequest`. */
export function matchesCurrent(policy: Policy): boolean {
  const request = current!;
  const rules = policy.rules;
  for (let r = 0; r < rules.length; r++) {
    const clauses = rules[r]!;
    let ruleHolds = true;
    for (let c = 0; c < clauses.length && ruleHolds; c++) {
      const matches = clauses[c]!;
      if (matches.length === 0) continue;
      let clauseHolds = false;
      for (let i = 0; i < matches.length && !clauseHolds; i++) clauseHolds = matchHolds(matches[i]!, request);
      ruleHolds = clauseHolds;
    }
    if (ruleHolds) return true;
  }
  return false;
}

/** Whether `policy` matches `request`. Throws `AuthzRequestError` for a malformed request. */
export function policyMatches(policy: Policy, request: AuthzRequest): boolean {
  beginRequest(request);
  try {
    return matchesCurrent(policy);
  } finally {
    endRequest();
  }
}
