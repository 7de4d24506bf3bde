/**
 * The one-pod change path end to end in-process: the loader's patch hint, the compute cache, the snapshot
 * and the resource table. A change costs what changed (only the replaced objects are looked at, maps are
 * new versions sharing the rest), gives exactly what a fresh computation gives, and leaves every earlier
 * snapshot and table as it was for the readers still holding them.
 */
import test, { type ExecutionContext } from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { addressCodec, type Address } from '@ambit/protos';
import { inputPatchOf } from '../src/input/input-set.js';
import { defaultRegistry } from '../src/input/kinds/index.js';
import { InputLoader } from '../src/input/loader.js';
import { LayeredMap, overlayLimit } from '../src/lib/layered-map.js';
import { ComputeCache, addressesPatchOf, computeMesh } from '../src/model/compute.js';
import { DEFAULT_MODEL_OPTIONS } from '../src/model/options.js';
import type { MeshSnapshot } from '../src/model/snapshot.js';
import { EMPTY_SNAPSHOT, nextSnapshot } from '../src/model/versioning.js';
import { addressTableBuilder, diffTables, type ResourceTable } from '../src/server/resource-table.js';
import { ip, yamlDocs } from './helpers.js';

const CLUSTER = yamlDocs(
  'apiVersion: v1\nkind: Namespace\nmetadata: { name: shop, labels: { istio.io/dataplane-mode: ambient } }',
  'apiVersion: v1\nkind: Node\nmetadata: { name: node-a }',
  'apiVersion: v1\nkind: Service\nmetadata: { name: cart, namespace: shop }\nspec: { clusterIP: 10.96.0.1, selector: { app: cart }, ports: [{ port: 80, targetPort: 8080 }] }',
  'apiVersion: v1\nkind: Service\nmetadata: { name: other, namespace: shop }\nspec: { clusterIP: 10.96.0.2, selector: { app: other }, ports: [{ port: 80, targetPort: 8080 }] }',
);

const POLICY = 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: cart, namespace: shop }\nspec: { selector: { matchLabels: { app: cart } } }';

const pod = (name: string, podIp: string, version = 'v1', app = 'cart'): string =>
  `apiVersion: v1\nkind: Pod\nmetadata: { name: ${name}, namespace: shop, labels: { app: ${app}, version: ${version} } }\n` +
  `spec: { nodeName: node-a }\nstatus: { podIP: ${podIp} }`;

const uid = (name: string): string => `Kubernetes//Pod/shop/${name}`;

/** A directory of 3 files of 20 pods each, the churn pod alone in its file, and the cluster's other objects. */
async function meshDir(t: ExecutionContext): Promise<{ dir: string; churn: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ambit-change-path-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, '00-cluster.yaml'), CLUSTER);
  for (let f = 0; f < 3; f++) {
    const pods = Array.from({ length: 20 }, (_, i) => pod(`p${f}-${i}`, `10.0.${f}.${i + 1}`, 'v1', i % 2 === 0 ? 'cart' : 'other'));
    await writeFile(path.join(dir, `pods-${f}.yaml`), yamlDocs(...pods));
  }
  const churn = path.join(dir, 'pods-1a-churn.yaml');
  await writeFile(churn, pod('churn', '10.9.0.1', 'v0'));
  return { dir, churn };
}

test('one-pod edits through the loader: only the replaced pod is looked at, and each snapshot equals a fresh computation', async (t) => {
  const { dir, churn } = await meshDir(t);
  const loader = new InputLoader(dir, defaultRegistry());
  const cache = new ComputeCache();
  let input = await loader.load();
  let snapshot = nextSnapshot(EMPTY_SNAPSHOT, computeMesh(input, DEFAULT_MODEL_OPTIONS, cache))!;
  const history: { snapshot: MeshSnapshot; churnIp: string; addresses: [string, Address][] }[] = [];
  history.push({ snapshot, churnIp: '10.9.0.1', addresses: [...snapshot.addresses] });
  // More edits than the overlay limit of this small map, so that the address map is flattened on the way.
  const edits = overlayLimit(snapshot.addresses.size) + 8;
  for (let g = 1; g <= edits; g++) {
    const churnIp = `10.9.${Math.floor(g / 200)}.${(g % 200) + 1}`;
    await writeFile(churn, pod('churn', churnIp, `v${g}`));
    const previousInput = input;
    input = await loader.load(new Set([churn]));
    const patch = inputPatchOf(input);
    t.is(patch?.previous, previousInput, 'the loader patched the last input');
    t.deepEqual(patch?.indices, [4 + 20 + 20], 'the churn pod is the only replaced object (after the cluster file, pods-0 and pods-1)');

    const content = computeMesh(input, DEFAULT_MODEL_OPTIONS, cache);
    const fresh = computeMesh(input, DEFAULT_MODEL_OPTIONS);
    t.deepEqual([...content.addresses], [...fresh.addresses], `edit ${g}: the same addresses in the same order`);
    t.deepEqual(content.diagnostics, fresh.diagnostics);
    t.is(addressesPatchOf(content)?.base, snapshot.addresses, 'patched from the very map the snapshot holds');

    const next = nextSnapshot(snapshot, content)!;
    t.deepEqual([...next.changed!.addresses], [uid('churn')]);
    t.true(next.addresses instanceof LayeredMap);
    t.true((next.addresses as LayeredMap<string, Address>).overlaySize <= overlayLimit(next.addresses.size));
    // Everything else is shared, object for object.
    t.is(next.addresses.get(uid('p0-0')), snapshot.addresses.get(uid('p0-0')));
    t.is(next.addresses.get('shop/cart.shop.svc.cluster.local'), snapshot.addresses.get('shop/cart.shop.svc.cluster.local'));
    snapshot = next;
    history.push({ snapshot, churnIp, addresses: [...snapshot.addresses] });
  }
  t.deepEqual(cache.stats, { framesBuilt: 1, framesReused: edits, roundsPatched: edits, roundsHinted: edits });
  // Readers holding an earlier snapshot still see it exactly as it was published.
  for (const { snapshot: held, churnIp, addresses } of history) {
    const now = [...held.addresses];
    t.is(now.length, addresses.length);
    t.true(
      now.every(([key, value], i) => key === addresses[i]![0] && value === addresses[i]![1]),
      `snapshot ${held.version}: the same keys, in the same order, with the same objects`,
    );
    t.deepEqual(held.addresses.get(uid('churn'))?.workload?.addresses, [ip(churnIp)]);
  }
});

test('an edit that is not a plain pod replacement is computed in full, and the next one is patched again', async (t) => {
  const { dir, churn } = await meshDir(t);
  const loader = new InputLoader(dir, defaultRegistry());
  const cache = new ComputeCache();
  let snapshot = nextSnapshot(EMPTY_SNAPSHOT, computeMesh(await loader.load(), DEFAULT_MODEL_OPTIONS, cache))!;
  const step = async (files: readonly string[], expectChanged: readonly string[]): Promise<void> => {
    const input = await loader.load(new Set(files));
    const content = computeMesh(input, DEFAULT_MODEL_OPTIONS, cache);
    t.deepEqual([...content.addresses], [...computeMesh(input, DEFAULT_MODEL_OPTIONS).addresses]);
    const next = nextSnapshot(snapshot, content)!;
    t.deepEqual([...next.changed!.addresses].sort(), [...expectChanged].sort());
    snapshot = next;
  };
  // The churn pod moves to another node: not patchable (its node's identities change).
  await writeFile(churn, pod('churn', '10.9.0.2').replace('node-a', 'node-b'));
  await step([churn], [uid('churn')]);
  t.deepEqual(cache.stats, { framesBuilt: 1, framesReused: 1, roundsPatched: 0, roundsHinted: 0 });
  // A policy is added: the frame is rebuilt. The pods it selects change; the services, re-created
  // with the frame but equal, stay the same objects, so they are not in the change.
  const servicesBefore = snapshot.addresses.get('shop/cart.shop.svc.cluster.local');
  const cluster = path.join(dir, '00-cluster.yaml');
  await writeFile(cluster, yamlDocs(CLUSTER, POLICY));
  const cartPods = ['churn', ...[0, 1, 2].flatMap((f) => Array.from({ length: 10 }, (_, i) => `p${f}-${i * 2}`))];
  await step([cluster], cartPods.map(uid));
  t.is(snapshot.addresses.get('shop/cart.shop.svc.cluster.local'), servicesBefore);
  t.is(cache.stats.framesBuilt, 2);
  // Back to plain pod edits: patched, and from the snapshot's own map.
  await writeFile(churn, pod('churn', '10.9.0.3').replace('node-a', 'node-b'));
  const input = await loader.load(new Set([churn]));
  const content = computeMesh(input, DEFAULT_MODEL_OPTIONS, cache);
  t.is(addressesPatchOf(content)?.base, snapshot.addresses);
  t.is(cache.stats.roundsHinted, 1);
});

test('a snapshot of re-created equal resources in a LayeredMap gets the previous objects, in a new version', (t) => {
  const a: Address = { type: 'workload', workload: { uid: 'a', name: 'a', namespace: 'n' } };
  const b: Address = { type: 'workload', workload: { uid: 'b', name: 'b', namespace: 'n' } };
  const previous = nextSnapshot(EMPTY_SNAPSHOT, {
    addresses: LayeredMap.of([
      ['a', a],
      ['b', b],
    ]),
    authorizations: new Map(),
    identitiesByNode: new Map(),
    diagnostics: [],
  })!;
  const changedB: Address = { type: 'workload', workload: { uid: 'b', name: 'b', namespace: 'm' } };
  const recreated = LayeredMap.of<string, Address>([
    ['a', structuredClone(a)],
    ['b', changedB],
  ]);
  const next = nextSnapshot(previous, { addresses: recreated, authorizations: new Map(), identitiesByNode: new Map(), diagnostics: [] })!;
  t.deepEqual([...next.changed!.addresses], ['b']);
  t.is(next.addresses.get('a'), a, 'the equal resource is the previous object');
  t.is(next.addresses.get('b'), changedB);
  t.true(next.addresses instanceof LayeredMap);
  t.deepEqual([...next.addresses.keys()], ['a', 'b']);
  t.not(recreated.get('a'), a, 'the content handed in is not written to');
  // Nothing changed at all: no new snapshot.
  t.is(nextSnapshot(next, { addresses: LayeredMap.of([...next.addresses]), authorizations: new Map(), identitiesByNode: new Map(), diagnostics: [] }), undefined);
});

test('hinted table builds derive each table from the last; earlier tables keep their entries', (t) => {
  const builder = addressTableBuilder(addressCodec());
  const workload = (name: string, revision: string): Address => ({
    type: 'workload',
    workload: { uid: name, name, namespace: 'n', canonical_revision: revision, addresses: [ip('10.0.0.1')] },
  });
  let resources = LayeredMap.of<string, Address>([
    ...Array.from({ length: 100 }, (_, i) => [`w${i}`, workload(`w${i}`, 'v0')] as const),
    ['stable', workload('stable', 'v0')],
  ]);
  let table = builder.build(resources, []);
  const tables: { table: ResourceTable; versions: [string, string][] }[] = [];
  const versions = (tt: ResourceTable): [string, string][] => [...tt.entries.values()].map((e): [string, string] => [e.name, e.version]);
  tables.push({ table, versions: versions(table) });
  for (let g = 1; g <= 50; g++) {
    // Each step changes one resource, adds one, and removes one.
    const changes: [string, Address | undefined][] = [
      [`w${g % 100}`, workload(`w${g % 100}`, `v${g}`)],
      [`new${g}`, workload(`new${g}`, 'v0')],
      [`w${(g + 50) % 100}`, undefined],
    ];
    resources = resources.update(changes);
    const next = builder.build(resources, [], new Set(changes.map(([name]) => name)));
    const diff = diffTables(table, next, new Set(changes.map(([name]) => name)));
    const removedBefore = table.entries.has(`w${(g + 50) % 100}`);
    t.deepEqual(diff.removed, removedBefore ? [`w${(g + 50) % 100}`] : []);
    t.true(diff.upserted.includes(`new${g}`));
    // The hinted table holds what a full build of the same resources holds.
    const full = addressTableBuilder(addressCodec()).build(resources, []);
    t.deepEqual(versions(next), versions(full));
    t.truthy(next.entries.get('stable'));
    t.is(next.entries.get('stable'), table.entries.get('stable'), 'untouched entries are shared');
    table = next;
    tables.push({ table, versions: versions(table) });
  }
  for (const { table: held, versions: expected } of tables) t.deepEqual(versions(held), expected);
  t.true(table.entries instanceof LayeredMap);
});
