/**
 * Header maps as the proxy forwards them: lower-case names, several values kept as an array in order.
 * Built once per request from the raw header list, mutated in place by the route's header operations, and
 * handed to the upstream request (our HTTP/1.1 encoder and Node's `http2` take this shape as it is).
 */
import type { HeaderMutation } from '../config/types.js';

export type HeaderMap = Record<string, string | string[]>;

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) and HTTP/1-only framing headers: never forwarded, in either
 * direction. `te` is handled apart (only `trailers` may pass, which gRPC needs).
 */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings', 'host', 'te']);

/** A header map from Node's raw list (`[name, value, name, value, …]`), without pseudo-headers and hop-by-hop headers. */
export function headerMapFromRaw(raw: readonly string[]): HeaderMap {
  const map: HeaderMap = Object.create(null) as HeaderMap;
  let connectionListed: string[] | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    if (name.charCodeAt(0) === 58 /* : */) continue;
    if (HOP_BY_HOP.has(name)) {
      if (name === 'connection') (connectionListed ??= []).push(...value.split(',').map((v) => v.trim().toLowerCase()));
      else if (name === 'te' && value.trim().toLowerCase() === 'trailers') addHeader(map, name, 'trailers');
      continue;
    }
    addHeader(map, name, value);
  }
  // Headers the client named in `Connection` are hop-by-hop too (RFC 9110 §7.6.1).
  if (connectionListed !== undefined) for (const n of connectionListed) if (n !== 'te') delete map[n];
  return map;
}

export function addHeader(map: HeaderMap, name: string, value: string): void {
  const existing = map[name];
  if (existing === undefined) map[name] = value;
  else if (typeof existing === 'string') map[name] = [existing, value];
  else existing.push(value);
}

/** The first value of a header. */
export function firstValue(map: HeaderMap, name: string): string | undefined {
  const v = map[name];
  return typeof v === 'string' ? v : v?.[0];
}

/** Applies one operation list: removals first, then additions (append) or replacements (overwrite). */
export function applyMutation(map: HeaderMap, mutation: HeaderMutation): void {
  for (const name of mutation.remove) delete map[name];
  for (const op of mutation.set) {
    if (op.append) addHeader(map, op.name, op.value);
    else map[op.name] = op.value;
  }
}

/** Whether an operation list does anything (the common case is empty lists, skipped without a call). */
export function isEmptyMutation(m: HeaderMutation): boolean {
  return m.set.length === 0 && m.remove.length === 0;
}

/**
 * Fields that must not be taken from a trailer section (RFC 9110 §6.5.1: framing, routing, authentication,
 * request modifiers, response control data, content metadata) besides the hop-by-hop ones: a recipient
 * would act on them as if they had come in the header section.
 */
const NOT_IN_TRAILERS = new Set([
  ...HOP_BY_HOP,
  'content-length',
  'content-encoding',
  'content-type',
  'content-range',
  'trailer',
  'authorization',
  'proxy-authorization',
  'www-authenticate',
  'proxy-authenticate',
  'cookie',
  'set-cookie',
  'expect',
  'max-forwards',
  'range',
  'if-match',
  'if-none-match',
  'if-modified-since',
  'if-unmodified-since',
  'if-range',
  'cache-control',
  'pragma',
  'age',
  'expires',
  'date',
  'location',
  'retry-after',
  'vary',
]);

/**
 * The trailer fields that may be forwarded, in a new map; undefined when none is left. Names are those of a
 * header map (lower-case); pseudo-headers never reach here.
 */
export function forwardableTrailers(trailers: HeaderMap | undefined): HeaderMap | undefined {
  if (trailers === undefined) return undefined;
  let out: HeaderMap | undefined;
  for (const name in trailers) {
    if (NOT_IN_TRAILERS.has(name) || name.charCodeAt(0) === 58) continue;
    (out ??= Object.create(null) as HeaderMap)[name] = trailers[name]!;
  }
  return out;
}

/** Header names never passed back to the client from an upstream response (hop-by-hop, framing). */
export function isHopByHopResponseHeader(name: string): boolean {
  return HOP_BY_HOP.has(name);
}
