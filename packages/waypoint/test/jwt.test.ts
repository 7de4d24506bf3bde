import test, { type ExecutionContext } from 'ava';
import { base64url, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import type * as envoy from '../src/config/envoy-types.js';
import { FieldError } from '../src/config/errors.js';
import type { JwtAuthenticator, JwtOutcome, RequestAttributes } from '../src/config/types.js';
import { compileJwtAuthentication, NO_JWT } from '../src/policy/jwt.js';
import { roundTrip, T } from './support/envoy.js';

const ISSUER = 'https://issuer.example';
const NOW_S = 1_800_000_000;

interface Keys {
  readonly rsa: { privateKey: CryptoKey; jwk: JWK };
  readonly ec: { privateKey: CryptoKey; jwk: JWK };
  readonly other: { privateKey: CryptoKey; jwk: JWK };
}

async function keyPair(alg: string, kid: string): Promise<{ privateKey: CryptoKey; jwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg } };
}

let keys: Keys;
test.before(async () => {
  keys = { rsa: await keyPair('RS256', 'rsa-1'), ec: await keyPair('ES256', 'ec-1'), other: await keyPair('RS256', 'rsa-1') };
});

function jwks(...jwk: JWK[]): string {
  return JSON.stringify({ keys: jwk });
}

function config(providers: Record<string, object>, requires: object = { requires_any: { requirements: [...Object.keys(providers).map((p) => ({ provider_name: p })), { allow_missing: {} }] } }): envoy.JwtAuthentication {
  return roundTrip<envoy.JwtAuthentication>(T.jwt, { providers, rules: [{ match: { prefix: '/' }, requires }] });
}

function provider(extra: object = {}): object {
  return { issuer: ISSUER, audiences: ['web'], local_jwks: { inline_string: jwks(keys.rsa.jwk, keys.ec.jwk) }, ...extra };
}

let clock = NOW_S * 1000;
const now = (): number => clock;

function authenticator(c: envoy.JwtAuthentication = config({ origins: provider() })): JwtAuthenticator {
  return compileJwtAuthentication(c, { now });
}

async function mint(options: { key?: CryptoKey; alg?: string; kid?: string | undefined; claims?: Record<string, unknown>; iss?: string; aud?: string | string[]; exp?: number; nbf?: number } = {}): Promise<string> {
  const jwt = new SignJWT({ sub: 'alice', ...options.claims })
    .setProtectedHeader({ alg: options.alg ?? 'RS256', ...('kid' in options ? (options.kid === undefined ? {} : { kid: options.kid }) : { kid: 'rsa-1' }) })
    .setIssuer(options.iss ?? ISSUER)
    .setAudience(options.aud ?? 'web')
    .setIssuedAt(NOW_S)
    .setExpirationTime(options.exp ?? NOW_S + 3600);
  if (options.nbf !== undefined) jwt.setNotBefore(options.nbf);
  return jwt.sign(options.key ?? keys.rsa.privateKey);
}

function req(headers: Record<string, string[]> = {}, query = ''): RequestAttributes {
  return { method: 'GET', path: '/', query, host: 'web', headers: new Map(Object.entries(headers)), scheme: 'http' };
}

const bearer = (token: string): RequestAttributes => req({ authorization: [`Bearer ${token}`] });

async function failsWith(t: ExecutionContext, a: JwtAuthenticator, request: RequestAttributes, reason: RegExp): Promise<void> {
  const outcome = await a.authenticate(request);
  t.is(outcome.kind, 'failed');
  t.regex((outcome as Extract<JwtOutcome, { kind: 'failed' }>).reason, reason);
}

test.beforeEach(() => {
  clock = NOW_S * 1000;
});

test.serial('a valid RS256 token is verified: principal iss/sub, claims, provider; the token header is stripped', async (t) => {
  const a = authenticator();
  t.false(a.empty);
  t.deepEqual(a.stripHeaders, ['authorization']);
  const outcome = await a.authenticate(bearer(await mint({ claims: { groups: ['admin'] } })));
  if (outcome.kind !== 'verified') return t.fail(JSON.stringify(outcome));
  t.is(outcome.auth.principal, `${ISSUER}/alice`);
  t.is(outcome.auth.provider, 'origins');
  t.deepEqual(outcome.auth.claims['groups'], ['admin']);
  t.is(outcome.auth.claims['aud'], 'web');
  t.true(Object.isFrozen(outcome.auth.claims) && Object.isFrozen(outcome.auth.claims['groups']));
});

test.serial('ES256 tokens verify; a token without kid is tried against every key of its algorithm', async (t) => {
  const a = authenticator();
  t.is((await a.authenticate(bearer(await mint({ key: keys.ec.privateKey, alg: 'ES256', kid: 'ec-1' })))).kind, 'verified');
  t.is((await a.authenticate(bearer(await mint({ key: keys.ec.privateKey, alg: 'ES256', kid: undefined })))).kind, 'verified');
  t.is((await a.authenticate(bearer(await mint({ kid: undefined })))).kind, 'verified');
});

test.serial('no token is missing (allow_missing); without allow_missing it fails', async (t) => {
  t.deepEqual(await authenticator().authenticate(req()), { kind: 'missing' });
  // A header that carries another scheme holds no bearer token.
  t.deepEqual(await authenticator().authenticate(req({ authorization: ['Basic abc'] })), { kind: 'missing' });
  const required = authenticator(config({ origins: provider() }, { provider_name: 'origins' }));
  await failsWith(t, required, req(), /^Jwt is missing$/);
  t.is((await required.authenticate(bearer(await mint()))).kind, 'verified');
});

test.serial('each failure kind has its reason', async (t) => {
  const a = authenticator();
  await failsWith(t, a, bearer(await mint({ key: keys.other.privateKey })), /^Jwt verification fails/);
  await failsWith(t, a, bearer(await mint({ exp: NOW_S - 61 })), /^Jwt is expired$/);
  await failsWith(t, a, bearer(await mint({ nbf: NOW_S + 61 })), /^Jwt is not yet valid$/);
  await failsWith(t, a, bearer(await mint({ iss: 'https://evil.example' })), /^Jwt issuer "https:\/\/evil.example" is not configured$/);
  await failsWith(t, a, bearer(await mint({ aud: 'other' })), /^Audiences in Jwt are not allowed$/);
  await failsWith(t, a, bearer('not.a.jwt'), /^Jwt is malformed/);
  await failsWith(t, a, bearer('abc'), /^Jwt is malformed/);
  await failsWith(t, a, bearer(await mint({ kid: 'unknown' })), /^Jwks has no key matching kid "unknown" and alg RS256$/);
  await failsWith(t, a, bearer(await mint({ key: keys.rsa.privateKey, alg: 'RS256', kid: 'ec-1' })), /no key matching kid "ec-1"/);
  await failsWith(t, a, req({ authorization: [`Bearer ${await mint()}`, `Bearer ${await mint({ claims: { sub: 'bob' } })}`] }), /several tokens/);
});

test.serial('clock skew is 60 s by default and configurable', async (t) => {
  const a = authenticator();
  t.is((await a.authenticate(bearer(await mint({ exp: NOW_S - 59 })))).kind, 'verified');
  t.is((await a.authenticate(bearer(await mint({ nbf: NOW_S + 59 })))).kind, 'verified');
  const strict = authenticator(config({ origins: provider({ clock_skew_seconds: 0 }) }));
  await failsWith(t, strict, bearer(await mint({ exp: NOW_S - 1 })), /expired/);
});

test.serial('alg none and HMAC tokens are refused', async (t) => {
  const a = authenticator();
  const payload = base64url.encode(JSON.stringify({ iss: ISSUER, sub: 'alice', aud: 'web', exp: NOW_S + 60 }));
  await failsWith(t, a, bearer(`${base64url.encode(JSON.stringify({ alg: 'none' }))}.${payload}.`), /algorithm "none" is not supported/);
  const hs = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' }).setIssuer(ISSUER).setAudience('web').sign(new TextEncoder().encode('x'.repeat(32)));
  await failsWith(t, a, bearer(hs), /algorithm "HS256" is not supported/);
  // A well-formed token whose signature is garbage.
  const forged = (await mint()).split('.').slice(0, 2).join('.') + '.' + base64url.encode('garbage-signature');
  await failsWith(t, a, bearer(forged), /verification fails/);
});

test.serial('verified tokens are cached by their text; a cached token still expires', async (t) => {
  const a = authenticator();
  const token = await mint({ exp: NOW_S + 10 });
  const first = await a.authenticate(bearer(token));
  const second = await a.authenticate(bearer(token));
  t.is(first.kind, 'verified');
  t.is((second as Extract<JwtOutcome, { kind: 'verified' }>).auth, (first as Extract<JwtOutcome, { kind: 'verified' }>).auth, 'the same verified result');
  clock = (NOW_S + 71) * 1000;
  await failsWith(t, a, bearer(token), /^Jwt is expired$/);
  clock = NOW_S * 1000;
  const early = await mint({ nbf: NOW_S + 30 });
  t.is((await a.authenticate(bearer(early))).kind, 'verified');
  clock = (NOW_S - 100) * 1000;
  await failsWith(t, a, bearer(early), /^Jwt is not yet valid$/);
});

test.serial('tokens from configured headers with prefixes, query parameters and cookies; forward keeps the header', async (t) => {
  const a = authenticator(config({ origins: provider({ from_headers: [{ name: 'X-Jwt', value_prefix: 'Token ' }], from_params: ['jwt'], from_cookies: ['session'], forward: true }) }));
  t.deepEqual(a.stripHeaders, []);
  const token = await mint();
  t.is((await a.authenticate(req({ 'x-jwt': [`token ${token}`] }))).kind, 'verified', 'the prefix compares case-insensitively');
  t.is((await a.authenticate(req({}, `a=1&jwt=${token}`))).kind, 'verified');
  t.is((await a.authenticate(req({ cookie: [`a=b; session=${token}`] }))).kind, 'verified');
  t.deepEqual(await a.authenticate(req({ authorization: [`Bearer ${token}`] })), { kind: 'missing' }, 'the default locations are not used when others are configured');
  t.deepEqual(await a.authenticate(req({ 'x-jwt': [token] })), { kind: 'missing' }, 'without the prefix the header holds no token');
  const same = await a.authenticate(req({ 'x-jwt': [`Token ${token}`], cookie: [`session=${token}`] }));
  t.is(same.kind, 'verified', 'the same token in two places is one token');
  const defaults = authenticator();
  t.is((await defaults.authenticate(req({}, `access_token=${token}`))).kind, 'verified', "Envoy's default access_token parameter");
});

test.serial('several providers: the token goes to the one of its issuer', async (t) => {
  const second = await keyPair('ES256', 'k2');
  const a = authenticator(config({ first: provider(), second: provider({ issuer: 'https://second.example', audiences: [], local_jwks: { inline_string: jwks(second.jwk) } }) }));
  const outcome = await a.authenticate(bearer(await mint({ key: second.privateKey, alg: 'ES256', kid: 'k2', iss: 'https://second.example', aud: 'anything' })));
  t.is(outcome.kind === 'verified' ? outcome.auth.provider : outcome.kind, 'second');
  const anyIssuer = authenticator(config({ any: provider({ issuer: '' }) }));
  t.is((await anyIssuer.authenticate(bearer(await mint({ iss: 'https://whoever' })))).kind, 'verified');
});

test.serial('an empty configuration authenticates nothing', async (t) => {
  const a = compileJwtAuthentication(roundTrip(T.jwt, {}));
  t.is(a, NO_JWT);
  t.true(a.empty);
  t.deepEqual(await a.authenticate(bearer('x')), { kind: 'missing' });
});

test('JWT configuration rejections name the field', (t) => {
  const r = (c: object, path: string, detail: RegExp): void => {
    const err = t.throws(() => compileJwtAuthentication(roundTrip(T.jwt, c)), { instanceOf: FieldError });
    t.is(err?.path, path);
    t.regex(err?.detail ?? '', detail);
  };
  const rules = [{ match: { prefix: '/' }, requires: { provider_name: 'p' } }];
  const p = (extra: object) => ({ providers: { p: { issuer: ISSUER, local_jwks: { inline_string: jwks(keys.rsa.jwk) }, ...extra } }, rules });
  r({ providers: { p: { issuer: ISSUER } }, rules }, 'providers["p"].local_jwks', /is required/);
  r({ providers: { p: { issuer: ISSUER, remote_jwks: { http_uri: { uri: 'https://x' } } } }, rules }, 'providers["p"].remote_jwks', /inline the keys/);
  r(p({ local_jwks: { filename: '/jwks.json' } }), 'providers["p"].local_jwks.filename', /use inline_string/);
  r(p({ local_jwks: { inline_string: '{' } }), 'providers["p"].local_jwks.inline_string', /not JSON/);
  r(p({ local_jwks: { inline_string: '{"keys": 1}' } }), 'providers["p"].local_jwks.inline_string', /not a JWKS/);
  r(p({ local_jwks: { inline_string: '{"keys": []}' } }), 'providers["p"].local_jwks.inline_string.keys', /is empty/);
  r(p({ local_jwks: { inline_string: '{"keys": [1]}' } }), 'providers["p"].local_jwks.inline_string.keys[0]', /not an object/);
  r(p({ local_jwks: { inline_string: jwks({ kty: 'oct', k: 'c2VjcmV0' }) } }), 'providers["p"].local_jwks.inline_string.keys[0].kty', /symmetric keys/);
  r(p({ local_jwks: { inline_string: jwks({ kty: 'XYZ' }) } }), 'providers["p"].local_jwks.inline_string.keys[0].kty', /unsupported key type/);
  r(p({ local_jwks: { inline_string: jwks({ ...keys.ec.jwk, crv: 'P-192' }) } }), 'providers["p"].local_jwks.inline_string.keys[0].crv', /unsupported curve/);
  r(p({ local_jwks: { inline_string: jwks({ kty: 'OKP', crv: 'X25519', x: 'abc' }) } }), 'providers["p"].local_jwks.inline_string.keys[0].crv', /Ed25519/);
  r(p({ local_jwks: { inline_string: jwks({ ...keys.rsa.jwk, alg: 'ES256' }) } }), 'providers["p"].local_jwks.inline_string.keys[0].alg', /not an algorithm for this key/);
  r(p({ local_jwks: { inline_string: jwks({ ...keys.rsa.jwk, use: 'enc' }) } }), 'providers["p"].local_jwks.inline_string.keys[0].use', /not "sig"/);
  r(p({ local_jwks: { inline_string: jwks({ ...keys.rsa.jwk, kid: 7 } as unknown as JWK) } }), 'providers["p"].local_jwks.inline_string.keys[0].kid', /not a string/);
  r(p({ local_jwks: { inline_string: jwks({ kty: 'RSA', n: 'abc', e: 'AQAB' }) } }), 'providers["p"].local_jwks.inline_string.keys[0]', /too weak/);
  r(p({ local_jwks: { inline_string: jwks({ kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA' }) } }), 'providers["p"].local_jwks.inline_string.keys[0]', /cannot import the key/);
  r(p({ forward_payload_header: 'x-payload' }), 'providers["p"].forward_payload_header', /not supported/);
  r(p({ claim_to_headers: [{ header_name: 'x', claim_name: 'sub' }] }), 'providers["p"].claim_to_headers', /not supported/);
  r(p({ from_headers: [{ name: '' }] }), 'providers["p"].from_headers[0].name', /is empty/);
  r(p({ from_params: [''] }), 'providers["p"].from_params[0]', /is empty/);
  r(p({ from_cookies: [''] }), 'providers["p"].from_cookies[0]', /is empty/);
  r({ providers: p({}).providers }, 'rules', /exactly one rule/);
  r({ providers: p({}).providers, rules: [{ match: { prefix: '/api' }, requires: { provider_name: 'p' } }] }, 'rules[0].match', /prefix "\/"/);
  r({ providers: p({}).providers, rules: [{ match: { prefix: '/' } }] }, 'rules[0].requires', /is required/);
  r({ providers: p({}).providers, rules: [{ match: { prefix: '/' }, requires: { provider_name: 'q' } }] }, 'rules[0].requires.provider_name', /names no provider: "q"/);
  r({ providers: p({}).providers, rules: [{ match: { prefix: '/' }, requires: { allow_missing_or_failed: {} } }] }, 'rules[0].requires', /unsupported requirement "allow_missing_or_failed"/);
  r({ providers: p({}).providers, rules: [{ match: { prefix: '/' }, requires: { requires_any: { requirements: [{ allow_missing: {} }] } } }] }, 'rules[0].requires.requires_any', /names no provider/);
  r(
    { providers: p({}).providers, rules: [{ match: { prefix: '/' }, requires: { requires_any: { requirements: [{ provider_name: 'p' }, { requires_all: { requirements: [] } }] } } }] },
    'rules[0].requires.requires_any.requirements[1]',
    /unsupported requirement "requires_all"/,
  );
  r({ rules }, 'rules', /no providers to require/);
  r({ providers: p({}).providers, rules, requirement_map: { a: { provider_name: 'p' } } }, 'requirement_map', /not supported/);
});
