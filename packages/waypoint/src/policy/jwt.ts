/**
 * envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication → `JwtAuthenticator`, with Istio's
 * RequestAuthentication semantics: no token is fine (`allow_missing`: policy may still demand a
 * principal), a token that fails is refused (401), several different tokens are refused (which one
 * would policy see?).
 *
 * Verification is `jose` (`jwtVerify`): signature with the provider's inline JWKS (imported once at
 * compile time), `exp`/`nbf` with Envoy's 60 s clock skew, `iss`, `aud`. Only asymmetric algorithms are
 * accepted; `none` never. Verified tokens are cached by their text (bounded, like Envoy's jwt_cache) so
 * a client reusing its token pays for the signature once; a cache hit still re-checks `exp`/`nbf`.
 */
import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { JwtAuthenticator, JwtOutcome, RequestAttributes, RequestAuthentication } from '../config/types.js';
import type * as envoy from '../config/envoy-types.js';
import { invalid, join } from '../config/errors.js';
import { headerName } from '../config/request-matchers.js';
import { parseQuery } from '../route/select.js';
import { list, refuseFields } from '../config/values.js';
import { compileJwks, JWT_ALGORITHMS, type JwksKey, type JwtAlgorithm } from './jwks.js';

export const JWT_AUTHN_TYPE = 'envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication';
/** Envoy's default allowed clock skew for `exp` and `nbf`. */
export const DEFAULT_CLOCK_SKEW_SECONDS = 60;
/** Verified tokens remembered (Envoy's jwt_cache default size is 100). */
export const JWT_CACHE_ENTRIES = 100;

export interface JwtOptions {
  /** Milliseconds since the epoch; a fake clock in tests. */
  readonly now?: () => number;
}

interface TokenLocation {
  readonly kind: 'header' | 'param' | 'cookie';
  readonly name: string;
  /** For headers: the text before the token (`Bearer `), compared case-insensitively. */
  readonly prefix: string;
}

interface Provider {
  readonly name: string;
  /** '' accepts any issuer (Envoy: issuer unset). */
  readonly issuer: string;
  readonly audiences: readonly string[];
  readonly keys: readonly JwksKey[];
  readonly locations: readonly TokenLocation[];
  readonly forward: boolean;
  readonly clockSkewSeconds: number;
  readonly requireExpiration: boolean;
}

interface CachedToken {
  readonly auth: RequestAuthentication;
  readonly exp: number | undefined;
  readonly nbf: number | undefined;
  readonly skew: number;
}

/** Envoy's default locations: `Authorization: Bearer <token>`, then the `access_token` query parameter. */
const DEFAULT_LOCATIONS: readonly TokenLocation[] = Object.freeze([
  Object.freeze({ kind: 'header', name: 'authorization', prefix: 'Bearer ' }),
  Object.freeze({ kind: 'param', name: 'access_token', prefix: '' }),
] as const);

const MISSING: JwtOutcome = Object.freeze({ kind: 'missing' });

function failed(reason: string): JwtOutcome {
  return { kind: 'failed', reason };
}

function compileProvider(name: string, p: envoy.JwtProvider, at: string): Provider {
  refuseFields(p, ['subjects', 'forward_payload_header', 'max_lifetime'], at);
  if (list(p.claim_to_headers).length > 0) invalid(join(at, 'claim_to_headers'), 'is not supported by the waypoint');
  // Fetching keys would make verification depend on a network fetch, and a failed fetch must never fall
  // back to other keys (CVE-2026-31837): the control plane inlines the keys.
  if (p.remote_jwks !== undefined) invalid(join(at, 'remote_jwks'), 'is not supported (inline the keys in local_jwks)');
  if (p.local_jwks === undefined) invalid(join(at, 'local_jwks'), 'is required');
  refuseFields(p.local_jwks, ['filename', 'environment_variable'], join(at, 'local_jwks'), 'is not supported (use inline_string)');
  const text = p.local_jwks.inline_string ?? p.local_jwks.inline_bytes?.toString('utf8') ?? '';
  const keys = compileJwks(text, join(at, p.local_jwks.inline_string !== undefined ? 'local_jwks.inline_string' : 'local_jwks.inline_bytes'));
  const locations: TokenLocation[] = [];
  for (const [i, h] of list(p.from_headers).entries()) {
    locations.push(Object.freeze({ kind: 'header', name: headerName(h.name, join(at, `from_headers[${i}].name`)), prefix: h.value_prefix ?? '' }));
  }
  for (const [i, param] of list(p.from_params).entries()) {
    if (param === '') invalid(join(at, `from_params[${i}]`), 'is empty');
    locations.push(Object.freeze({ kind: 'param', name: param, prefix: '' }));
  }
  for (const [i, cookie] of list(p.from_cookies).entries()) {
    if (cookie === '') invalid(join(at, `from_cookies[${i}]`), 'is empty');
    locations.push(Object.freeze({ kind: 'cookie', name: cookie, prefix: '' }));
  }
  const skew = p.clock_skew_seconds ?? DEFAULT_CLOCK_SKEW_SECONDS;
  return Object.freeze({
    name,
    issuer: p.issuer ?? '',
    audiences: Object.freeze([...list(p.audiences)]),
    keys,
    locations: locations.length === 0 ? DEFAULT_LOCATIONS : Object.freeze(locations),
    forward: p.forward === true,
    clockSkewSeconds: skew,
    requireExpiration: p.require_expiration === true,
  });
}

/** The providers a request is checked against and whether no token is acceptable. */
function compileRequirement(config: envoy.JwtAuthentication, providers: ReadonlyMap<string, Provider>): { providers: readonly Provider[]; allowMissing: boolean } {
  const rules = list(config.rules);
  if (rules.length !== 1) invalid('rules', `must hold exactly one rule (matching prefix "/"), has ${rules.length}`);
  const rule = rules[0]!;
  if (rule.match?.path_specifier !== 'prefix' || rule.match.prefix !== '/') invalid('rules[0].match', 'must be prefix "/" (per-path requirements are not supported)');
  const requires = rule.requires;
  if (requires === undefined) invalid('rules[0].requires', 'is required');
  const named = (n: string | undefined, at: string): Provider => {
    const provider = providers.get(n ?? '');
    if (provider === undefined) invalid(at, `names no provider: ${JSON.stringify(n ?? '')}`);
    return provider;
  };
  switch (requires.requires_type) {
    case 'provider_name':
      return { providers: [named(requires.provider_name, 'rules[0].requires.provider_name')], allowMissing: false };
    case 'requires_any': {
      const chosen: Provider[] = [];
      let allowMissing = false;
      for (const [i, r] of list(requires.requires_any?.requirements).entries()) {
        const at = `rules[0].requires.requires_any.requirements[${i}]`;
        if (r.requires_type === 'provider_name') chosen.push(named(r.provider_name, join(at, 'provider_name')));
        else if (r.requires_type === 'allow_missing') allowMissing = true;
        else invalid(at, `unsupported requirement ${JSON.stringify(r.requires_type ?? 'none')} (supported: provider_name, allow_missing)`);
      }
      if (chosen.length === 0) invalid('rules[0].requires.requires_any', 'names no provider');
      return { providers: chosen, allowMissing };
    }
    case undefined:
    default:
      return invalid('rules[0].requires', `unsupported requirement ${JSON.stringify(requires.requires_type ?? 'none')} (supported: provider_name, requires_any)`);
  }
}

/** Every cookie value named `name` in the request's Cookie headers. */
function cookieValues(request: RequestAttributes, name: string): string[] {
  const out: string[] = [];
  for (const header of request.headers.get('cookie') ?? []) {
    for (const pair of header.split(';')) {
      const eq = pair.indexOf('=');
      if (eq !== -1 && pair.slice(0, eq).trim() === name) out.push(pair.slice(eq + 1).trim());
    }
  }
  return out;
}

class Authenticator implements JwtAuthenticator {
  readonly #providers: readonly Provider[];
  readonly #allowMissing: boolean;
  readonly #now: () => number;
  readonly #cache = new Map<string, CachedToken>();
  readonly #usesParams: boolean;
  readonly stripHeaders: readonly string[];
  readonly empty: boolean;

  constructor(providers: readonly Provider[], allowMissing: boolean, now: () => number) {
    this.#providers = providers;
    this.#allowMissing = allowMissing;
    this.#now = now;
    this.#usesParams = providers.some((p) => p.locations.some((l) => l.kind === 'param'));
    const strip = new Set<string>();
    for (const p of providers) if (!p.forward) for (const l of p.locations) if (l.kind === 'header') strip.add(l.name);
    this.stripHeaders = Object.freeze([...strip]);
    this.empty = providers.length === 0;
    Object.freeze(this);
  }

  async authenticate(request: RequestAttributes): Promise<JwtOutcome> {
    if (this.empty) return MISSING;
    const found = this.#extract(request);
    if (typeof found === 'string') return failed(found);
    if (found === undefined) return this.#allowMissing ? MISSING : failed('Jwt is missing');
    const { token, providers } = found;

    const cached = this.#cache.get(token);
    if (cached !== undefined) {
      const problem = this.#timeProblem(cached.exp, cached.nbf, cached.skew);
      if (problem === undefined) return { kind: 'verified', auth: cached.auth };
      this.#cache.delete(token);
      return failed(problem);
    }

    let header: { alg?: string | undefined; kid?: string | undefined };
    let payload: JWTPayload;
    try {
      header = decodeProtectedHeader(token);
      payload = decodeJwt(token);
    } catch (err) {
      return failed(`Jwt is malformed: ${err instanceof Error ? err.message : String(err)}`);
    }
    const alg = header.alg ?? '';
    if (!(JWT_ALGORITHMS as readonly string[]).includes(alg)) return failed(`Jwt algorithm ${JSON.stringify(alg)} is not supported`);
    const iss = typeof payload.iss === 'string' ? payload.iss : '';
    const provider = providers.find((p) => p.issuer === '' || p.issuer === iss);
    if (provider === undefined) return failed(`Jwt issuer ${JSON.stringify(iss)} is not configured`);
    const candidates = provider.keys.filter((k) => (header.kid === undefined || k.kid === header.kid) && k.algorithms.includes(alg as JwtAlgorithm));
    if (candidates.length === 0) return failed(`Jwks has no key matching kid ${JSON.stringify(header.kid ?? '')} and alg ${alg}`);
    return this.#verify(token, provider, candidates, alg as JwtAlgorithm);
  }

  async #verify(token: string, provider: Provider, candidates: readonly JwksKey[], alg: JwtAlgorithm): Promise<JwtOutcome> {
    let lastSignatureError = '';
    for (const candidate of candidates) {
      try {
        const { payload } = await jwtVerify(token, candidate.key, {
          algorithms: [alg],
          ...(provider.issuer === '' ? {} : { issuer: provider.issuer }),
          ...(provider.audiences.length === 0 ? {} : { audience: [...provider.audiences] }),
          clockTolerance: provider.clockSkewSeconds,
          currentDate: new Date(this.#now()),
          ...(provider.requireExpiration ? { requiredClaims: ['exp'] } : {}),
        });
        return { kind: 'verified', auth: this.#remember(token, provider, payload) };
      } catch (err) {
        if (err instanceof joseErrors.JWSSignatureVerificationFailed) {
          // Without a kid several keys may fit; only when none verifies is the signature bad.
          lastSignatureError = err.message;
          continue;
        }
        return failed(describeJoseError(err));
      }
    }
    return failed(`Jwt verification fails: ${lastSignatureError}`);
  }

  #remember(token: string, provider: Provider, payload: JWTPayload): RequestAuthentication {
    const claims = deepFreeze({ ...payload });
    const auth: RequestAuthentication = Object.freeze({ principal: `${payload.iss ?? ''}/${payload.sub ?? ''}`, claims, provider: provider.name });
    if (this.#cache.size >= JWT_CACHE_ENTRIES) {
      // Oldest first: a Map iterates in insertion order.
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    this.#cache.set(token, { auth, exp: payload.exp, nbf: payload.nbf, skew: provider.clockSkewSeconds });
    return auth;
  }

  #timeProblem(exp: number | undefined, nbf: number | undefined, skew: number): string | undefined {
    const now = this.#now() / 1000;
    if (exp !== undefined && now - skew >= exp) return 'Jwt is expired';
    if (nbf !== undefined && now + skew < nbf) return 'Jwt is not yet valid';
    return undefined;
  }

  /** The one token presented, which providers may verify it, or a reason (several tokens). */
  #extract(request: RequestAttributes): { token: string; providers: Provider[] } | string | undefined {
    let token: string | undefined;
    let providers: Provider[] = [];
    const query = this.#usesParams ? parseQuery(request.query) : undefined;
    for (const provider of this.#providers) {
      for (const location of provider.locations) {
        let values: readonly string[];
        if (location.kind === 'header') values = request.headers.get(location.name) ?? [];
        else if (location.kind === 'param') values = query?.get(location.name) ?? [];
        else values = cookieValues(request, location.name);
        for (const raw of values) {
          let value = raw;
          if (location.prefix !== '') {
            // A header carrying something else (`Authorization: Basic …`) holds no token for this provider.
            if (value.length < location.prefix.length || value.slice(0, location.prefix.length).toLowerCase() !== location.prefix.toLowerCase()) continue;
            value = value.slice(location.prefix.length);
          }
          value = value.trim();
          if (value === '') continue;
          if (token === undefined) {
            token = value;
            providers = [provider];
          } else if (token !== value) {
            return 'several tokens were presented (only one is accepted)';
          } else if (!providers.includes(provider)) {
            providers.push(provider);
          }
        }
      }
    }
    return token === undefined ? undefined : { token, providers };
  }
}

function describeJoseError(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'Jwt is expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'nbf':
        return 'Jwt is not yet valid';
      case 'iss':
        return 'Jwt issuer is not allowed';
      case 'aud':
        return 'Audiences in Jwt are not allowed';
      default:
        return `Jwt claim ${JSON.stringify(err.claim)} is invalid: ${err.reason}`;
    }
  }
  if (err instanceof joseErrors.JWTInvalid || err instanceof joseErrors.JWSInvalid) return `Jwt is malformed: ${err.message}`;
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return `Jwt algorithm is not allowed: ${err.message}`;
  return `Jwt verification fails: ${err instanceof Error ? err.message : String(err)}`;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** An authenticator with no providers: every request is `missing`. */
export const NO_JWT: JwtAuthenticator = new Authenticator([], true, Date.now);

/**
 * Compiles a JwtAuthentication. Field paths in errors are relative to it (the listener compiler rebases
 * them onto the filter's `typed_config`). Throws `FieldError`.
 */
export function compileJwtAuthentication(config: envoy.JwtAuthentication, options: JwtOptions = {}): JwtAuthenticator {
  refuseFields(config, ['filter_state_rules'], '');
  if (Object.keys(config.requirement_map ?? {}).length > 0) invalid('requirement_map', 'is not supported by the waypoint');
  const providers = new Map<string, Provider>();
  for (const name of Object.keys(config.providers ?? {}).sort()) {
    if (name === '') invalid('providers', 'has a provider with an empty name');
    providers.set(name, compileProvider(name, config.providers![name]!, `providers[${JSON.stringify(name)}]`));
  }
  if (providers.size === 0) {
    if (list(config.rules).length > 0) invalid('rules', 'there are no providers to require');
    return NO_JWT;
  }
  const requirement = compileRequirement(config, providers);
  return new Authenticator(requirement.providers, requirement.allowMissing, options.now ?? Date.now);
}
