/**
 * Gateway API GRPCRoute: like HTTPRoute, with matches on the gRPC service and method (the request path
 * `/<service>/<method>`) and headers, and the filters gRPC allows (header modifiers and mirrors).
 */
import type { Field } from '../field.js';
import { checkDns1123Subdomain } from '../names.js';
import type { GrpcMethodMatch, GrpcRouteMatch, GrpcRouteObject, GrpcRouteRule, RouteFilter } from '../route-objects.js';
import type { KindDecoder } from '../registry.js';
import { checkRegex, decodeBackendRefs, decodeFilters, decodeRouteSpec, decodeRuleName, decodeValueMatches } from './gateway-api-fields.js';

const RULE_FILTERS: readonly RouteFilter['type'][] = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror'];
const BACKEND_FILTERS: readonly RouteFilter['type'][] = ['RequestHeaderModifier', 'ResponseHeaderModifier'];
/** A proto package-qualified service name, and a method name (CRD patterns of GRPCMethodMatch). */
const SERVICE_NAME = /^\.?[A-Za-z_][A-Za-z_0-9]*(\.[A-Za-z_][A-Za-z_0-9]*)*$/;
const METHOD_NAME = /^[A-Za-z_][A-Za-z_0-9]*$/;

export const grpcRouteDecoder: KindDecoder<GrpcRouteObject> = {
  kind: 'GRPCRoute',
  apiVersions: ['gateway.networking.k8s.io/v1'],
  namespaced: true,
  checkName: checkDns1123Subdomain,
  decode(doc, { apiVersion, metadata, source }) {
    return { kind: 'GRPCRoute', apiVersion, metadata, source, ...decodeRouteSpec(doc, metadata.namespace, decodeRule) };
  },
};

function decodeRule(field: Field, index: number, namespace: string): GrpcRouteRule {
  const name = decodeRuleName(field, ['matches', 'filters', 'backendRefs']);
  const items = field.child('matches').list() ?? [];
  const matches = items.map(decodeMatch).filter((m): m is GrpcRouteMatch => m !== undefined);
  const filters = decodeFilters(field.child('filters'), namespace, RULE_FILTERS);
  const backendRefs = decodeBackendRefs(field.child('backendRefs'), namespace, BACKEND_FILTERS);
  return {
    index,
    ...(name !== undefined ? { name } : {}),
    matches: items.length === 0 ? [{ headers: [] }] : matches,
    filters,
    backendRefs,
  };
}

function decodeMatch(field: Field): GrpcRouteMatch | undefined {
  field.object(true);
  field.onlyKeys(['method', 'headers']);
  const method = decodeMethod(field.child('method'));
  const headers = decodeValueMatches(field.child('headers'), 'header');
  if (method === null) return undefined;
  return { ...(method !== undefined ? { method } : {}), headers };
}

/** The method match; undefined when absent, null when invalid. */
function decodeMethod(field: Field): GrpcMethodMatch | undefined | null {
  if (!field.object()) return field.present ? null : undefined;
  field.onlyKeys(['type', 'service', 'method']);
  const type = field.child('type').oneOf(['Exact', 'RegularExpression'] as const) ?? 'Exact';
  const serviceCheck = type === 'Exact' ? checkServiceName : checkRegex;
  const methodCheck = type === 'Exact' ? checkMethodName : checkRegex;
  const service = field.child('service').string({ check: serviceCheck });
  const method = field.child('method').string({ check: methodCheck });
  if (!field.child('service').present && !field.child('method').present) {
    field.error('must set service, method or both');
    return null;
  }
  if ((field.child('service').present && service === undefined) || (field.child('method').present && method === undefined)) return null;
  return { type, ...(service !== undefined ? { service } : {}), ...(method !== undefined ? { method } : {}) };
}

function checkServiceName(value: string): string | undefined {
  return SERVICE_NAME.test(value) ? undefined : `${JSON.stringify(value)} is not a gRPC service name such as "helloworld.Greeter"`;
}

function checkMethodName(value: string): string | undefined {
  return METHOD_NAME.test(value) ? undefined : `${JSON.stringify(value)} is not a gRPC method name such as "SayHello"`;
}
