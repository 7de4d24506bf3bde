export { Authorizer } from './authorizer.js';
export type { AuthorizerOptions } from './authorizer.js';
export { authorize, describeDecision } from './evaluate.js';
export type { AuthzDecision, AuthzReason } from './evaluate.js';
export { policyMatches } from './match.js';
export type { AuthzRequest } from './match.js';
export { compilePolicy } from './policy.js';
export type { Policy, PolicyClause, PolicyMatch, PolicyRule, ServiceAccountMatcher, StringMatcher, StringMatchType } from './policy.js';
