/**
 * The HBONE request on the wire: an HTTP/2 CONNECT whose `:authority` is the target `ip:port`, plus the
 * `forwarded`, `baggage` and `traceparent` headers (ztunnel `src/proxy/outbound.rs`).
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';

export interface HostPort {
  /** An IP literal, without brackets for IPv6. */
  host: string;
  port: number;
}

const PORT_RE = /^[0-9]+$/;

/**
 * Parses `ip:port` or `[ipv6]:port`. Returns the reason as a string when it is not one, so the server can
 * log why it answered 400 without paying for an exception on a path any peer can hit.
 * Host names are refused: HBONE targets are addressed by IP.
 */
export function parseAuthority(value: string | undefined): HostPort | string {
  if (value === undefined || value.length === 0) return 'missing :authority';
  let host: string;
  let portText: string;
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close < 0 || value[close + 1] !== ':') return `authority "${value}" is not [ipv6]:port`;
    host = value.slice(1, close);
    portText = value.slice(close + 2);
    if (!isIPv6(host)) return `authority "${value}" does not hold an IPv6 address`;
  } else {
    const colon = value.lastIndexOf(':');
    if (colon < 0) return `authority "${value}" has no port`;
    host = value.slice(0, colon);
    portText = value.slice(colon + 1);
    if (!isIPv4(host)) return `authority "${value}" does not hold an IP address (host names are not accepted)`;
  }
  if (!PORT_RE.test(portText)) return `authority "${value}" has a non-numeric port`;
  // Past 5 digits the number is out of range anyway; cap the text so Number() never sees a huge string.
  const port = portText.length > 5 ? Infinity : Number(portText);
  if (port < 1 || port > 65_535) return `authority "${value}" has port ${portText} out of range 1-65535`;
  return { host, port };
}

/** `ip:port`, bracketing IPv6. */
export function formatAuthority(hp: HostPort): string {
  return isIPv6(hp.host) ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

/** RFC 9110 `token`: a `forwarded` parameter value that needs no quotes (a DNS name is one). */
const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * The `forwarded` header value (RFC 7239) ztunnel sends: `for="ip:port"` for a source address (quoted: it
 * holds a port), then `;host=<hostname>` when the client addressed a service (ztunnel's `build_forwarded`),
 * so that the destination can tell which service a tunnel to a pod was for. Either may be absent ('' when
 * both are). A host that is not a token is sent quoted.
 */
export function forwardedFor(source: string | undefined, host?: string): string {
  const forPart = source === undefined ? undefined : `for="${source}"`;
  if (host === undefined) return forPart ?? '';
  const hostPart = `host=${TOKEN_RE.test(host) ? host : `"${host.replace(/["\\]/g, '\\$&')}"`}`;
  return forPart === undefined ? hostPart : `${forPart};${hostPart}`;
}

/**
 * One parameter of the first element of a `forwarded` header (HBONE has exactly one hop), unquoted and
 * unescaped, or undefined when absent. Quoted strings may hold `;` and `,`.
 */
function forwardedParameter(value: string | undefined, name: string): string | undefined {
  if (!value) return undefined;
  const n = value.length;
  let i = 0;
  while (i < n) {
    let start = i;
    while (i < n && value[i] !== '=' && value[i] !== ';' && value[i] !== ',') i++;
    const key = value.slice(start, i).trim().toLowerCase();
    let found: string | undefined;
    if (value[i] === '=') {
      i++;
      while (value[i] === ' ' || value[i] === '\t') i++;
      if (value[i] === '"') {
        let out = '';
        for (i++; i < n && value[i] !== '"'; i++) {
          if (value[i] === '\\' && i + 1 < n) i++;
          out += value[i]!;
        }
        found = out;
        while (i < n && value[i] !== ';' && value[i] !== ',') i++;
      } else {
        start = i;
        while (i < n && value[i] !== ';' && value[i] !== ',') i++;
        found = value.slice(start, i).trim();
      }
    }
    if (found !== undefined && key === name) return found;
    if (i >= n || value[i] === ',') return undefined;
    i++;
  }
  return undefined;
}

/** The `for=` node of a `forwarded` header (the original client's `ip:port`), or undefined when it has none. */
export function parseForwardedFor(value: string | undefined): string | undefined {
  return forwardedParameter(value, 'for');
}

/**
 * The `host=` of a `forwarded` header: the service hostname the client addressed (ztunnel sends it when a
 * service is known), or undefined. Unverified: a receiver must check it names something it expects.
 */
export function parseForwardedHost(value: string | undefined): string | undefined {
  return forwardedParameter(value, 'host');
}

export interface ConnectHeaderFields {
  authority: string;
  forwardedFor?: string;
  forwardedHost?: string;
  baggage?: string;
  traceparent?: string;
}

/** The request headers of an HBONE CONNECT. No `:scheme` or `:path`: plain CONNECT (RFC 9113 8.5). */
export function connectHeaders(f: ConnectHeaderFields): OutgoingHttpHeaders {
  const h: OutgoingHttpHeaders = { ':method': 'CONNECT', ':authority': f.authority };
  if (f.forwardedFor !== undefined || f.forwardedHost !== undefined) h['forwarded'] = forwardedFor(f.forwardedFor, f.forwardedHost);
  if (f.baggage !== undefined) h['baggage'] = f.baggage;
  if (f.traceparent !== undefined) h['traceparent'] = f.traceparent;
  return h;
}

/** A single-valued request header (Node joins or arrays repeated ones; HBONE headers are single). */
export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(', ') : v;
}

/** A header value Node will put on the wire without throwing: visible ASCII, space and tab. */
export function isValidHeaderValue(v: string): boolean {
  return /^[\t\x20-\x7e]*$/.test(v);
}
