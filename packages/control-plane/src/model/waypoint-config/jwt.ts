/**
 * RequestAuthentication (bound to a waypoint with targetRefs) → Envoy `jwt_authn`, as Istio configures it:
 * one provider per issuer (named by the issuer), keys inline, tokens from `Authorization: Bearer` unless
 * `fromHeaders`/`fromParams` say otherwise, and one rule for every path that accepts a token from any
 * provider or none (`allow_missing`): no token passes on to policy, a bad token is refused with 401.
 * When two policies name the same issuer on one chain, the first (input order) is used and the other
 * reported: two key sets for one issuer would make the outcome depend on which is tried.
 */
import type { RequestAuthenticationObject } from '../../input/objects.js';
import type { ModelContext } from '../context.js';
import type { JwtAuthentication, JwtProvider } from './envoy-types.js';

export function jwtAuthentication(ctx: ModelContext, policies: readonly RequestAuthenticationObject[]): JwtAuthentication | undefined {
  const providers: Record<string, JwtProvider> = {};
  const owners = new Map<string, RequestAuthenticationObject>();
  for (const policy of policies) {
    policy.jwtRules.forEach((rule, index) => {
      const owner = owners.get(rule.issuer);
      if (owner !== undefined) {
        if (owner !== policy) {
          ctx.report(
            policy,
            ['spec', 'jwtRules', index, 'issuer'],
            `issuer ${JSON.stringify(rule.issuer)} is already configured for the same target by RequestAuthentication ${owner.metadata.namespace}/${owner.metadata.name}; this rule is not used there`,
          );
        }
        return;
      }
      owners.set(rule.issuer, policy);
      providers[rule.issuer] = {
        issuer: rule.issuer,
        ...(rule.audiences.length > 0 ? { audiences: rule.audiences } : {}),
        local_jwks: { inline_string: rule.jwks },
        ...(rule.fromHeaders.length > 0
          ? { from_headers: rule.fromHeaders.map((h) => ({ name: h.name, ...(h.prefix !== undefined ? { value_prefix: h.prefix } : {}) })) }
          : {}),
        ...(rule.fromParams.length > 0 ? { from_params: rule.fromParams } : {}),
        ...(rule.forwardOriginalToken ? { forward: true } : {}),
      };
    });
  }
  const names = Object.keys(providers);
  if (names.length === 0) return undefined;
  return {
    providers,
    rules: [
      {
        match: { prefix: '/' },
        requires: { requires_any: { requirements: [...names.map((provider_name) => ({ provider_name })), { allow_missing: {} }] } },
      },
    ],
  };
}
