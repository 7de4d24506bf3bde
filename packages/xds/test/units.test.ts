import test from 'ava';
import { StringInterner, addressCodec } from '@ambit/protos';
import {
  Backoff,
  XdsClient,
  XdsConfigError,
  buildNode,
  codecResourceType,
  formatRejections,
  proxyNodeId,
  type MetadataValue,
  type ResourceBatch,
  type ResourceType,
} from '../src/index.js';
import { TypeState } from '../src/type-state.js';
import { addressType, silent, workload } from './support/fixtures.js';

test('backoff: full jitter under a cap that doubles to the maximum, reset to the start', (t) => {
  const draws = [0, 0.5, 0.999, 0.25];
  let i = 0;
  const backoff = new Backoff({ initialMs: 10, maxMs: 50, random: () => draws[i++ % draws.length]! });
  t.is(backoff.cap, 10);
  t.deepEqual([backoff.next(), backoff.next(), backoff.next(), backoff.next(), backoff.next()], [0, 10, 39, 12, 0]);
  t.is(backoff.cap, 50);
  backoff.reset();
  t.is(backoff.cap, 10);
  const defaults = new Backoff({ random: () => 0.999 });
  const delays = Array.from({ length: 14 }, () => defaults.next());
  t.is(delays[0], 9);
  t.is(delays.at(-1), 14985);
  t.true(delays.every((d, k) => k === 0 || d >= delays[k - 1]!));
  t.throws(() => new Backoff({ initialMs: 0 }), { instanceOf: RangeError });
  t.throws(() => new Backoff({ initialMs: 20, maxMs: 10 }), { instanceOf: RangeError });
  t.throws(() => new Backoff({ multiplier: 0.5 }), { instanceOf: RangeError });
});

test('node: Istio proxy id and metadata as a Struct', (t) => {
  t.is(proxyNodeId('ztunnel', '10.0.0.5', 'ztunnel-abc', 'istio-system'), 'ztunnel~10.0.0.5~ztunnel-abc.istio-system~istio-system.svc.cluster.local');
  t.throws(() => proxyNodeId('ztunnel', '', 'p', 'ns'), { instanceOf: XdsConfigError, message: /ip ''/ });
  t.throws(() => proxyNodeId('ztunnel', '1.2.3.4', 'a~b', 'ns'), { instanceOf: XdsConfigError, message: /pod name/ });
  const node = buildNode({
    id: 'n',
    cluster: 'Kubernetes',
    metadata: { NAME: 'p', COUNT: 2, ON: true, NONE: null, IPS: ['a', 'b'], NESTED: { X: 'y' } },
    locality: { region: 'r', subZone: 's' },
    userAgentVersion: '1.0',
  });
  t.deepEqual(node, {
    id: 'n',
    cluster: 'Kubernetes',
    user_agent_name: 'ambit',
    user_agent_version: '1.0',
    locality: { region: 'r', sub_zone: 's' },
    metadata: {
      fields: {
        NAME: { stringValue: 'p' },
        COUNT: { numberValue: 2 },
        ON: { boolValue: true },
        NONE: { nullValue: 'NULL_VALUE' },
        IPS: { listValue: { values: [{ stringValue: 'a' }, { stringValue: 'b' }] } },
        NESTED: { structValue: { fields: { X: { stringValue: 'y' } } } },
      },
    },
  });
  t.throws(() => buildNode({ id: '' }), { instanceOf: XdsConfigError, message: 'node id is required' });
  t.throws(() => buildNode({ id: 'n', metadata: { A: { B: Number.NaN } } }), { message: 'metadata.A.B: NaN is not a finite number' });
  t.throws(() => buildNode({ id: 'n', metadata: { A: [undefined as unknown as MetadataValue] } }), { message: 'metadata.A[0]: a undefined cannot be node metadata' });
});

test('client options are checked up front with precise errors', (t) => {
  const base = { target: '127.0.0.1:1', node: { id: 'n' }, logger: silent };
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ protocol: 'rest' }, /protocol must be delta or sotw/],
    [{ token: '' }, /token is empty/],
    [{ headers: { Authorization: 'x' } }, /bearer token with `token`/],
    [{ headers: { 'bad key': 'x' } }, /^headers: bad key: /],
    [{ tls: { rootCa: 'x', certChain: 'y' } }, /certChain and privateKey go together/],
    [{ target: '' }, /^invalid target '': Could not parse target name/],
    [{ node: { id: '' } }, /node id is required/],
  ];
  for (const [override, message] of bad) {
    t.throws(() => new XdsClient({ ...base, ...override }), { instanceOf: XdsConfigError, message }, JSON.stringify(override));
  }
  const sotw = new XdsClient({ ...base, protocol: 'sotw' });
  t.throws(() => sotw.addType({ typeUrl: 't', decode: () => ({ ok: false, reason: '' }) }, () => {}), { message: /has no nameOf/ });
  const client = new XdsClient(base);
  client.addType(addressType(), () => {});
  t.throws(() => client.addType(addressType(), () => {}), { message: /already registered/ });
  t.throws(() => client.subscribe('type.googleapis.com/nope'), { instanceOf: XdsConfigError, message: /no resource type is registered for type.googleapis.com\/nope/ });
  t.throws(() => client.subscribe(addressType().typeUrl, ['']), { message: /non-empty strings/ });
  client.destroy();
  sotw.destroy();
});

test('formatRejections lists every name and reason', (t) => {
  t.is(formatRejections([{ name: 'a', reason: 'x' }]), '1 resource rejected: a: x');
  t.is(formatRejections([{ name: 'a', reason: 'x' }, { name: 'b', reason: 'y' }]), '2 resources rejected: a: x; b: y');
});

test('codecResourceType: malformed bytes and validation failures are values, not throws', (t) => {
  const type = addressType();
  const good = type.decode(workload('c/a'), 'c/a');
  t.true(good.ok);
  const malformed = type.decode(Buffer.from([0x0a, 0x05, 0x01]), 'x');
  t.false(malformed.ok);
  t.regex(malformed.ok ? '' : malformed.reason, /^cannot decode istio\.workload\.Address/);
  const invalid = type.decode(addressCodec().encode({ workload: { uid: 'c/l', tunnel_protocol: 'LEGACY_ISTIO_MTLS' } }), '');
  t.deepEqual(invalid, { ok: false, reason: 'unsupported tunnel protocol LEGACY_ISTIO_MTLS', name: 'c/l' });
  const plain = codecResourceType(addressCodec());
  t.false('nameOf' in plain);
  t.is(plain.allResourcesRequiredInSotw, undefined);
});

test('codecResourceType: accepted values are compacted by default (bytes copied out of the response), or left as decoded', (t) => {
  const encoded = addressCodec().encode({ workload: { uid: 'c/a', addresses: [Buffer.from([10, 1, 2, 3])], namespace: 'c' } });
  // A response buffer of its own (not Node's shared small-buffer pool).
  const response = Buffer.alloc(encoded.length);
  encoded.copy(response);
  const compacted = codecResourceType(addressCodec()).decode(response, 'c/a');
  const raw = codecResourceType(addressCodec(), { compact: false }).decode(response, 'c/a');
  if (!compacted.ok || !raw.ok) return t.fail('decoding failed');
  t.deepEqual(compacted.value, addressCodec().decode(encoded));
  t.not(compacted.value.workload!.addresses![0]!.buffer, response.buffer);
  t.is(raw.value.workload!.addresses![0]!.buffer, response.buffer);
  const interner = new StringInterner();
  const shared = codecResourceType(addressCodec(), { compact: interner }).decode(response, 'c/a');
  t.true(shared.ok);
  // The resource name and the strings of the message: 'c/a' (name and uid), 'c' (namespace), 'workload' (the oneof).
  t.is(interner.size, 3);
});

function state(type: ResourceType<unknown> = addressType()) {
  const batches: ResourceBatch<unknown>[] = [];
  const ts = new TypeState<unknown>(type, (b) => void batches.push(b), silent);
  return { ts, batches };
}

const item = (name: string | undefined, bytes: Buffer, index = 0, version = 'v1') => ({ name, index, version, bytes, aliases: [] as string[] });

test('type state: duplicate names and update-plus-remove in one response are rejected, the rest applies', (t) => {
  const { ts, batches } = state();
  ts.apply([item('c/a', workload('c/a'))], [], false);
  const rejections = ts.apply(
    [item('c/d', workload('c/d'), 0), item('c/d', workload('c/d', { node: 'x' }), 1), item('c/b', workload('c/b'), 2), item('c/a', workload('c/a', { node: 'y' }), 3)],
    ['c/a', 'c/never-held'],
    false,
  );
  t.deepEqual(rejections, [
    { name: 'c/d', reason: 'the response holds more than one resource of this name' },
    { name: 'c/a', reason: 'the response both updates and removes this resource' },
  ]);
  t.deepEqual(batches[1]!.upserts.map((u) => u.name), ['c/b']);
  t.deepEqual(batches[1]!.removals, [], 'a name never held is not handed over as a removal');
  t.deepEqual(ts.heldVersions(), { 'c/a': 'v1', 'c/b': 'v1' });
});

test('type state: a throwing decoder or nameOf only rejects its resource', (t) => {
  const type: ResourceType<string> = {
    typeUrl: 't',
    decode: (bytes) => {
      if (bytes[0] === 0) throw new Error('kaboom');
      return { ok: true, value: String(bytes[0]) };
    },
    nameOf: (v) => {
      if (v === '2') throw new Error('no name');
      return `r${v}`;
    },
  };
  const { ts, batches } = state(type);
  const rejections = ts.apply([item(undefined, Buffer.from([0]), 0), item(undefined, Buffer.from([1]), 1), item(undefined, Buffer.from([2]), 2)], [], true);
  t.deepEqual(rejections, [
    { name: 'resources[0]', reason: 'decoder threw: kaboom' },
    { name: 'resources[2]', reason: 'cannot name resources[2]: no name' },
  ]);
  t.deepEqual(batches[0]!.upserts.map((u) => u.name), ['r1']);
  const noName = state({ typeUrl: 't', decode: () => ({ ok: true, value: 1 }) });
  t.deepEqual(noName.ts.apply([item(undefined, Buffer.from([1]))], [], true), [
    { name: 'resources[0]', reason: 'the resource type cannot name resources, which state of the world needs' },
  ]);
});
