/**
 * The state in wire form (`state/wire.ts`): a replica fed from a `WireMirror` converges on the main store's
 * snapshot, through a local config and through xDS-shaped batches; bytes are copied out of the response
 * buffer; bytes a replica cannot decode are a clear `ZT_ERR_WORKER`.
 */
import test from 'ava';
import { addressCodec } from '@ambit/protos';
import { snapshotDump } from '../src/state/dump.js';
import { applyLocalConfig, parseLocalConfig } from '../src/state/local-config.js';
import { addressResourceName, addressResourceType } from '../src/state/resource-types.js';
import { StateStore } from '../src/state/store.js';
import { keepingBytes, splitWired, WireDecoder, WireMirror, type WireUpdate } from '../src/state/wire.js';

const V1 = `
workloads:
  - { uid: Kubernetes//Pod/shop/client, name: client, namespace: shop, service_account: client, addresses: [10.1.0.10], tunnel_protocol: HBONE, node: node-a }
  - { uid: Kubernetes//Pod/shop/web-1, name: web-1, namespace: shop, service_account: web, addresses: [10.1.0.20], tunnel_protocol: HBONE, node: node-a,
      services: { shop/web.shop.svc.cluster.local: { ports: [{ service_port: 80, target_port: 8080 }] } }, authorization_policies: [shop/only-client] }
services:
  - { name: web, namespace: shop, hostname: web.shop.svc.cluster.local, addresses: [{ address: 10.96.0.10 }], ports: [{ service_port: 80, target_port: 8080 }] }
policies:
  - { name: only-client, namespace: shop, scope: WORKLOAD_SELECTOR, action: ALLOW, rules: [{ clauses: [{ matches: [{ principals: [{ exact: spiffe://cluster.local/ns/shop/sa/client }] }] }] }] }
  - { name: deny-9999, namespace: shop, scope: NAMESPACE, action: DENY, rules: [{ clauses: [{ matches: [{ destination_ports: [9999], source_ips: [10.0.0.0/8] }] }] }] }
`;

// web-1 leaves, web-2 arrives, a policy goes, the service changes its port.
const V2 = `
workloads:
  - { uid: Kubernetes//Pod/shop/client, name: client, namespace: shop, service_account: client, addresses: [10.1.0.10], tunnel_protocol: HBONE, node: node-a }
  - { uid: Kubernetes//Pod/shop/web-2, name: web-2, namespace: shop, service_account: web, addresses: [10.1.0.21], tunnel_protocol: HBONE, node: node-b,
      services: { shop/web.shop.svc.cluster.local: { ports: [{ service_port: 81, target_port: 8081 }] } } }
services:
  - { name: web, namespace: shop, hostname: web.shop.svc.cluster.local, addresses: [{ address: 10.96.0.10 }], ports: [{ service_port: 81, target_port: 8081 }] }
policies:
  - { name: deny-9999, namespace: shop, scope: NAMESPACE, action: DENY, rules: [{ clauses: [{ matches: [{ destination_ports: [9999], source_ips: [10.0.0.0/8] }] }] }] }
`;

/** What a snapshot holds, without its generation counters (a replica counts its own). */
function content(store: StateStore): unknown {
  const { generation: _generation, generations: _generations, ...rest } = JSON.parse(JSON.stringify(snapshotDump(store.current))) as Record<string, unknown>;
  return rest;
}

test('a replica fed the whole state, then each change, holds what the main store holds', (t) => {
  const main = new StateStore();
  const mirror = new WireMirror();
  applyLocalConfig(main, parseLocalConfig(V1, 'v1.yaml'), mirror);
  t.deepEqual(mirror.size, { addresses: 3, authorizations: 2 });

  const decoder = new WireDecoder();
  const replica = new StateStore();
  replica.apply(decoder.decode(mirror.full()));
  t.deepEqual(content(replica), content(main));
  t.is(replica.current.findWorkloadByIp('10.1.0.20')?.identity.uri, 'spiffe://cluster.local/ns/shop/sa/web', 'identities are Identity instances again');

  const seen: WireUpdate[] = [];
  const unsubscribe = mirror.onUpdate((update) => {
    seen.push(update);
    replica.apply(decoder.decode(update));
  });
  applyLocalConfig(main, parseLocalConfig(V2, 'v2.yaml'), mirror);
  t.is(seen.length, 1);
  t.deepEqual([...(seen[0]!.addresses?.removals ?? [])], ['Kubernetes//Pod/shop/web-1']);
  t.deepEqual([...(seen[0]!.authorizations?.removals ?? [])], ['shop/only-client']);
  t.deepEqual(content(replica), content(main));
  t.deepEqual(mirror.size, { addresses: 3, authorizations: 1 });

  // A second replica started now begins where the first one is.
  const late = new StateStore();
  late.apply(decoder.decode(mirror.full()));
  t.deepEqual(content(late), content(main));

  unsubscribe();
  applyLocalConfig(main, parseLocalConfig(V1, 'v1.yaml'), mirror);
  t.is(seen.length, 1, 'an unsubscribed listener hears nothing more');
});

test('keepingBytes copies each resource out of the response buffer; splitWired feeds the store and the mirror', (t) => {
  const codec = addressCodec();
  const encoded = codec.encode({ workload: { uid: 'Kubernetes//Pod/shop/a', name: 'a', namespace: 'shop', addresses: [Buffer.from([10, 1, 0, 1])] } });
  // A response buffer with other bytes around the resource, as the xDS client hands out views.
  const response = new Uint8Array(encoded.length + 8);
  response.set(encoded, 4);
  const view = response.subarray(4, 4 + encoded.length);
  const type = keepingBytes(addressResourceType());
  const decoded = type.decode(view, 'Kubernetes//Pod/shop/a');
  if (!decoded.ok) return t.fail(decoded.reason);
  t.not(decoded.value.bytes.buffer, response.buffer);
  t.deepEqual([...decoded.value.bytes], [...encoded]);
  t.is(type.nameOf?.(decoded.value), 'Kubernetes//Pod/shop/a');

  const failed = type.decode(Uint8Array.from([0xff, 0xff]), 'x');
  t.false(failed.ok, 'a resource that does not decode is refused as before');

  const { batch, wire } = splitWired(
    { typeUrl: type.typeUrl, upserts: [{ name: 'Kubernetes//Pod/shop/a', version: '1', aliases: [], resource: decoded.value }], removals: ['Kubernetes//Pod/shop/gone'] },
    addressResourceName,
  );
  t.is(batch.upserts[0]?.resource, decoded.value.value);
  t.deepEqual(batch.removals, ['Kubernetes//Pod/shop/gone']);
  t.deepEqual(wire.upserts.map((u) => u.name), ['Kubernetes//Pod/shop/a']);
  t.is(wire.upserts[0]?.bytes, decoded.value.bytes);
});

test('bytes a replica cannot decode fail with ZT_ERR_WORKER naming the type, the resource and the reason', (t) => {
  const decoder = new WireDecoder();
  const err = t.throws(() => decoder.decode({ addresses: { upserts: [{ name: 'Kubernetes//Pod/shop/x', bytes: Uint8Array.from([0x0a, 0x05, 0x01]) }], removals: [] } }));
  t.is((err as { code?: string }).code, 'ZT_ERR_WORKER');
  t.regex(err?.message ?? '', /^the replica cannot decode type\.googleapis\.com\/istio\.workload\.Address Kubernetes\/\/Pod\/shop\/x, which the main thread accepted: .+/);
  const policy = t.throws(() => decoder.decode({ authorizations: { upserts: [{ name: 'shop/p', bytes: new Uint8Array(0) }], removals: [] } }));
  t.regex(policy?.message ?? '', /istio\.security\.Authorization shop\/p, which the main thread accepted: authorization has no name$/);
});
