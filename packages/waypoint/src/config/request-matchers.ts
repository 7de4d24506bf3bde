/**
 * The request matchers of routes and policies: header matchers (with the `any`/`all` reading of repeated
 * headers), query-parameter matchers and path matchers. The values they are given come from the data
 * path's `headerValues` and `parseQuery` (`route/select.ts`), which policy uses too, so that routing and
 * RBAC read a request the same way.
 */
import type { HeaderMatcher, PathMatcher, QueryParameterMatcher, StringMatcher } from './types.js';
import type * as envoy from './envoy-types.js';
import { invalid, join } from './errors.js';
import { compileFullMatch } from './regex.js';
import { compileStringMatcher, regexOf } from './string-matcher.js';
import { refuseFields } from './values.js';

const ONE_EMPTY_VALUE: readonly string[] = Object.freeze(['']);

/** How one header value is tested; `undefined` for `present_match`, which looks only at presence. */
type ValueTest = ((value: string) => boolean) | undefined;

class CompiledHeaderMatcher implements HeaderMatcher {
  readonly name: string;
  readonly description: string;
  readonly #test: ValueTest;
  /** For `present_match`: whether presence (true) or absence (false) is wanted. */
  readonly #present: boolean;
  readonly #invert: boolean;
  readonly #missingAsEmpty: boolean;

  constructor(name: string, test: ValueTest, present: boolean, invert: boolean, missingAsEmpty: boolean, description: string) {
    this.name = name;
    this.#test = test;
    this.#present = present;
    this.#invert = invert;
    this.#missingAsEmpty = missingAsEmpty;
    this.description = description;
    Object.freeze(this);
  }

  matches(values: readonly string[], mode: 'any' | 'all'): boolean {
    let vs = values;
    if (vs.length === 0 && this.#missingAsEmpty) vs = ONE_EMPTY_VALUE;
    const test = this.#test;
    if (test === undefined) return (vs.length > 0 === this.#present) !== this.#invert;
    // A missing header matches no value matcher, inverted or not (Envoy, gRPC xDS): an inverted matcher
    // says "present with another value", not "absent".
    if (vs.length === 0) return false;
    const invert = this.#invert;
    if (mode === 'any') {
      for (const v of vs) if (test(v) !== invert) return true;
      return false;
    }
    for (const v of vs) if (test(v) === invert) return false;
    return true;
  }
}

/** Header names in matchers and mutations: RFC 9110 tokens, or one of the request pseudo-headers. */
const HEADER_NAME = /^(:(method|authority|path|scheme)|[!#$%&'*+\-.^_`|~0-9a-z]+)$/;

/** Checks and lower-cases a header name at `at`. */
export function headerName(name: string | undefined, at: string): string {
  const lower = (name ?? '').toLowerCase();
  if (lower === '') invalid(at, 'is empty');
  if (!HEADER_NAME.test(lower)) invalid(at, `${JSON.stringify(name)} is not a valid header name`);
  return lower;
}

function rangeTest(range: envoy.Int64Range, at: string): (value: string) => boolean {
  const start = range.start ?? 0;
  const end = range.end ?? 0;
  if (start >= end) invalid(at, `start ${start} must be below end ${end}`);
  return (value) => {
    if (!/^-?\d{1,18}$/.test(value)) return false;
    const n = Number(value);
    return n >= start && n < end;
  };
}

/** Compiles an envoy.config.route.v3.HeaderMatcher at `at`. */
export function compileHeaderMatcher(m: envoy.HeaderMatcher, at: string): HeaderMatcher {
  const name = headerName(m.name, join(at, 'name'));
  // Methods compare case-insensitively on both sides: `get` must not slip past a rule for `GET`.
  const forceIgnoreCase = name === ':method';
  const invert = m.invert_match === true;
  const missingAsEmpty = m.treat_missing_header_as_empty === true;
  const make = (matcher: StringMatcher): HeaderMatcher =>
    new CompiledHeaderMatcher(name, (v) => matcher.matches(v), true, invert, missingAsEmpty, `${name} ${invert ? 'not ' : ''}${matcher.description}`);
  const legacy = (field: string, match: envoy.StringMatcher): HeaderMatcher => make(compileStringMatcher(match, join(at, field), forceIgnoreCase));
  switch (m.header_match_specifier) {
    case 'string_match':
      return make(compileStringMatcher(m.string_match, join(at, 'string_match'), forceIgnoreCase));
    case 'present_match': {
      const present = m.present_match === true;
      return new CompiledHeaderMatcher(name, undefined, present, invert, missingAsEmpty, `${name} ${present !== invert ? 'present' : 'absent'}`);
    }
    case 'exact_match':
      return legacy('exact_match', { exact: m.exact_match ?? '', match_pattern: 'exact' });
    case 'prefix_match':
      return legacy('prefix_match', { prefix: m.prefix_match ?? '', match_pattern: 'prefix' });
    case 'suffix_match':
      return legacy('suffix_match', { suffix: m.suffix_match ?? '', match_pattern: 'suffix' });
    case 'contains_match':
      return legacy('contains_match', { contains: m.contains_match ?? '', match_pattern: 'contains' });
    case 'safe_regex_match':
      return legacy('safe_regex_match', { safe_regex: { regex: regexOf(m.safe_regex_match, join(at, 'safe_regex_match')) }, match_pattern: 'safe_regex' });
    case 'range_match': {
      const test = rangeTest(m.range_match ?? {}, join(at, 'range_match'));
      return new CompiledHeaderMatcher(name, test, true, invert, missingAsEmpty, `${name} ${invert ? 'not ' : ''}in [${m.range_match?.start ?? 0}, ${m.range_match?.end ?? 0})`);
    }
    case undefined:
      // No specifier: the header must be present (Envoy's reading of an empty matcher).
      return new CompiledHeaderMatcher(name, undefined, true, invert, missingAsEmpty, `${name} ${invert ? 'absent' : 'present'}`);
    default:
      return invalid(at, `unsupported header match ${JSON.stringify(m.header_match_specifier)}`);
  }
}

class CompiledQueryMatcher implements QueryParameterMatcher {
  readonly name: string;
  readonly #matcher: StringMatcher | undefined;
  constructor(name: string, matcher: StringMatcher | undefined) {
    this.name = name;
    this.#matcher = matcher;
    Object.freeze(this);
  }
  /** Envoy tests the first value of the parameter; `present_match` only its presence. */
  matches(query: ReadonlyMap<string, readonly string[]>): boolean {
    const values = query.get(this.name);
    if (values === undefined) return false;
    const first = values[0];
    return this.#matcher === undefined || (first !== undefined && this.#matcher.matches(first));
  }
}

/** Compiles an envoy.config.route.v3.QueryParameterMatcher at `at`. */
export function compileQueryMatcher(m: envoy.QueryParameterMatcher, at: string): QueryParameterMatcher {
  const name = m.name ?? '';
  if (name === '') invalid(join(at, 'name'), 'is empty');
  switch (m.query_parameter_match_specifier) {
    case 'string_match':
      return new CompiledQueryMatcher(name, compileStringMatcher(m.string_match, join(at, 'string_match')));
    case 'present_match':
      if (m.present_match !== true) invalid(join(at, 'present_match'), 'must be true (absence cannot be matched)');
      return new CompiledQueryMatcher(name, undefined);
    case undefined:
    default:
      return invalid(at, 'sets neither string_match nor present_match');
  }
}

class FunctionPathMatcher implements PathMatcher {
  readonly matches: (path: string) => boolean;
  readonly description: string;
  readonly prefix: string | undefined;
  constructor(matches: (path: string) => boolean, description: string, prefix: string | undefined) {
    this.matches = matches;
    this.description = description;
    this.prefix = prefix;
    Object.freeze(this);
  }
}

/** Compiles the path specifier of an envoy.config.route.v3.RouteMatch at `at` (the RouteMatch). */
export function compilePathMatcher(m: envoy.RouteMatch, at: string): PathMatcher {
  refuseFields(m, ['connect_matcher', 'path_match_policy'], at);
  const caseSensitive = m.case_sensitive === undefined || m.case_sensitive.value === true;
  const fold = (s: string): string => (caseSensitive ? s : s.toLowerCase());
  const suffix = caseSensitive ? '' : ' (ignoring case)';
  switch (m.path_specifier) {
    case 'prefix': {
      const raw = m.prefix ?? '';
      const prefix = fold(raw);
      return new FunctionPathMatcher(caseSensitive ? (p) => p.startsWith(prefix) : (p) => p.toLowerCase().startsWith(prefix), `prefix ${JSON.stringify(prefix)}${suffix}`, raw);
    }
    case 'path': {
      const path = fold(m.path ?? '');
      if (!path.startsWith('/')) invalid(join(at, 'path'), `${JSON.stringify(m.path ?? '')} does not start with "/"`);
      return new FunctionPathMatcher(caseSensitive ? (p) => p === path : (p) => p.toLowerCase() === path, `path ${JSON.stringify(path)}${suffix}`, undefined);
    }
    case 'path_separated_prefix': {
      const raw = m.path_separated_prefix ?? '';
      const where = join(at, 'path_separated_prefix');
      if (!raw.startsWith('/')) invalid(where, `${JSON.stringify(raw)} does not start with "/"`);
      if (raw.length > 1 && raw.endsWith('/')) invalid(where, `${JSON.stringify(raw)} ends with "/"`);
      if (/[?#]/.test(raw)) invalid(where, `${JSON.stringify(raw)} contains "?" or "#"`);
      // `/` alone separates everything: it is the same as prefix `/`.
      const prefix = fold(raw === '/' ? '' : raw);
      const withSlash = `${prefix}/`;
      const test = (p: string): boolean => p === prefix || p.startsWith(withSlash);
      return new FunctionPathMatcher(caseSensitive ? test : (p) => test(p.toLowerCase()), `path_separated_prefix ${JSON.stringify(raw)}${suffix}`, raw);
    }
    case 'safe_regex': {
      const pattern = regexOf(m.safe_regex, join(at, 'safe_regex'));
      const regex = compileFullMatch(pattern, join(at, 'safe_regex.regex'), !caseSensitive);
      return new FunctionPathMatcher((p) => regex.test(p), `regex ${JSON.stringify(pattern)}${suffix}`, undefined);
    }
    case undefined:
    default:
      return invalid(at, 'sets none of prefix, path, path_separated_prefix, safe_regex');
  }
}
