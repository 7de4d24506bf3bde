/**
 * Small builders for Envoy values: `Any` (the nested message encoded once, here, so that a snapshot holds
 * plain bytes), durations, percentages, CIDR ranges, string matchers and header operations.
 */
import { envoyCodec } from '@ambit/protos';
import { parseCidr, bytesToIp } from '../../input/ip.js';
import type { Any, CidrRange, Duration, FractionalPercent, HeaderValueOption, RedirectAction, RegexMatcher, StringMatcher } from './envoy-types.js';

export const TYPE_HCM = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const TYPE_TCP_PROXY = 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
export const TYPE_HTTP_RBAC = 'envoy.extensions.filters.http.rbac.v3.RBAC';
export const TYPE_NETWORK_RBAC = 'envoy.extensions.filters.network.rbac.v3.RBAC';
export const TYPE_JWT = 'envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication';
export const TYPE_FAULT = 'envoy.extensions.filters.http.fault.v3.HTTPFault';
export const TYPE_ROUTER = 'envoy.extensions.filters.http.router.v3.Router';
export const TYPE_HTTP_PROTOCOL_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

export const FILTER_HCM = 'envoy.filters.network.http_connection_manager';
export const FILTER_TCP_PROXY = 'envoy.filters.network.tcp_proxy';
export const FILTER_NETWORK_RBAC = 'envoy.filters.network.rbac';
export const FILTER_JWT = 'envoy.filters.http.jwt_authn';
export const FILTER_RBAC = 'envoy.filters.http.rbac';
export const FILTER_FAULT = 'envoy.filters.http.fault';
export const FILTER_ROUTER = 'envoy.filters.http.router';

/**
 * Packed messages by type and content. A recomputation packs mostly what it packed before (every chain's
 * router, the connection managers of services that did not change), and a JSON key costs a fraction of
 * protobufjs's convert-verify-encode. Bounded: cleared when it grows past `PACKED_LIMIT`.
 */
const packed = new Map<string, Any>();
const PACKED_LIMIT = 50_000;

function keyReplacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  // Buffers (nested Anys) as base64; `value` would already be Buffer.toJSON's list of numbers.
  const original = this[key];
  return Buffer.isBuffer(original) ? original.toString('base64') : value;
}

/** `message` of `typeName` packed into an Any. Throws (a model bug) when it does not fit the schema. */
export function packAny(typeName: string, message: object): Any {
  const key = `${typeName}\0${JSON.stringify(message, keyReplacer)}`;
  const known = packed.get(key);
  if (known !== undefined) return known;
  const codec = envoyCodec<object>(typeName);
  const any: Any = Object.freeze({ type_url: codec.typeUrl, value: codec.encode(message) });
  if (packed.size >= PACKED_LIMIT) packed.clear();
  packed.set(key, any);
  return any;
}

export function duration(ms: number): Duration {
  const whole = Math.floor(ms / 1000);
  const nanos = Math.round((ms - whole * 1000) * 1_000_000);
  return nanos > 0 ? { seconds: whole, nanos } : { seconds: whole };
}

/** A percentage (0–100, fractions allowed) as parts per million, the finest Envoy denominator. */
export function percentPpm(percent: number): FractionalPercent {
  return { numerator: Math.round(percent * 10_000), denominator: 'MILLION' };
}

/** A fraction `numerator/denominator` as parts per million. */
export function fractionPpm(numerator: number, denominator: number): FractionalPercent {
  return { numerator: Math.round((numerator * 1_000_000) / denominator), denominator: 'MILLION' };
}

/** A CIDR as Envoy's CidrRange; the text was validated by the decoder. */
export function cidrRange(text: string): CidrRange {
  const cidr = parseCidr(text)!;
  return { address_prefix: bytesToIp(cidr.address), prefix_len: { value: cidr.length } };
}

const REDIRECT_CODES: Readonly<Record<number, RedirectAction['response_code']>> = {
  301: 'MOVED_PERMANENTLY',
  302: 'FOUND',
  303: 'SEE_OTHER',
  307: 'TEMPORARY_REDIRECT',
  308: 'PERMANENT_REDIRECT',
};

/** A redirect status (validated by the decoders: 301, 302, 303, 307 or 308) as Envoy's enum. */
export function redirectCode(status: 301 | 302 | 303 | 307 | 308): RedirectAction['response_code'] {
  return REDIRECT_CODES[status]!;
}

export function regex(pattern: string): RegexMatcher {
  return { google_re2: {}, regex: pattern };
}

/** Escapes text for use inside an RE2 pattern. */
export function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/**
 * Istio's wildcard forms for policy values as a StringMatcher: `*` (present, non-empty), `*suffix`,
 * `prefix*`, else exact; `prefix` is prepended to non-wildcard parts (the `spiffe://` of principals).
 */
export function istioStringMatcher(value: string, prefix = '', ignoreCase = false): StringMatcher {
  const ic = ignoreCase ? { ignore_case: true } : {};
  if (value === '*') return { safe_regex: regex('.+') };
  if (value.startsWith('*')) return { suffix: value.slice(1), ...ic };
  if (value.endsWith('*')) return { prefix: `${prefix}${value.slice(0, -1)}`, ...ic };
  return { exact: `${prefix}${value}`, ...ic };
}

/** An exact, prefix or regex StringMatcher (Gateway API and VirtualService matches). */
export function specMatcher(kind: 'exact' | 'prefix' | 'regex', value: string, ignoreCase = false): StringMatcher {
  const ic = ignoreCase ? { ignore_case: true } : {};
  switch (kind) {
    case 'exact':
      return { exact: value, ...ic };
    case 'prefix':
      return { prefix: value, ...ic };
    case 'regex':
      return { safe_regex: regex(ignoreCase ? `(?i)${value}` : value) };
  }
}

export function setHeader(name: string, value: string): HeaderValueOption {
  return { header: { key: name, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' };
}

export function addHeader(name: string, value: string): HeaderValueOption {
  return { header: { key: name, value }, append_action: 'APPEND_IF_EXISTS_OR_ADD' };
}

/** Header operations as the four optional Envoy fields, leaving out the empty ones. */
export interface HeaderMutations {
  readonly request_headers_to_add?: readonly HeaderValueOption[];
  readonly request_headers_to_remove?: readonly string[];
  readonly response_headers_to_add?: readonly HeaderValueOption[];
  readonly response_headers_to_remove?: readonly string[];
}

export function headerMutations(
  request: { readonly add: readonly HeaderValueOption[]; readonly remove: readonly string[] },
  response: { readonly add: readonly HeaderValueOption[]; readonly remove: readonly string[] },
): HeaderMutations {
  return {
    ...(request.add.length > 0 ? { request_headers_to_add: request.add } : {}),
    ...(request.remove.length > 0 ? { request_headers_to_remove: request.remove } : {}),
    ...(response.add.length > 0 ? { response_headers_to_add: response.add } : {}),
    ...(response.remove.length > 0 ? { response_headers_to_remove: response.remove } : {}),
  };
}
