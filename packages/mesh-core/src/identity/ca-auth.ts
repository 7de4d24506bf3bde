/**
 * Who is asking the CA for a certificate, and what they may have.
 *
 * Istio's CA authenticates a caller from its bearer token (a Kubernetes service-account JWT) and then
 * signs only identities the caller is entitled to: its own, or — for a node proxy such as ztunnel, named
 * in `CA_TRUSTED_NODE_ACCOUNTS` — the identities of pods running on that node (istio:
 * security/pkg/server/ca/node_auth.go). This module holds that contract; how tokens are checked
 * (static table here, TokenReview later) is the authenticator's business.
 */
import { createHash } from 'node:crypto';
import type { Metadata } from '@grpc/grpc-js';
import { MeshError } from '../errors.js';
import type { Identity } from './spiffe.js';

/** An authenticated CA caller. */
export interface Caller {
  /** Who is calling, for logs: a SPIFFE URI, `node/<name>`, ... */
  readonly name: string;
  /** Identities the caller may obtain for itself. */
  readonly identities: readonly Identity[];
  /**
   * Whether the caller may obtain `identity` on someone else's behalf (the request's
   * `ImpersonatedIdentity`). Absent means never. May be async (a lookup of the pods on a node);
   * a rejection is reported to the client as UNAVAILABLE, not as a denial.
   */
  mayImpersonate?(identity: Identity): boolean | Promise<boolean>;
}

export interface Authenticator {
  /**
   * Resolves the caller for `bearerToken` (already taken from `authorization: Bearer ...`). `metadata`
   * holds every request header (`clusterid`, ...). Rejects with `CaAuthenticationError` for a token
   * it does not accept; any other rejection means it could not decide (UNAVAILABLE to the client).
   */
  authenticate(bearerToken: string, metadata: Metadata): Promise<Caller>;
}

export type CaAuthErrorCode = 'CA_AUTH_ERR_MISSING' | 'CA_AUTH_ERR_MALFORMED' | 'CA_AUTH_ERR_UNKNOWN_TOKEN';

/** The caller could not be authenticated; the CA answers UNAUTHENTICATED with this message. */
export class CaAuthenticationError extends MeshError {
  constructor(code: CaAuthErrorCode, reason: string) {
    super(code, reason);
  }
}

/** RFC 6750 section 2.1 b64token: what a JWT or any opaque bearer token looks like on the wire. */
const B64TOKEN_RE = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * Reads the bearer token from gRPC metadata. Exactly one `authorization` header, scheme `Bearer`
 * (case-insensitive, RFC 7235 2.1), one space, a b64token.
 */
export function bearerTokenFrom(metadata: Metadata): string {
  const values = metadata.get('authorization');
  if (values.length === 0) throw new CaAuthenticationError('CA_AUTH_ERR_MISSING', 'missing "authorization: Bearer <token>" header');
  if (values.length > 1) throw new CaAuthenticationError('CA_AUTH_ERR_MALFORMED', `${values.length} authorization headers; expected exactly one`);
  const value = values[0];
  if (typeof value !== 'string') throw new CaAuthenticationError('CA_AUTH_ERR_MALFORMED', 'authorization header must be text');
  const space = value.indexOf(' ');
  const scheme = space < 0 ? value : value.slice(0, space);
  if (scheme.toLowerCase() !== 'bearer') {
    throw new CaAuthenticationError('CA_AUTH_ERR_MALFORMED', `authorization scheme must be "Bearer", got ${JSON.stringify(scheme.slice(0, 20))}`);
  }
  const token = value.slice(space + 1);
  if (space < 0 || token.length === 0) throw new CaAuthenticationError('CA_AUTH_ERR_MALFORMED', 'authorization header has an empty bearer token');
  if (!B64TOKEN_RE.test(token)) {
    throw new CaAuthenticationError('CA_AUTH_ERR_MALFORMED', 'bearer token holds characters outside the RFC 6750 token alphabet');
  }
  return token;
}

/** A workload that may obtain its own identity only. */
export interface StaticWorkloadCaller {
  readonly identity: Identity;
}

/** A node proxy (ztunnel): may impersonate whatever `mayImpersonate` allows, and optionally has its own identity. */
export interface StaticNodeCaller {
  readonly node: string;
  readonly identity?: Identity;
  readonly mayImpersonate: (identity: Identity) => boolean | Promise<boolean>;
}

export type StaticCaller = StaticWorkloadCaller | StaticNodeCaller;

/**
 * A fixed token table, for the local control plane, demos and tests. Tokens are kept only as SHA-256
 * digests: a heap dump does not reveal them, and lookup time does not depend on how much of a guessed
 * token matches a real one.
 */
export class StaticTokenAuthenticator implements Authenticator {
  readonly #byDigest = new Map<string, Caller>();

  constructor(entries: Iterable<readonly [token: string, caller: StaticCaller]>) {
    for (const [token, spec] of entries) {
      if (!B64TOKEN_RE.test(token)) throw new RangeError('StaticTokenAuthenticator: a token must be a non-empty RFC 6750 b64token');
      const digest = digestOf(token);
      if (this.#byDigest.has(digest)) throw new RangeError('StaticTokenAuthenticator: the same token is listed twice');
      this.#byDigest.set(digest, toCaller(spec));
    }
  }

  authenticate(bearerToken: string): Promise<Caller> {
    const caller = this.#byDigest.get(digestOf(bearerToken));
    return caller
      ? Promise.resolve(caller)
      : Promise.reject(new CaAuthenticationError('CA_AUTH_ERR_UNKNOWN_TOKEN', 'bearer token is not recognised'));
  }
}

function digestOf(token: string): string {
  return createHash('sha256').update(token).digest('base64');
}

function toCaller(spec: StaticCaller): Caller {
  if ('node' in spec) {
    if (spec.node.length === 0) throw new RangeError('StaticTokenAuthenticator: node name is empty');
    const predicate = spec.mayImpersonate;
    return Object.freeze({
      name: `node/${spec.node}`,
      identities: spec.identity ? [spec.identity] : [],
      mayImpersonate: (identity: Identity) => predicate(identity),
    });
  }
  return Object.freeze({ name: spec.identity.uri, identities: [spec.identity] });
}
