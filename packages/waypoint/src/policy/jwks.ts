/**
 * A JSON Web Key Set from `local_jwks.inline_string`, imported once when the configuration is compiled:
 * a key that does not import, has an unusable type or algorithm, or is too weak makes the whole
 * configuration invalid (NACKed), instead of failing every request later. Keys are Node KeyObjects,
 * which `jose` verifies with directly.
 */
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { invalid, join } from '../config/errors.js';

/** Asymmetric signature algorithms the waypoint accepts. Never `none`, never HMAC (a shared secret in config). */
export const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

const RSA_ALGORITHMS: readonly JwtAlgorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const EC_ALGORITHMS: Readonly<Record<string, JwtAlgorithm>> = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' };
/** RFC 7518 §3.3: RSA keys of 2048 bits or more. */
const MIN_RSA_BITS = 2048;

export interface JwksKey {
  /** `kid`, or undefined when the key has none (it is then tried for any token). */
  readonly kid: string | undefined;
  /** The algorithms this key may verify (its `alg` if it names one, else every one its type allows). */
  readonly algorithms: readonly JwtAlgorithm[];
  readonly key: KeyObject;
}

function algorithmsFor(jwk: Record<string, unknown>, at: string): readonly JwtAlgorithm[] {
  const kty = jwk['kty'];
  let allowed: readonly JwtAlgorithm[];
  switch (kty) {
    case 'RSA':
      allowed = RSA_ALGORITHMS;
      break;
    case 'EC': {
      const alg = EC_ALGORITHMS[String(jwk['crv'])];
      if (alg === undefined) invalid(join(at, 'crv'), `unsupported curve ${JSON.stringify(jwk['crv'])} (supported: P-256, P-384, P-521)`);
      allowed = [alg];
      break;
    }
    case 'OKP':
      if (jwk['crv'] !== 'Ed25519') invalid(join(at, 'crv'), `unsupported curve ${JSON.stringify(jwk['crv'])} (supported: Ed25519)`);
      allowed = ['EdDSA'];
      break;
    case 'oct':
      return invalid(join(at, 'kty'), 'symmetric keys are not supported (a shared secret would sit in every waypoint configuration)');
    default:
      return invalid(join(at, 'kty'), `unsupported key type ${JSON.stringify(kty)} (supported: RSA, EC, OKP)`);
  }
  const alg = jwk['alg'];
  if (alg === undefined) return allowed;
  if (typeof alg !== 'string' || !(allowed as readonly string[]).includes(alg)) {
    invalid(join(at, 'alg'), `${JSON.stringify(alg)} is not an algorithm for this key (allowed: ${allowed.join(', ')})`);
  }
  return [alg as JwtAlgorithm];
}

/** Parses and imports a JWKS document at `at` (the DataSource field). Throws `FieldError`. */
export function compileJwks(text: string, at: string): readonly JwksKey[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return invalid(at, `not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as { keys?: unknown }).keys)) invalid(at, 'not a JWKS (an object with a "keys" array)');
  const keys = (doc as { keys: unknown[] }).keys;
  if (keys.length === 0) invalid(join(at, 'keys'), 'is empty');
  return Object.freeze(
    keys.map((raw, i) => {
      const where = join(at, `keys[${i}]`);
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) invalid(where, 'is not an object');
      const jwk = raw as Record<string, unknown>;
      if (jwk['use'] !== undefined && jwk['use'] !== 'sig') invalid(join(where, 'use'), `${JSON.stringify(jwk['use'])} is not "sig"`);
      const kid = jwk['kid'];
      if (kid !== undefined && typeof kid !== 'string') invalid(join(where, 'kid'), 'is not a string');
      const algorithms = algorithmsFor(jwk, where);
      let key: KeyObject;
      try {
        // createPublicKey derives the public half if a private JWK was pasted; only the public half is kept.
        key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
      } catch (err) {
        return invalid(where, `cannot import the key: ${err instanceof Error ? err.message : String(err)}`);
      }
      const bits = key.asymmetricKeyDetails?.modulusLength;
      if (jwk['kty'] === 'RSA' && (bits === undefined || bits < MIN_RSA_BITS)) invalid(where, `RSA key of ${bits ?? 0} bits is too weak (at least ${MIN_RSA_BITS})`);
      return Object.freeze({ kid, algorithms: Object.freeze(algorithms), key });
    }),
  );
}
