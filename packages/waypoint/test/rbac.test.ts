import test, { type ExecutionContext } from 'ava';
import type * as envoy from '../src/config/envoy-types.js';
import { FieldError } from '../src/config/errors.js';
import type { ConnectionAttributes, RbacPolicySet, RequestAttributes, RequestAuthentication } from '../src/config/types.js';
import { compileRbacFilter, networkRbacPolicySet, NO_NETWORK_RBAC, NO_RBAC, rbacPolicySet } from '../src/policy/rbac.js';
import { parseTarget } from '../src/route/path.js';
import { roundTrip, T } from './support/envoy.js';

const CLIENT = 'spiffe://cluster.local/ns/default/sa/sleep';

function request(over: Partial<RequestAttributes> = {}, headers: Record<string, string[]> = {}): RequestAttributes {
  return { method: 'GET', path: '/', query: '', host: 'web.default.svc.cluster.local', headers: new Map(Object.entries(headers)), scheme: 'http', ...over };
}

function connection(over: Partial<ConnectionAttributes> = {}): ConnectionAttributes {
  return { sourcePrincipal: CLIENT, sourceIp: '10.0.0.9', destinationIp: '10.96.0.10', destinationPort: 80, ...over };
}

function filter(action: 'ALLOW' | 'DENY', policies: Record<string, { permissions: object[]; principals: object[] }>, network = false) {
  const config = roundTrip<envoy.RbacFilter>(network ? T.networkRbac : T.httpRbac, { rules: { action, policies }, ...(network ? { stat_prefix: 'tcp' } : {}) });
  return compileRbacFilter(config, 'typed_config', network);
}

/** A policy set of one filter with one policy `p` of these permissions and principals. */
function one(action: 'ALLOW' | 'DENY', permissions: object[], principals: object[] = [{ any: true }]): RbacPolicySet {
  return rbacPolicySet([filter(action, { p: { permissions, principals } })]);
}

const header = (name: string, exact: string): object => ({ header: { name, string_match: { exact } } });
const auth = (claims: Record<string, unknown>): RequestAuthentication => ({ principal: `${String(claims['iss'])}/${String(claims['sub'])}`, claims, provider: 'p' });

function rejects(t: ExecutionContext, fn: () => unknown, path: string, detail: RegExp): void {
  const err = t.throws(fn, { instanceOf: FieldError });
  t.is(err?.path, path);
  t.regex(err?.detail ?? '', detail);
}

test('no filters allow everything; the empty sets say so', (t) => {
  t.true(NO_RBAC.empty);
  t.deepEqual(NO_RBAC.evaluate(request(), connection(), undefined), { allowed: true, policy: undefined });
  t.true(NO_NETWORK_RBAC.empty);
  t.true(NO_NETWORK_RBAC.evaluate(connection()).allowed);
  // A filter without rules enforces nothing.
  t.is(compileRbacFilter(roundTrip(T.httpRbac, {}), 'c', false), undefined);
  t.true(rbacPolicySet([undefined]).empty);
});

test('DENY policies run before ALLOW policies; decisions name the policy and the reason', (t) => {
  const set = rbacPolicySet([
    filter('ALLOW', { 'ns[default]-policy[allow-get]-rule[0]': { permissions: [header(':method', 'GET')], principals: [{ any: true }] } }),
    filter('DENY', { 'ns[default]-policy[deny-admin]-rule[0]': { permissions: [{ url_path: { path: { prefix: '/admin' } } }], principals: [{ any: true }] } }),
  ]);
  t.false(set.empty);
  t.deepEqual(set.evaluate(request({ path: '/admin/x' }), connection(), undefined), {
    allowed: false,
    policy: 'ns[default]-policy[deny-admin]-rule[0]',
    reason: 'matched DENY policy "ns[default]-policy[deny-admin]-rule[0]"',
  });
  t.deepEqual(set.evaluate(request({ path: '/x' }), connection(), undefined), { allowed: true, policy: 'ns[default]-policy[allow-get]-rule[0]' });
  t.deepEqual(set.evaluate(request({ method: 'POST' }), connection(), undefined), { allowed: false, policy: undefined, reason: 'no ALLOW policy matched' });
});

test('without an ALLOW policy a request no DENY policy matched is allowed; an ALLOW filter with no policy denies all', (t) => {
  const denyOnly = one('DENY', [header(':method', 'DELETE')]);
  t.deepEqual(denyOnly.evaluate(request(), connection(), undefined), { allowed: true, policy: undefined });
  const emptyAllow = rbacPolicySet([compileRbacFilter(roundTrip(T.httpRbac, { rules: { action: 'ALLOW' } }), 'c', false)]);
  t.deepEqual(emptyAllow.evaluate(request(), connection(), undefined), { allowed: false, policy: undefined, reason: 'the ALLOW filter has no policy' });
  // An empty DENY filter denies nothing.
  const emptyDeny = rbacPolicySet([compileRbacFilter(roundTrip(T.httpRbac, { rules: { action: 'DENY' } }), 'c', false)]);
  t.true(emptyDeny.evaluate(request(), connection(), undefined).allowed);
});

test('policies are tried in name order, so the policy a decision names is stable', (t) => {
  const set = rbacPolicySet([
    filter('ALLOW', {
      zeta: { permissions: [{ any: true }], principals: [{ any: true }] },
      alpha: { permissions: [{ any: true }], principals: [{ any: true }] },
    }),
  ]);
  t.is(set.evaluate(request(), connection(), undefined).policy, 'alpha');
});

test('bypass: method case cannot dodge a DENY or sneak through an ALLOW (GHSA-w44g-8m76-8gc5)', (t) => {
  const deny = one('DENY', [header(':method', 'DELETE')]);
  for (const m of ['DELETE', 'delete', 'Delete', 'dElEtE']) t.false(deny.evaluate(request({ method: m }), connection(), undefined).allowed, m);
  const allow = one('ALLOW', [header(':method', 'GET')]);
  t.true(allow.evaluate(request({ method: 'get' }), connection(), undefined).allowed);
  t.false(allow.evaluate(request({ method: 'POST' }), connection(), undefined).allowed);
});

test('bypass: repeated headers never help a request pass (CVE-2026-26308)', (t) => {
  const deny = one('DENY', [header('x-user', 'admin')]);
  t.false(deny.evaluate(request({}, { 'x-user': ['bob', 'admin'] }), connection(), undefined).allowed, 'DENY: any value matching denies');
  t.true(deny.evaluate(request({}, { 'x-user': ['bob'] }), connection(), undefined).allowed);
  const allow = one('ALLOW', [header('x-role', 'reader')]);
  t.true(allow.evaluate(request({}, { 'x-role': ['reader'] }), connection(), undefined).allowed);
  t.false(allow.evaluate(request({}, { 'x-role': ['reader', 'admin'] }), connection(), undefined).allowed, 'ALLOW: every value must match');
  t.false(allow.evaluate(request({}, { 'x-role': ['reader', 'reader,admin'] }), connection(), undefined).allowed);
  t.false(allow.evaluate(request(), connection(), undefined).allowed, 'an absent header matches nothing');
  // The same in principals.
  const allowPrincipal = rbacPolicySet([filter('ALLOW', { p: { permissions: [{ any: true }], principals: [header('x-role', 'reader')] } })]);
  t.false(allowPrincipal.evaluate(request({}, { 'x-role': ['reader', 'admin'] }), connection(), undefined).allowed);
});

test('bypass: negations flip the reading of repeated headers', (t) => {
  // ALLOW unless x-env is prod: sending `dev` and `prod` must not count as "not prod".
  const allowNot = one('ALLOW', [{ not_rule: header('x-env', 'prod') }]);
  t.true(allowNot.evaluate(request({}, { 'x-env': ['dev'] }), connection(), undefined).allowed);
  t.false(allowNot.evaluate(request({}, { 'x-env': ['dev', 'prod'] }), connection(), undefined).allowed);
  t.true(allowNot.evaluate(request(), connection(), undefined).allowed, 'absent is not prod');
  // DENY unless x-token is ok: a good and a bad value together are denied.
  const denyNotId = rbacPolicySet([filter('DENY', { p: { permissions: [{ any: true }], principals: [{ not_id: header('x-token', 'ok') }] } })]);
  t.true(denyNotId.evaluate(request({}, { 'x-token': ['ok'] }), connection(), undefined).allowed);
  t.false(denyNotId.evaluate(request({}, { 'x-token': ['ok', 'forged'] }), connection(), undefined).allowed);
  // A double negation reads like the positive form.
  const allowNotNot = one('ALLOW', [{ not_rule: { not_rule: header('x-role', 'reader') } }]);
  t.false(allowNotNot.evaluate(request({}, { 'x-role': ['reader', 'admin'] }), connection(), undefined).allowed);
});

test('url_path rules see the normalized path; and/or rules combine', (t) => {
  const deny = one('DENY', [{ url_path: { path: { prefix: '/admin' } } }]);
  t.false(deny.evaluate(request({ path: '/admin' }), connection(), undefined).allowed);
  t.true(deny.evaluate(request({ path: '/public' }), connection(), undefined).allowed);
  const andOr = one('ALLOW', [
    { and_rules: { rules: [header(':method', 'GET'), { or_rules: { rules: [{ url_path: { path: { exact: '/a' } } }, { url_path: { path: { exact: '/b' } } }] } }] } },
  ]);
  t.true(andOr.evaluate(request({ path: '/b' }), connection(), undefined).allowed);
  t.false(andOr.evaluate(request({ path: '/c' }), connection(), undefined).allowed);
  t.false(andOr.evaluate(request({ method: 'PUT', path: '/a' }), connection(), undefined).allowed);
  const hosts = one('ALLOW', [header(':authority', 'web.default.svc.cluster.local')]);
  t.true(hosts.evaluate(request(), connection(), undefined).allowed);
});

test('bypass: url_path rules see the path the data path normalized (`//admin`, `/a/%2e%2e/admin`)', (t) => {
  const deny = one('DENY', [{ url_path: { path: { prefix: '/admin' } } }]);
  for (const target of ['/admin', '//admin', '/a/%2e%2e/admin', '/a/%2E%2E/admin', '/a/./../admin/x', '/%61dmin']) {
    const parsed = parseTarget(target, { normalize: true, mergeSlashes: true });
    if ('error' in parsed) return t.fail(`${target}: ${parsed.error}`);
    t.false(deny.evaluate(request({ path: parsed.path }), connection(), undefined).allowed, target);
  }
});

test('destination port, port range and IP rules', (t) => {
  t.true(one('ALLOW', [{ destination_port: 80 }]).evaluate(request(), connection(), undefined).allowed);
  t.false(one('ALLOW', [{ destination_port: 8080 }]).evaluate(request(), connection(), undefined).allowed);
  t.true(one('ALLOW', [{ destination_port_range: { start: 80, end: 81 } }]).evaluate(request(), connection(), undefined).allowed);
  t.false(one('ALLOW', [{ destination_port_range: { start: 81, end: 90 } }]).evaluate(request(), connection(), undefined).allowed);
  t.true(one('ALLOW', [{ destination_ip: { address_prefix: '10.96.0.0', prefix_len: { value: 16 } } }]).evaluate(request(), connection(), undefined).allowed);
  t.false(one('ALLOW', [{ destination_ip: { address_prefix: '10.97.0.0', prefix_len: { value: 16 } } }]).evaluate(request(), connection(), undefined).allowed);
});

test('bypass: source CIDRs hold for IPv4, IPv4-mapped IPv6 and IPv6', (t) => {
  const deny = rbacPolicySet([filter('DENY', { p: { permissions: [{ any: true }], principals: [{ remote_ip: { address_prefix: '10.0.0.0', prefix_len: { value: 8 } } }] } })]);
  t.false(deny.evaluate(request(), connection({ sourceIp: '10.1.2.3' }), undefined).allowed);
  t.false(deny.evaluate(request(), connection({ sourceIp: '::ffff:10.1.2.3' }), undefined).allowed, 'the mapped spelling is the same address');
  t.true(deny.evaluate(request(), connection({ sourceIp: '11.0.0.1' }), undefined).allowed);
  t.true(deny.evaluate(request(), connection({ sourceIp: 'fd00::1' }), undefined).allowed);
  const allow6 = rbacPolicySet([filter('ALLOW', { p: { permissions: [{ any: true }], principals: [{ direct_remote_ip: { address_prefix: 'fd00::', prefix_len: { value: 8 } } }] } })]);
  t.true(allow6.evaluate(request(), connection({ sourceIp: 'fd12:3456::1' }), undefined).allowed);
  t.false(allow6.evaluate(request(), connection({ sourceIp: 'fe80::1' }), undefined).allowed);
  t.false(allow6.evaluate(request(), connection({ sourceIp: 'garbage' }), undefined).allowed, 'an unparsable address is in no range');
  const odd = rbacPolicySet([filter('ALLOW', { p: { permissions: [{ any: true }], principals: [{ source_ip: { address_prefix: '192.168.1.128', prefix_len: { value: 25 } } }] } })]);
  t.true(odd.evaluate(request(), connection({ sourceIp: '192.168.1.200' }), undefined).allowed);
  t.false(odd.evaluate(request(), connection({ sourceIp: '192.168.1.127' }), undefined).allowed);
});

test('authenticated principals and source metadata', (t) => {
  const exact = rbacPolicySet([filter('ALLOW', { p: { permissions: [{ any: true }], principals: [{ authenticated: { principal_name: { exact: CLIENT } } }] } })]);
  t.true(exact.evaluate(request(), connection(), undefined).allowed);
  t.false(exact.evaluate(request(), connection({ sourcePrincipal: 'spiffe://cluster.local/ns/default/sa/other' }), undefined).allowed);
  t.false(exact.evaluate(request(), connection({ sourcePrincipal: undefined }), undefined).allowed);
  const anyAuthenticated = rbacPolicySet([filter('ALLOW', { p: { permissions: [{ any: true }], principals: [{ authenticated: {} }] } })]);
  t.true(anyAuthenticated.evaluate(request(), connection(), undefined).allowed);
  t.false(anyAuthenticated.evaluate(request(), connection({ sourcePrincipal: undefined }), undefined).allowed);
  const meta = (key: string, value: object): RbacPolicySet =>
    rbacPolicySet([filter('ALLOW', { p: { permissions: [{ any: true }], principals: [{ metadata: { filter: 'istio_authn', path: [{ key }], value } }] } })]);
  t.true(meta('source.namespace', { string_match: { exact: 'default' } }).evaluate(request(), connection(), undefined).allowed);
  t.false(meta('source.namespace', { string_match: { exact: 'other' } }).evaluate(request(), connection(), undefined).allowed);
  t.false(meta('source.namespace', { string_match: { exact: 'default' } }).evaluate(request(), connection({ sourcePrincipal: undefined }), undefined).allowed);
  t.true(meta('source.principal', { string_match: { exact: 'cluster.local/ns/default/sa/sleep' } }).evaluate(request(), connection(), undefined).allowed);
});

test('bypass: request.auth principal and claims (lists, scalars, numbers, nesting, wrong types)', (t) => {
  const principal = (value: object): RbacPolicySet =>
    rbacPolicySet([filter('ALLOW', { p: { permissions: [{ any: true }], principals: [{ metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.principal' }], value } }] } })]);
  const claims = (path: string[], value: object, invert = false): RbacPolicySet =>
    rbacPolicySet([
      filter('ALLOW', {
        p: { permissions: [{ any: true }], principals: [{ metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.claims' }, ...path.map((key) => ({ key }))], value, invert } }] },
      }),
    ]);
  const a = auth({ iss: 'https://issuer', sub: 'alice', groups: ['dev', 'admin'], team: 'core', level: 3, verified: true, profile: { roles: ['ops'] }, obj: { a: 1 }, aud: ['web'], azp: 'cli' });
  t.true(principal({ string_match: { exact: 'https://issuer/alice' } }).evaluate(request(), connection(), a).allowed);
  t.false(principal({ string_match: { exact: 'https://issuer/alice' } }).evaluate(request(), connection(), undefined).allowed, 'no token, no principal');
  t.true(principal({ present_match: true }).evaluate(request(), connection(), a).allowed);
  t.false(principal({ present_match: true }).evaluate(request(), connection(), undefined).allowed);
  const oneOf = (exact: string): object => ({ list_match: { one_of: { string_match: { exact } } } });
  t.true(claims(['groups'], oneOf('admin')).evaluate(request(), connection(), a).allowed, 'a list claim matches when one element does');
  t.false(claims(['groups'], oneOf('root')).evaluate(request(), connection(), a).allowed);
  t.true(claims(['team'], oneOf('core')).evaluate(request(), connection(), a).allowed, 'a scalar claim is a list of one');
  t.true(claims(['groups'], { string_match: { exact: 'dev' } }).evaluate(request(), connection(), a).allowed);
  t.true(claims(['level'], { string_match: { exact: '3' } }).evaluate(request(), connection(), a).allowed, 'numbers match by their JSON text');
  t.true(claims(['verified'], { string_match: { exact: 'true' } }).evaluate(request(), connection(), a).allowed);
  t.true(claims(['verified'], { bool_match: true }).evaluate(request(), connection(), a).allowed);
  t.true(claims(['level'], { double_match: { exact: 3 } }).evaluate(request(), connection(), a).allowed);
  t.false(claims(['obj'], { string_match: { prefix: '{' } }).evaluate(request(), connection(), a).allowed, 'objects never match a string');
  t.false(claims(['obj'], { string_match: { safe_regex: { regex: '.*' } } }).evaluate(request(), connection(), a).allowed);
  t.true(claims(['profile', 'roles'], oneOf('ops')).evaluate(request(), connection(), a).allowed, 'nested claims');
  t.false(claims(['groups', 'x'], oneOf('admin')).evaluate(request(), connection(), a).allowed);
  t.false(claims(['missing'], oneOf('x')).evaluate(request(), connection(), a).allowed);
  t.false(claims(['toString'], { present_match: true }).evaluate(request(), connection(), a).allowed, 'inherited properties are not claims');
  t.false(claims(['groups'], oneOf('admin')).evaluate(request(), connection(), undefined).allowed);
  t.true(claims(['groups'], oneOf('root'), true).evaluate(request(), connection(), a).allowed, 'invert');
  const audience = rbacPolicySet([
    filter('ALLOW', { p: { permissions: [{ any: true }], principals: [{ metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.audiences' }], value: { string_match: { exact: 'web' } } } }] } }),
  ]);
  t.true(audience.evaluate(request(), connection(), a).allowed);
  const presenter = rbacPolicySet([
    filter('ALLOW', { p: { permissions: [{ any: true }], principals: [{ metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.presenter' }], value: { string_match: { exact: 'cli' } } } }] } }),
  ]);
  t.true(presenter.evaluate(request(), connection(), a).allowed);
});

test('network RBAC evaluates L4 rules and refuses L7 ones', (t) => {
  const set = networkRbacPolicySet([
    filter('DENY', { d: { permissions: [{ destination_port: 22 }], principals: [{ any: true }] } }, true),
    filter('ALLOW', { a: { permissions: [{ any: true }], principals: [{ authenticated: { principal_name: { prefix: 'spiffe://cluster.local/ns/default/' } } }] } }, true),
  ]);
  t.false(set.empty);
  t.deepEqual(set.evaluate(connection({ destinationPort: 22 })), { allowed: false, policy: 'd', reason: 'matched DENY policy "d"' });
  t.deepEqual(set.evaluate(connection()), { allowed: true, policy: 'a' });
  t.false(set.evaluate(connection({ sourcePrincipal: 'spiffe://cluster.local/ns/other/sa/x' })).allowed);
  rejects(t, () => filter('ALLOW', { p: { permissions: [header('x', 'y')], principals: [{ any: true }] } }, true), 'typed_config.rules.policies["p"].permissions[0].header', /network RBAC filter sees only connections/);
  rejects(t, () => filter('ALLOW', { p: { permissions: [{ url_path: { path: { exact: '/' } } }], principals: [{ any: true }] } }, true), 'typed_config.rules.policies["p"].permissions[0].url_path', /network/);
  rejects(t, () => filter('ALLOW', { p: { permissions: [{ any: true }], principals: [header('x', 'y')] } }, true), 'typed_config.rules.policies["p"].principals[0].header', /network/);
  rejects(
    t,
    () => filter('ALLOW', { p: { permissions: [{ any: true }], principals: [{ metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.principal' }], value: { present_match: true } } }] } }, true),
    'typed_config.rules.policies["p"].principals[0].metadata',
    /network/,
  );
  rejects(t, () => compileRbacFilter(roundTrip(T.networkRbac, { stat_prefix: 's', enforcement_type: 'CONTINUOUS', rules: {} }), 'c', true), 'c.enforcement_type', /unsupported value "CONTINUOUS"/);
});

test('RBAC rejections name the field', (t) => {
  const at = 'typed_config.rules.policies["p"]';
  const policy = (permissions: object[], principals: object[] = [{ any: true }]) => filter('ALLOW', { p: { permissions, principals } });
  rejects(t, () => compileRbacFilter(roundTrip(T.httpRbac, { rules: { action: 'LOG' } }), 'c', false), 'c.rules.action', /unsupported value "LOG"/);
  rejects(t, () => compileRbacFilter(roundTrip(T.httpRbac, { matcher: {} }), 'c', false), 'c.matcher', /use rules/);
  rejects(t, () => filter('ALLOW', { p: { permissions: [], principals: [{ any: true }] } }), `${at}.permissions`, /is empty/);
  rejects(t, () => filter('ALLOW', { p: { permissions: [{ any: true }], principals: [] } }), `${at}.principals`, /is empty/);
  rejects(t, () => compileRbacFilter(roundTrip(T.httpRbac, { rules: { policies: { p: { permissions: [{ any: true }], principals: [{ any: true }], condition: { const_expr: { bool_value: true } } } } } }), 'c', false), 'c.rules.policies["p"].condition', /CEL/);
  rejects(t, () => policy([{ and_rules: { rules: [] } }]), `${at}.permissions[0].and_rules.rules`, /is empty/);
  rejects(t, () => policy([{ or_rules: { rules: [{ requested_server_name: { exact: 'x' } }] } }]), `${at}.permissions[0].or_rules.rules[0].requested_server_name`, /not supported/);
  rejects(t, () => policy([{ metadata: { filter: 'x' } }]), `${at}.permissions[0].metadata`, /not supported/);
  rejects(t, () => policy([{ not_rule: { header: { name: 'bad name' } } }]), `${at}.permissions[0].not_rule.header.name`, /not a valid header name/);
  rejects(t, () => policy([{ url_path: { path: { safe_regex: { regex: '(?=x)' } } } }]), `${at}.permissions[0].url_path.path.safe_regex.regex`, /look-ahead/);
  rejects(t, () => policy([{ destination_ip: { address_prefix: '10.0.0.0', prefix_len: { value: 33 } } }]), `${at}.permissions[0].destination_ip`, /prefix length 33 is out of range 0-32/);
  rejects(t, () => policy([{ destination_ip: { address_prefix: 'nope', prefix_len: { value: 8 } } }]), `${at}.permissions[0].destination_ip`, /not an IP address/);
  rejects(t, () => policy([{ destination_port: 70000 }]), `${at}.permissions[0].destination_port`, /out of range/);
  rejects(t, () => policy([{ destination_port_range: { start: 90, end: 80 } }]), `${at}.permissions[0].destination_port_range`, /not a port range/);
  rejects(t, () => policy([{}]), `${at}.permissions[0]`, /sets no rule/);
  rejects(t, () => policy([{ any: true }], [{}]), `${at}.principals[0]`, /sets no identifier/);
  rejects(t, () => policy([{ any: true }], [{ or_ids: { ids: [] } }]), `${at}.principals[0].or_ids.ids`, /is empty/);
  rejects(t, () => policy([{ any: true }], [{ and_ids: { ids: [{ filter_state: { key: 'k' } }] } }]), `${at}.principals[0].and_ids.ids[0].filter_state`, /not supported/);
  rejects(t, () => policy([{ any: true }], [{ remote_ip: { address_prefix: 'fd00::', prefix_len: { value: 129 } } }]), `${at}.principals[0].remote_ip`, /out of range 0-128/);
  rejects(t, () => policy([{ any: true }], [{ authenticated: { principal_name: {} } }]), `${at}.principals[0].authenticated.principal_name`, /sets none of/);
  const meta = (m: object) => policy([{ any: true }], [{ metadata: m }]);
  rejects(t, () => meta({ filter: 'envoy.filters.http.jwt_authn', path: [{ key: 'x' }], value: { present_match: true } }), `${at}.principals[0].metadata.filter`, /only istio_authn/);
  rejects(t, () => meta({ filter: 'istio_authn', path: [], value: { present_match: true } }), `${at}.principals[0].metadata.path`, /is empty/);
  rejects(t, () => meta({ filter: 'istio_authn', path: [{ key: '' }], value: { present_match: true } }), `${at}.principals[0].metadata.path[0].key`, /is empty/);
  rejects(t, () => meta({ filter: 'istio_authn', path: [{ key: 'request.auth.raw' }], value: { present_match: true } }), `${at}.principals[0].metadata.path[0].key`, /unsupported istio_authn key "request.auth.raw"/);
  rejects(t, () => meta({ filter: 'istio_authn', path: [{ key: 'request.auth.claims' }], value: { present_match: true } }), `${at}.principals[0].metadata.path`, /needs the claim name/);
  rejects(t, () => meta({ filter: 'istio_authn', path: [{ key: 'request.auth.principal' }, { key: 'x' }], value: { present_match: true } }), `${at}.principals[0].metadata.path[1]`, /takes no further path/);
  rejects(t, () => meta({ filter: 'istio_authn', path: [{ key: 'request.auth.principal' }] }), `${at}.principals[0].metadata.value`, /missing/);
  rejects(t, () => meta({ filter: 'istio_authn', path: [{ key: 'request.auth.principal' }], value: { or_match: { value_matchers: [] } } }), `${at}.principals[0].metadata.value`, /unsupported value matcher "or_match"/);
  rejects(t, () => meta({ filter: 'istio_authn', path: [{ key: 'request.auth.principal' }], value: { double_match: { range: { start: 1, end: 2 } } } }), `${at}.principals[0].metadata.value.double_match`, /only exact/);
  rejects(t, () => meta({ filter: 'istio_authn', path: [{ key: 'request.auth.principal' }], value: { list_match: {} } }), `${at}.principals[0].metadata.value.list_match`, /must set one_of/);
});
