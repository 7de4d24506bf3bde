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

/** The `forwarded` header value for a source address: `for="ip:port"` (RFC 7239 quotes addresses with a port). */
export function forwardedFor(source: string): string {
  return `for="${source}"`;
}

/**
 * The `for=` node of a `forwarded` header, without quotes (the original client's `ip:port`), or undefined
 * when the header has none. Only the first element counts: HBONE has exactly one hop.
 */
export function parseForwardedFor(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const first = value.split(',', 1)[0]!;
  for (const pair of first.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq).trim().toLowerCase() !== 'for') continue;
    const raw = pair.slice(eq + 1).trim();
    return raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2 ? raw.slice(1, -1) : raw;
  }
  return undefined;
}

export interface ConnectHeaderFields {
  authority: string;
  forwardedFor?: string;
  baggage?: string;
  traceparent?: string;
}

/** The request headers of an HBONE CONNECT. No `:scheme` or `:path`: plain CONNECT (RFC 9113 8.5). */
export function connectHeaders(f: ConnectHeaderFields): OutgoingHttpHeaders {
  const h: OutgoingHttpHeaders = { ':method': 'CONNECT', ':authority': f.authority };
  if (f.forwardedFor !== undefined) h['forwarded'] = forwardedFor(f.forwardedFor);
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
