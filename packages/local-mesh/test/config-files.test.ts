import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { LocalMeshError } from '../src/errors.js';
import { checkConfigName, copyConfig, joinDocuments, listConfig, writeAtomically } from '../src/config-files.js';

const FIXTURE = path.join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'two-nodes');

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ambit-lm-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('a directory is copied recursively: YAML files only, dot-named entries skipped, relative paths kept', async (t) => {
  const src = await tempDir(t);
  await mkdir(path.join(src, 'sub', 'deeper'), { recursive: true });
  await mkdir(path.join(src, '.hidden'));
  await writeFile(path.join(src, 'a.yaml'), 'kind: A\n');
  await writeFile(path.join(src, 'sub', 'b.yml'), 'kind: B\n');
  await writeFile(path.join(src, 'sub', 'deeper', 'c.yaml'), 'kind: C\n');
  await writeFile(path.join(src, '.d.yaml'), 'kind: D\n');
  await writeFile(path.join(src, '.hidden', 'e.yaml'), 'kind: E\n');
  await writeFile(path.join(src, 'notes.txt'), 'not yaml');
  const dest = await tempDir(t);
  const files = await copyConfig(src, dest);
  t.deepEqual(files, ['a.yaml', path.join('sub', 'b.yml'), path.join('sub', 'deeper', 'c.yaml')]);
  t.deepEqual(await listConfig(dest), files);
  t.is(await readFile(path.join(dest, 'sub', 'deeper', 'c.yaml'), 'utf8'), 'kind: C\n');
  t.deepEqual(await joinDocuments(dest, files), '---\nkind: A\n\n---\nkind: B\n\n---\nkind: C\n\n');
});

test('a single file is copied under its own name; the fixture directory gives its two YAML files', async (t) => {
  const dest = await tempDir(t);
  t.deepEqual(await copyConfig(path.join(FIXTURE, 'cluster.yaml'), dest), ['cluster.yaml']);
  const dest2 = await tempDir(t);
  t.deepEqual(await copyConfig(FIXTURE, dest2), ['apps/pods.yaml', 'cluster.yaml']);
});

test('a missing input or a directory without YAML is a LOCAL_MESH_ERR_CONFIG naming it', async (t) => {
  const dest = await tempDir(t);
  const missing = path.join(dest, 'nope');
  const err = await t.throwsAsync(copyConfig(missing, dest), { instanceOf: LocalMeshError });
  t.is(err.code, 'LOCAL_MESH_ERR_CONFIG');
  t.true(err.message.includes(missing));
  const empty = await tempDir(t);
  await writeFile(path.join(empty, 'x.json'), '{}');
  const err2 = await t.throwsAsync(copyConfig(empty, dest), { instanceOf: LocalMeshError });
  t.is(err2.code, 'LOCAL_MESH_ERR_CONFIG');
  t.regex(err2.message, /holds no \*\.yaml or \*\.yml file/);
});

test('config file names must stay inside the directory, be YAML and have no dot-named part', (t) => {
  t.is(checkConfigName('policy.yaml'), 'policy.yaml');
  t.is(checkConfigName('sub/./p.yml'), path.join('sub', 'p.yml'));
  for (const bad of ['../x.yaml', '/etc/x.yaml', '.hidden.yaml', 'sub/.d/x.yaml', 'x.txt', 'a/../../x.yaml']) {
    const err = t.throws(() => checkConfigName(bad), { instanceOf: LocalMeshError }, bad);
    t.is(err.code, 'LOCAL_MESH_ERR_CONFIG');
  }
});

test('writeAtomically replaces the file and leaves no temporary behind', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'sub', 'f.yaml');
  await writeAtomically(file, 'one');
  await writeAtomically(file, 'two');
  t.is(await readFile(file, 'utf8'), 'two');
  t.deepEqual(await readdir(path.join(dir, 'sub')), ['f.yaml']);
});

test('writeAtomically over a directory fails and removes its temporary', async (t) => {
  const dir = await tempDir(t);
  await mkdir(path.join(dir, 'taken.yaml'));
  await writeFile(path.join(dir, 'taken.yaml', 'inside'), 'x');
  await t.throwsAsync(writeAtomically(path.join(dir, 'taken.yaml'), 'text'));
  t.deepEqual(await readdir(dir), ['taken.yaml']);
});
