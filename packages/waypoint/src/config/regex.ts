/**
 * Envoy's `safe_regex` (RE2 syntax) on JavaScript's RegExp, compiled once per resource.
 *
 * RE2 and JS (with the `u` flag) agree on the syntax Envoy configurations use in practice; where they
 * differ the pattern is translated or refused, never silently read another way:
 * - translated: `(?P<name>…)` → `(?<name>…)`, `\pL` → `\p{L}`, `\A` / `\z` → `^` / `$`, a leading `(?i)` or
 *   `(?s)` → the `i` / `s` flag;
 * - refused: look-around and back-references (RE2 has neither: a pattern using them was not written for
 *   RE2), other inline flags, `\Q…\E`, POSIX classes `[[:alpha:]]` (JS reads them as a different class);
 * - refused: a repeated group that itself contains a repetition (`(a+)+`, `(\w*\s?)*`). RE2 matches in
 *   linear time whatever the pattern; JS backtracks, and such patterns can take exponential time on a
 *   request an attacker shapes. Patterns from Gateway API and Istio paths never need nesting.
 * Matching is RE2's FullMatch, as Envoy's: the whole value must match (`^(?:…)$`).
 */
import { invalid } from './errors.js';

interface Translated {
  readonly source: string;
  readonly flags: string;
}

/** One open group while scanning: whether something inside it repeats. */
interface GroupState {
  containsRepeat: boolean;
}

/** Scans an RE2 pattern, returning its JS translation or throwing a `FieldError` at `at`. */
function translate(pattern: string, at: string): Translated {
  let flags = '';
  let i = 0;
  // A leading flag group applies to the whole pattern: the only place JS can express it.
  const leading = /^\(\?([is]+)\)/.exec(pattern);
  if (leading) {
    flags = [...new Set(leading[1])].join('');
    i = leading[0].length;
  }
  let out = '';
  let inClass = false;
  const groups: GroupState[] = [{ containsRepeat: false }];
  /** Whether the atom just emitted is a group that contains a repetition (for the nested-quantifier check). */
  let lastAtomRepeats = false;

  const refuse = (what: string): never => invalid(at, `${what} is not supported (RE2 syntax on a backtracking engine): ${JSON.stringify(pattern)}`);

  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '\\') {
      const next = pattern[i + 1];
      if (next === undefined) invalid(at, `trailing backslash in ${JSON.stringify(pattern)}`);
      if (!inClass && next >= '1' && next <= '9') refuse('a back-reference');
      if (next === 'k' && pattern[i + 2] === '<') refuse('a named back-reference');
      if (next === 'Q' || next === 'E') refuse('\\Q…\\E quoting');
      if (next === 'C') refuse('\\C (any byte)');
      if (!inClass && next === 'A') {
        out += '^';
      } else if (!inClass && next === 'z') {
        out += '$';
      } else if ((next === 'p' || next === 'P') && pattern[i + 2] !== '{' && pattern[i + 2] !== undefined) {
        out += `\\${next}{${pattern[i + 2]!}}`;
        i += 1;
      } else {
        out += c + next;
      }
      i += 2;
      lastAtomRepeats = false;
      continue;
    }
    if (inClass) {
      if (c === '[' && pattern[i + 1] === ':') refuse('a POSIX character class');
      if (c === ']') inClass = false;
      out += c;
      i += 1;
      continue;
    }
    switch (c) {
      case '[':
        inClass = true;
        out += c;
        // `[]…]` and `[^]…]`: RE2 reads a leading `]` as a literal; JS would end the class there.
        if (pattern[i + 1] === '^') {
          out += '^';
          i += 1;
        }
        if (pattern[i + 1] === ']') {
          out += '\\]';
          i += 1;
        }
        i += 1;
        lastAtomRepeats = false;
        continue;
      case '(': {
        if (pattern[i + 1] === '?') {
          const rest = pattern.slice(i + 2);
          if (rest.startsWith(':')) {
            out += '(?:';
            i += 3;
          } else if (rest.startsWith('P<')) {
            out += '(?<';
            i += 4;
          } else if (rest.startsWith('<') && !rest.startsWith('<=') && !rest.startsWith('<!')) {
            out += '(?<';
            i += 3;
          } else if (rest.startsWith('=') || rest.startsWith('!')) {
            return refuse('look-ahead');
          } else if (rest.startsWith('<=') || rest.startsWith('<!')) {
            return refuse('look-behind');
          } else {
            return refuse('an inline flag group (only a leading (?i) or (?s) is)');
          }
        } else {
          out += '(';
          i += 1;
        }
        groups.push({ containsRepeat: false });
        lastAtomRepeats = false;
        continue;
      }
      case ')': {
        const closed = groups.pop();
        if (closed === undefined || groups.length === 0) invalid(at, `invalid regular expression: unbalanced ")" in ${JSON.stringify(pattern)}`);
        out += ')';
        i += 1;
        lastAtomRepeats = closed.containsRepeat;
        if (closed.containsRepeat) groups[groups.length - 1]!.containsRepeat = true;
        continue;
      }
      case '*':
      case '+':
      case '{': {
        const quantifier = c === '{' ? /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i)) : null;
        if (c === '{' && !quantifier) {
          // Not a quantifier: RE2 reads a lone `{` literally; JS with `u` refuses it.
          out += '\\{';
          i += 1;
          lastAtomRepeats = false;
          continue;
        }
        const repeats = quantifier === null || repeatsMoreThanOnce(quantifier);
        if (repeats && lastAtomRepeats) refuse('a repeated group that itself repeats');
        if (repeats) groups[groups.length - 1]!.containsRepeat = true;
        const text = c === '{' ? quantifier![0] : c;
        out += text;
        i += text.length;
        // A lazy marker (`*?`) belongs to the quantifier.
        if (pattern[i] === '?') {
          out += '?';
          i += 1;
        }
        lastAtomRepeats = false;
        continue;
      }
      default:
        out += c;
        i += 1;
        lastAtomRepeats = false;
    }
  }
  if (inClass) invalid(at, `invalid regular expression: unterminated character class in ${JSON.stringify(pattern)}`);
  if (groups.length !== 1) invalid(at, `invalid regular expression: unterminated group in ${JSON.stringify(pattern)}`);
  return { source: out, flags };
}

/** `{n}` repeats when n > 1, `{n,}` always, `{n,m}` when m > 1. */
function repeatsMoreThanOnce(quantifier: RegExpExecArray): boolean {
  if (quantifier[2] === undefined) return Number(quantifier[1]) > 1;
  return quantifier[3] === '' || quantifier[3] === undefined || Number(quantifier[3]) > 1;
}

function construct(source: string, flags: string, at: string): RegExp {
  try {
    return new RegExp(source, flags);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return invalid(at, `invalid regular expression: ${reason}`);
  }
}

/**
 * A full-match regex (RE2 FullMatch): `test` is true only when the whole value matches. `ignoreCase`
 * adds the `i` flag (a matcher's `ignore_case`).
 */
export function compileFullMatch(pattern: string, at: string, ignoreCase = false): RegExp {
  if (pattern === '') invalid(at, 'regex is empty');
  const t = translate(pattern, at);
  const flags = new Set([...t.flags, 'u']);
  if (ignoreCase) flags.add('i');
  return construct(`^(?:${t.source})$`, [...flags].join(''), at);
}

/**
 * A search-and-replace regex as Envoy's `regex_rewrite` applies it (RE2 GlobalReplace: every
 * non-overlapping match is replaced), so compiled with `g`. Checks that `substitution` refers only to
 * groups the pattern has (`\0`…`\9`).
 */
export function compileRewrite(pattern: string, substitution: string, at: string, substitutionAt: string): RegExp {
  if (pattern === '') invalid(at, 'regex is empty');
  const t = translate(pattern, at);
  const regex = construct(t.source, [...new Set([...t.flags, 'g', 'u'])].join(''), at);
  // The number of capture groups: an alternative that matches '' makes exec return every group.
  const groups = (new RegExp(`${t.source}|`, 'u').exec('')?.length ?? 1) - 1;
  for (const ref of substitution.matchAll(/\\(\d)/g)) {
    const n = Number(ref[1]);
    if (n > groups) invalid(substitutionAt, `refers to group \\${n} but the pattern has ${groups} group${groups === 1 ? '' : 's'}`);
  }
  return regex;
}
