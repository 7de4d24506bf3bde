import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { TokenFileError, isNodeToken, loadTokenFile, parseTokenFile } from '../src/ca/tokens.js';

const TD = 'cluster.local';

test('node, workload and node-with-own-identity entries parse from YAML', (t) => {
  const specs = parseTokenFile(
    [
      'tok-node-a: { node: node-a }',
      'tok-sleep: { identity: "spiffe://cluster.local/ns/default/sa/sleep" }',
      'tok-node-b:',
      '  node: node-b.example',
      '  identity: spiffe://cluster.local/ns/istio-system/sa/ztunnel',
    ].join('\n'),
    'tokens.yaml',
    TD,
  );
  t.is(specs.length, 3);
  t.true(isNodeToken(specs[0]!));
  t.like(specs[0], { token: 'tok-node-a', node: 'node-a' });
  t.false(isNodeToken(specs[1]!));
  t.is(specs[1]!.identity?.uri, 'spiffe://cluster.local/ns/default/sa/sleep');
  t.like(specs[2], { token: 'tok-node-b', node: 'node-b.example' });
  t.is(specs[2]!.identity?.uri, 'spiffe://cluster.local/ns/istio-system/sa/ztunnel');
});

test('JSON is accepted, and an empty file means no tokens', (t) => {
  const specs = parseTokenFile('{"abc.def_~+/==": {"node": "n1"}}', 'tokens.json', TD);
  t.like(specs[0], { token: 'abc.def_~+/==', node: 'n1' });
  t.deepEqual(parseTokenFile('', 'empty.yaml', TD), []);
  t.deepEqual(parseTokenFile('# nothing yet\n', 'empty.yaml', TD), []);
});

test('every problem is reported at once, naming entries without revealing tokens', (t) => {
  const text = [
    'secret-one: { node: Node_A }',
    'secret-two: { identity: spiffe://other.domain/ns/default/sa/x }',
    'secret-three: { identity: "spiffe://cluster.local/ns/default" }',
    'secret-four: {}',
    'secret-five: { node: a, color: blue }',
    'secret-six: just-a-string',
    '"bad token!": { node: a }',
    '12345: { node: a }',
    'secret-nine: { identity: 42 }',
  ].join('\n');
  const err = t.throws(() => parseTokenFile(text, 'tokens.yaml', TD), { instanceOf: TokenFileError });
  t.is(err.code, 'CP_ERR_TOKEN_FILE');
  t.deepEqual(err.problems, [
    'entry 1 (token secr…): node must be a Kubernetes node name (DNS-1123 subdomain), got "Node_A"',
    'entry 2 (token secr…): identity spiffe://other.domain/ns/default/sa/x is outside the trust domain "cluster.local"',
    'entry 3 (token secr…): invalid SPIFFE identity "spiffe://cluster.local/ns/default": path must be exactly "/ns/<namespace>/sa/<service-account>"',
    'entry 4 (token secr…): needs node or identity',
    'entry 5 (token secr…): unknown field(s) color; expected node and/or identity',
    'entry 6 (token secr…): the value must be a mapping { node: <name> } or { identity: spiffe://… }',
    'entry 7 (token bad …): a token may hold only A-Z a-z 0-9 - . _ ~ + / and trailing = (RFC 6750)',
    'entry 8: the key must be a token string (quote tokens that look like numbers)',
    'entry 9 (token secr…): identity must be a string',
  ]);
  for (const secret of ['secret-one', 'secret-two', 'secret-nine']) t.false(err.message.includes(secret));
  t.true(err.message.startsWith('tokens.yaml: 9 problems:'));
});

test('YAML syntax errors and duplicate tokens are reported by line, without source text', (t) => {
  const dup = t.throws(() => parseTokenFile('my-secret: { node: a }\nmy-secret: { node: b }\n', 't.yaml', TD), { instanceOf: TokenFileError });
  t.deepEqual(dup.problems, ['YAML error at line 2: DUPLICATE_KEY']);
  t.false(dup.message.includes('my-secret'));
  const bad = t.throws(() => parseTokenFile('my-secret: { node: a\n', 't.yaml', TD), { instanceOf: TokenFileError });
  t.true(bad.problems.length >= 1);
  t.false(bad.message.includes('my-secret'));
  const list = t.throws(() => parseTokenFile('- a\n- b\n', 't.yaml', TD), { instanceOf: TokenFileError });
  t.deepEqual(list.problems, ['the file must be a mapping from token to { node } or { identity }']);
});

test('loadTokenFile reads a file and reports a missing one precisely', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tokens-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'tokens.yaml');
  await writeFile(file, 'tok: { node: n }\n');
  t.is((await loadTokenFile(file, TD)).length, 1);
  const err = await t.throwsAsync(loadTokenFile(path.join(dir, 'nope.yaml'), TD), { instanceOf: TokenFileError });
  t.is(err?.message, `${path.join(dir, 'nope.yaml')}: cannot read: ENOENT`);
});
