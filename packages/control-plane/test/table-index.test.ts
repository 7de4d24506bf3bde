/**
 * The on-demand lookup index: built in full, derived from the previous one, and what resource tables do
 * with it. A derived index must be exactly the full build of the changed table.
 */
import test from 'ava';
import { addressCodec, type Address } from '@ambit/protos';
import { LayeredMap } from '../src/lib/layered-map.js';
import { addressTableBuilder, type ResourceTable } from '../src/server/resource-table.js';
import { buildTableIndex, updateTableIndex, type IndexChange, type IndexKeys, type TableIndex } from '../src/server/table-index.js';
import { ip } from './helpers.js';

/** An index as plain sorted data, for comparing two indexes whatever their layering. */
function plain(index: TableIndex): { aliases: [string, readonly string[]][]; members: [string, readonly string[]][] } {
  const sorted = (map: ReadonlyMap<string, readonly string[]>): [string, readonly string[]][] => [...map].sort(([a], [b]) => (a < b ? -1 : 1));
  return { aliases: sorted(index.aliases), members: sorted(index.members) };
}

test('a full build lists each key\'s holders sorted and once, whatever the resource order', (t) => {
  const index = buildTableIndex([
    ['c', { aliases: ['/10.0.0.1'], groups: ['svc'] }],
    ['a', { aliases: ['/10.0.0.1', '/10.0.0.2', '/10.0.0.1'], groups: ['svc', 'svc'] }],
    ['b', { aliases: [], groups: ['svc', 'other'] }],
    ['a', { aliases: ['/10.0.0.2'], groups: [] }],
  ]);
  t.deepEqual(plain(index), {
    aliases: [
      ['/10.0.0.1', ['a', 'c']],
      ['/10.0.0.2', ['a']],
    ],
    members: [
      ['other', ['b']],
      ['svc', ['a', 'b', 'c']],
    ],
  });
  t.deepEqual(plain(buildTableIndex([])), { aliases: [], members: [] });
});

test('derived indexes equal full builds through random changes, and earlier indexes stay as they were', (t) => {
  // Deterministic (xorshift32) so that a failure can be replayed.
  let seed = 0x1234567;
  const next = (n: number): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const randomKeys = (): IndexKeys => ({
    aliases: Array.from({ length: next(3) }, () => `/10.0.0.${next(12)}`),
    groups: Array.from({ length: next(3) }, () => `svc-${next(5)}`),
  });
  let resources = new Map<string, IndexKeys>();
  for (let i = 0; i < 40; i++) resources.set(`r${next(60)}`, randomKeys());
  let index = buildTableIndex(resources);
  const history: { index: TableIndex; expected: ReturnType<typeof plain> }[] = [];
  for (let step = 0; step < 300; step++) {
    const after = new Map(resources);
    const changes: IndexChange[] = [];
    const names = new Set(Array.from({ length: 1 + next(4) }, () => `r${next(60)}`));
    for (const name of names) {
      const keys = next(4) === 0 ? undefined : randomKeys();
      if (keys === undefined) after.delete(name);
      else after.set(name, keys);
      changes.push({ name, before: resources.get(name), after: keys });
    }
    index = updateTableIndex(index, changes);
    resources = after;
    const expected = plain(buildTableIndex(resources));
    t.deepEqual(plain(index), expected, `step ${step}`);
    if (step % 25 === 0) history.push({ index, expected });
  }
  for (const { index: held, expected } of history) t.deepEqual(plain(held), expected);
});

test('an unchanged resource, and a change that keeps a resource\'s keys, leave the lists as they were', (t) => {
  const index = buildTableIndex([
    ['a', { aliases: ['/1'], groups: ['g'] }],
    ['b', { aliases: ['/2'], groups: ['g'] }],
  ]);
  const same = updateTableIndex(index, [{ name: 'a', before: { aliases: ['/1'], groups: ['g'] }, after: { aliases: ['/1'], groups: ['g'] } }]);
  t.is(same.aliases, index.aliases);
  t.is(same.members, index.members);
  // The last holder leaves: the key goes.
  const gone = updateTableIndex(index, [{ name: 'b', before: { aliases: ['/2'], groups: ['g'] }, after: undefined }]);
  t.deepEqual(plain(gone), { aliases: [['/1', ['a']]], members: [['g', ['a']]] });
  t.deepEqual(plain(index).aliases, [['/1', ['a']], ['/2', ['b']]]);
});

const pod = (name: string, podIp: string, services: readonly string[] = []): [string, Address] => {
  const uid = `Kubernetes//Pod/default/${name}`;
  return [
    uid,
    {
      type: 'workload',
      workload: { uid, name, namespace: 'default', addresses: [ip(podIp)], ...(services.length > 0 ? { services: Object.fromEntries(services.map((s) => [s, {}])) } : {}) },
    },
  ];
};

const SVC = 'default/web.default.svc.cluster.local';
const uid = (name: string): string => `Kubernetes//Pod/default/${name}`;

/** Every lookup a named subscription can make, for comparing two tables. */
function lookups(table: ResourceTable, names: readonly string[]): unknown[] {
  return names.map((name) => [name, table.resolve(name), table.membersOf(name)]);
}

test('tables: an alias resolves to the smallest holder; a hinted build derives its index once the previous one was built', (t) => {
  const builder = addressTableBuilder(addressCodec());
  // Out of order: resolution does not depend on it.
  let resources = LayeredMap.of([pod('b', '10.0.0.1', [SVC]), pod('a', '10.0.0.1', [SVC]), pod('c', '10.0.0.3')]);
  const first = builder.build(resources, []);
  t.is(first.builtIndex(), undefined, 'not built until a lookup needs it');
  t.is(first.resolve('/10.0.0.1'), uid('a'));
  t.deepEqual(first.membersOf(SVC), [uid('a'), uid('b')]);
  t.truthy(first.builtIndex());

  const probe = ['/10.0.0.1', '/10.0.0.2', '/10.0.0.3', '/10.0.0.4', SVC, uid('a'), 'nothing'];
  const steps: [string, Address | undefined][][] = [
    [pod('a', '10.0.0.2', [SVC])], // a's IP changes: /10.0.0.1 is b's alone now
    [pod('c', '10.0.0.3', [SVC])], // c joins the service
    [[uid('b'), undefined]], // b goes
    [pod('d', '10.0.0.4', [SVC]), [uid('a'), undefined]], // d comes, a goes
  ];
  let table = first;
  for (const [i, changes] of steps.entries()) {
    resources = resources.update(changes);
    const next = builder.build(resources, [], new Set(changes.map(([name]) => name)));
    t.truthy(next.builtIndex(), `step ${i}: derived at build time`);
    t.deepEqual(lookups(next, probe), lookups(addressTableBuilder(addressCodec()).build(resources, []), probe), `step ${i}`);
    table = next;
  }
  t.deepEqual(table.membersOf(SVC), [uid('c'), uid('d')]);
  t.is(table.resolve('/10.0.0.1'), undefined);
  // The first table still answers as it did.
  t.is(first.resolve('/10.0.0.1'), uid('a'));
  t.deepEqual(first.membersOf(SVC), [uid('a'), uid('b')]);
});

test('tables: without a built index before, a hinted build leaves its own to be built on first use', (t) => {
  const builder = addressTableBuilder(addressCodec());
  let resources = LayeredMap.of([pod('a', '10.0.0.1', [SVC])]);
  builder.build(resources, []);
  resources = resources.update([pod('b', '10.0.0.2', [SVC])]);
  const next = builder.build(resources, [], new Set([uid('b')]));
  t.is(next.builtIndex(), undefined);
  t.deepEqual(next.membersOf(SVC), [uid('a'), uid('b')]);
  t.is(next.resolve('/10.0.0.2'), uid('b'));
});

test('tables: a resource that cannot be encoded is not in the index, before or after a hinted build', (t) => {
  const builder = addressTableBuilder(addressCodec());
  const bad: [string, Address] = [uid('bad'), { workload: { uid: uid('bad'), addresses: ['not-bytes' as unknown as Buffer], services: { [SVC]: {} } } }];
  let resources = LayeredMap.of([pod('a', '10.0.0.1', [SVC]), bad]);
  const first = builder.build(resources, []);
  t.deepEqual(first.membersOf(SVC), [uid('a')]);
  resources = resources.update([pod('bad', '10.0.0.9', [SVC])]);
  const fixed = builder.build(resources, [], new Set([uid('bad')]));
  t.truthy(fixed.builtIndex());
  t.deepEqual(fixed.membersOf(SVC), [uid('a'), uid('bad')]);
  resources = resources.update([bad]);
  const broken = builder.build(resources, [], new Set([uid('bad')]));
  t.deepEqual(broken.membersOf(SVC), [uid('a')]);
  t.is(broken.resolve('/10.0.0.9'), undefined);
});
