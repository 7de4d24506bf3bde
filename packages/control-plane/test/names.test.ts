import test from 'ava';
import {
  checkDns1035Label,
  checkDns1123Label,
  checkDns1123Subdomain,
  checkLabel,
  checkLabelValue,
  checkPortName,
  checkQualifiedName,
} from '../src/input/names.js';

test('DNS labels and subdomains', (t) => {
  for (const ok of ['a', 'web-1', '1web', 'a'.repeat(63)]) t.is(checkDns1123Label(ok), undefined, ok);
  for (const bad of ['', 'Web', 'web_1', '-web', 'web-', 'a.b', 'a'.repeat(64)]) t.truthy(checkDns1123Label(bad), bad);
  t.is(checkDns1035Label('web-1'), undefined);
  t.regex(checkDns1035Label('1web')!, /starting with a letter/);
  t.regex(checkDns1035Label('a'.repeat(64))!, /at most 63 characters, got 64/);
  for (const ok of ['a', 'a.b', 'web-5d8f.x1', `${'a'.repeat(63)}.b`]) t.is(checkDns1123Subdomain(ok), undefined, ok);
  for (const bad of ['', 'a..b', '.a', 'a.', 'A.b', 'a_b', `${'a'.repeat(64)}.b`, 'a'.repeat(254)]) t.truthy(checkDns1123Subdomain(bad), bad);
});

test('label keys and values', (t) => {
  for (const ok of ['app', 'app.kubernetes.io/name', 'istio.io/dataplane-mode', 'A_b.c-D']) t.is(checkQualifiedName(ok), undefined, ok);
  t.is(checkQualifiedName('/name'), 'key "/name" has an empty prefix');
  t.regex(checkQualifiedName('Example.com/name')!, /invalid prefix/);
  t.regex(checkQualifiedName('a/b/c')!, /invalid prefix/);
  t.regex(checkQualifiedName('example.com/')!, /not a valid label key/);
  t.regex(checkQualifiedName('-app')!, /not a valid label key/);
  t.regex(checkQualifiedName('a'.repeat(64))!, /not a valid label key/);
  for (const ok of ['', 'v1', '1.2.3', 'a_b-c.d', 'a'.repeat(63)]) t.is(checkLabelValue(ok), undefined, ok);
  for (const bad of ['-a', 'a-', 'a b', 'a/b', 'a'.repeat(64)]) t.truthy(checkLabelValue(bad), bad);
  t.is(checkLabel('app', 'web'), undefined);
  t.truthy(checkLabel('app', 'web!'));
  t.truthy(checkLabel('ap p', 'web'));
});

test('port names', (t) => {
  for (const ok of ['http', 'http-web', 'h2c', 'a'.repeat(15)]) t.is(checkPortName(ok), undefined, ok);
  for (const bad of ['', '8080', 'http--web', '-http', 'HTTP', 'a'.repeat(16), 'http_web']) t.truthy(checkPortName(bad), bad);
});
