/**
 * Field decoders shared by HTTPRoute and GRPCRoute: parent and backend references, header matches and
 * modifiers, redirects, rewrites, mirrors and durations, checked as Gateway API's CRD schema and its
 * webhook rules check them. Unknown keys are errors: the API server would prune them silently, and a
 * misspelt `backendRef` that quietly sends traffic elsewhere is worse than a refused document.
 */
import type { Field } from '../field.js';
import { checkDns1123Label, checkDns1123Subdomain } from '../names.js';
import type {
  BackendObjectRef,
  HeaderModifier,
  HeaderValue,
  PathModifier,
  RequestMirrorFilter,
  RequestRedirectFilter,
  RouteBackendRef,
  RouteFilter,
  RouteParentRef,
  UrlRewriteFilter,
  ValueMatch,
} from '../route-objects.js';

export const GATEWAY_GROUP = 'gateway.networking.k8s.io';

/** RFC 7230 token: what an HTTP header name may be. */
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
/** GEP-2257 durations: up to four `<number><unit>` parts, units h, m, s, ms. */
const GATEWAY_DURATION = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;
const DURATION_PART = /([0-9]+)(h|ms|m|s)/g;
const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** A Gateway API duration (`10s`, `1m30s`, `500ms`) in milliseconds. */
export function gatewayDuration(field: Field): number | undefined {
  const text = field.string();
  if (text === undefined) return undefined;
  if (!GATEWAY_DURATION.test(text)) {
    field.error(`${JSON.stringify(text)} is not a Gateway API duration such as "10s", "1m30s" or "500ms" (units h, m, s, ms)`);
    return undefined;
  }
  let ms = 0;
  for (const [, amount, unit] of text.matchAll(DURATION_PART)) ms += Number(amount) * UNIT_MS[unit!]!;
  return ms;
}

export function checkHeaderName(value: string): string | undefined {
  if (value.length > 256 || !HEADER_NAME.test(value)) return `${JSON.stringify(value)} is not a valid HTTP header name`;
  return undefined;
}

/** Checks a regular expression as the waypoint will compile it (RE2 syntax through JavaScript's `u` flag). */
export function checkRegex(value: string): string | undefined {
  // Look-around and back-references are not RE2; the waypoint refuses them, so they are refused here.
  if (/\(\?<?[=!]|\\[1-9]|\\k</.test(value)) return `${JSON.stringify(value)} uses look-around or a back-reference, which RE2 does not support`;
  try {
    new RegExp(value, 'u');
  } catch (err) {
    return `${JSON.stringify(value)} is not a valid regular expression: ${(err as Error).message}`;
  }
  return undefined;
}

function checkPath(value: string): string | undefined {
  if (!value.startsWith('/')) return `${JSON.stringify(value)} must start with "/"`;
  if (/[\s\\]/.test(value) || value.includes('//') || /(^|\/)\.\.?(\/|$)/.test(value) || value.includes('?') || value.includes('#')) {
    return `${JSON.stringify(value)} is not a normalized path (no "//", "." or ".." segments, "?", "#", "\\" or spaces)`;
  }
  return undefined;
}

/** `spec.parentRefs`: Services (group "" or "core") and Gateways. */
export function decodeParentRefs(field: Field, routeNamespace: string): RouteParentRef[] {
  const out: RouteParentRef[] = [];
  const items = field.list() ?? [];
  items.forEach((item, index) => {
    item.object(true);
    item.onlyKeys(['group', 'kind', 'name', 'namespace', 'port', 'sectionName']);
    const group = item.child('group').string() ?? GATEWAY_GROUP;
    const kind = item.child('kind').string() ?? 'Gateway';
    const name = item.child('name').string({ required: true, check: checkDns1123Subdomain });
    const namespace = item.child('namespace').string({ check: checkDns1123Label }) ?? routeNamespace;
    const port = item.child('port').integer({ min: 1, max: 65535 });
    const sectionName = item.child('sectionName').string({ check: checkDns1123Subdomain });
    const isService = kind === 'Service' && (group === '' || group === 'core');
    const isGateway = kind === 'Gateway' && group === GATEWAY_GROUP;
    if (!isService && !isGateway) {
      item.error(`a ${kind} in group ${JSON.stringify(group)} cannot be a parent here: use kind Service (group "") or kind Gateway (group ${GATEWAY_GROUP})`);
      return;
    }
    if (isGateway && port !== undefined) item.child('port').error('is only used with a Service parent; a waypoint Gateway takes traffic for every port');
    if (name === undefined) return;
    out.push({
      index,
      kind: isService ? 'Service' : 'Gateway',
      name,
      namespace,
      ...(port !== undefined && isService ? { port } : {}),
      ...(sectionName !== undefined ? { sectionName } : {}),
    });
  });
  if (items.length === 0) field.error('must name at least one parent (a Service, or the waypoint Gateway)');
  return out;
}

/** What every Gateway API route kind's spec holds; the rules are the kind's own. */
export interface RouteSpec<Rule> {
  readonly parentRefs: RouteParentRef[];
  readonly hostnames: string[];
  readonly rules: Rule[];
}

/**
 * `spec` of an HTTPRoute or GRPCRoute: required, with exactly `parentRefs`, `hostnames` and `rules`; each
 * rule goes to `decodeRule` with its index and the route's namespace (the default of its references).
 */
export function decodeRouteSpec<Rule>(doc: Field, routeNamespace: string, decodeRule: (rule: Field, index: number, routeNamespace: string) => Rule): RouteSpec<Rule> {
  const spec = doc.child('spec');
  spec.object(true);
  spec.onlyKeys(['parentRefs', 'hostnames', 'rules']);
  return {
    parentRefs: decodeParentRefs(spec.child('parentRefs'), routeNamespace),
    hostnames: decodeHostnames(spec.child('hostnames')),
    rules: (spec.child('rules').list() ?? []).map((rule, index) => decodeRule(rule, index, routeNamespace)),
  };
}

/**
 * The start every route rule shares: an object with the kind's `keys`, its optional `name`, and
 * `sessionPersistence` refused (the waypoint keeps no sessions; ignoring it would break what it promises).
 */
export function decodeRuleName(field: Field, keys: readonly string[]): string | undefined {
  field.object(true);
  field.onlyKeys(['name', ...keys, 'sessionPersistence']);
  if (field.child('sessionPersistence').present) field.child('sessionPersistence').error('is not supported by the waypoint');
  return field.child('name').string({ check: checkDns1123Subdomain });
}

/** `spec.hostnames`: DNS names, optionally with a leading `*.` label. */
export function decodeHostnames(field: Field): string[] {
  return (
    field.stringList({
      check: (value) => {
        const bare = value.startsWith('*.') ? value.slice(2) : value;
        return checkDns1123Subdomain(bare) === undefined ? undefined : `${JSON.stringify(value)} is not a hostname (a DNS name, optionally starting with "*.")`;
      },
    }) ?? []
  );
}

/** A reference to a Service with its port (backendRefs, mirror backends). */
export function decodeBackendObjectRef(field: Field, routeNamespace: string, extraKeys: readonly string[] = []): BackendObjectRef | undefined {
  field.object(true);
  field.onlyKeys(['group', 'kind', 'name', 'namespace', 'port', ...extraKeys]);
  const group = field.child('group').string() ?? '';
  const kind = field.child('kind').string() ?? 'Service';
  if (kind !== 'Service' || (group !== '' && group !== 'core')) {
    field.error(`only Services can be backends here (kind Service, group ""), got kind ${kind} in group ${JSON.stringify(group)}`);
  }
  const name = field.child('name').string({ required: true, check: checkDns1123Label });
  const namespace = field.child('namespace').string({ check: checkDns1123Label }) ?? routeNamespace;
  const port = field.child('port').integer({ required: true, min: 1, max: 65535 });
  if (name === undefined || port === undefined) return undefined;
  return { name, namespace, port };
}

export function decodeBackendRefs(field: Field, routeNamespace: string, allowedFilters: readonly RouteFilter['type'][]): RouteBackendRef[] {
  const out: RouteBackendRef[] = [];
  (field.list() ?? []).forEach((item, index) => {
    const ref = decodeBackendObjectRef(item, routeNamespace, ['weight', 'filters']);
    const weight = item.child('weight').integer({ min: 0, max: 1_000_000 }) ?? 1;
    const filters = decodeFilters(item.child('filters'), routeNamespace, allowedFilters);
    if (ref !== undefined) out.push({ ...ref, index, weight, filters });
  });
  return out;
}

/** Header or query parameter matches: `type` Exact (default) or RegularExpression, a name and a value. */
export function decodeValueMatches(field: Field, what: 'header' | 'query parameter'): ValueMatch[] {
  const out: ValueMatch[] = [];
  const seen = new Set<string>();
  for (const item of field.list() ?? []) {
    item.object(true);
    item.onlyKeys(['type', 'name', 'value']);
    const type = item.child('type').oneOf(['Exact', 'RegularExpression'] as const) ?? 'Exact';
    const nameField = item.child('name');
    const name = nameField.string({ required: true, ...(what === 'header' ? { check: checkHeaderName } : {}) });
    const value = item.child('value').string({ required: true, ...(type === 'RegularExpression' ? { check: checkRegex } : {}) });
    if (name === undefined || value === undefined) continue;
    // Header names are case-insensitive; query parameter names are not.
    const key = what === 'header' ? name.toLowerCase() : name;
    if (seen.has(key)) {
      // Gateway API: only the first match for a name counts. Saying so beats silently ignoring the second.
      nameField.error(`the ${what} ${JSON.stringify(name)} is matched twice in one match; combine the values into one`);
      continue;
    }
    seen.add(key);
    out.push({ type, name: key, value });
  }
  return out;
}

function decodeHeaderValues(field: Field, seen: Set<string>): HeaderValue[] {
  const out: HeaderValue[] = [];
  for (const item of field.list() ?? []) {
    item.object(true);
    item.onlyKeys(['name', 'value']);
    const nameField = item.child('name');
    const name = nameField.string({ required: true, check: checkHeaderName });
    const value = item.child('value').string({ required: true });
    if (name === undefined || value === undefined) continue;
    const key = name.toLowerCase();
    if (seen.has(key)) nameField.error(`header ${JSON.stringify(name)} is modified twice by this filter`);
    seen.add(key);
    out.push({ name: key, value });
  }
  return out;
}

export function decodeHeaderModifier(field: Field): HeaderModifier | undefined {
  if (!field.object(true)) return undefined;
  field.onlyKeys(['set', 'add', 'remove']);
  const seen = new Set<string>();
  const set = decodeHeaderValues(field.child('set'), seen);
  const add = decodeHeaderValues(field.child('add'), seen);
  const remove: string[] = [];
  for (const name of field.child('remove').stringList({ check: checkHeaderName }) ?? []) {
    const key = name.toLowerCase();
    if (seen.has(key)) field.child('remove').error(`header ${JSON.stringify(name)} is both modified and removed by this filter`);
    seen.add(key);
    remove.push(key);
  }
  if (set.length + add.length + remove.length === 0) field.error('must set, add or remove at least one header');
  return { set, add, remove };
}

function decodePathModifier(field: Field): PathModifier | undefined {
  if (!field.object()) return undefined;
  field.onlyKeys(['type', 'replaceFullPath', 'replacePrefixMatch']);
  const type = field.child('type').oneOf(['ReplaceFullPath', 'ReplacePrefixMatch'] as const, true);
  if (type === undefined) return undefined;
  const key = type === 'ReplaceFullPath' ? 'replaceFullPath' : 'replacePrefixMatch';
  const other = type === 'ReplaceFullPath' ? 'replacePrefixMatch' : 'replaceFullPath';
  if (field.child(other).present) field.child(other).error(`cannot be set with type ${type}`);
  const value = field.child(key).string({ required: true, check: checkPath });
  return value === undefined ? undefined : { type, value };
}

function decodeRedirect(field: Field): RequestRedirectFilter | undefined {
  if (!field.object(true)) return undefined;
  field.onlyKeys(['scheme', 'hostname', 'path', 'port', 'statusCode']);
  const scheme = field.child('scheme').oneOf(['http', 'https'] as const);
  const hostname = field.child('hostname').string({ check: checkDns1123Subdomain });
  const path = decodePathModifier(field.child('path'));
  const port = field.child('port').integer({ min: 1, max: 65535 });
  const statusField = field.child('statusCode');
  const status = statusField.integer() ?? 302;
  if (![301, 302, 303, 307, 308].includes(status)) statusField.error(`must be 301, 302, 303, 307 or 308, got ${status}`);
  return {
    type: 'RequestRedirect',
    ...(scheme !== undefined ? { scheme } : {}),
    ...(hostname !== undefined ? { hostname } : {}),
    ...(path !== undefined ? { path } : {}),
    ...(port !== undefined ? { port } : {}),
    statusCode: status as RequestRedirectFilter['statusCode'],
  };
}

function decodeUrlRewrite(field: Field): UrlRewriteFilter | undefined {
  if (!field.object(true)) return undefined;
  field.onlyKeys(['hostname', 'path']);
  const hostname = field.child('hostname').string({ check: checkDns1123Subdomain });
  const path = decodePathModifier(field.child('path'));
  if (!field.child('hostname').present && !field.child('path').present) field.error('must rewrite the hostname or the path');
  return { type: 'URLRewrite', ...(hostname !== undefined ? { hostname } : {}), ...(path !== undefined ? { path } : {}) };
}

function decodeMirror(field: Field, routeNamespace: string): RequestMirrorFilter | undefined {
  if (!field.object(true)) return undefined;
  field.onlyKeys(['backendRef', 'percent', 'fraction']);
  const backendRef = decodeBackendObjectRef(field.child('backendRef'), routeNamespace);
  const percent = field.child('percent').integer({ min: 0, max: 100 });
  const fractionField = field.child('fraction');
  let fraction: { numerator: number; denominator: number } | undefined;
  if (fractionField.object()) {
    fractionField.onlyKeys(['numerator', 'denominator']);
    const numerator = fractionField.child('numerator').integer({ required: true, min: 0 });
    const denominator = fractionField.child('denominator').integer({ min: 1 }) ?? 100;
    if (numerator !== undefined && numerator > denominator) fractionField.child('numerator').error(`must not exceed the denominator (${denominator})`);
    if (numerator !== undefined) fraction = { numerator, denominator };
  }
  if (percent !== undefined && fraction !== undefined) field.child('fraction').error('cannot be set together with percent');
  if (percent !== undefined) fraction = { numerator: percent, denominator: 100 };
  if (backendRef === undefined) return undefined;
  return { type: 'RequestMirror', backendRef, ...(fraction !== undefined ? { fraction } : {}) };
}

const FILTER_FIELDS: Record<RouteFilter['type'], string> = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  RequestRedirect: 'requestRedirect',
  URLRewrite: 'urlRewrite',
  RequestMirror: 'requestMirror',
};

/** A `filters` list, with only the filter types `allowed` where it appears. */
export function decodeFilters(field: Field, routeNamespace: string, allowed: readonly RouteFilter['type'][]): RouteFilter[] {
  const out: RouteFilter[] = [];
  const seenTypes = new Set<string>();
  for (const item of field.list() ?? []) {
    item.object(true);
    item.onlyKeys(['type', ...Object.values(FILTER_FIELDS), 'extensionRef', 'cors', 'externalAuth']);
    const typeField = item.child('type');
    const type = typeField.string({ required: true });
    if (type === undefined) continue;
    if (!(allowed as readonly string[]).includes(type)) {
      typeField.error(
        `filter type ${JSON.stringify(type)} is not supported here${type === 'ExtensionRef' || type === 'CORS' || type === 'ExternalAuth' ? ' by the waypoint' : ''}; supported: ${allowed.join(', ')}`,
      );
      continue;
    }
    const filterType = type as RouteFilter['type'];
    for (const [otherType, key] of Object.entries(FILTER_FIELDS)) {
      if (otherType !== filterType && item.child(key).present) item.child(key).error(`does not belong to a filter of type ${filterType}`);
    }
    // Gateway API allows each of these once per rule (RequestMirror may repeat).
    if (filterType !== 'RequestMirror' && seenTypes.has(filterType)) typeField.error(`filter ${filterType} may appear only once in a list`);
    seenTypes.add(filterType);
    const body = item.child(FILTER_FIELDS[filterType]);
    let filter: RouteFilter | undefined;
    switch (filterType) {
      case 'RequestHeaderModifier':
      case 'ResponseHeaderModifier': {
        const modifier = decodeHeaderModifier(body);
        if (modifier !== undefined) filter = { type: filterType, modifier };
        break;
      }
      case 'RequestRedirect':
        filter = decodeRedirect(body);
        break;
      case 'URLRewrite':
        filter = decodeUrlRewrite(body);
        break;
      case 'RequestMirror':
        filter = decodeMirror(body, routeNamespace);
        break;
    }
    if (filter !== undefined) out.push(filter);
  }
  if (seenTypes.has('RequestRedirect') && seenTypes.has('URLRewrite')) field.error('RequestRedirect and URLRewrite cannot be used together');
  return out;
}
