/**
 * LayeredMap: every operation against the plain Map it stands for, the versions it leaves behind unchanged,
 * and the flattening at the overlay limit.
 */
import test, { type ExecutionContext } from 'ava';
import { LayeredMap, overlayLimit, type MapChange } from '../src/lib/layered-map.js';

interface Box {
  readonly n: number;
}

const box = (n: number): Box => ({ n });

/** The entries of `map`, through `entries()`. */
function entriesOf<K, V extends object>(map: ReadonlyMap<K, V>): [K, V][] {
  return [...map.entries()];
}

/** Every read of `actual` agrees with `expected`: size, lookups, and all four ways to iterate, in order. */
function assertSame(t: ExecutionContext, actual: LayeredMap<string, Box>, expected: Map<string, Box>, probe: readonly string[] = []): void {
  t.is(actual.size, expected.size);
  t.deepEqual(entriesOf(actual), [...expected.entries()]);
  t.deepEqual([...actual], [...expected]);
  t.deepEqual([...actual.keys()], [...expected.keys()]);
  t.deepEqual([...actual.values()], [...expected.values()]);
  const seen: [string, Box][] = [];
  actual.forEach((value, key, map) => {
    t.is(map, actual);
    seen.push([key, value]);
  });
  t.deepEqual(seen, [...expected]);
  for (const key of [...expected.keys(), ...probe]) {
    t.is(actual.get(key), expected.get(key), `get(${key})`);
    t.is(actual.has(key), expected.has(key), `has(${key})`);
  }
}

/** `map` with `changes` applied the plain way. */
function applied(map: Map<string, Box>, changes: readonly MapChange<string, Box>[]): Map<string, Box> {
  const out = new Map(map);
  for (const [key, value] of changes) {
    if (value === undefined) out.delete(key);
    else out.set(key, value);
  }
  return out;
}

const a = box(1);
const b = box(2);
const c = box(3);
const d = box(4);

test('adopt wraps a map without copying it; of copies entries; both read like the map', (t) => {
  const plain = new Map([
    ['a', a],
    ['b', b],
  ]);
  const adopted = LayeredMap.adopt(plain);
  assertSame(t, adopted, plain, ['missing']);
  t.is(adopted.overlaySize, 0);
  t.is(LayeredMap.adopt(adopted), adopted, 'a LayeredMap is adopted as it is');
  t.is(adopted.entries().next().value?.[1], a);

  const copied = LayeredMap.of([
    ['x', c],
    ['y', d],
    ['x', a],
  ]);
  assertSame(t, copied, new Map([['x', a], ['y', d]]));
  t.is(Object.prototype.toString.call(copied), '[object LayeredMap]');
  assertSame(t, LayeredMap.of<string, Box>([]), new Map(), ['a']);
});

test('update: a replaced key keeps its place, a new key comes last, earlier versions do not change', (t) => {
  const base = new Map([
    ['a', a],
    ['b', b],
    ['c', c],
  ]);
  const v0 = LayeredMap.adopt(base);
  const v1 = v0.update([
    ['b', d],
    ['z', a],
  ]);
  assertSame(t, v1, new Map([['a', a], ['b', d], ['c', c], ['z', a]]));
  t.is(v1.overlaySize, 2);
  assertSame(t, v0, new Map([['a', a], ['b', b], ['c', c]]));
  t.deepEqual([...base.keys()], ['a', 'b', 'c'], 'the adopted map itself is never written');

  // A value set on an appended key keeps its place too.
  const v2 = v1.update([['z', b], ['y', c]]);
  assertSame(t, v2, new Map([['a', a], ['b', d], ['c', c], ['z', b], ['y', c]]));
  assertSame(t, v1, new Map([['a', a], ['b', d], ['c', c], ['z', a]]));
});

test('update: deleting base and appended keys, deleting then setting again moves the key to the end', (t) => {
  const v0 = LayeredMap.of([
    ['a', a],
    ['b', b],
    ['c', c],
  ]);
  const v1 = v0.update([
    ['a', undefined],
    ['n', d],
  ]);
  assertSame(t, v1, new Map([['b', b], ['c', c], ['n', d]]), ['a']);
  const v2 = v1.update([['n', undefined]]);
  assertSame(t, v2, new Map([['b', b], ['c', c]]), ['a', 'n']);
  // `a` was removed from the base: set again, it comes last, as in a Map.
  const v3 = v2.update([['a', c]]);
  assertSame(t, v3, new Map([['b', b], ['c', c], ['a', c]]));
  // And deleted once more, from the appended part, while the base entry stays removed.
  const v4 = v3.update([['a', undefined]]);
  assertSame(t, v4, new Map([['b', b], ['c', c]]), ['a']);
  assertSame(t, v1, new Map([['b', b], ['c', c], ['n', d]]), ['a']);
});

test('update: setting a base key back to its base value shrinks the overlay', (t) => {
  const v0 = LayeredMap.of([
    ['a', a],
    ['b', b],
  ]);
  const v1 = v0.update([['a', c]]);
  t.is(v1.overlaySize, 1);
  const v2 = v1.update([['a', a]]);
  t.is(v2.overlaySize, 0);
  assertSame(t, v2, new Map([['a', a], ['b', b]]));
});

test('update: changes that change nothing return the same map', (t) => {
  const v0 = LayeredMap.of([['a', a]]);
  t.is(v0.update([]), v0);
  t.is(v0.update([['a', a]]), v0, 'the same value object');
  t.is(v0.update([['gone', undefined]]), v0, 'deleting an absent key');
  const v1 = v0.update([['b', b]]);
  t.is(v1.update([['b', b], ['a', a], ['x', undefined]]), v1);
  t.not(v0.update([['a', box(1)]]), v0, 'an equal but different object is a change');
});

test('update applies changes in order, the same key more than once', (t) => {
  const v0 = LayeredMap.of([['a', a]]);
  const changes: MapChange<string, Box>[] = [
    ['b', b],
    ['a', undefined],
    ['b', c],
    ['a', d],
    ['b', undefined],
    ['b', a],
  ];
  assertSame(t, v0.update(changes), applied(new Map([['a', a]]), changes));
});

test('compact flattens the overlay into a new base with the same entries in the same order', (t) => {
  const v0 = LayeredMap.of([
    ['a', a],
    ['b', b],
    ['c', c],
  ]);
  t.is(v0.compact(), v0, 'nothing to flatten');
  const v1 = v0.update([
    ['b', undefined],
    ['a', d],
    ['b', b],
    ['e', c],
  ]);
  const flat = v1.compact();
  t.is(flat.overlaySize, 0);
  t.not(flat, v1);
  assertSame(t, flat, new Map([['a', d], ['c', c], ['b', b], ['e', c]]), ['x']);
  assertSame(t, v1, new Map([['a', d], ['c', c], ['b', b], ['e', c]]), ['x']);
});

test('update flattens exactly when the overlay grows past overlayLimit(size)', (t) => {
  const size = 400;
  const limit = overlayLimit(size);
  t.is(limit, 40, '2·√400');
  const plain = new Map<string, Box>();
  for (let i = 0; i < size; i++) plain.set(`k${i}`, box(i));
  let map = LayeredMap.adopt(new Map(plain));
  // One replaced entry per update: the overlay grows by one each time, up to the limit.
  for (let i = 0; i < limit; i++) {
    const value = box(-i);
    map = map.update([[`k${i}`, value]]);
    plain.set(`k${i}`, value);
    t.is(map.overlaySize, i + 1);
  }
  assertSame(t, map, plain);
  // One more is past the limit: this version is flattened.
  const value = box(-limit);
  map = map.update([[`k${limit}`, value]]);
  plain.set(`k${limit}`, value);
  t.is(map.overlaySize, 0);
  assertSame(t, map, plain);
  // And the next update starts a new overlay over that base.
  map = map.update([['new', a]]);
  plain.set('new', a);
  t.is(map.overlaySize, 1);
  assertSame(t, map, plain);
});

test('small maps are flattened only past the minimum overlay limit', (t) => {
  t.is(overlayLimit(0), 32);
  t.is(overlayLimit(10), 32);
  t.is(overlayLimit(10_000), 200);
  let map = LayeredMap.of<string, Box>([]);
  for (let i = 0; i < 32; i++) map = map.update([[`k${i}`, box(i)]]);
  t.is(map.overlaySize, 32);
  map = map.update([['k32', box(32)]]);
  t.is(map.overlaySize, 0);
  t.is(map.size, 33);
  t.deepEqual([...map.keys()], Array.from({ length: 33 }, (_, i) => `k${i}`));
});

test('a long random sequence of updates reads like a Map at every version, earlier versions included', (t) => {
  // Deterministic (xorshift32) so that a failure can be replayed.
  let seed = 0x9e3779b9;
  const next = (n: number): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const values = Array.from({ length: 8 }, (_, i) => box(i));
  let expected = new Map<string, Box>();
  for (let i = 0; i < 150; i++) expected.set(`k${next(200)}`, values[next(8)]!);
  let map = LayeredMap.adopt(new Map(expected));
  const versions: [LayeredMap<string, Box>, Map<string, Box>][] = [];
  let flattened = 0;
  for (let step = 0; step < 600; step++) {
    const changes: MapChange<string, Box>[] = [];
    const count = 1 + next(step % 50 === 0 ? 80 : 4);
    for (let i = 0; i < count; i++) changes.push([`k${next(220)}`, next(3) === 0 ? undefined : values[next(8)]!]);
    const before = map.overlaySize;
    map = map.update(changes);
    expected = applied(expected, changes);
    // Flattened (an overlay cannot empty itself otherwise with this many changes in between).
    if (map.overlaySize === 0 && before > 16) flattened++;
    t.true(map.overlaySize <= overlayLimit(map.size));
    t.is(map.size, expected.size);
    if (step % 10 === 0) versions.push([map, expected]);
  }
  t.true(flattened > 5, `the overlay was flattened ${flattened} times`);
  for (const [version, plain] of versions) assertSame(t, version, plain, ['k0', 'k219', 'absent']);
});
