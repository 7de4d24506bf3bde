/**
 * Gateway API HTTPRoute: parents (a Service for GAMMA routes, or the waypoint Gateway), matches on path,
 * headers, query parameters and method, the standard filters, weighted backends, timeouts and GEP-1731
 * retries. Checked as the CRD schema and Gateway API's rules check them; the model decides what each
 * parent and backend refers to.
 */
import type { Field } from '../field.js';
import { checkDns1123Subdomain } from '../names.js';
import type { HttpRouteMatch, HttpRouteObject, HttpRouteRule, RouteFilter, RouteRetry } from '../route-objects.js';
import type { KindDecoder } from '../registry.js';
import {
  checkRegex,
  decodeBackendRefs,
  decodeFilters,
  decodeRouteSpec,
  decodeRuleName,
  decodeValueMatches,
  gatewayDuration,
} from './gateway-api-fields.js';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;
const RULE_FILTERS: readonly RouteFilter['type'][] = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite', 'RequestMirror'];
const BACKEND_FILTERS: readonly RouteFilter['type'][] = ['RequestHeaderModifier', 'ResponseHeaderModifier'];
const API_VERSIONS = ['gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1beta1'];

export const httpRouteDecoder: KindDecoder<HttpRouteObject> = {
  kind: 'HTTPRoute',
  apiVersions: API_VERSIONS,
  namespaced: true,
  checkName: checkDns1123Subdomain,
  decode(doc, { apiVersion, metadata, source }) {
    return { kind: 'HTTPRoute', apiVersion, metadata, source, ...decodeRouteSpec(doc, metadata.namespace, decodeRule) };
  },
};

function decodeRule(field: Field, index: number, namespace: string): HttpRouteRule {
  const name = decodeRuleName(field, ['matches', 'filters', 'backendRefs', 'timeouts', 'retry']);
  const matchItems = field.child('matches').list() ?? [];
  const matches = matchItems.map(decodeMatch).filter((m): m is HttpRouteMatch => m !== undefined);
  const filters = decodeFilters(field.child('filters'), namespace, RULE_FILTERS);
  const backendRefs = decodeBackendRefs(field.child('backendRefs'), namespace, BACKEND_FILTERS);
  checkPrefixRewrites(field, filters, matchItems.length === 0 ? [DEFAULT_MATCH] : matches);
  if (filters.some((f) => f.type === 'RequestRedirect') && backendRefs.length > 0) {
    field.child('backendRefs').error('cannot be used with a RequestRedirect filter: the redirect answers the request');
  }
  const timeouts = field.child('timeouts');
  timeouts.object();
  timeouts.onlyKeys(['request', 'backendRequest']);
  const requestTimeoutMs = gatewayDuration(timeouts.child('request'));
  const backendRequestTimeoutMs = gatewayDuration(timeouts.child('backendRequest'));
  if (requestTimeoutMs !== undefined && backendRequestTimeoutMs !== undefined && requestTimeoutMs !== 0 && backendRequestTimeoutMs > requestTimeoutMs) {
    timeouts.child('backendRequest').error(`must not be longer than timeouts.request (${timeouts.child('request').value as string})`);
  }
  const retry = decodeRetry(field.child('retry'));
  return {
    index,
    ...(name !== undefined ? { name } : {}),
    matches: matchItems.length === 0 ? [DEFAULT_MATCH] : matches,
    filters,
    backendRefs,
    ...(requestTimeoutMs !== undefined ? { requestTimeoutMs } : {}),
    ...(backendRequestTimeoutMs !== undefined ? { backendRequestTimeoutMs } : {}),
    ...(retry !== undefined ? { retry } : {}),
  };
}

const DEFAULT_MATCH: HttpRouteMatch = Object.freeze({ path: { type: 'PathPrefix' as const, value: '/' }, headers: [], queryParams: [] });

function decodeMatch(field: Field): HttpRouteMatch | undefined {
  field.object(true);
  field.onlyKeys(['path', 'headers', 'queryParams', 'method']);
  const pathField = field.child('path');
  let path: HttpRouteMatch['path'] = DEFAULT_MATCH.path;
  if (pathField.object()) {
    pathField.onlyKeys(['type', 'value']);
    const type = pathField.child('type').oneOf(['Exact', 'PathPrefix', 'RegularExpression'] as const) ?? 'PathPrefix';
    const value =
      type === 'RegularExpression'
        ? pathField.child('value').string({ required: true, check: checkRegex })
        : (pathField.child('value').string({ check: checkMatchPath }) ?? (pathField.child('value').present ? undefined : '/'));
    if (value === undefined) return undefined;
    path = { type, value };
  }
  const headers = decodeValueMatches(field.child('headers'), 'header');
  const queryParams = decodeValueMatches(field.child('queryParams'), 'query parameter');
  const method = field.child('method').oneOf(METHODS);
  return { path, headers, queryParams, ...(method !== undefined ? { method } : {}) };
}

function checkMatchPath(value: string): string | undefined {
  if (!value.startsWith('/')) return `${JSON.stringify(value)} must start with "/"`;
  if (value.includes('//') || /(^|\/)\.\.?(\/|$)/.test(value) || /[?#\s]/.test(value)) {
    // The waypoint matches normalized paths, so a path that normalization would change can never match.
    return `${JSON.stringify(value)} can never match a normalized path (it holds "//", "." or ".." segments, "?", "#" or spaces)`;
  }
  return undefined;
}

/** Gateway API: ReplacePrefixMatch (rewrite or redirect) needs every match of the rule to be a PathPrefix. */
function checkPrefixRewrites(field: Field, filters: readonly RouteFilter[], matches: readonly HttpRouteMatch[]): void {
  const usesPrefix = filters.some((f) => (f.type === 'URLRewrite' || f.type === 'RequestRedirect') && f.path?.type === 'ReplacePrefixMatch');
  if (usesPrefix && matches.some((m) => m.path.type !== 'PathPrefix')) {
    field.child('filters').error('ReplacePrefixMatch needs every match of the rule to be a PathPrefix match (it replaces the matched prefix)');
  }
}

function decodeRetry(field: Field): RouteRetry | undefined {
  if (!field.object()) return undefined;
  field.onlyKeys(['codes', 'attempts', 'backoff']);
  const codes: number[] = [];
  for (const item of field.child('codes').list() ?? []) {
    const code = item.integer({ required: true, min: 400, max: 599 });
    if (code !== undefined) codes.push(code);
  }
  const attempts = field.child('attempts').integer({ min: 0, max: 100 });
  const backoffMs = gatewayDuration(field.child('backoff'));
  return { codes, ...(attempts !== undefined ? { attempts } : {}), ...(backoffMs !== undefined ? { backoffMs } : {}) };
}
