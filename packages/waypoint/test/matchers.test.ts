import test, { type ExecutionContext } from 'ava';
import { FieldError } from '../src/config/errors.js';
import type * as envoy from '../src/config/envoy-types.js';
import { compileFullMatch, compileRewrite } from '../src/config/regex.js';
import { compileHeaderMatcher, compilePathMatcher, compileQueryMatcher } from '../src/config/request-matchers.js';
import { compileStringMatcher } from '../src/config/string-matcher.js';
import { parseQuery } from '../src/route/select.js';
import { roundTrip } from './support/envoy.js';

const ROUTE_MATCH = 'envoy.config.route.v3.RouteMatch';
const HEADER_MATCHER = 'envoy.config.route.v3.HeaderMatcher';
const STRING_MATCHER = 'envoy.type.matcher.v3.StringMatcher';

const sm = (value: object): envoy.StringMatcher => roundTrip<envoy.StringMatcher>(STRING_MATCHER, value);
const hm = (value: object): envoy.HeaderMatcher => roundTrip<envoy.HeaderMatcher>(HEADER_MATCHER, value);
const rm = (value: object): envoy.RouteMatch => roundTrip<envoy.RouteMatch>(ROUTE_MATCH, value);

function fieldError(t: ExecutionContext, fn: () => unknown, path: string, detail: RegExp): void {
  const err = t.throws(fn, { instanceOf: FieldError });
  t.is(err?.path, path);
  t.regex(err?.detail ?? '', detail);
  t.is(err?.code, 'WP_ERR_CONFIG_FIELD');
}

// ---- regex ----

test('regexes match the whole value (RE2 FullMatch), compiled with the u flag', (t) => {
  const r = compileFullMatch('/api/v[0-9]+', 'x');
  t.true(r.test('/api/v12'));
  t.false(r.test('/api/v12/extra'));
  t.false(r.test('x/api/v1'));
  t.true(r.flags.includes('u'));
  // An alternation is grouped before anchoring: `a|b` must not mean `^a` or `b$`.
  const alt = compileFullMatch('GET|POST', 'x');
  t.true(alt.test('POST'));
  t.false(alt.test('GETX'));
  t.false(alt.test('XPOST'));
});

test('RE2 syntax is translated: named groups, \\pL, \\A/\\z, leading (?i), literal {, []] classes', (t) => {
  t.true(compileFullMatch('(?P<v>[a-z]+)-\\d', 'x').test('abc-1'));
  t.true(compileFullMatch('\\pL+', 'x').test('héllo'));
  t.true(compileFullMatch('\\Aab\\z', 'x').test('ab'));
  t.true(compileFullMatch('(?i)admin', 'x').test('ADMIN'));
  t.true(compileFullMatch('a{b', 'x').test('a{b'));
  t.true(compileFullMatch('a{2}', 'x').test('aa'));
  t.true(compileFullMatch('[]a]+', 'x').test(']a]'));
  t.true(compileFullMatch('[^]a]', 'x').test('b'));
  t.false(compileFullMatch('[^]a]', 'x').test(']'));
});

test('look-around, back-references, inline flags, \\Q, POSIX classes and nested repetition are refused', (t) => {
  const at = 'safe_regex.regex';
  fieldError(t, () => compileFullMatch('a(?=b)', at), at, /look-ahead is not supported/);
  fieldError(t, () => compileFullMatch('a(?!b)', at), at, /look-ahead/);
  fieldError(t, () => compileFullMatch('(?<=a)b', at), at, /look-behind/);
  fieldError(t, () => compileFullMatch('(?<!a)b', at), at, /look-behind/);
  fieldError(t, () => compileFullMatch('(a)\\1', at), at, /back-reference/);
  fieldError(t, () => compileFullMatch('(?<x>a)\\k<x>', at), at, /named back-reference/);
  fieldError(t, () => compileFullMatch('a(?i)b', at), at, /inline flag group/);
  fieldError(t, () => compileFullMatch('\\Qa.b\\E', at), at, /quoting/);
  fieldError(t, () => compileFullMatch('[[:alpha:]]', at), at, /POSIX/);
  fieldError(t, () => compileFullMatch('(a+)+b', at), at, /repeated group that itself repeats/);
  fieldError(t, () => compileFullMatch('(\\w*\\s?)*', at), at, /repeated group/);
  fieldError(t, () => compileFullMatch('((ab)*c){2,}', at), at, /repeated group/);
  fieldError(t, () => compileFullMatch('\\C', at), at, /any byte/);
  // Bounded or optional repetition of a group with a repeat inside is fine.
  t.true(compileFullMatch('(a+)?b', at).test('aab'));
  t.true(compileFullMatch('(a+){1}b', at).test('ab'));
});

test('invalid regexes name the field and the engine reason; empty and unbalanced are refused', (t) => {
  const at = 'virtual_hosts[0].routes[2].match.safe_regex.regex';
  fieldError(t, () => compileFullMatch('a[', at), at, /unterminated character class/);
  fieldError(t, () => compileFullMatch('(a', at), at, /unterminated group/);
  fieldError(t, () => compileFullMatch('a)', at), at, /unbalanced/);
  fieldError(t, () => compileFullMatch('a\\', at), at, /trailing backslash/);
  fieldError(t, () => compileFullMatch('x**', at), at, /^invalid regular expression: /);
  fieldError(t, () => compileFullMatch('', at), at, /empty/);
});

test('rewrite regexes replace globally and check substitution groups', (t) => {
  const r = compileRewrite('/v1/([a-z]+)', '/v2/\\1', 'p', 's');
  t.true(r.global);
  t.is('/v1/abc/v1/def'.replace(r, '/v2/$1'), '/v2/abc/v2/def');
  const err = t.throws(() => compileRewrite('/v1/([a-z]+)', '/\\2', 'p', 'regex_rewrite.substitution'), { instanceOf: FieldError });
  t.is(err?.path, 'regex_rewrite.substitution');
  t.regex(err?.message ?? '', /refers to group \\2 but the pattern has 1 group/);
  t.throws(() => compileRewrite('', '', 'p', 's'), { instanceOf: FieldError, message: /empty/ });
});

// ---- string matchers ----

test('string matchers: exact, prefix, suffix, contains, safe_regex, ignore_case', (t) => {
  t.true(compileStringMatcher(sm({ exact: 'a' }), 'm').matches('a'));
  t.false(compileStringMatcher(sm({ exact: 'a' }), 'm').matches('A'));
  t.true(compileStringMatcher(sm({ exact: '' }), 'm').matches(''));
  t.true(compileStringMatcher(sm({ prefix: '/api' }), 'm').matches('/api/x'));
  t.true(compileStringMatcher(sm({ suffix: '.js' }), 'm').matches('a.js'));
  t.true(compileStringMatcher(sm({ contains: 'mid' }), 'm').matches('amidb'));
  t.true(compileStringMatcher(sm({ safe_regex: { regex: 'a.c' } }), 'm').matches('abc'));
  t.false(compileStringMatcher(sm({ safe_regex: { regex: 'a.c' } }), 'm').matches('abcd'));
  const ci = compileStringMatcher(sm({ prefix: '/API', ignore_case: true }), 'm');
  t.true(ci.matches('/api/x'));
  t.true(ci.matches('/Api/x'));
  t.is(ci.description, 'prefix "/api" (ignoring case)');
  t.true(compileStringMatcher(sm({ exact: 'GeT', ignore_case: true }), 'm').matches('gEt'));
  t.true(compileStringMatcher(sm({ suffix: '.JS', ignore_case: true }), 'm').matches('a.js'));
  t.true(compileStringMatcher(sm({ contains: 'MiD', ignore_case: true }), 'm').matches('xmidx'));
  // Envoy ignores ignore_case for safe_regex.
  t.false(compileStringMatcher(sm({ safe_regex: { regex: 'abc' }, ignore_case: true }), 'm').matches('ABC'));
  t.true(compileStringMatcher(sm({ safe_regex: { regex: 'abc' } }), 'm', true).matches('ABC'));
});

test('string matcher rejections name the field', (t) => {
  fieldError(t, () => compileStringMatcher(undefined, 'a.b'), 'a.b', /missing/);
  fieldError(t, () => compileStringMatcher(sm({}), 'a.b'), 'a.b', /sets none of/);
  fieldError(t, () => compileStringMatcher(sm({ prefix: '' }), 'a.b'), 'a.b.prefix', /is empty/);
  fieldError(t, () => compileStringMatcher({ prefix: '', match_pattern: 'prefix' }, 'a.b'), 'a.b.prefix', /is empty/);
  fieldError(t, () => compileStringMatcher({ suffix: '', match_pattern: 'suffix' }, 'a.b'), 'a.b.suffix', /is empty/);
  fieldError(t, () => compileStringMatcher({ contains: '', match_pattern: 'contains' }, 'a.b'), 'a.b.contains', /is empty/);
  fieldError(t, () => compileStringMatcher(sm({ safe_regex: { regex: '(?=x)' } }), 'a.b'), 'a.b.safe_regex.regex', /look-ahead/);
  fieldError(t, () => compileStringMatcher({ safe_regex: {}, match_pattern: 'safe_regex' }, 'a.b'), 'a.b.safe_regex.regex', /is empty/);
  fieldError(t, () => compileStringMatcher({ custom: {}, match_pattern: 'custom' }, 'a.b'), 'a.b.custom', /not supported/);
});

// ---- header matchers ----

test('header matchers read repeated headers in the mode asked for', (t) => {
  const m = compileHeaderMatcher(hm({ name: 'X-Team', string_match: { exact: 'a' } }), 'h');
  t.is(m.name, 'x-team');
  t.true(m.matches(['a'], 'any'));
  t.true(m.matches(['a'], 'all'));
  t.true(m.matches(['b', 'a'], 'any'));
  t.false(m.matches(['b', 'a'], 'all'));
  t.false(m.matches([], 'any'));
  t.false(m.matches([], 'all'), 'an absent header never matches, even in all mode');
});

test('inverted header matchers never match an absent header; present_match looks at presence only', (t) => {
  const inv = compileHeaderMatcher(hm({ name: 'x', string_match: { exact: 'a' }, invert_match: true }), 'h');
  t.true(inv.matches(['b'], 'any'));
  t.false(inv.matches(['a'], 'any'));
  t.false(inv.matches([], 'any'));
  t.true(inv.matches(['a', 'b'], 'any'));
  t.false(inv.matches(['a', 'b'], 'all'));
  const present = compileHeaderMatcher(hm({ name: 'x', present_match: true }), 'h');
  t.true(present.matches(['', ''], 'all'));
  t.false(present.matches([], 'any'));
  const absent = compileHeaderMatcher(hm({ name: 'x', present_match: false }), 'h');
  t.true(absent.matches([], 'any'));
  t.false(absent.matches(['v'], 'any'));
  const invertedPresent = compileHeaderMatcher(hm({ name: 'x', present_match: true, invert_match: true }), 'h');
  t.true(invertedPresent.matches([], 'all'));
  const noSpecifier = compileHeaderMatcher(hm({ name: 'x' }), 'h');
  t.true(noSpecifier.matches(['1'], 'any'));
  t.false(noSpecifier.matches([], 'any'));
  const missingAsEmpty = compileHeaderMatcher(hm({ name: 'x', string_match: { exact: '' }, treat_missing_header_as_empty: true }), 'h');
  t.true(missingAsEmpty.matches([], 'all'));
});

test(':method matchers ignore case on both sides (GHSA-w44g-8m76-8gc5)', (t) => {
  const m = compileHeaderMatcher(hm({ name: ':method', string_match: { exact: 'GET' } }), 'h');
  t.true(m.matches(['get'], 'all'));
  t.true(m.matches(['GeT'], 'all'));
  t.false(m.matches(['POST'], 'any'));
  const lowerConfig = compileHeaderMatcher(hm({ name: ':method', string_match: { exact: 'delete' } }), 'h');
  t.true(lowerConfig.matches(['DELETE'], 'any'));
  const regex = compileHeaderMatcher(hm({ name: ':method', string_match: { safe_regex: { regex: 'GET|HEAD' } } }), 'h');
  t.true(regex.matches(['head'], 'any'));
});

test('legacy header match fields and range_match compile', (t) => {
  t.true(compileHeaderMatcher(hm({ name: 'x', exact_match: 'a' }), 'h').matches(['a'], 'any'));
  t.true(compileHeaderMatcher(hm({ name: 'x', prefix_match: 'a' }), 'h').matches(['ab'], 'any'));
  t.true(compileHeaderMatcher(hm({ name: 'x', suffix_match: 'b' }), 'h').matches(['ab'], 'any'));
  t.true(compileHeaderMatcher(hm({ name: 'x', contains_match: 'b' }), 'h').matches(['abc'], 'any'));
  t.true(compileHeaderMatcher(hm({ name: 'x', safe_regex_match: { regex: 'a+' } }), 'h').matches(['aa'], 'any'));
  const range = compileHeaderMatcher(hm({ name: 'x', range_match: { start: -5, end: 10 } }), 'h');
  t.true(range.matches(['-5'], 'any'));
  t.true(range.matches(['9'], 'any'));
  t.false(range.matches(['10'], 'any'));
  t.false(range.matches(['abc'], 'any'));
  t.false(range.matches(['1.5'], 'any'));
});

test('header matcher rejections', (t) => {
  fieldError(t, () => compileHeaderMatcher(hm({ string_match: { exact: 'a' } }), 'h'), 'h.name', /is empty/);
  fieldError(t, () => compileHeaderMatcher(hm({ name: 'bad name', string_match: { exact: 'a' } }), 'h'), 'h.name', /not a valid header name/);
  fieldError(t, () => compileHeaderMatcher(hm({ name: ':weird', string_match: { exact: 'a' } }), 'h'), 'h.name', /not a valid header name/);
  fieldError(t, () => compileHeaderMatcher(hm({ name: 'x', range_match: { start: 5, end: 5 } }), 'h'), 'h.range_match', /start 5 must be below end 5/);
  fieldError(t, () => compileHeaderMatcher(hm({ name: 'x', string_match: { safe_regex: { regex: '(a)\\1' } } }), 'h'), 'h.string_match.safe_regex.regex', /back-reference/);
  fieldError(t, () => compileHeaderMatcher({ name: 'x', header_match_specifier: 'mystery' }, 'h'), 'h', /unsupported header match/);
});

// ---- query parameters ----

test('query matchers test the first value of a parameter, or its presence', (t) => {
  const q = parseQuery('a=1&a=2&c');
  const first = compileQueryMatcher(roundTrip('envoy.config.route.v3.QueryParameterMatcher', { name: 'a', string_match: { exact: '1' } }), 'q');
  t.true(first.matches(q));
  t.false(compileQueryMatcher(roundTrip('envoy.config.route.v3.QueryParameterMatcher', { name: 'a', string_match: { exact: '2' } }), 'q').matches(q));
  t.false(first.matches(parseQuery('z=1')));
  const present = compileQueryMatcher(roundTrip('envoy.config.route.v3.QueryParameterMatcher', { name: 'c', present_match: true }), 'q');
  t.true(present.matches(q));
  t.false(present.matches(parseQuery('')));
});

test('query matcher rejections', (t) => {
  fieldError(t, () => compileQueryMatcher({ string_match: { exact: 'a', match_pattern: 'exact' }, query_parameter_match_specifier: 'string_match' }, 'q'), 'q.name', /is empty/);
  fieldError(t, () => compileQueryMatcher({ name: 'a' }, 'q'), 'q', /neither string_match nor present_match/);
  fieldError(t, () => compileQueryMatcher({ name: 'a', query_parameter_match_specifier: 'present_match' }, 'q'), 'q.present_match', /must be true/);
});

// ---- path matchers ----

test('path matchers: prefix, path, path_separated_prefix, safe_regex, case_sensitive', (t) => {
  const prefix = compilePathMatcher(rm({ prefix: '/api' }), 'm');
  t.is(prefix.prefix, '/api', 'what prefix_rewrite replaces');
  t.true(prefix.matches('/api'));
  t.true(prefix.matches('/apis'));
  t.false(prefix.matches('/API'));
  const path = compilePathMatcher(rm({ path: '/exact' }), 'm');
  t.is(path.prefix, undefined);
  t.true(path.matches('/exact'));
  t.false(path.matches('/exact/'));
  const sep = compilePathMatcher(rm({ path_separated_prefix: '/api' }), 'm');
  t.is(sep.prefix, '/api');
  t.true(sep.matches('/api'));
  t.true(sep.matches('/api/x'));
  t.false(sep.matches('/apis'));
  t.true(compilePathMatcher(rm({ path_separated_prefix: '/' }), 'm').matches('/anything'));
  const regex = compilePathMatcher(rm({ safe_regex: { regex: '/v[0-9]/.*' } }), 'm');
  t.is(regex.prefix, undefined);
  t.true(regex.matches('/v1/x'));
  t.false(regex.matches('/x/v1/x'));
  const ci = compilePathMatcher(rm({ prefix: '/Api', case_sensitive: { value: false } }), 'm');
  t.is(ci.prefix, '/Api', 'the configured prefix, whose length is what is replaced');
  t.true(ci.matches('/aPI/x'));
  t.true(compilePathMatcher(rm({ path: '/A', case_sensitive: { value: false } }), 'm').matches('/a'));
  t.true(compilePathMatcher(rm({ path_separated_prefix: '/A', case_sensitive: { value: false } }), 'm').matches('/a/b'));
  t.true(compilePathMatcher(rm({ safe_regex: { regex: '/a' }, case_sensitive: { value: false } }), 'm').matches('/A'));
  t.true(compilePathMatcher(rm({ prefix: '/A', case_sensitive: { value: true } }), 'm').matches('/A'));
  t.false(compilePathMatcher(rm({ prefix: '/A', case_sensitive: { value: true } }), 'm').matches('/a'));
});

test('path matcher rejections', (t) => {
  fieldError(t, () => compilePathMatcher(rm({}), 'match'), 'match', /sets none of prefix/);
  fieldError(t, () => compilePathMatcher(rm({ path: 'rel' }), 'match'), 'match.path', /does not start with/);
  fieldError(t, () => compilePathMatcher(rm({ path_separated_prefix: 'api' }), 'match'), 'match.path_separated_prefix', /does not start with/);
  fieldError(t, () => compilePathMatcher(rm({ path_separated_prefix: '/api/' }), 'match'), 'match.path_separated_prefix', /ends with "\/"/);
  fieldError(t, () => compilePathMatcher({ path_separated_prefix: '/a?b', path_specifier: 'path_separated_prefix' }, 'match'), 'match.path_separated_prefix', /contains "\?"/);
  fieldError(t, () => compilePathMatcher(rm({ safe_regex: { regex: '(?<=a)' } }), 'match'), 'match.safe_regex.regex', /look-behind/);
  fieldError(t, () => compilePathMatcher(rm({ connect_matcher: {} }), 'match'), 'match.connect_matcher', /not supported/);
});
