import test from 'ava';
import { addressCodec, type Address } from '@ambit/protos';
import { addressTableBuilder, diffTables, type EncodeProblem, type ResourceTable } from '../src/server/resource-table.js';
import { TypeWatch, type PendingResponse } from '../src/server/type-watch.js';
import { pod, service } from './fixtures/mesh.js';

const T = 'type.googleapis.com/istio.workload.Address';

function tables() {
  const builder = addressTableBuilder(addressCodec());
  return (entries: [string, Address][]): ResourceTable => {
    const problems: EncodeProblem[] = [];
    const table = builder.build(new Map(entries), problems);
    if (problems.length) throw new Error(JSON.stringify(problems));
    return table;
  };
}

function summary(r: PendingResponse | undefined) {
  return r && { resources: r.resources.map((e) => e.name).sort(), removed: [...r.removed].sort() };
}

const uid = (n: string) => `Kubernetes//Pod/default/${n}`;

test('a first request without names is a legacy wildcard; a later empty request changes nothing', (t) => {
  const build = tables();
  const table = build([pod('a', '10.0.0.1'), pod('b', '10.0.0.2')]);
  const w = new TypeWatch(T);
  t.false(w.started);
  t.false(w.pending);
  t.is(w.take(table), undefined);
  w.applyRequest([], []);
  t.true(w.wildcard);
  t.deepEqual(summary(w.take(table)), { resources: [uid('a'), uid('b')], removed: [] });
  w.applyRequest([], []);
  t.is(w.take(table), undefined);
});

test('subscribe and unsubscribe * in the opening request means named mode with nothing subscribed (ztunnel on-demand)', (t) => {
  const build = tables();
  const table = build([pod('a', '10.0.0.1')]);
  const w = new TypeWatch(T);
  w.applyRequest(['*'], ['*']);
  t.false(w.wildcard);
  t.deepEqual(summary(w.take(table)), { resources: [], removed: [] });
});

test('leaving the wildcard forgets everything silently; names subscribed alongside stay', (t) => {
  const build = tables();
  const table = build([pod('a', '10.0.0.1'), pod('b', '10.0.0.2')]);
  const w = new TypeWatch(T);
  w.applyRequest(['*', uid('a')], []);
  t.true(w.wildcard);
  w.take(table);
  w.applyRequest([], ['*']);
  t.is(w.take(table), undefined);
  t.is(w.heldCount, 1);
  t.deepEqual(w.subscriptions(), [uid('a')]);
});

test('re-subscribing the wildcard or a name the client already holds forces a (possibly empty) response', (t) => {
  const build = tables();
  const table = build([pod('a', '10.0.0.1')]);
  const w = new TypeWatch(T);
  w.applyRequest([uid('a')], []);
  t.deepEqual(summary(w.take(table)), { resources: [uid('a')], removed: [] });
  w.applyRequest([uid('a')], []);
  t.deepEqual(summary(w.take(table)), { resources: [], removed: [] });
});

test('a name subscribed and unsubscribed before the response is neither sent nor reported removed', (t) => {
  const build = tables();
  const table = build([pod('a', '10.0.0.1')]);
  const w = new TypeWatch(T);
  w.applyRequest(['*'], ['*']);
  w.take(table);
  w.applyRequest(['nope', uid('a')], []);
  w.applyRequest([], ['nope', uid('a')]);
  t.deepEqual(summary(w.take(table)), { resources: [], removed: [] });
});

test('initial versions in named mode: claimed but unsubscribed names are removed, subscribed equal ones skipped', (t) => {
  const build = tables();
  const table = build([pod('a', '10.0.0.1'), pod('b', '10.0.0.2')]);
  const va = table.entries.get(uid('a'))!.version;
  const w = new TypeWatch(T);
  w.applyRequest([uid('a')], [], { [uid('a')]: va, [uid('b')]: 'whatever' });
  t.deepEqual(summary(w.take(table)), { resources: [], removed: [uid('b')] });
});

test('initial versions are honoured only on the first request of the type', (t) => {
  const build = tables();
  const table = build([pod('a', '10.0.0.1')]);
  const w = new TypeWatch(T);
  w.applyRequest([], []);
  w.take(table);
  w.applyRequest([], [], { 'ghost': 'v' });
  t.is(w.take(table), undefined);
});

test('changes noted before the first request are ignored (the first response covers them)', (t) => {
  const build = tables();
  const t1 = build([pod('a', '10.0.0.1')]);
  const t2 = build([pod('a', '10.0.0.1', { revision: 'x' })]);
  const w = new TypeWatch(T);
  w.noteChanges(diffTables(t1, t2));
  t.false(w.pending);
});

test('a wildcard watch with more changes than its dirty set holds falls back to a full rescan, with the same result', (t) => {
  const build = tables();
  const before: [string, Address][] = [];
  const after: [string, Address][] = [];
  for (let i = 0; i < 6000; i++) {
    const ip = `10.1.${i >> 8}.${i & 255}`;
    before.push(pod(`p${i}`, ip));
    // Every other pod changes, the last 100 go.
    if (i < 5900) after.push(i % 2 ? pod(`p${i}`, ip, { revision: 'v2' }) : pod(`p${i}`, ip));
  }
  const t1 = build(before);
  const t2 = build(after);
  const w = new TypeWatch(T);
  w.applyRequest([], []);
  t.is(w.take(t1)?.resources.length, 6000);
  w.noteChanges(diffTables(t1, t2));
  const r = w.take(t2)!;
  t.is(r.resources.length, 2950);
  t.is(r.removed.length, 100);
  t.is(w.heldCount, 5900);
});

test('diffTables reports new and changed names as upserted and missing ones as removed', (t) => {
  const build = tables();
  const t1 = build([pod('a', '10.0.0.1'), pod('b', '10.0.0.2'), service('s', '10.96.0.1')]);
  const t2 = build([pod('a', '10.0.0.1'), pod('b', '10.0.0.2', { revision: 'x' }), pod('c', '10.0.0.3')]);
  const d = diffTables(t1, t2);
  t.deepEqual([...d.upserted].sort(), [uid('b'), uid('c')]);
  t.deepEqual(d.removed, ['default/s.default.svc.cluster.local']);
  t.deepEqual([...diffTables(undefined, t1).upserted].sort(), [...t1.entries.keys()].sort());
});
