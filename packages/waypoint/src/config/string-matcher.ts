/**
 * envoy.type.matcher.v3.StringMatcher → a compiled `StringMatcher`. Each kind is its own small class so
 * that `matches` is one monomorphic comparison (no switch per call, no allocation except for
 * `ignore_case`, where the value is lower-cased once).
 */
import type { StringMatcher as CompiledStringMatcher } from './types.js';
import type { StringMatcher, RegexMatcher } from './envoy-types.js';
import { invalid, join } from './errors.js';
import { compileFullMatch } from './regex.js';
import { refuseFields } from './values.js';

class ExactMatcher implements CompiledStringMatcher {
  readonly #expected: string;
  readonly description: string;
  constructor(expected: string) {
    this.#expected = expected;
    this.description = `exact ${JSON.stringify(expected)}`;
    Object.freeze(this);
  }
  matches(value: string): boolean {
    return value === this.#expected;
  }
}

class PrefixMatcher implements CompiledStringMatcher {
  readonly #prefix: string;
  readonly description: string;
  constructor(prefix: string) {
    this.#prefix = prefix;
    this.description = `prefix ${JSON.stringify(prefix)}`;
    Object.freeze(this);
  }
  matches(value: string): boolean {
    return value.startsWith(this.#prefix);
  }
}

class SuffixMatcher implements CompiledStringMatcher {
  readonly #suffix: string;
  readonly description: string;
  constructor(suffix: string) {
    this.#suffix = suffix;
    this.description = `suffix ${JSON.stringify(suffix)}`;
    Object.freeze(this);
  }
  matches(value: string): boolean {
    return value.endsWith(this.#suffix);
  }
}

class ContainsMatcher implements CompiledStringMatcher {
  readonly #part: string;
  readonly description: string;
  constructor(part: string) {
    this.#part = part;
    this.description = `contains ${JSON.stringify(part)}`;
    Object.freeze(this);
  }
  matches(value: string): boolean {
    return value.includes(this.#part);
  }
}

class RegexStringMatcher implements CompiledStringMatcher {
  readonly #regex: RegExp;
  readonly description: string;
  constructor(regex: RegExp, pattern: string) {
    this.#regex = regex;
    this.description = `regex ${JSON.stringify(pattern)}`;
    Object.freeze(this);
  }
  matches(value: string): boolean {
    return this.#regex.test(value);
  }
}

/** Lower-cases the value, then asks the inner matcher (built on the lower-cased pattern). */
class IgnoreCaseMatcher implements CompiledStringMatcher {
  readonly #inner: CompiledStringMatcher;
  readonly description: string;
  constructor(inner: CompiledStringMatcher) {
    this.#inner = inner;
    this.description = `${inner.description} (ignoring case)`;
    Object.freeze(this);
  }
  matches(value: string): boolean {
    return this.#inner.matches(value.toLowerCase());
  }
}

/** The `regex` of a RegexMatcher, with RE2 as the only engine Envoy still accepts. */
export function regexOf(m: RegexMatcher | undefined, at: string): string {
  if (m === undefined) invalid(at, 'missing');
  const regex = m.regex ?? '';
  if (regex === '') invalid(join(at, 'regex'), 'is empty');
  return regex;
}

/**
 * Compiles a StringMatcher at `at`. `forceIgnoreCase` makes it case-insensitive whatever `ignore_case`
 * says (`:method`: methods compare upper-cased on both sides, GHSA-w44g-8m76-8gc5).
 */
export function compileStringMatcher(m: StringMatcher | undefined, at: string, forceIgnoreCase = false): CompiledStringMatcher {
  if (m === undefined) invalid(at, 'missing');
  refuseFields(m, ['custom'], at);
  const ignoreCase = forceIgnoreCase || m.ignore_case === true;
  const wrap = (inner: CompiledStringMatcher): CompiledStringMatcher => (ignoreCase ? new IgnoreCaseMatcher(inner) : inner);
  const text = (value: string): string => (ignoreCase ? value.toLowerCase() : value);
  switch (m.match_pattern) {
    case 'exact':
      return wrap(new ExactMatcher(text(m.exact ?? '')));
    case 'prefix':
      if (!m.prefix) invalid(join(at, 'prefix'), 'is empty');
      return wrap(new PrefixMatcher(text(m.prefix)));
    case 'suffix':
      if (!m.suffix) invalid(join(at, 'suffix'), 'is empty');
      return wrap(new SuffixMatcher(text(m.suffix)));
    case 'contains':
      if (!m.contains) invalid(join(at, 'contains'), 'is empty');
      return wrap(new ContainsMatcher(text(m.contains)));
    case 'safe_regex': {
      const pattern = regexOf(m.safe_regex, join(at, 'safe_regex'));
      // Envoy ignores `ignore_case` for safe_regex (the pattern says what it means); only a forced
      // case-insensitive match (`:method`) uses the regex's own `i` flag.
      return new RegexStringMatcher(compileFullMatch(pattern, join(at, 'safe_regex.regex'), forceIgnoreCase), pattern);
    }
    case undefined:
    default:
      return invalid(at, 'sets none of exact, prefix, suffix, contains, safe_regex');
  }
}
