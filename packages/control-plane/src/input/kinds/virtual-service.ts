/**
 * networking.istio.io VirtualService, the HTTP part a waypoint applies: ordered routes with matches on
 * URI, headers, method, query parameters and port; weighted destinations (host, subset, port); redirects,
 * direct responses, rewrites, timeouts, retries, fault injection (delay and abort by percentage),
 * mirroring and header operations.
 *
 * What a waypoint cannot honour is refused with the reason rather than ignored, because ignoring a match
 * condition widens a route: `tcp`/`tls` routes, delegation, CORS, matches on source labels, namespaces,
 * scheme or authority, gRPC-status aborts and exponential delays. Retry conditions the waypoint does not
 * implement (`refused-stream`, gRPC statuses, retriable headers) only make it retry less: they are
 * reported and dropped. Status codes in `retryOn` (`"503,connect-failure"`) are retried, as Istio does it.
 */
import type { Field } from '../field.js';
import { checkDns1123Label, checkDns1123Subdomain } from '../names.js';
import type { KindDecoder } from '../registry.js';
import type { StringMatchSpec, VirtualServiceObject, VsDestination, VsFault, VsHttpRoute, VsMatch, VsRetries, VsRouteDestination } from '../traffic-objects.js';
import { checkHeaderName } from './gateway-api-fields.js';
import { checkHost, headersSpec, istioDuration, percentage, stringMatchSpec } from './istio-fields.js';

const HTTP_ROUTE_FIELDS = [
  'name',
  'match',
  'route',
  'redirect',
  'directResponse',
  'delegate',
  'rewrite',
  'timeout',
  'retries',
  'fault',
  'mirror',
  'mirrors',
  'mirrorPercentage',
  'mirrorPercent',
  'corsPolicy',
  'headers',
];
const MATCH_FIELDS = [
  'name',
  'uri',
  'scheme',
  'method',
  'authority',
  'headers',
  'port',
  'sourceLabels',
  'gateways',
  'queryParams',
  'ignoreUriCase',
  'withoutHeaders',
  'sourceNamespace',
  'statPrefix',
];
const SUPPORTED_RETRY_ON = ['5xx', 'gateway-error', 'reset', 'connect-failure', 'retriable-4xx', 'retriable-status-codes'] as const;
/** Valid Envoy retry conditions the waypoint does not implement: dropped with a warning. */
const OTHER_RETRY_ON = new Set([
  'reset-before-request',
  'refused-stream',
  'retriable-headers',
  'envoy-ratelimited',
  'http3-post-connect-failure',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
]);
const REDIRECT_CODES = [301, 302, 303, 307, 308];

export const virtualServiceDecoder: KindDecoder<VirtualServiceObject> = {
  kind: 'VirtualService',
  apiVersions: ['networking.istio.io/v1', 'networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3'],
  namespaced: true,
  checkName: checkDns1123Subdomain,
  decode(doc, { apiVersion, metadata, source }) {
    const spec = doc.child('spec');
    spec.object(true);
    spec.onlyKeys(['hosts', 'gateways', 'http', 'tls', 'tcp', 'exportTo']);
    const hosts = spec.child('hosts').stringList({ required: true, check: checkHost }) ?? [];
    if (Array.isArray(spec.child('hosts').value) && hosts.length === 0) spec.child('hosts').error('must name at least one host');
    const gateways = spec.child('gateways').stringList() ?? [];
    spec.child('exportTo').stringList();
    for (const key of ['tls', 'tcp']) {
      if (spec.child(key).present) spec.child(key).error(`${key} routes are not supported by the waypoint; route that traffic with http routes or leave it to the default`);
    }
    const http = (spec.child('http').list() ?? []).map(decodeHttpRoute).filter((r): r is VsHttpRoute => r !== undefined);
    return { kind: 'VirtualService', apiVersion, metadata, source, hosts, gateways, http };
  },
};

function decodeHttpRoute(field: Field, index: number): VsHttpRoute | undefined {
  field.object(true);
  field.onlyKeys(HTTP_ROUTE_FIELDS);
  for (const key of ['delegate', 'corsPolicy']) if (field.child(key).present) field.child(key).error('is not supported by the waypoint');
  const name = field.child('name').string();
  const match = (field.child('match').list() ?? []).map(decodeMatch).filter((m): m is VsMatch => m !== undefined);
  const route = decodeRouteDestinations(field.child('route'));
  const redirect = decodeRedirect(field.child('redirect'));
  const directResponse = decodeDirectResponse(field.child('directResponse'));
  const actions = ['route', 'redirect', 'directResponse'].filter((k) => field.child(k).present);
  if (actions.length === 0) field.error('must set route, redirect or directResponse');
  if (actions.length > 1) field.error(`sets ${actions.join(' and ')}; a route does exactly one of them`);
  const rewrite = decodeRewrite(field.child('rewrite'));
  if (rewrite !== undefined && !field.child('route').present) field.child('rewrite').error('only applies to a route with destinations');
  const timeoutMs = istioDuration(field.child('timeout'), 0);
  const retries = decodeRetries(field.child('retries'));
  const fault = decodeFault(field.child('fault'));
  const mirrors = decodeMirrors(field);
  const headers = headersSpec(field.child('headers'));
  return {
    index,
    ...(name !== undefined ? { name } : {}),
    match,
    route,
    ...(redirect !== undefined ? { redirect } : {}),
    ...(directResponse !== undefined ? { directResponse } : {}),
    ...(rewrite !== undefined ? { rewrite } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(retries !== undefined ? { retries } : {}),
    ...(fault !== undefined ? { fault } : {}),
    mirrors,
    ...(headers !== undefined ? { headers } : {}),
  };
}

function decodeMatch(field: Field): VsMatch | undefined {
  field.object(true);
  field.onlyKeys(MATCH_FIELDS);
  for (const key of ['scheme', 'authority', 'sourceLabels', 'sourceNamespace', 'gateways']) {
    if (field.child(key).present) field.child(key).error('is not supported by the waypoint as a match condition');
  }
  const uri = field.child('uri').present ? stringMatchSpec(field.child('uri')) : undefined;
  if (uri !== undefined && uri.kind !== 'regex' && !uri.value.startsWith('/')) field.child('uri').error(`${JSON.stringify(uri.value)} must start with "/"`);
  const method = field.child('method').present ? stringMatchSpec(field.child('method')) : undefined;
  const headers = namedMatches(field.child('headers'), true);
  const withoutHeaders = namedMatches(field.child('withoutHeaders'), true);
  const queryParams = namedMatches(field.child('queryParams'), false);
  for (const q of queryParams) {
    if (q.match.kind === 'prefix') field.child('queryParams').child(q.name).error('query parameters match exact or regex, not prefix');
  }
  const port = field.child('port').integer({ min: 1, max: 65535 });
  const ignoreUriCase = field.child('ignoreUriCase').boolean() ?? false;
  return {
    ...(uri !== undefined ? { uri } : {}),
    ignoreUriCase,
    headers,
    withoutHeaders,
    ...(method !== undefined ? { method } : {}),
    queryParams,
    ...(port !== undefined ? { port } : {}),
  };
}

function namedMatches(field: Field, headers: boolean): { name: string; match: StringMatchSpec }[] {
  const out: { name: string; match: StringMatchSpec }[] = [];
  for (const [name, value] of field.entries() ?? []) {
    const problem = headers ? checkHeaderName(name) : name.length === 0 ? 'a query parameter name must not be empty' : undefined;
    if (problem !== undefined) {
      value.error(problem);
      continue;
    }
    const match = stringMatchSpec(value);
    if (match !== undefined) out.push({ name: headers ? name.toLowerCase() : name, match });
  }
  return out;
}

function decodeDestination(field: Field): VsDestination | undefined {
  if (!field.object(true)) return undefined;
  field.onlyKeys(['host', 'subset', 'port']);
  const hostField = field.child('host');
  const host = hostField.string({ required: true, check: checkHost });
  if (host?.includes('*')) hostField.error('a destination must name one service, not a wildcard');
  const subset = field.child('subset').string({ check: checkDns1123Label });
  const portField = field.child('port');
  portField.object();
  portField.onlyKeys(['number']);
  const port = portField.child('number').integer({ required: portField.present, min: 1, max: 65535 });
  if (host === undefined || host.includes('*')) return undefined;
  return { host, ...(subset !== undefined ? { subset } : {}), ...(port !== undefined ? { port } : {}) };
}

function decodeRouteDestinations(field: Field): VsRouteDestination[] {
  const out: VsRouteDestination[] = [];
  const items = field.list() ?? [];
  items.forEach((item, index) => {
    item.object(true);
    item.onlyKeys(['destination', 'weight', 'headers']);
    const destination = decodeDestination(item.child('destination'));
    const weight = item.child('weight').integer({ min: 0, max: 100 });
    const headers = headersSpec(item.child('headers'));
    if (items.length > 1 && weight === undefined && !item.child('weight').present) {
      item.child('weight').error('is required when a route has several destinations');
    }
    if (destination !== undefined) {
      out.push({ index, destination, ...(weight !== undefined ? { weight } : {}), ...(headers !== undefined ? { headers } : {}) });
    }
  });
  if (Array.isArray(field.value) && items.length === 0) field.error('must name at least one destination');
  if (items.length > 1) {
    const total = out.reduce((sum, d) => sum + (d.weight ?? 0), 0);
    if (out.length === items.length && out.every((d) => d.weight !== undefined) && total !== 100) field.error(`weights must add up to 100, got ${total}`);
  }
  return out;
}

function decodeRedirect(field: Field): VsHttpRoute['redirect'] {
  if (!field.object()) return undefined;
  field.onlyKeys(['uri', 'authority', 'port', 'derivePort', 'scheme', 'redirectCode']);
  if (field.child('derivePort').present) field.child('derivePort').error('is not supported by the waypoint; set port');
  const uri = field.child('uri').string({ check: (v) => (v.startsWith('/') ? undefined : `${JSON.stringify(v)} must start with "/"`) });
  const authority = field.child('authority').string({ check: checkDns1123Subdomain });
  const port = field.child('port').integer({ min: 1, max: 65535 });
  const scheme = field.child('scheme').oneOf(['http', 'https'] as const);
  const codeField = field.child('redirectCode');
  const code = codeField.integer() ?? 301;
  if (!REDIRECT_CODES.includes(code)) codeField.error(`must be one of ${REDIRECT_CODES.join(', ')}, got ${code}`);
  return {
    ...(uri !== undefined ? { uri } : {}),
    ...(authority !== undefined ? { authority } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(scheme !== undefined ? { scheme } : {}),
    redirectCode: code as 301 | 302 | 303 | 307 | 308,
  };
}

function decodeDirectResponse(field: Field): VsHttpRoute['directResponse'] {
  if (!field.object()) return undefined;
  field.onlyKeys(['status', 'body']);
  const status = field.child('status').integer({ required: true, min: 200, max: 599 });
  const bodyField = field.child('body');
  let body: string | undefined;
  if (bodyField.object()) {
    bodyField.onlyKeys(['string', 'bytes']);
    if (bodyField.child('bytes').present) bodyField.child('bytes').error('is not supported by the waypoint; use string');
    body = bodyField.child('string').string();
  }
  return status === undefined ? undefined : { status, ...(body !== undefined ? { body } : {}) };
}

function decodeRewrite(field: Field): VsHttpRoute['rewrite'] {
  if (!field.object()) return undefined;
  field.onlyKeys(['uri', 'authority', 'uriRegexRewrite']);
  const uri = field.child('uri').string();
  const authority = field.child('authority').string({ check: checkDns1123Subdomain });
  const regexField = field.child('uriRegexRewrite');
  let uriRegex: { match: string; rewrite: string } | undefined;
  if (regexField.object()) {
    regexField.onlyKeys(['match', 'rewrite']);
    const match = regexField.child('match').string({ required: true, check: (v) => checkRegexText(v) });
    const rewrite = regexField.child('rewrite').string({ required: true });
    if (match !== undefined && rewrite !== undefined) uriRegex = { match, rewrite };
  }
  if (uri !== undefined && regexField.present) field.error('sets both uri and uriRegexRewrite; choose one');
  if (uri === undefined && authority === undefined && uriRegex === undefined) {
    if (!field.child('uri').present && !field.child('authority').present && !regexField.present) field.error('must rewrite uri, authority or uriRegexRewrite');
    return undefined;
  }
  return { ...(uri !== undefined ? { uri } : {}), ...(authority !== undefined ? { authority } : {}), ...(uriRegex !== undefined ? { uriRegex } : {}) };
}

function checkRegexText(value: string): string | undefined {
  try {
    new RegExp(value, 'u');
  } catch (err) {
    return `${JSON.stringify(value)} is not a valid regular expression: ${(err as Error).message}`;
  }
  return undefined;
}

function decodeRetries(field: Field): VsRetries | undefined {
  if (!field.object()) return undefined;
  field.onlyKeys(['attempts', 'perTryTimeout', 'retryOn', 'retryRemoteLocalities', 'retryIgnorePreviousHosts', 'backoff']);
  for (const key of ['retryRemoteLocalities', 'retryIgnorePreviousHosts']) {
    if (field.child(key).present) field.child(key).warn('is not implemented by the waypoint and is ignored');
  }
  // Istio's default when retries are given without attempts.
  const attempts = field.child('attempts').integer({ min: 0, max: 100 }) ?? 2;
  const perTryTimeoutMs = istioDuration(field.child('perTryTimeout'));
  const backoffMs = istioDuration(field.child('backoff'));
  const { retryOn, retriableStatusCodes } = decodeRetryOn(field.child('retryOn'));
  return { attempts, retryOn, retriableStatusCodes, ...(perTryTimeoutMs !== undefined ? { perTryTimeoutMs } : {}), ...(backoffMs !== undefined ? { backoffMs } : {}) };
}

/**
 * `retryOn`, as Istio translates it (pilot `route/retry`): a comma-separated list of Envoy conditions and
 * HTTP status codes. The codes become `retriable_status_codes`, and `retriable-status-codes` is added to the
 * conditions when they do not name it already. Unset means `connect-failure`.
 */
function decodeRetryOn(field: Field): Pick<VsRetries, 'retryOn' | 'retriableStatusCodes'> {
  const text = field.string();
  if (text === undefined) return { retryOn: ['connect-failure'], retriableStatusCodes: [] };
  const retryOn: VsRetries['retryOn'][number][] = [];
  const codes: number[] = [];
  const dropped: string[] = [];
  for (const raw of text.split(',')) {
    const condition = raw.trim();
    if (condition === '') continue;
    if (/^[0-9]+$/.test(condition)) {
      // Leading zeros read as Istio's Atoi reads them; the length cap keeps huge digit strings out of Number().
      const code = condition.length > 6 ? NaN : Number(condition);
      if (code >= 100 && code <= 599) {
        if (!codes.includes(code)) codes.push(code);
      } else {
        field.error(`${JSON.stringify(condition)} is not an HTTP status code (100-599)`);
      }
    } else if ((SUPPORTED_RETRY_ON as readonly string[]).includes(condition)) {
      if (!retryOn.includes(condition as VsRetries['retryOn'][number])) retryOn.push(condition as VsRetries['retryOn'][number]);
    } else if (OTHER_RETRY_ON.has(condition)) {
      dropped.push(condition);
    } else {
      field.error(`${JSON.stringify(condition)} is not a retry condition or an HTTP status code (supported: ${SUPPORTED_RETRY_ON.join(', ')}, or a status code 100-599)`);
    }
  }
  if (dropped.length > 0) {
    field.warn(`${dropped.join(', ')} ${dropped.length === 1 ? 'is' : 'are'} not implemented by the waypoint and dropped (supported: ${SUPPORTED_RETRY_ON.join(', ')}, or a status code 100-599)`);
  }
  if (codes.length > 0 && !retryOn.includes('retriable-status-codes')) retryOn.push('retriable-status-codes');
  // Envoy would also read codes from a request's x-envoy-retriable-status-codes header; the waypoint does not.
  if (codes.length === 0 && retryOn.includes('retriable-status-codes')) field.warn('retriable-status-codes names no status code, so it retries nothing; list the codes too, e.g. "retriable-status-codes,503"');
  return { retryOn, retriableStatusCodes: codes };
}

/** `percentage: {value}` or the deprecated integer `percent`; unset means 0, as Istio translates it (reported). */
function faultPercent(field: Field): number {
  if (field.child('percentage').present) return percentage(field.child('percentage')) ?? 0;
  const legacy = field.child('percent').integer({ min: 0, max: 100 });
  if (legacy !== undefined) return legacy;
  field.warn('has no percentage: Istio injects this fault into no request; set percentage.value (0-100)');
  return 0;
}

function decodeFault(field: Field): VsFault | undefined {
  if (!field.object()) return undefined;
  field.onlyKeys(['delay', 'abort']);
  const delayField = field.child('delay');
  let delay: VsFault['delay'];
  if (delayField.object()) {
    delayField.onlyKeys(['fixedDelay', 'exponentialDelay', 'percentage', 'percent']);
    if (delayField.child('exponentialDelay').present) delayField.child('exponentialDelay').error('is not supported by the waypoint; use fixedDelay');
    const fixedDelayMs = istioDuration(delayField.child('fixedDelay'));
    if (!delayField.child('fixedDelay').present) delayField.child('fixedDelay').error('is required');
    const percent = faultPercent(delayField);
    if (fixedDelayMs !== undefined) delay = { fixedDelayMs, percent };
  }
  const abortField = field.child('abort');
  let abort: VsFault['abort'];
  if (abortField.object()) {
    abortField.onlyKeys(['httpStatus', 'grpcStatus', 'http2Error', 'percentage', 'percent']);
    for (const key of ['grpcStatus', 'http2Error']) if (abortField.child(key).present) abortField.child(key).error('is not supported by the waypoint; use httpStatus');
    const httpStatus = abortField.child('httpStatus').integer({ required: true, min: 200, max: 599 });
    const percent = faultPercent(abortField);
    if (httpStatus !== undefined) abort = { httpStatus, percent };
  }
  if (!delayField.present && !abortField.present) field.error('must set delay, abort or both');
  return { ...(delay !== undefined ? { delay } : {}), ...(abort !== undefined ? { abort } : {}) };
}

function decodeMirrors(field: Field): VsHttpRoute['mirrors'] {
  const out: { destination: VsDestination; percent: number }[] = [];
  const single = field.child('mirror');
  if (single.present) {
    const destination = decodeDestination(single);
    const mirrorPercentage = field.child('mirrorPercentage');
    const legacy = field.child('mirrorPercent').integer({ min: 0, max: 100 });
    const percent = mirrorPercentage.present ? (percentage(mirrorPercentage) ?? 100) : (legacy ?? 100);
    if (destination !== undefined) out.push({ destination, percent });
  } else {
    for (const key of ['mirrorPercentage', 'mirrorPercent']) if (field.child(key).present) field.child(key).error('needs mirror');
  }
  for (const item of field.child('mirrors').list() ?? []) {
    item.object(true);
    item.onlyKeys(['destination', 'percentage']);
    const destination = decodeDestination(item.child('destination'));
    const percent = item.child('percentage').present ? (percentage(item.child('percentage')) ?? 100) : 100;
    if (destination !== undefined) out.push({ destination, percent });
  }
  return out;
}
