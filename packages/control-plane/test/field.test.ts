import test from 'ava';
import { describe, Field, formatPath, IssueSink } from '../src/input/field.js';

test('paths read like the YAML they point at', (t) => {
  t.is(formatPath([]), '');
  t.is(formatPath(['spec', 'ports', 0, 'targetPort']), 'spec.ports[0].targetPort');
  t.is(formatPath(['metadata', 'labels', 'istio.io/rev']), 'metadata.labels["istio.io/rev"]');
  t.is(formatPath(['spec', 'portLevelMtls', '9090']), 'spec.portLevelMtls["9090"]');
  t.is(formatPath([0, 'a']), '[0].a');
});

test('values are described by type in messages', (t) => {
  t.is(describe(undefined), 'nothing');
  t.is(describe([1]), 'a list');
  t.is(describe({}), 'a mapping');
  t.is(describe('abc'), 'the string "abc"');
  t.is(describe('x'.repeat(50)), `the string "${'x'.repeat(40)}…"`);
  t.is(describe(3), 'the number 3');
  t.is(describe(true), 'the boolean true');
  t.is(describe(Buffer.from('a')), 'binary data');
  t.is(describe(10n), 'the number 10');
});

test('fields record every problem with its path and keep going', (t) => {
  const sink = new IssueSink();
  const root = new Field({ a: 'x', n: 1.5, b: 'yes', list: 'no', map: [1], e: 'Q', s: '' }, [], sink);
  t.is(root.child('a').integer(), undefined);
  t.is(root.child('n').integer(), undefined);
  t.is(root.child('b').boolean(), undefined);
  t.is(root.child('list').list(), undefined);
  t.is(root.child('map').entries(), undefined);
  t.is(root.child('e').oneOf(['A', 'B'] as const), undefined);
  t.is(root.child('s').string({ required: true }), undefined);
  t.is(root.child('missing').string({ required: true }), undefined);
  t.is(root.child('missing').child(3).object(), undefined);
  t.is(new Field(5, ['x'], sink).child('y').value, undefined);
  t.deepEqual(
    sink.issues.map((i) => [i.path.join('.'), i.message]),
    [
      ['a', 'must be an integer, got the string "x"'],
      ['n', 'must be an integer, got the number 1.5'],
      ['b', 'must be a boolean (true or false), got the string "yes"'],
      ['list', 'must be a list, got the string "no"'],
      ['map', 'must be a mapping, got a list'],
      ['e', 'must be one of A, B, got "Q"'],
      ['s', 'must not be empty'],
      ['missing', 'is required'],
    ],
  );
  t.true(sink.hasErrors);
});

test('inherited object properties are not fields', (t) => {
  const sink = new IssueSink();
  t.is(new Field({}, [], sink).child('constructor').value, undefined);
  t.is(new Field({}, [], sink).child('toString').present, false);
});
