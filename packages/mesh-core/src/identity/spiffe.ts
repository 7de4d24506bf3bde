/**
 * SPIFFE workload identities as Istio uses them: `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`.
 *
 * Parsing is strict because an identity is a security decision: anything that is not exactly this shape
 * (extra path segments, percent-encoding, upper-case trust domains, query strings) is refused with the
 * reason, rather than normalised into something that might compare equal to another identity.
 */
import { MeshError } from '../errors.js';

export const SPIFFE_SCHEME = 'spiffe://';

/** SPIFFE trust domain: lower-case letters, digits, dot, dash and underscore (SPIFFE-ID spec, section 2.1). */
const TRUST_DOMAIN_RE = /^[a-z0-9._-]+$/;
/** Kubernetes namespace: a DNS-1123 label. */
const NAMESPACE_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Kubernetes service-account name: a DNS-1123 subdomain. */
const SERVICE_ACCOUNT_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export class IdentityError extends MeshError {
  /** What is wrong, without the identity (so a parse of the full URI can re-wrap it). */
  readonly detail: string;

  constructor(input: string, detail: string) {
    super('IDENTITY_ERR_INVALID', `invalid SPIFFE identity ${JSON.stringify(input)}: ${detail}`);
    this.detail = detail;
  }
}

export class Identity {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  /** The canonical URI, computed once: identities are compared and used as map keys on the hot path. */
  readonly uri: string;

  constructor(trustDomain: string, namespace: string, serviceAccount: string) {
    const label = `${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
    checkTrustDomain(trustDomain, label);
    checkPart(namespace, 'namespace', NAMESPACE_RE, 63, label);
    checkPart(serviceAccount, 'service account', SERVICE_ACCOUNT_RE, 253, label);
    this.trustDomain = trustDomain;
    this.namespace = namespace;
    this.serviceAccount = serviceAccount;
    this.uri = `${SPIFFE_SCHEME}${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
    Object.freeze(this);
  }

  /** Parses `spiffe://td/ns/NS/sa/SA`; throws IdentityError naming what is wrong. */
  static parse(input: string): Identity {
    if (!input.startsWith(SPIFFE_SCHEME)) {
      throw new IdentityError(input, `must start with "${SPIFFE_SCHEME}"`);
    }
    const rest = input.slice(SPIFFE_SCHEME.length);
    if (/[?#%]/.test(rest)) {
      throw new IdentityError(input, 'query, fragment and percent-encoding are not allowed');
    }
    const slash = rest.indexOf('/');
    if (slash < 0) throw new IdentityError(input, 'missing path "/ns/<namespace>/sa/<service-account>"');
    const trustDomain = rest.slice(0, slash);
    const segments = rest.slice(slash + 1).split('/');
    if (segments.length !== 4 || segments[0] !== 'ns' || segments[2] !== 'sa') {
      throw new IdentityError(input, 'path must be exactly "/ns/<namespace>/sa/<service-account>"');
    }
    try {
      return new Identity(trustDomain, segments[1]!, segments[3]!);
    } catch (err) {
      if (err instanceof IdentityError) throw new IdentityError(input, err.detail);
      throw err;
    }
  }

  /** Like parse, but returns undefined instead of throwing (for SANs that may be other URIs). */
  static tryParse(input: string): Identity | undefined {
    try {
      return Identity.parse(input);
    } catch {
      return undefined;
    }
  }

  equals(other: Identity): boolean {
    return this.uri === other.uri;
  }

  toString(): string {
    return this.uri;
  }

  toJSON(): string {
    return this.uri;
  }
}

function checkTrustDomain(td: string, label: string): void {
  if (td.length === 0) throw new IdentityError(label, 'trust domain is empty');
  if (td.length > 255) throw new IdentityError(label, 'trust domain is longer than 255 characters');
  if (!TRUST_DOMAIN_RE.test(td)) {
    throw new IdentityError(label, `trust domain "${td}" may hold only a-z, 0-9, ".", "-" and "_"`);
  }
}

function checkPart(value: string, what: string, re: RegExp, max: number, label: string): void {
  if (value.length === 0) throw new IdentityError(label, `${what} is empty`);
  if (value.length > max) throw new IdentityError(label, `${what} is longer than ${max} characters`);
  if (!re.test(value)) throw new IdentityError(label, `${what} "${value}" is not a valid Kubernetes name`);
}
