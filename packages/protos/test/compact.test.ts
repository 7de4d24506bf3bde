import test from 'ava';
import { addressCodec, compactMessage, StringInterner, type Address } from '../src/index.js';

const workload = (name: string, ip: number): Address => ({
  workload: {
    uid: `Kubernetes//Pod/shop/${name}`,
    name,
    namespace: 'shop',
    addresses: [Buffer.from([10, 0, 0, ip])],
    trust_domain: 'cluster.local',
    service_account: 'cart',
    services: { 'shop/cart.shop.svc.cluster.local': { ports: [{ service_port: 80, target_port: 8080 }] } },
    authorization_policies: ['shop/allow-cart', 'istio-system/istio_converted_static_strict'],
  },
});

test('a compacted message equals the decoded one, and its bytes no longer point into the response', (t) => {
  const codec = addressCodec();
  // Two resources in one "response" buffer, as a gRPC message would hold them.
  const first = codec.encode(workload('cart-1', 1));
  const second = codec.encode(workload('cart-2', 2));
  // Its own allocation (Buffer.alloc does not use Node's small-buffer pool).
  const wire = Buffer.alloc(first.length + second.length);
  first.copy(wire);
  second.copy(wire, first.length);
  const decoded = codec.decode(wire.subarray(0, first.length));
  t.is(decoded.workload!.addresses![0]!.buffer, wire.buffer, 'protobufjs hands out views into the response');
  const expected = codec.decode(Buffer.from(first));
  const interner = new StringInterner();
  const compacted = compactMessage(decoded, interner);
  t.deepEqual(compacted, expected);
  const ip = compacted.workload!.addresses![0]!;
  t.true(Buffer.isBuffer(ip));
  t.not(ip.buffer, wire.buffer);
  wire.fill(0);
  t.deepEqual([...ip], [10, 0, 0, 1], 'the copy does not change with the response buffer');
});

test('the interner keeps one entry per distinct string and starts over when full', (t) => {
  const interner = new StringInterner(4);
  const codec = addressCodec();
  compactMessage(codec.decode(codec.encode(workload('cart-1', 1))), interner);
  // Already at the bound after one message: the table was cleared and refilled as it went.
  t.true(interner.size <= 4);
  const roomy = new StringInterner();
  for (let i = 1; i <= 3; i++) compactMessage(codec.decode(codec.encode(workload(`cart-${i}`, i))), roomy);
  // Shared by all three: type, namespace, trust domain, service account, two policy names; own: uid, name.
  t.is(roomy.size, 6 + 3 * 2);
  t.is(roomy.intern('shop'), 'shop');
  t.throws(() => new StringInterner(0), { instanceOf: RangeError });
});

test('scalars, null and nested arrays pass through', (t) => {
  const interner = new StringInterner();
  t.is(compactMessage(7, interner), 7);
  t.is(compactMessage(null, interner), null);
  t.deepEqual(compactMessage({ a: [[1, 'x'], []], b: true }, interner), { a: [[1, 'x'], []], b: true });
});
