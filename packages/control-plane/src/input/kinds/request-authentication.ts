/**
 * security.istio.io RequestAuthentication: which JWT issuers a waypoint accepts, with their keys inline.
 *
 * Nothing outside the mesh is reachable from here, so `jwksUri` is refused (with the reason) rather than
 * fetched; and a failed fetch must never fall back to other keys (CVE-2026-31837). Fields that change
 * what is forwarded upstream (`outputPayloadToHeader`, `outputClaimToHeaders`) or where tokens are read
 * (`fromCookies`) are not implemented by the waypoint and are refused, not ignored: a policy that reads a
 * token the waypoint does not see would quietly fail open for `allow_missing`.
 */
import type { Field } from '../field.js';
import { checkJwks } from '../jwks.js';
import { checkDns1123Subdomain } from '../names.js';
import type { JwtRule, RequestAuthenticationObject } from '../objects.js';
import type { KindDecoder } from '../registry.js';
import { checkHeaderName } from './gateway-api-fields.js';
import { decodePolicyBinding } from './policy-binding.js';

const RULE_FIELDS = [
  'issuer',
  'audiences',
  'jwks',
  'jwksUri',
  'fromHeaders',
  'fromParams',
  'forwardOriginalToken',
  'outputPayloadToHeader',
  'outputClaimToHeaders',
  'fromCookies',
  'timeout',
];

export const requestAuthenticationDecoder: KindDecoder<RequestAuthenticationObject> = {
  kind: 'RequestAuthentication',
  apiVersions: ['security.istio.io/v1', 'security.istio.io/v1beta1'],
  namespaced: true,
  checkName: checkDns1123Subdomain,
  decode(doc, { apiVersion, metadata, source }) {
    const spec = doc.child('spec');
    spec.object();
    spec.onlyKeys(['selector', 'targetRef', 'targetRefs', 'jwtRules']);
    const binding = decodePolicyBinding(spec);
    const issuers = new Map<string, number>();
    const jwtRules: JwtRule[] = [];
    (spec.child('jwtRules').list() ?? []).forEach((item, index) => {
      const rule = decodeJwtRule(item);
      if (rule === undefined) return;
      const first = issuers.get(rule.issuer);
      if (first !== undefined) {
        item.child('issuer').error(`issuer ${JSON.stringify(rule.issuer)} is already configured by jwtRules[${first}]`);
        return;
      }
      issuers.set(rule.issuer, index);
      jwtRules.push(rule);
    });
    return {
      kind: 'RequestAuthentication',
      apiVersion,
      metadata,
      source,
      ...binding,
      jwtRules,
    };
  },
};

function decodeJwtRule(field: Field): JwtRule | undefined {
  field.object(true);
  field.onlyKeys(RULE_FIELDS);
  const issuer = field.child('issuer').string({ required: true });
  const audiences = field.child('audiences').stringList({ check: nonEmpty }) ?? [];
  if (field.child('jwksUri').present) {
    field.child('jwksUri').error('cannot be fetched: nothing outside the mesh is reachable from here; put the key set inline in jwks');
  }
  const jwks = field.child('jwks').string({ required: !field.child('jwksUri').present, check: (text) => prefixed(checkJwks(text)) });
  for (const key of ['outputPayloadToHeader', 'outputClaimToHeaders', 'fromCookies']) {
    if (field.child(key).present) field.child(key).error('is not supported by the waypoint');
  }
  if (field.child('timeout').present) field.child('timeout').warn('is ignored: it bounds a jwksUri fetch, and the keys are inline');
  const fromHeaders: { name: string; prefix?: string }[] = [];
  for (const item of field.child('fromHeaders').list() ?? []) {
    item.object(true);
    item.onlyKeys(['name', 'prefix']);
    const name = item.child('name').string({ required: true, check: checkHeaderName });
    const prefix = item.child('prefix').string();
    if (name !== undefined) fromHeaders.push({ name: name.toLowerCase(), ...(prefix !== undefined && prefix !== '' ? { prefix } : {}) });
  }
  const fromParams = field.child('fromParams').stringList({ check: nonEmpty }) ?? [];
  const forwardOriginalToken = field.child('forwardOriginalToken').boolean() ?? false;
  if (issuer === undefined || jwks === undefined) return undefined;
  return { issuer, audiences, jwks, fromHeaders, fromParams, forwardOriginalToken };
}

function nonEmpty(value: string): string | undefined {
  return value.length === 0 ? 'must not be empty' : undefined;
}

function prefixed(problem: string | undefined): string | undefined {
  return problem === undefined ? undefined : `the inline JWKS ${problem}`;
}
