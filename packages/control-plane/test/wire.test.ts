import test from 'ava';
import { envoyCodec, type DeltaDiscoveryResponse } from '@ambit/protos';
import { contentVersion, type ResourceEntry } from '../src/server/resource-table.js';
import { DeltaResponseEncoder } from '../src/server/wire.js';

const codec = envoyCodec<DeltaDiscoveryResponse>('envoy.service.discovery.v3.DeltaDiscoveryResponse');

function entry(name: string, size: number, aliases: string[] = []): ResourceEntry {
  const bytes = Buffer.alloc(size, 0x5a);
  return { name, version: contentVersion(bytes), bytes, aliases };
}

test('the hand encoder produces what Envoy\'s DeltaDiscoveryResponse definition decodes, for every field it writes', (t) => {
  const enc = new DeltaResponseEncoder();
  // Sizes straddle the 1-, 2- and 3-byte length varints; names hold multi-byte UTF-8.
  const entries = [entry('small', 3, ['net/10.0.0.1', 'net/::1']), entry('médium-☃', 200), entry('large', 70_000, ['x'])];
  const bytes = enc.encode({
    systemVersionInfo: '42',
    typeUrl: 'type.googleapis.com/istio.workload.Address',
    nonce: 'n-1',
    resources: entries,
    removed: ['gone/1', 'gone/ünï'],
    withAliases: true,
  });
  const decoded = codec.decode(bytes);
  t.is(decoded.system_version_info, '42');
  t.is(decoded.type_url, 'type.googleapis.com/istio.workload.Address');
  t.is(decoded.nonce, 'n-1');
  t.deepEqual(decoded.removed_resources, ['gone/1', 'gone/ünï']);
  t.is(decoded.resources?.length, 3);
  for (const [i, e] of entries.entries()) {
    const r = decoded.resources![i]!;
    t.is(r.name, e.name);
    t.is(r.version, e.version);
    t.deepEqual(r.aliases ?? [], [...e.aliases]);
    t.is(r.resource?.type_url, 'type.googleapis.com/istio.workload.Address');
    t.true(Buffer.from(r.resource!.value!).equals(e.bytes));
  }
});

test('aliases are left out unless asked for, and an empty response is just its header', (t) => {
  const enc = new DeltaResponseEncoder();
  const e = entry('a', 10, ['net/10.0.0.1']);
  const plain = codec.decode(enc.encode({ systemVersionInfo: '1', typeUrl: 'T', nonce: 'n', resources: [e], removed: [], withAliases: false }));
  t.deepEqual(plain.resources?.[0]?.aliases ?? [], []);
  const empty = codec.decode(enc.encode({ systemVersionInfo: '1', typeUrl: 'T', nonce: 'n', resources: [], removed: [], withAliases: false }));
  t.deepEqual(empty.resources ?? [], []);
  t.deepEqual(empty.removed_resources ?? [], []);
  t.is(empty.type_url, 'T');
});

test('each entry\'s Resource message is encoded once and reused by every response', (t) => {
  const enc = new DeltaResponseEncoder();
  const e = entry('a', 10, ['alias']);
  t.is(enc.resource(e, 'T', false), enc.resource(e, 'T', false));
  t.is(enc.resource(e, 'T', true), enc.resource(e, 'T', true));
  t.not(enc.resource(e, 'T', true), enc.resource(e, 'T', false));
});
