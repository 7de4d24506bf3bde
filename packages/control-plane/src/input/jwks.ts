/**
 * Checking an inline JWKS (RFC 7517) before it reaches a waypoint: valid JSON, a `keys` list, and every
 * key importable by Node's crypto as the public key it claims to be. A key set the waypoint could not use
 * would make every token of that issuer fail with 401; a key set holding private material would spread a
 * signing key through the mesh configuration. Both are better refused where they are written.
 */
import { createPublicKey, type JsonWebKey } from 'node:crypto';

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth'];
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** A description of what is wrong with `text` as a JWKS, or undefined when every key is usable. */
export function checkJwks(text: string): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return `is not JSON: ${(err as Error).message}`;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return 'must be a JSON object with a "keys" list (a JWKS)';
  const keys = (doc as Record<string, unknown>)['keys'];
  if (!Array.isArray(keys)) return 'must have a "keys" list (a JWKS)';
  if (keys.length === 0) return 'has no keys: no token could ever be verified';
  for (const [i, key] of keys.entries()) {
    const problem = checkKey(key);
    if (problem !== undefined) return `keys[${i}] ${problem}`;
  }
  return undefined;
}

function checkKey(key: unknown): string | undefined {
  if (typeof key !== 'object' || key === null || Array.isArray(key)) return 'must be a JSON object';
  const jwk = key as Record<string, unknown>;
  const kty = jwk['kty'];
  if (typeof kty !== 'string') return 'has no "kty"';
  const secret = PRIVATE_MEMBERS.find((m) => m in jwk);
  if (secret !== undefined) return `holds private key material ("${secret}"); publish only the public key`;
  for (const member of ['kid', 'alg', 'use']) {
    if (member in jwk && typeof jwk[member] !== 'string') return `has a "${member}" that is not a string`;
  }
  if (jwk['use'] !== undefined && jwk['use'] !== 'sig') return `has "use": ${JSON.stringify(jwk['use'])}; tokens are verified with signing keys ("sig")`;
  if (kty === 'oct') {
    // A shared HMAC secret: nothing to import, but it must be there.
    return typeof jwk['k'] === 'string' && BASE64URL.test(jwk['k']) ? undefined : 'is an "oct" key without a base64url "k"';
  }
  if (kty !== 'RSA' && kty !== 'EC' && kty !== 'OKP') return `has "kty": ${JSON.stringify(kty)}; expected RSA, EC, OKP or oct`;
  try {
    createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  } catch (err) {
    return `is not a usable ${kty} public key: ${(err as Error).message}`;
  }
  return undefined;
}
