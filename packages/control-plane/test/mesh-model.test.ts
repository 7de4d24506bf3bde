/**
 * MeshModel as a SnapshotSource: loading, watching real files for changes, versioning, structural
 * sharing between snapshots, and a clean shutdown.
 */
import test, { type ExecutionContext } from 'ava';
import { cp, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { InputError } from '../src/input/loader.js';
import { MeshModel, ModelOptionsError, type MeshModelOptions } from '../src/model/mesh-model.js';
import type { MeshSnapshot } from '../src/model/snapshot.js';
import { FIXTURES, ip } from './helpers.js';

const SLEEP = 'Kubernetes//Pod/demo/sleep-6d68f49858-7xk2p';
const CLIENT = 'Kubernetes//Pod/legacy/client';

async function copyOfRealistic(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ambit-model-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await cp(path.join(FIXTURES, 'realistic'), dir, { recursive: true });
  return dir;
}

async function open(t: ExecutionContext, input: string, options: MeshModelOptions = {}): Promise<MeshModel> {
  const model = await MeshModel.load(input, { debounceMs: 20, ...options });
  t.teardown(() => model.close());
  return model;
}

/** Resolves with the next published snapshot that satisfies `until` (subscribe before changing files). */
function nextSnapshot(model: MeshModel, until: (s: MeshSnapshot) => boolean = () => true): Promise<MeshSnapshot> {
  return new Promise((resolve) => {
    const listener = (snapshot: MeshSnapshot): void => {
      if (!until(snapshot)) return;
      model.off('snapshot', listener);
      resolve(snapshot);
    };
    model.on('snapshot', listener);
  });
}

async function edit(file: string, from: string, to: string): Promise<void> {
  const text = await readFile(file, 'utf8');
  if (!text.includes(from)) throw new Error(`${file} does not contain ${from}`);
  await writeFile(file, text.replace(from, to));
}

test('the first snapshot is version 1, immutable, and re-reading unchanged input publishes nothing', async (t) => {
  const model = await open(t, path.join(FIXTURES, 'realistic'));
  const first = model.current;
  t.is(first.version, 1);
  t.true(Object.isFrozen(first));
  t.true(Object.isFrozen(first.addresses.get(SLEEP)));
  t.true(Object.isFrozen(first.addresses.get(SLEEP)?.workload?.authorization_policies));
  let published = 0;
  model.on('snapshot', () => published++);
  t.is(await model.reload(), first);
  t.is(published, 0);
});

test('editing a file publishes a new snapshot with the change; unchanged resources are the same objects', async (t) => {
  const dir = await copyOfRealistic(t);
  const model = await open(t, dir);
  await model.watch();
  const before = model.current;
  const next = nextSnapshot(model);
  await edit(path.join(dir, 'demo/workloads.yaml'), 'podIP: 10.244.1.10', 'podIP: 10.244.1.99');
  const after = await next;
  t.is(after.version, before.version + 1);
  t.is(model.current, after);
  t.deepEqual(after.addresses.get(SLEEP)?.workload?.addresses, [ip('10.244.1.99')]);
  // Only the edited pod changed: everything else is carried over by reference.
  for (const [key, value] of after.addresses) {
    t.is(value === before.addresses.get(key), key !== SLEEP, key);
  }
  t.is(after.authorizations, before.authorizations);
  t.is(after.identitiesByNode, before.identitiesByNode);
});

test('a file made unparsable keeps its last good content and is diagnosed; fixing it clears the diagnostic', async (t) => {
  const dir = await copyOfRealistic(t);
  const model = await open(t, dir);
  await model.watch();
  const file = path.join(dir, 'legacy/client.yaml');
  const good = await readFile(file, 'utf8');
  const before = model.current;

  const broken = nextSnapshot(model);
  // Half-saved: cut off in the middle of a flow mapping.
  await writeFile(file, `${good}---\napiVersion: v1\nkind: Pod\nmetadata: {name: other, namespace: legacy`);
  const during = await broken;
  t.is(during.addresses, before.addresses);
  t.truthy(during.addresses.get(CLIENT));
  const syntax = during.diagnostics.filter((d) => d.file === file);
  t.is(syntax.length, 1);
  t.like(syntax[0], { document: 1, path: '', severity: 'error' });
  t.regex(syntax[0]!.message, /^YAML syntax error: .*; the last good content of this file stays in effect$/);

  const fixed = nextSnapshot(model);
  await writeFile(file, good.replace('10.244.2.30', '10.244.2.31'));
  const after = await fixed;
  t.deepEqual(after.addresses.get(CLIENT)?.workload?.addresses, [ip('10.244.2.31')]);
  t.deepEqual(
    after.diagnostics.filter((d) => d.file === file),
    [],
  );
});

test('enrolling and un-enrolling a namespace by its label flips tunnel_protocol and node identities', async (t) => {
  const dir = await copyOfRealistic(t);
  const model = await open(t, dir);
  await model.watch();
  const cluster = path.join(dir, '00-cluster.yaml');
  t.is(model.current.addresses.get(CLIENT)?.workload?.tunnel_protocol, 'NONE');

  const enrolled = nextSnapshot(model);
  await edit(cluster, 'name: legacy\n', 'name: legacy\n  labels:\n    istio.io/dataplane-mode: ambient\n');
  const on = await enrolled;
  t.is(on.addresses.get(CLIENT)?.workload?.tunnel_protocol, 'HBONE');
  t.true(on.identitiesByNode.get('node-b')?.has('spiffe://cluster.local/ns/legacy/sa/default'));

  const unenrolled = nextSnapshot(model);
  await edit(cluster, 'name: legacy\n  labels:\n    istio.io/dataplane-mode: ambient\n', 'name: legacy\n');
  const off = await unenrolled;
  t.is(off.addresses.get(CLIENT)?.workload?.tunnel_protocol, 'NONE');
  t.false(off.identitiesByNode.get('node-b')?.has('spiffe://cluster.local/ns/legacy/sa/default') ?? false);
});

test('files added in new subdirectories and removed files are picked up', async (t) => {
  const dir = await copyOfRealistic(t);
  const model = await open(t, dir);
  await model.watch();
  const added = nextSnapshot(model, (s) => s.addresses.has('Kubernetes//Pod/extra/worker'));
  await mkdir(path.join(dir, 'extra/deeper'), { recursive: true });
  await writeFile(
    path.join(dir, 'extra/deeper/worker.yaml'),
    'apiVersion: v1\nkind: Pod\nmetadata: {name: worker, namespace: extra}\nstatus: {podIP: 10.244.9.9}\n',
  );
  await added;
  const removed = nextSnapshot(model, (s) => !s.addresses.has(CLIENT));
  await rm(path.join(dir, 'legacy'), { recursive: true });
  const after = await removed;
  t.false(after.addresses.has(CLIENT));
  t.true(after.addresses.has('Kubernetes//Pod/extra/worker'));
});

test('a single-file input survives an atomic save (write a temp file, rename it over)', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'ambit-model-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'mesh.yaml');
  const pod = (podIp: string): string => `apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nstatus: {podIP: ${podIp}}\n`;
  await writeFile(file, pod('10.0.0.1'));
  const model = await open(t, file);
  await model.watch();
  for (const podIp of ['10.0.0.2', '10.0.0.3']) {
    const next = nextSnapshot(model);
    await writeFile(path.join(dir, '.mesh.yaml.tmp'), pod(podIp));
    await rename(path.join(dir, '.mesh.yaml.tmp'), file);
    t.deepEqual((await next).addresses.get('Kubernetes//Pod/default/p')?.workload?.addresses, [ip(podIp)]);
  }
});

test('reload() calls made while one is waiting share it; snapshots are published one version at a time', async (t) => {
  const dir = await copyOfRealistic(t);
  const model = await open(t, dir);
  const versions: number[] = [];
  model.on('snapshot', (s) => versions.push(s.version));
  await edit(path.join(dir, 'demo/workloads.yaml'), 'podIP: 10.244.1.10', 'podIP: 10.244.1.50');
  const first = model.reload();
  t.is(model.reload(), first, 'not started yet: shared');
  await new Promise((resolve) => setImmediate(resolve));
  // The first one has started reading: a new request queues one more reload behind it.
  const second = model.reload();
  const third = model.reload();
  t.not(first, second);
  t.is(second, third);
  const [a, b] = await Promise.all([first, second]);
  t.is(a.version, 2);
  t.is(b, a);
  t.deepEqual(versions, [2]);
});

async function fsWatchHandles(): Promise<number> {
  // Closing a watch releases its handles on a later turn of the event loop.
  await new Promise((resolve) => setImmediate(resolve));
  return process.getActiveResourcesInfo().filter((r) => r === 'FSEventWrap').length;
}

// Serial: the handle count is process-wide, and ava runs serial tests apart from concurrent ones.
test.serial('close() releases every watch handle and nothing is published afterwards; close and destroy are idempotent', async (t) => {
  const dir = await copyOfRealistic(t);
  const baseline = await fsWatchHandles();
  const model = await MeshModel.load(dir, { debounceMs: 20 });
  await model.watch();
  await model.watch();
  t.true((await fsWatchHandles()) > baseline);
  await model.close();
  while ((await fsWatchHandles()) > baseline) {
    // A leak would keep this loop (and the test) running until ava's timeout fails it.
  }
  t.pass();
  const published: MeshSnapshot[] = [];
  model.on('snapshot', (s) => published.push(s));
  await edit(path.join(dir, 'demo/workloads.yaml'), 'podIP: 10.244.1.10', 'podIP: 10.244.1.77');
  t.is(await model.reload(), model.current);
  t.is(model.current.version, 1);
  t.deepEqual(published, []);
  await model.close();
  model.destroy();
  await model.watch();
  t.is(await fsWatchHandles(), baseline);
});

test.serial('destroy() stops watching at once', async (t) => {
  const dir = await copyOfRealistic(t);
  const baseline = await fsWatchHandles();
  const model = await MeshModel.load(dir);
  await model.watch();
  model.destroy();
  while ((await fsWatchHandles()) > baseline) {
    // As above: a leak fails by timeout.
  }
  t.pass();
});

test('loading a missing path fails with InputError', async (t) => {
  const err = await t.throwsAsync(MeshModel.load(path.join(FIXTURES, 'does-not-exist')), { instanceOf: InputError });
  t.is(err.code, 'CP_INPUT_NOT_FOUND');
});

test('options are validated', async (t) => {
  const input = path.join(FIXTURES, 'realistic');
  const cases: Array<[MeshModelOptions, RegExp]> = [
    [{ trustDomain: 'Bad Domain' }, /^trustDomain "Bad Domain" is invalid/],
    [{ clusterId: 'a/b' }, /^clusterId "a\/b" must be non-empty and without "\/"/],
    [{ clusterId: '' }, /^clusterId "" must be non-empty/],
    [{ domainSuffix: 'cluster..local' }, /^domainSuffix: "cluster..local" is not a valid DNS-1123 subdomain/],
    [{ rootNamespace: 'Istio' }, /^rootNamespace: "Istio" is not a valid DNS-1123 label/],
    [{ network: 'a/b' }, /^network "a\/b" must not contain "\/"/],
    [{ debounceMs: -1 }, /^debounceMs must be a non-negative number, got -1/],
  ];
  for (const [options, message] of cases) {
    const err = await t.throwsAsync(MeshModel.load(input, options), { instanceOf: ModelOptionsError, message });
    t.is(err.code, 'CP_MODEL_INVALID_OPTION');
  }
});

test('options apply to the computed mesh', async (t) => {
  const model = await open(t, path.join(FIXTURES, 'realistic'), { clusterId: 'east', trustDomain: 'corp.example', domainSuffix: 'mesh.internal' });
  t.true(model.current.addresses.has('east//Pod/demo/sleep-6d68f49858-7xk2p'));
  t.true(model.current.addresses.has('demo/httpbin.demo.svc.mesh.internal'));
  t.deepEqual([...(model.current.identitiesByNode.get('node-b') ?? [])], ['spiffe://corp.example/ns/demo/sa/httpbin']);
  t.is(model.options.clusterId, 'east');
  t.is(model.options.rootNamespace, 'istio-system');
});

test('new diagnostics are logged once, with file:line, and each snapshot is announced', async (t) => {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const dir = await copyOfRealistic(t);
  const model = await open(t, dir, { logger: pino({ level: 'debug' }, sink) });
  await model.reload();
  const file = path.join(dir, 'security/authorization-policies.yml');
  t.deepEqual(
    lines.filter((l) => l['level'] === 40).map((l) => l['msg']),
    [
      `${file}:67 document 3 spec.rules[0]: ztunnel cannot enforce HTTP attributes (found: methods, paths); bind the policy to a waypoint with targetRefs to enforce them. In this ALLOW policy the rule is dropped, so it allows nothing: stricter than written`,
    ],
  );
  t.like(
    lines.find((l) => l['msg'] === 'published mesh snapshot'),
    { component: 'mesh-model', version: 1, addresses: 8, authorizations: 6, nodes: 2, diagnostics: 1 },
  );
  t.like(
    lines.find((l) => l['msg'] === 'input re-read; nothing changed'),
    { level: 20, version: 1 },
  );
  await writeFile(path.join(dir, 'bad.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n');
  await model.reload();
  t.deepEqual(
    lines.filter((l) => l['level'] === 50).map((l) => l['msg']),
    [`${path.join(dir, 'bad.yaml')}:1 document 0 status.podIP: is required for a Running pod (set status.phase: Pending for a pod without an IP yet)`],
  );
});
