/**
 * Request-target parsing and path normalization, before anything matches on the path (Envoy's
 * `normalize_path` and `merge_slashes`). Normalization is a security boundary: RBAC `url_path` rules and
 * routes see the normalized path, and the upstream receives that same path, so `/a/%2e%2e/admin` cannot be
 * `/admin` for the backend while policy saw something else.
 *
 * - The target must be origin-form (`/…`); anything else (absolute-form, `*`, a fragment) is refused.
 * - Characters outside RFC 3986 `pchar`/`/` in the path, bad percent-escapes, and control characters,
 *   spaces or non-ASCII bytes anywhere are refused rather than guessed at.
 * - `normalize`: escapes of unreserved characters (ALPHA DIGIT `-._~`) are decoded, other escapes kept
 *   with upper-case hex (`%2f` → `%2F`: an encoded slash stays a byte of a segment, never a separator),
 *   then dot segments are removed (RFC 3986 §5.2.4; `..` above the root stays at the root).
 * - `mergeSlashes`: runs of `/` become one.
 * The query is kept byte for byte.
 */
import type { PathNormalization } from '../config/types.js';

/** A request target split and normalized. */
export interface ParsedTarget {
  readonly path: string;
  /** Without the `?`; '' when there is none. */
  readonly query: string;
  /** Whether a `?` was present (an empty query is forwarded as sent). */
  readonly hasQuery: boolean;
}

/** Why a request target was refused (answered 400). */
export interface TargetError {
  readonly error: string;
}

// RFC 3986 pchar without '%' (checked separately) plus '/': unreserved, sub-delims, ':' and '@'.
const PATH_CHAR = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/") PATH_CHAR[c.charCodeAt(0)] = 1;
const UNRESERVED = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~') UNRESERVED[c.charCodeAt(0)] = 1;

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** Parses and normalizes `:path` (HTTP/2) or the request-target (HTTP/1.1). */
export function parseTarget(target: string, normalization: PathNormalization): ParsedTarget | TargetError {
  if (target.length === 0 || target.charCodeAt(0) !== 47 /* / */) {
    return { error: `the request target ${JSON.stringify(truncate(target))} is not a path starting with "/"` };
  }
  const q = target.indexOf('?');
  const rawPath = q < 0 ? target : target.slice(0, q);
  const query = q < 0 ? '' : target.slice(q + 1);
  for (let i = 0; i < query.length; i++) {
    const c = query.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 35 /* # */) return { error: `the query holds a forbidden character (code ${c}) at offset ${i}` };
  }
  const decoded = checkAndDecode(rawPath, normalization.normalize);
  if (typeof decoded !== 'string') return decoded;
  let path = decoded;
  if (normalization.normalize) path = removeDotSegments(path);
  if (normalization.mergeSlashes) path = mergeSlashes(path);
  return { path, query, hasQuery: q >= 0 };
}

/** Validates the path's characters and escapes; with `decode`, decodes unreserved escapes and upper-cases the rest. */
function checkAndDecode(p: string, decode: boolean): string | TargetError {
  let out: string[] | undefined;
  let from = 0;
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    if (c === 37 /* % */) {
      const hi = i + 2 < p.length ? hexValue(p.charCodeAt(i + 1)) : -1;
      const lo = hi < 0 ? -1 : hexValue(p.charCodeAt(i + 2));
      if (lo < 0) return { error: `the path has a malformed percent-escape at offset ${i}` };
      if (decode) {
        const byte = hi * 16 + lo;
        const replacement = UNRESERVED[byte] === 1 ? String.fromCharCode(byte) : `%${p[i + 1]!.toUpperCase()}${p[i + 2]!.toUpperCase()}`;
        if (replacement !== p.slice(i, i + 3)) {
          out ??= [];
          out.push(p.slice(from, i), replacement);
          from = i + 3;
        }
      }
      i += 2;
      continue;
    }
    if (c >= 128 || PATH_CHAR[c] !== 1) return { error: `the path holds a forbidden character (code ${c}) at offset ${i}` };
  }
  if (out === undefined) return p;
  out.push(p.slice(from));
  return out.join('');
}

/** RFC 3986 §5.2.4 over an absolute path, segment-wise (equivalent to the spec's loop for paths starting with `/`). */
export function removeDotSegments(path: string): string {
  if (!path.includes('.')) return path;
  const input = path.split('/');
  const out: string[] = [];
  // input[0] is '' (the path starts with '/').
  for (let i = 1; i < input.length; i++) {
    const seg = input[i]!;
    const last = i === input.length - 1;
    if (seg === '.') {
      if (last) out.push('');
    } else if (seg === '..') {
      out.pop();
      if (last) out.push('');
    } else {
      out.push(seg);
    }
  }
  return `/${out.join('/')}`;
}

export function mergeSlashes(path: string): string {
  return path.includes('//') ? path.replace(/\/{2,}/g, '/') : path;
}

function truncate(s: string): string {
  return s.length > 64 ? `${s.slice(0, 64)}…` : s;
}
