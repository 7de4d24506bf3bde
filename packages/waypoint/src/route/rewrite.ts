/**
 * URL rewrites of a forwarded request (`prefix_rewrite`, `regex_rewrite`) and the `Location` of a
 * redirect, built from its parts. Rewrites apply to the path only; the query is kept.
 */
import type { ForwardAction, PathMatcher, RedirectAction } from '../config/types.js';

interface CompiledRegexRewrite {
  readonly global: RegExp;
  readonly replacement: string;
}

/** The global copy of a regex rewrite's pattern and its substitution in JS form, made once per action. */
const regexCache = new WeakMap<ForwardAction, CompiledRegexRewrite>();

function compiled(action: ForwardAction, rw: { readonly pattern: RegExp; readonly substitution: string }): CompiledRegexRewrite {
  let c = regexCache.get(action);
  if (c === undefined) {
    const flags = rw.pattern.flags.includes('g') ? rw.pattern.flags : `${rw.pattern.flags}g`;
    // Envoy (RE2) writes groups as \1; JS as $1, and a literal $ must be doubled.
    const replacement = rw.substitution.replace(/\$/g, '$$$$').replace(/\\(\d)/g, '$$$1');
    c = { global: new RegExp(rw.pattern.source, flags), replacement };
    regexCache.set(action, c);
  }
  return c;
}

/** The upstream path after the action's rewrite (or `path` itself). Envoy replaces every match, as RE2's GlobalReplace. */
export function rewritePath(action: ForwardAction, matcher: PathMatcher, path: string): string {
  if (action.prefixRewrite !== undefined && matcher.prefix !== undefined) {
    return replacePrefix(path, matcher.prefix.length, action.prefixRewrite);
  }
  if (action.regexRewrite !== undefined) {
    const c = compiled(action, action.regexRewrite);
    c.global.lastIndex = 0;
    return path.replace(c.global, c.replacement);
  }
  return path;
}

function replacePrefix(path: string, length: number, replacement: string): string {
  const rest = path.slice(length);
  // `/api` rewritten to `/` must not produce `//v1` from `/api/v1`.
  if (replacement.endsWith('/') && rest.startsWith('/')) return `${replacement}${rest.slice(1)}`;
  return `${replacement}${rest}` || '/';
}

/**
 * The `Location` of a redirect: scheme, host and port default to the request's, the path is replaced whole
 * (`path`, which may carry its own query) or by prefix, and the query is kept unless `stripQuery`.
 */
export function redirectLocation(
  action: RedirectAction,
  matcher: PathMatcher,
  req: { readonly scheme: string; readonly host: string; readonly path: string; readonly query: string; readonly hasQuery: boolean },
): string {
  const scheme = action.scheme ?? req.scheme;
  let host = action.host ?? req.host;
  if (action.port !== undefined) host = `${hostOnly(host)}:${action.port}`;
  else if (action.scheme !== undefined && action.scheme !== req.scheme) host = hostOnly(host);
  let path = req.path;
  let query = req.hasQuery ? `?${req.query}` : '';
  if (action.path !== undefined) {
    const q = action.path.indexOf('?');
    if (q >= 0) {
      path = action.path.slice(0, q);
      query = action.path.slice(q);
    } else {
      path = action.path;
    }
  } else if (action.prefixRewrite !== undefined && matcher.prefix !== undefined) {
    path = replacePrefix(path, matcher.prefix.length, action.prefixRewrite);
  }
  if (action.stripQuery) query = '';
  return `${scheme}://${host}${path}${query}`;
}

/** A host without its port (a scheme change drops the old scheme's port, as Envoy does). */
function hostOnly(host: string): string {
  const colon = host.lastIndexOf(':');
  return colon < 0 || host.lastIndexOf(']') > colon ? host : host.slice(0, colon);
}
