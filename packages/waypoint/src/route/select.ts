/**
 * Virtual host and route selection, as Envoy does it:
 *
 * - Virtual host by `:authority` (case-insensitive): exact domains first, then suffix wildcards
 *   (`*.example.com`, longest first, the `*` standing for at least one character), then prefix wildcards
 *   (`example.*`, longest first), then `*`. Each step tries the host as sent (with its port) before the
 *   host without its port, so a domain without a port matches any port and a domain with one only that
 *   port.
 * - Route: the first of the virtual host's routes whose path, headers (`any` value) and query parameters
 *   all match.
 *
 * The domain index is built once per `RouteTable` (a snapshot is immutable) and kept in a WeakMap, so a
 * request does a few map lookups; nothing is compiled per request.
 */
import type { RequestAttributes, Route, RouteTable, VirtualHost } from '../config/types.js';

interface DomainIndex {
  readonly exact: ReadonlyMap<string, VirtualHost>;
  /** `*.foo.com` → suffix `.foo.com` (the leading `*` removed), longest first. */
  readonly suffixes: readonly (readonly [string, VirtualHost])[];
  /** `foo.*` → prefix `foo.`, longest first. */
  readonly prefixes: readonly (readonly [string, VirtualHost])[];
  readonly any: VirtualHost | undefined;
}

const indexes = new WeakMap<RouteTable, DomainIndex>();

function indexOf(table: RouteTable): DomainIndex {
  let index = indexes.get(table);
  if (index !== undefined) return index;
  const exact = new Map<string, VirtualHost>();
  const suffixes: [string, VirtualHost][] = [];
  const prefixes: [string, VirtualHost][] = [];
  let any: VirtualHost | undefined;
  for (const vh of table.virtualHosts) {
    for (const raw of vh.domains) {
      const d = raw.toLowerCase();
      // The first virtual host naming a domain keeps it (Envoy refuses duplicates; the compiler should too).
      if (d === '*') any ??= vh;
      else if (d.startsWith('*')) suffixes.push([d.slice(1), vh]);
      else if (d.endsWith('*')) prefixes.push([d.slice(0, -1), vh]);
      else if (!exact.has(d)) exact.set(d, vh);
    }
  }
  suffixes.sort((a, b) => b[0].length - a[0].length);
  prefixes.sort((a, b) => b[0].length - a[0].length);
  index = { exact, suffixes, prefixes, any };
  indexes.set(table, index);
  return index;
}

/** The host without a trailing `:port` (IPv6 literals keep their brackets). */
export function stripPort(host: string): string {
  const colon = host.lastIndexOf(':');
  if (colon < 0) return host;
  const bracket = host.lastIndexOf(']');
  if (bracket > colon) return host;
  return host.slice(0, colon);
}

/** The virtual host for `host` (already lower case), or undefined (Envoy answers 404 `NR`). */
export function selectVirtualHost(table: RouteTable, host: string): VirtualHost | undefined {
  const index = indexOf(table);
  const bare = stripPort(host);
  const hosts = bare === host ? [host] : [host, bare];
  for (const h of hosts) {
    const vh = index.exact.get(h);
    if (vh !== undefined) return vh;
  }
  for (const h of hosts) {
    for (const [suffix, vh] of index.suffixes) if (h.length > suffix.length && h.endsWith(suffix)) return vh;
  }
  for (const h of hosts) {
    for (const [prefix, vh] of index.prefixes) if (h.length > prefix.length && h.startsWith(prefix)) return vh;
  }
  return index.any;
}

const NO_VALUES: readonly string[] = [];

/** The values a header matcher sees: pseudo-headers from the request's own fields, others from `headers`. */
export function headerValues(req: RequestAttributes, name: string): readonly string[] {
  if (name.charCodeAt(0) === 58 /* : */) {
    switch (name) {
      case ':method':
        return [req.method];
      case ':authority':
        return [req.host];
      case ':path':
        return [req.query === '' ? req.path : `${req.path}?${req.query}`];
      case ':scheme':
        return [req.scheme];
      default:
        return NO_VALUES;
    }
  }
  return req.headers.get(name) ?? NO_VALUES;
}

/** The query string as name → values, decoded (a malformed escape is kept as sent). */
export function parseQuery(query: string): ReadonlyMap<string, readonly string[]> {
  const map = new Map<string, string[]>();
  if (query === '') return map;
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decodeLenient(eq < 0 ? part : part.slice(0, eq));
    const value = eq < 0 ? '' : decodeLenient(part.slice(eq + 1));
    const list = map.get(name);
    if (list === undefined) map.set(name, [value]);
    else list.push(value);
  }
  return map;
}

function decodeLenient(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The first route of `vh` matching the request, or undefined (404 `NR`). */
export function selectRoute(vh: VirtualHost, req: RequestAttributes): Route | undefined {
  let query: ReadonlyMap<string, readonly string[]> | undefined;
  outer: for (const route of vh.routes) {
    if (!route.path.matches(req.path)) continue;
    for (const h of route.headers) if (!h.matches(headerValues(req, h.name), 'any')) continue outer;
    if (route.queryParameters.length > 0) {
      query ??= parseQuery(req.query);
      for (const qp of route.queryParameters) if (!qp.matches(query)) continue outer;
    }
    return route;
  }
  return undefined;
}
