/**
 * RequestAuthentication: the decoder's checks (inline JWKS only, and a usable one), and the waypoint's
 * jwt_authn filter (providers by issuer, token locations, allow_missing).
 */
import { generateKeyPairSync } from 'node:crypto';
import test from 'ava';
import { checkJwks } from '../src/input/jwks.js';
import { defaultRegistry } from '../src/input/kinds/index.js';
import { parseFile } from '../src/input/parse-file.js';
import { httpChain, httpFilters, problems, requestAuthentication, service, waypointMesh } from './fixtures/waypoint-mesh.js';

const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const PUBLIC_JWK = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256', use: 'sig' };
const JWKS = JSON.stringify({ keys: [PUBLIC_JWK] });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' });

function rejections(spec: string): [string, string][] {
  const text = `apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: ra, namespace: shop}\nspec:\n${spec}\n`;
  const result = parseFile('ra.yaml', text, defaultRegistry());
  if (!result.ok) throw new Error('YAML did not parse');
  const errors = result.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0 && result.documents[0]?.object !== undefined) throw new Error('a document with errors was decoded');
  return errors.map((d) => [d.path, d.message]);
}

const TARGET = '  targetRefs: [{group: "", kind: Service, name: reviews}]';
const rule = (fields: string): string => `${TARGET}\n  jwtRules: [{issuer: iss, ${fields}}]`;

test('JWKS check: JSON with usable public keys only', (t) => {
  t.is(checkJwks(JWKS), undefined);
  t.is(checkJwks(JSON.stringify({ keys: [rsa, { kty: 'OKP', crv: 'Ed25519', x: generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x }] })), undefined);
  t.is(checkJwks('{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}'), undefined);
  t.regex(checkJwks('{not json') ?? '', /^is not JSON: /);
  t.is(checkJwks('[]'), 'must be a JSON object with a "keys" list (a JWKS)');
  t.is(checkJwks('{"key": []}'), 'must have a "keys" list (a JWKS)');
  t.is(checkJwks('{"keys": []}'), 'has no keys: no token could ever be verified');
  t.is(checkJwks('{"keys": [1]}'), 'keys[0] must be a JSON object');
  t.is(checkJwks('{"keys": [{}]}'), 'keys[0] has no "kty"');
  t.is(checkJwks(JSON.stringify({ keys: [privateKey.export({ format: 'jwk' })] })), 'keys[0] holds private key material ("d"); publish only the public key');
  t.is(checkJwks(JSON.stringify({ keys: [{ ...PUBLIC_JWK, use: 'enc' }] })), 'keys[0] has "use": "enc"; tokens are verified with signing keys ("sig")');
  t.is(checkJwks(JSON.stringify({ keys: [{ ...PUBLIC_JWK, kid: 7 }] })), 'keys[0] has a "kid" that is not a string');
  t.is(checkJwks('{"keys":[{"kty":"oct"}]}'), 'keys[0] is an "oct" key without a base64url "k"');
  t.is(checkJwks('{"keys":[{"kty":"DSA"}]}'), 'keys[0] has "kty": "DSA"; expected RSA, EC, OKP or oct');
  t.regex(checkJwks(JSON.stringify({ keys: [{ ...PUBLIC_JWK, x: 'AAAA' }] })) ?? '', /^keys\[0\] is not a usable EC public key: /);
});

test('decoder: jwksUri is refused (nothing outside is reachable), unsupported outputs are refused, issuers are unique', (t) => {
  t.deepEqual(rejections(rule('jwksUri: https://issuer.example/jwks')), [
    ['spec.jwtRules[0].jwksUri', 'cannot be fetched: nothing outside the mesh is reachable from here; put the key set inline in jwks'],
  ]);
  t.deepEqual(rejections(rule('')), [['spec.jwtRules[0].jwks', 'is required']]);
  t.deepEqual(rejections(rule("jwks: '{\"keys\": []}'")), [['spec.jwtRules[0].jwks', 'the inline JWKS has no keys: no token could ever be verified']]);
  t.deepEqual(rejections(rule(`jwks: '${JWKS}', outputPayloadToHeader: x-payload, fromCookies: [session]`)), [
    ['spec.jwtRules[0].outputPayloadToHeader', 'is not supported by the waypoint'],
    ['spec.jwtRules[0].fromCookies', 'is not supported by the waypoint'],
  ]);
  t.deepEqual(rejections(rule(`jwks: '${JWKS}', fromHeaders: [{name: "bad header"}], fromParams: [""]`)), [
    ['spec.jwtRules[0].fromHeaders[0].name', '"bad header" is not a valid HTTP header name'],
    ['spec.jwtRules[0].fromParams[0]', 'must not be empty'],
  ]);
  t.deepEqual(rejections(`${TARGET}\n  jwtRules: [{issuer: iss, jwks: '${JWKS}'}, {issuer: iss, jwks: '${JWKS}'}]`), [
    ['spec.jwtRules[1].issuer', 'issuer "iss" is already configured by jwtRules[0]'],
  ]);
  t.deepEqual(rejections(`  selector: {matchLabels: {app: a}}\n${TARGET}\n  jwtRules: []`), [
    ['spec.selector', 'cannot be set together with targetRefs: a policy binds either to workloads or to a waypoint target'],
  ]);
  t.deepEqual(rejections(`${TARGET}\n  jwtRule: []`), [['spec.jwtRule', 'unknown field; expected one of selector, targetRef, targetRefs, jwtRules']]);
  // A timeout only bounds a fetch: a warning, the document is applied.
  const warned = parseFile('w.yaml', `apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: w}\nspec:\n${rule(`jwks: '${JWKS}', timeout: 5s`)}\n`, defaultRegistry());
  t.true(warned.ok && warned.documents[0]?.object !== undefined);
  t.deepEqual(warned.diagnostics.map((d) => [d.severity, d.message]), [['warning', 'is ignored: it bounds a jwksUri fetch, and the keys are inline']]);
});

test('jwt_authn: one provider per issuer with its inline keys and token locations, any of them or none', (t) => {
  const mesh = waypointMesh(
    service('reviews', '10.96.0.10'),
    requestAuthentication(
      'ra',
      `${TARGET}
  jwtRules:
    - issuer: https://a.example
      audiences: [reviews, api]
      jwks: '${JWKS}'
      fromHeaders: [{name: X-Jwt, prefix: "Token "}]
      fromParams: [jwt]
      forwardOriginalToken: true
    - issuer: https://b.example
      jwks: '${JWKS}'`,
    ),
    requestAuthentication('second', `${TARGET}\n  jwtRules: [{issuer: https://a.example, jwks: '${JWKS}'}]`),
  );
  const [jwt] = httpFilters(mesh, httpChain('reviews'));
  t.is(jwt?.name, 'envoy.filters.http.jwt_authn');
  t.deepEqual(jwt?.config, {
    providers: {
      'https://a.example': {
        issuer: 'https://a.example',
        audiences: ['reviews', 'api'],
        local_jwks: { inline_string: JWKS },
        from_headers: [{ name: 'x-jwt', value_prefix: 'Token ' }],
        from_params: ['jwt'],
        forward: true,
      },
      'https://b.example': { issuer: 'https://b.example', local_jwks: { inline_string: JWKS } },
    },
    rules: [
      {
        match: { prefix: '/' },
        requires: { requires_any: { requirements: [{ provider_name: 'https://a.example' }, { provider_name: 'https://b.example' }, { allow_missing: {} }] } },
      },
    ],
  });
  t.deepEqual(problems(mesh), [
    [
      'spec.jwtRules[0].issuer',
      'issuer "https://a.example" is already configured for the same target by RequestAuthentication shop/ra; this rule is not used there',
    ],
  ]);
});

test('a RequestAuthentication without targetRefs applies to no waypoint, and says so', (t) => {
  const mesh = waypointMesh(service('reviews', '10.96.0.10'), requestAuthentication('ns-wide', `  jwtRules: [{issuer: iss, jwks: '${JWKS}'}]`));
  t.deepEqual(httpFilters(mesh, httpChain('reviews')).map((f) => f.name), ['envoy.filters.http.router']);
  t.deepEqual(problems(mesh), [
    ['spec', 'has no targetRefs: in ambient mode only a waypoint verifies tokens, and it applies RequestAuthentications bound to it with targetRefs; this one applies to nothing'],
  ]);
});
