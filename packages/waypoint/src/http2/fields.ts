/**
 * The checks RFC 9113 §8.2 and §8.3 ask of a received field section, and of one we are about to send. A
 * request that fails them is malformed: the server resets that stream with PROTOCOL_ERROR and the rest of
 * the connection goes on. Fields arrive from HPACK as one flat `[name, value, …]` array; nothing is copied
 * unless several `cookie` fields must be joined (§8.2.3).
 */

/** The pseudo-header fields of a request that passed the checks. */
export interface RequestHead {
  readonly method: string;
  /** `:path`; for CONNECT, which has none, the `:authority` (as Node's compatibility API gives `url`). */
  readonly path: string;
  readonly authority: string | undefined;
  /** -1 when the request has no `content-length`. */
  readonly contentLength: number;
  /** The fields as received, with several `cookie` fields joined into one. */
  readonly fields: string[];
}

/** Token characters (RFC 9110 §5.6.2) without upper-case letters, which HTTP/2 field names must not contain. */
const LOWER_TOKEN = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz") LOWER_TOKEN[c.charCodeAt(0)] = 1;

/** `reason` when a field name is not a lower-case token, else undefined. */
export function badName(name: string): string | undefined {
  if (name.length === 0) return 'an empty field name';
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 128 || LOWER_TOKEN[c] !== 1) {
      return c >= 0x41 && c <= 0x5a ? `field name ${JSON.stringify(name)} has upper-case letters` : `field name ${JSON.stringify(name)} has character 0x${c.toString(16)}`;
    }
  }
  return undefined;
}

/**
 * `reason` when a value has NUL, CR or LF, or starts or ends with whitespace (§8.2.1); other control
 * characters and obs-text pass, as HTTP/1.1's parser lets them (the upstream side is checked there).
 */
export function badValue(name: string, value: string): string | undefined {
  const n = value.length;
  if (n === 0) return undefined;
  const first = value.charCodeAt(0);
  const last = value.charCodeAt(n - 1);
  if (first === 0x20 || first === 0x09 || last === 0x20 || last === 0x09) return `field ${name} has leading or trailing whitespace`;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c === 0 || c === 0x0a || c === 0x0d || c > 0xff) return `field ${name} has character 0x${c.toString(16)}`;
  }
  return undefined;
}

/** Fields of HTTP/1.1 connection management, which HTTP/2 must not carry (§8.2.2). */
export function isConnectionSpecific(name: string): boolean {
  switch (name) {
    case 'connection':
    case 'keep-alive':
    case 'proxy-connection':
    case 'transfer-encoding':
    case 'upgrade':
      return true;
    default:
      return false;
  }
}

/** The request head of `fields`, or why it is malformed. */
export function checkRequest(fields: string[]): RequestHead | string {
  let method: string | undefined;
  let scheme: string | undefined;
  let path: string | undefined;
  let authority: string | undefined;
  let contentLength = -1;
  let regular = false;
  let cookies = 0;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    if (name.charCodeAt(0) === 0x3a /* : */) {
      if (regular) return `pseudo-header ${name} after a regular field`;
      switch (name) {
        case ':method':
          if (method !== undefined) return 'a repeated :method';
          method = value;
          break;
        case ':scheme':
          if (scheme !== undefined) return 'a repeated :scheme';
          scheme = value;
          break;
        case ':path':
          if (path !== undefined) return 'a repeated :path';
          path = value;
          break;
        case ':authority':
          if (authority !== undefined) return 'a repeated :authority';
          authority = value;
          break;
        default:
          return `unknown pseudo-header ${JSON.stringify(name)}`;
      }
    } else {
      regular = true;
      const nameProblem = badName(name);
      if (nameProblem !== undefined) return nameProblem;
      if (isConnectionSpecific(name)) return `connection-specific field ${name}`;
      if (name === 'te' && value !== 'trailers') return `te: ${JSON.stringify(value)} (only "trailers" is allowed)`;
      if (name === 'cookie') cookies++;
      else if (name === 'content-length') {
        const n = parseContentLength(value);
        if (n < 0) return `content-length ${JSON.stringify(value)} is not a number`;
        if (contentLength >= 0 && n !== contentLength) return 'content-length fields disagree';
        contentLength = n;
      }
    }
    const valueProblem = badValue(name, value);
    if (valueProblem !== undefined) return valueProblem;
  }
  if (method === undefined) return 'no :method';
  if (method === 'CONNECT') {
    if (authority === undefined) return 'CONNECT without :authority';
    if (scheme !== undefined || path !== undefined) return 'CONNECT with :scheme or :path';
    path = authority;
  } else {
    if (scheme === undefined) return 'no :scheme';
    if (path === undefined || path.length === 0) return 'no :path';
  }
  return { method, path, authority, contentLength, fields: cookies > 1 ? joinCookies(fields) : fields };
}

/** `reason` when a trailer section has a pseudo-header or a bad field, else undefined. */
export function checkTrailers(fields: readonly string[]): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i]!;
    if (name.charCodeAt(0) === 0x3a) return `pseudo-header ${name} in trailers`;
    const problem = badName(name) ?? badValue(name, fields[i + 1]!);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/** A non-negative decimal of at most 15 digits, else -1. */
function parseContentLength(value: string): number {
  if (value.length === 0 || value.length > 15) return -1;
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const d = value.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** The fields with every `cookie` joined by "; " at the place of the first (§8.2.3: for HTTP/1.1 upstreams). */
function joinCookies(fields: readonly string[]): string[] {
  const out: string[] = [];
  let at = -1;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 'cookie') {
      if (at >= 0) {
        out[at] += `; ${fields[i + 1]!}`;
        continue;
      }
      at = out.length + 1;
    }
    out.push(fields[i]!, fields[i + 1]!);
  }
  return out;
}
