import test from 'ava';
import { addressCodec, authorizationCodec, type Address } from '@ambit/protos';
import { addressTableBuilder, authorizationTableBuilder, contentVersion, type EncodeProblem } from '../src/server/resource-table.js';
import { pod, policy, service } from './fixtures/mesh.js';

test('versions are content hashes: equal content, equal version, across builders', (t) => {
  const [name, a] = pod('a', '10.0.0.1');
  const p1: EncodeProblem[] = [];
  const t1 = addressTableBuilder(addressCodec()).build(new Map([[name, a]]), p1);
  const t2 = addressTableBuilder(addressCodec()).build(new Map([[name, structuredClone(a)]]), p1);
  t.is(t1.entries.get(name)!.version, t2.entries.get(name)!.version);
  t.is(t1.entries.get(name)!.version, contentVersion(addressCodec().encode(a)));
  t.regex(t1.entries.get(name)!.version, /^[0-9a-f]{16}$/);
  t.deepEqual(p1, []);
});

test('unchanged objects and re-created equal ones keep the previous entry object', (t) => {
  const b = addressTableBuilder(addressCodec());
  const [name, a] = pod('a', '10.0.0.1');
  const problems: EncodeProblem[] = [];
  const first = b.build(new Map([[name, a]]), problems);
  const same = b.build(new Map([[name, a]]), problems);
  const recreated = b.build(new Map([pod('a', '10.0.0.1')]), problems);
  t.is(same.entries.get(name), first.entries.get(name));
  t.is(recreated.entries.get(name), first.entries.get(name));
  const changed = b.build(new Map([pod('a', '10.0.0.2')]), problems);
  t.not(changed.entries.get(name), first.entries.get(name));
});

test('Address tables resolve network/IP aliases and list a service\'s workloads', (t) => {
  const svc = 'default/web.default.svc.cluster.local';
  const v6: [string, Address] = [
    'Kubernetes//Pod/default/six',
    { workload: { uid: 'Kubernetes//Pod/default/six', addresses: [Buffer.from('20010db8000000000000000000000001', 'hex')], network: 'net1' } },
  ];
  const table = addressTableBuilder(addressCodec()).build(
    new Map([pod('a', '10.0.0.1', { services: [svc] }), pod('b', '10.0.0.2', { services: [svc] }), service('web', '10.96.0.10'), v6]),
    [],
  );
  t.is(table.resolve('/10.0.0.1'), 'Kubernetes//Pod/default/a');
  t.is(table.resolve('/10.96.0.10'), svc);
  t.is(table.resolve('net1/2001:db8::1'), 'Kubernetes//Pod/default/six');
  t.is(table.resolve(svc), svc);
  t.is(table.resolve('/10.0.0.99'), undefined);
  t.deepEqual([...table.membersOf(svc)].sort(), ['Kubernetes//Pod/default/a', 'Kubernetes//Pod/default/b']);
  t.deepEqual(table.membersOf('Kubernetes//Pod/default/a'), []);
  t.deepEqual(table.entries.get('Kubernetes//Pod/default/a')?.aliases, ['/10.0.0.1']);
});

test('an alias claimed by two resources resolves to the first; a resource name always wins', (t) => {
  const table = addressTableBuilder(addressCodec()).build(
    new Map([pod('a', '10.0.0.1'), pod('b', '10.0.0.1'), ['/10.0.0.1', pod('c', '10.0.0.3')[1]]]),
    [],
  );
  t.is(table.resolve('/10.0.0.1'), '/10.0.0.1');
  const t2 = addressTableBuilder(addressCodec()).build(new Map([pod('a', '10.0.0.1'), pod('b', '10.0.0.1')]), []);
  t.is(t2.resolve('/10.0.0.1'), 'Kubernetes//Pod/default/a');
});

test('Authorization tables have no aliases', (t) => {
  const table = authorizationTableBuilder(authorizationCodec()).build(new Map([policy('p')]), []);
  t.deepEqual(table.entries.get('default/p')?.aliases, []);
  t.is(table.size, 1);
});
