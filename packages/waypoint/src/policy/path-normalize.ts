/**
 * Request path normalization before routing and policy (Envoy's `normalize_path` and `merge_slashes`),
 * so that one resource has one spelling: `/a/%2e%2e/admin`, `/a/../admin` and `//admin` must all be
 * `/admin` when a policy about `/admin` is evaluated.
 *
 * `normalize` (RFC 3986 §6.2.2): percent-encodings of unreserved characters are decoded (`%2e` → `.`,
 * `%41` → `A`), other percent-encodings are kept with upper-case hex (`%2f` → `%2F`: an encoded slash is
 * data, not a separator), `\` is read as `/` (as browsers and Envoy's URL canonicalizer do), and dot
 * segments are removed (§5.2.4). `mergeSlashes` then collapses runs of `/`.
 *
 * A path that is not a valid origin-form path (no leading `/`, control characters, spaces, non-ASCII, a
 * `%` not followed by two hex digits, a `#`) is refused: the data path answers 400.
 */
import type { PathNormalization } from '../config/types.js';

/** Bytes allowed in a path as sent (RFC 3986 pchar plus `/`, `%`, and `\` which is normalized). */
const VALID_PATH = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/%\\]*$/;
const UNRESERVED = /[A-Za-z0-9\-._~]/;

function isHex(c: string | undefined): boolean {
  return c !== undefined && /^[0-9A-Fa-f]$/.test(c);
}

function decodeUnreserved(path: string): string | undefined {
  let out = '';
  for (let i = 0; i < path.length; i++) {
    const c = path[i]!;
    if (c === '\\') {
      out += '/';
      continue;
    }
    if (c !== '%') {
      out += c;
      continue;
    }
    const h1 = path[i + 1];
    const h2 = path[i + 2];
    if (!isHex(h1) || !isHex(h2)) return undefined;
    const decoded = String.fromCharCode(parseInt(`${h1}${h2}`, 16));
    out += UNRESERVED.test(decoded) ? decoded : `%${h1!.toUpperCase()}${h2!.toUpperCase()}`;
    i += 2;
  }
  return out;
}

/** RFC 3986 §5.2.4 on a path that starts with `/`. */
function removeDotSegments(path: string): string {
  const segments = path.split('/');
  const out: string[] = [];
  // segments[0] is the empty string before the leading '/'.
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i]!;
    const last = i === segments.length - 1;
    if (s === '.') {
      if (last) out.push('');
    } else if (s === '..') {
      out.pop();
      if (last) out.push('');
    } else {
      out.push(s);
    }
  }
  return `/${out.join('/')}`;
}

/**
 * Normalizes a request path (without the query: split at the first `?` before calling). Returns the
 * normalized path, or undefined when the path is invalid. Without either option the path is only checked.
 */
export function normalizePath(path: string, options: PathNormalization): string | undefined {
  if (!VALID_PATH.test(path)) return undefined;
  let p = path;
  // The common case — nothing to decode, no dot segment, no doubled slash — costs one scan per test.
  if (options.normalize && (p.includes('%') || p.includes('\\') || p.includes('/.'))) {
    const decoded = decodeUnreserved(p);
    if (decoded === undefined) return undefined;
    p = removeDotSegments(decoded);
  } else if (!options.normalize) {
    // Still refuse a malformed escape: matchers and upstreams must not disagree on what it means.
    for (let i = p.indexOf('%'); i !== -1; i = p.indexOf('%', i + 1)) {
      if (!isHex(p[i + 1]) || !isHex(p[i + 2])) return undefined;
    }
  }
  if (options.mergeSlashes && p.includes('//')) p = p.replace(/\/{2,}/g, '/');
  return p;
}
