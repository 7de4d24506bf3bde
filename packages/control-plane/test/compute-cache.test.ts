/**
 * The incremental paths of a reload: ComputeCache gives exactly what a fresh computation gives, reuses
 * what did not change, and the loader skips files not written since they were read.
 */
import test from 'ava';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { addressCodec, authorizationCodec } from '@ambit/protos';
import { defaultRegistry } from '../src/input/kinds/index.js';
import { InputLoader } from '../src/input/loader.js';
import type { InputSet } from '../src/input/input-set.js';
import { ComputeCache, computeMesh } from '../src/model/compute.js';
import { DEFAULT_MODEL_OPTIONS } from '../src/model/options.js';
import { addressTableBuilder, authorizationTableBuilder, diffTables, type EncodeProblem, type ResourceTable } from '../src/server/resource-table.js';
import { EMPTY_SNAPSHOT, nextSnapshot } from '../src/model/versioning.js';
import { inputFrom, yamlDocs } from './helpers.js';

const CLUSTER = yamlDocs(
  'apiVersion: v1\nkind: Namespace\nmetadata: { name: shop, labels: { istio.io/dataplane-mode: ambient } }',
  'apiVersion: v1\nkind: Node\nmetadata: { name: node-a, labels: { topology.kubernetes.io/region: r1 } }',
  'apiVersion: v1\nkind: Service\nmetadata: { name: cart, namespace: shop, labels: { istio.io/use-waypoint: missing } }\nspec: { clusterIP: 10.96.0.1, selector: { app: cart }, ports: [{ name: http, port: 80, targetPort: http }] }',
  'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: cart, namespace: shop }\nspec: { selector: { matchLabels: { app: cart } }, rules: [{ from: [{ source: { namespaces: [shop] } }] }] }',
);

const pod = (name: string, ip: string, labels = 'app: cart', port = 'http'): string =>
  `apiVersion: v1\nkind: Pod\nmetadata: { name: ${name}, namespace: shop, labels: { ${labels} } }\n` +
  `spec: { nodeName: node-a, containers: [{ name: c, ports: [{ name: ${port}, containerPort: 8080 }] }] }\nstatus: { podIP: ${ip} }`;

/** A sequence of inputs, each a small change from the one before, with diagnostics along the way. */
function inputs(): InputSet[] {
  const steps: Record<string, string>[] = [
    { 'a.yaml': CLUSTER, 'pods.yaml': yamlDocs(pod('cart-1', '10.0.0.1'), pod('cart-2', '10.0.0.2')) },
    // A pod changes IP; another claims an IP already taken (reported, left out).
    { 'a.yaml': CLUSTER, 'pods.yaml': yamlDocs(pod('cart-1', '10.0.0.9'), pod('cart-2', '10.0.0.2'), pod('dup', '10.0.0.2')) },
    // A pod without the named port (a diagnostic from the pod's conversion, on the Service).
    { 'a.yaml': CLUSTER, 'pods.yaml': yamlDocs(pod('cart-1', '10.0.0.9'), pod('cart-2', '10.0.0.2', 'app: cart', 'web')) },
    // The frame changes: the service goes, the namespace leaves the mesh.
    { 'a.yaml': CLUSTER.replace('ambient', 'none').replace(/---\napiVersion: v1\nkind: Service[^-]*/, ''), 'pods.yaml': yamlDocs(pod('cart-1', '10.0.0.9')) },
    { 'a.yaml': CLUSTER, 'pods.yaml': yamlDocs(pod('cart-1', '10.0.0.9')) },
    // One pod per file, as the patch path expects them: a pod changes IP (patched), then labels (patched),
    // then takes an IP another pod holds (not patched: the first claim decides), then moves node (not patched).
    { 'a.yaml': CLUSTER, 'p1.yaml': pod('cart-1', '10.0.0.1'), 'p2.yaml': pod('cart-2', '10.0.0.2') },
    { 'a.yaml': CLUSTER, 'p1.yaml': pod('cart-1', '10.0.0.5'), 'p2.yaml': pod('cart-2', '10.0.0.2') },
    { 'a.yaml': CLUSTER, 'p1.yaml': pod('cart-1', '10.0.0.5', 'app: cart, version: v2'), 'p2.yaml': pod('cart-2', '10.0.0.2') },
    { 'a.yaml': CLUSTER, 'p1.yaml': pod('cart-1', '10.0.0.2'), 'p2.yaml': pod('cart-2', '10.0.0.2') },
    { 'a.yaml': CLUSTER, 'p1.yaml': pod('cart-1', '10.0.0.5').replace('node-a', 'node-b'), 'p2.yaml': pod('cart-2', '10.0.0.2') },
    { 'a.yaml': CLUSTER, 'p1.yaml': pod('cart-1', '10.0.0.6').replace('node-a', 'node-b'), 'p2.yaml': pod('cart-2', '10.0.0.2') },
  ];
  const out: InputSet[] = [];
  // The loader hands unchanged documents through as the same objects; emulate it per file.
  const parsedByText = new Map<string, InputSet>();
  for (const files of steps) {
    let previous: InputSet | undefined;
    for (const [name, text] of Object.entries(files)) {
      const key = `${name}\0${text}`;
      if (!parsedByText.has(key)) parsedByText.set(key, inputFrom({ [name]: text }));
      previous = previous === undefined ? parsedByText.get(key)! : merge(previous, parsedByText.get(key)!);
    }
    out.push(previous!);
  }
  return out;
}

function merge(a: InputSet, b: InputSet): InputSet {
  return { objects: [...a.objects, ...b.objects], byKey: new Map([...a.byKey, ...b.byKey]), diagnostics: [...a.diagnostics, ...b.diagnostics] };
}

test('with a cache, every computation equals a fresh one: resources, order, identities and diagnostics', (t) => {
  const cache = new ComputeCache();
  for (const [i, input] of inputs().entries()) {
    const cached = computeMesh(input, DEFAULT_MODEL_OPTIONS, cache);
    const fresh = computeMesh(input, DEFAULT_MODEL_OPTIONS);
    t.deepEqual([...cached.addresses.keys()], [...fresh.addresses.keys()], `step ${i}: address order`);
    t.deepEqual(cached, fresh, `step ${i}`);
  }
  t.deepEqual(cache.stats, { framesBuilt: 3, framesReused: 8, roundsPatched: 3, roundsHinted: 0 });
});

test('the diagnostics of a memoised pod and of a reused frame are reported again, with their lines', (t) => {
  const cache = new ComputeCache();
  const input = inputs()[2]!;
  const first = computeMesh(input, DEFAULT_MODEL_OPTIONS, cache);
  const again = computeMesh(input, DEFAULT_MODEL_OPTIONS, cache);
  t.deepEqual(again.diagnostics, first.diagnostics);
  t.true(first.diagnostics.some((d) => /has no container port named "http"/.test(d.message) && d.line !== undefined));
  t.true(first.diagnostics.some((d) => /waypoint shop\/missing does not exist/.test(d.message) && d.line !== undefined));
});

test('an unchanged pod keeps its Address object; an equal re-created one is swapped for the old object', (t) => {
  const cache = new ComputeCache();
  const [one, two] = inputs();
  const a = computeMesh(one!, DEFAULT_MODEL_OPTIONS, cache);
  const b = computeMesh(two!, DEFAULT_MODEL_OPTIONS, cache);
  const uid = (name: string): string => `Kubernetes//Pod/shop/${name}`;
  t.is(b.addresses.get(uid('cart-2')), a.addresses.get(uid('cart-2')));
  t.not(b.addresses.get(uid('cart-1')), a.addresses.get(uid('cart-1')));
  t.is(b.authorizations, a.authorizations, 'the frame was reused: the same authorization map');
  // The same content parsed anew (new pod objects): equal results come back as the earlier objects.
  const reparsed = inputFrom({ 'a.yaml': CLUSTER, 'pods.yaml': yamlDocs(pod('cart-1', '10.0.0.9'), pod('cart-2', '10.0.0.2'), pod('dup', '10.0.0.2')) });
  const c = computeMesh(reparsed, DEFAULT_MODEL_OPTIONS, cache);
  t.is(c.addresses.get(uid('cart-1')), b.addresses.get(uid('cart-1')));
});

test('the loader reads a file again only when it was written since; same-size rewrites are seen', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'ambit-stamp-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'ns.yaml');
  await writeFile(file, 'apiVersion: v1\nkind: Namespace\nmetadata: { name: aaa }\n');
  await writeFile(path.join(dir, 'other.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata: { name: other }\n');
  const reads: string[] = [];
  const options = { skipUnchangedFiles: true, readFile: (f: string) => (reads.push(path.basename(f)), readFile(f, 'utf8')) };
  // Files just written are "racily clean": their stamps are not trusted yet, so they are read again.
  const fresh = new InputLoader(dir, defaultRegistry(), options);
  await fresh.load();
  await fresh.load();
  t.deepEqual(reads.sort(), ['ns.yaml', 'ns.yaml', 'other.yaml', 'other.yaml']);

  // Seen from a minute later, the stamps are old enough to vouch for the content.
  reads.length = 0;
  const loader = new InputLoader(dir, defaultRegistry(), { ...options, now: () => Date.now() + 60_000 });
  const first = await loader.load();
  const second = await loader.load();
  t.deepEqual(reads.sort(), ['ns.yaml', 'other.yaml'], 'the second load read nothing');
  t.is(second.byKey.get('Namespace/aaa'), first.byKey.get('Namespace/aaa'), 'unchanged file: same objects');
  // Same length, different name: the change time moves (a later clock tick), so the file is read again.
  await new Promise((r) => setTimeout(r, 30));
  await writeFile(file, (await readFile(file, 'utf8')).replace('aaa', 'bbb'));
  const third = await loader.load();
  t.deepEqual(reads.sort(), ['ns.yaml', 'ns.yaml', 'other.yaml']);
  t.deepEqual([...third.byKey.keys()].sort(), ['Namespace/bbb', 'Namespace/other']);
  t.is(third.byKey.get('Namespace/other'), first.byKey.get('Namespace/other'));
});

test('table builders return the previous table for the same map, and keep reporting its encode problems', (t) => {
  const builder = addressTableBuilder(addressCodec());
  const bad = new Map([['bad', { workload: { uid: 'bad', addresses: ['not-bytes' as unknown as Buffer] } }]]);
  const problems: EncodeProblem[] = [];
  const first = builder.build(bad, problems);
  const again: EncodeProblem[] = [];
  t.is(builder.build(bad, again), first);
  t.deepEqual(again, problems);
  t.is(problems.length, 1);

  t.is(authorizationTableBuilder(authorizationCodec()).build(new Map(), []).size, 0);
  const addresses = addressTableBuilder(addressCodec());
  const mesh = computeMesh(inputs()[0]!, DEFAULT_MODEL_OPTIONS);
  const table = addresses.build(mesh.addresses, []);
  // Alias and membership indexes are built on first use.
  t.is(table.resolve('/10.0.0.1'), 'Kubernetes//Pod/shop/cart-1');
  t.deepEqual(table.membersOf('shop/cart.shop.svc.cluster.local'), ['Kubernetes//Pod/shop/cart-1', 'Kubernetes//Pod/shop/cart-2']);
});

test('snapshots name what changed since the previous one; tables and diffs built from that hint equal full ones', (t) => {
  const cache = new ComputeCache();
  let snapshot = EMPTY_SNAPSHOT;
  const hinted = addressTableBuilder(addressCodec());
  const full = addressTableBuilder(addressCodec());
  let previousHinted: ResourceTable | undefined;
  let previousFull: ResourceTable | undefined;
  const sorted = (table: ResourceTable): [string, string][] => [...table.entries.values()].map((e): [string, string] => [e.name, e.version]).sort();
  for (const input of inputs()) {
    const next = nextSnapshot(snapshot, computeMesh(input, DEFAULT_MODEL_OPTIONS, cache));
    if (next === undefined) continue;
    const expected = new Set([...next.addresses.keys(), ...snapshot.addresses.keys()].filter((k) => next.addresses.get(k) !== snapshot.addresses.get(k)));
    t.deepEqual([...next.changed!.addresses].sort(), [...expected].sort());
    const a = hinted.build(next.addresses, [], previousHinted === undefined ? undefined : next.changed!.addresses);
    const b = full.build(next.addresses, []);
    t.deepEqual(sorted(a), sorted(b));
    const hintedDiff = diffTables(previousHinted, a, previousHinted === undefined ? undefined : next.changed!.addresses);
    const fullDiff = diffTables(previousFull, b);
    t.deepEqual([...hintedDiff.upserted].sort(), [...fullDiff.upserted].sort());
    t.deepEqual([...hintedDiff.removed].sort(), [...fullDiff.removed].sort());
    previousHinted = a;
    previousFull = b;
    snapshot = next;
  }
});
