/**
 * Reading the input from disk: directory walking, file-level failures (syntax errors keep the last good
 * parse), and the cross-document rules (duplicates, rejected updates keep the last valid object).
 */
import test from 'ava';
import { mkdtemp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { defaultRegistry } from '../src/input/kinds/index.js';
import { InputError, InputLoader, listInputFiles } from '../src/input/loader.js';
import type { InputSet } from '../src/input/input-set.js';
import { inputFrom } from './helpers.js';

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ambit-loader-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const ns = (name: string, labels = ''): string => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n${labels ? `  labels: {${labels}}\n` : ''}`;
const keys = (input: InputSet): string[] => [...input.byKey.keys()];

test('a directory is read recursively, sorted, skipping dotfiles and non-YAML, following file symlinks', async (t) => {
  const dir = await tempDir(t);
  await mkdir(path.join(dir, 'b/nested'), { recursive: true });
  await mkdir(path.join(dir, '.hidden'));
  await mkdir(path.join(dir, 'elsewhere'));
  await writeFile(path.join(dir, 'b/nested/z.yml'), ns('z'));
  await writeFile(path.join(dir, 'b/a.yaml'), ns('ba'));
  await writeFile(path.join(dir, 'a.yaml'), ns('a'));
  await writeFile(path.join(dir, 'notes.txt'), 'not yaml');
  await writeFile(path.join(dir, '.swap.yaml'), '{{{ broken');
  await writeFile(path.join(dir, '.hidden/h.yaml'), ns('hidden'));
  await writeFile(path.join(dir, 'elsewhere/target.txt'), ns('linked'));
  await symlink(path.join(dir, 'elsewhere/target.txt'), path.join(dir, 'link.yaml'));
  await symlink(path.join(dir, 'missing'), path.join(dir, 'dangling.yaml'));

  t.deepEqual(await listInputFiles(dir), [
    path.join(dir, 'a.yaml'),
    path.join(dir, 'b/a.yaml'),
    path.join(dir, 'b/nested/z.yml'),
    path.join(dir, 'link.yaml'),
  ]);
  const input = await new InputLoader(dir, defaultRegistry()).load();
  t.deepEqual(keys(input), ['Namespace/a', 'Namespace/ba', 'Namespace/z', 'Namespace/linked']);
  t.deepEqual(input.diagnostics, []);
});

test('a single file is read whatever its extension', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'mesh.conf');
  await writeFile(file, ns('only'));
  t.deepEqual(keys(await new InputLoader(file, defaultRegistry()).load()), ['Namespace/only']);
});

test('a missing input path fails the first load with CP_INPUT_NOT_FOUND', async (t) => {
  const dir = await tempDir(t);
  const missing = path.join(dir, 'nope');
  const err = await t.throwsAsync(new InputLoader(missing, defaultRegistry()).load(), { instanceOf: InputError });
  t.is(err.code, 'CP_INPUT_NOT_FOUND');
  t.is(err.inputPath, missing);
  t.is(err.message, `input path ${missing} does not exist`);
});

test('an input path that cannot be resolved fails the first load with CP_INPUT_UNREADABLE', async (t) => {
  const dir = await tempDir(t);
  const loop = path.join(dir, 'loop.yaml');
  await symlink(loop, loop);
  const err = await t.throwsAsync(new InputLoader(loop, defaultRegistry()).load(), { instanceOf: InputError });
  t.is(err.code, 'CP_INPUT_UNREADABLE');
  t.regex(err.message, /^cannot read input path .*loop\.yaml: ELOOP/);
});

test('a YAML syntax error on first load: that file applies nothing, the other files load', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'a.yaml'), ns('a'));
  await writeFile(path.join(dir, 'b.yaml'), `${ns('b1')}---\n${ns('b2')}  labels: [oops\n`);
  const input = await new InputLoader(dir, defaultRegistry()).load();
  t.deepEqual(keys(input), ['Namespace/a']);
  t.is(input.diagnostics.length, 1);
  t.like(input.diagnostics[0], { file: path.join(dir, 'b.yaml'), document: 1, path: '', severity: 'error', line: 11 });
  t.regex(input.diagnostics[0]!.message, /^YAML syntax error: .*; nothing in this file is applied$/);
});

test('a file that becomes unparsable keeps its last good parse, and recovers when fixed', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'mesh.yaml');
  await writeFile(file, `${ns('a')}---\n${ns('b')}`);
  const loader = new InputLoader(dir, defaultRegistry());
  t.deepEqual(keys(await loader.load()), ['Namespace/a', 'Namespace/b']);

  // A half-saved file: the second document is cut off mid-flow.
  await writeFile(file, `${ns('a')}---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b`);
  const broken = await loader.load();
  t.deepEqual(keys(broken), ['Namespace/a', 'Namespace/b']);
  t.is(broken.diagnostics.length, 1);
  t.like(broken.diagnostics[0], { file, document: 1, severity: 'error' });
  t.regex(broken.diagnostics[0]!.message, /; the last good content of this file stays in effect$/);

  await writeFile(file, ns('c'));
  const fixed = await loader.load();
  t.deepEqual(keys(fixed), ['Namespace/c']);
  t.deepEqual(fixed.diagnostics, []);
});

test('a file that cannot be read keeps its last good parse', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'mesh.yaml');
  await writeFile(file, ns('a'));
  let fail = false;
  const loader = new InputLoader(dir, defaultRegistry(), {
    // The file vanishing between listing and reading (an editor's atomic save) is the realistic case.
    readFile: (f) => (fail ? Promise.reject(new Error(`ENOENT: no such file or directory, open '${f}'`)) : readFile(f, 'utf8')),
  });
  t.deepEqual(keys(await loader.load()), ['Namespace/a']);
  fail = true;
  const input = await loader.load();
  t.deepEqual(keys(input), ['Namespace/a']);
  t.deepEqual(input.diagnostics, [
    {
      file,
      document: 0,
      path: '',
      message: `cannot read file: ENOENT: no such file or directory, open '${file}'; the last good content of this file stays in effect`,
      severity: 'error',
    },
  ]);
});

test('a removed file removes its objects; a removed input directory keeps the last input and says so', async (t) => {
  const dir = await tempDir(t);
  const input = path.join(dir, 'input');
  await mkdir(input);
  await writeFile(path.join(input, 'a.yaml'), ns('a'));
  await writeFile(path.join(input, 'b.yaml'), ns('b'));
  const loader = new InputLoader(input, defaultRegistry());
  t.deepEqual(keys(await loader.load()), ['Namespace/a', 'Namespace/b']);
  await rm(path.join(input, 'b.yaml'));
  t.deepEqual(keys(await loader.load()), ['Namespace/a']);
  await rm(input, { recursive: true });
  const gone = await loader.load();
  t.deepEqual(keys(gone), ['Namespace/a']);
  t.deepEqual(gone.diagnostics, [
    { file: input, document: 0, path: '', message: `input path ${input} does not exist; the last loaded input stays in effect`, severity: 'error' },
  ]);
});

test('duplicates: the first definition wins, later ones are reported (same file and across files)', (t) => {
  const input = inputFrom({
    'a.yaml': `${ns('x', 'a: "1"')}---\n${ns('x', 'a: "2"')}`,
    'b.yaml': `${ns('y')}---\n${ns('x', 'a: "3"')}`,
  });
  t.deepEqual(keys(input), ['Namespace/x', 'Namespace/y']);
  t.deepEqual(input.byKey.get('Namespace/x')?.metadata.labels, { a: '1' });
  t.deepEqual(input.diagnostics, [
    { file: 'a.yaml', document: 1, path: 'metadata.name', message: 'duplicate Namespace x: already defined in a.yaml document 0; this one is ignored', severity: 'error', line: 10 },
    { file: 'b.yaml', document: 1, path: 'metadata.name', message: 'duplicate Namespace x: already defined in a.yaml document 0; this one is ignored', severity: 'error', line: 9 },
  ]);
});

test('same name, different kind or namespace, is not a duplicate', (t) => {
  const sa = (name: string, namespace: string): string => `apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: ${name}, namespace: ${namespace}}\n`;
  const input = inputFrom({ 'a.yaml': `${ns('x')}---\n${sa('x', 'a')}---\n${sa('x', 'b')}` });
  t.deepEqual(keys(input), ['Namespace/x', 'ServiceAccount/a/x', 'ServiceAccount/b/x']);
  t.deepEqual(input.diagnostics, []);
});

test('an object whose new version is invalid keeps its last valid version, with a warning', (t) => {
  const before = inputFrom({ 'a.yaml': `${ns('x', 'istio.io/dataplane-mode: ambient')}` });
  const after = inputFrom({ 'a.yaml': `${ns('x', 'istio.io/dataplane-mode: [ambient]')}` }, before);
  t.deepEqual(after.byKey.get('Namespace/x')?.metadata.labels, { 'istio.io/dataplane-mode': 'ambient' });
  t.deepEqual(
    after.diagnostics.map((d) => [d.path, d.severity, d.message]),
    [
      ['metadata.labels["istio.io/dataplane-mode"]', 'error', 'must be a string, got a list'],
      ['', 'warning', 'Namespace x is invalid; its last valid version stays in effect until the document is fixed'],
    ],
  );
  // A new object that was never valid does not appear.
  const fresh = inputFrom({ 'a.yaml': `${ns('y', 'a: [b]')}` }, before);
  t.deepEqual(keys(fresh), []);
});

test('a load told which paths changed gives what a full load gives: edits, new files and directories, removals, symlinks', async (t) => {
  const dir = await tempDir(t);
  const read: string[] = [];
  const hinted = new InputLoader(dir, defaultRegistry(), {
    readFile: (file) => {
      read.push(path.relative(dir, file));
      return readFile(file, 'utf8');
    },
    skipUnchangedFiles: true,
  });
  // The same history, every load a full one.
  const reference = new InputLoader(dir, defaultRegistry());
  const full = (): Promise<InputSet> => reference.load();
  const same = async (changed: string[], message: string): Promise<void> => {
    const a = await hinted.load(new Set(changed.map((f) => path.join(dir, f))));
    const b = await full();
    t.deepEqual(keys(a), keys(b), message);
    t.deepEqual(
      a.objects.map((o) => o.metadata.labels),
      b.objects.map((o) => o.metadata.labels),
      message,
    );
    t.deepEqual(
      [...a.byKey.values()].map((o) => o.metadata.labels),
      [...b.byKey.values()].map((o) => o.metadata.labels),
      message,
    );
    t.deepEqual(a.diagnostics, b.diagnostics, message);
  };
  await mkdir(path.join(dir, 'sub'));
  await writeFile(path.join(dir, 'a.yaml'), ns('a'));
  await writeFile(path.join(dir, 'sub/b.yaml'), ns('b'));
  await hinted.load();
  await reference.load();

  await writeFile(path.join(dir, 'a.yaml'), ns('a', 'x: "1"'));
  read.length = 0;
  await same(['a.yaml'], 'an edited file');
  t.deepEqual(read, ['a.yaml'], 'only the named file is read');
  await writeFile(path.join(dir, 'a.yaml'), `${ns('a', 'x: "2"')}---\n${ns('a2')}`);
  await same(['a.yaml'], 'a document added to a file');
  await writeFile(path.join(dir, 'a.yaml'), `${ns('a', 'x: "3"')}---\n${ns('a3')}`);
  await same(['a.yaml'], 'a document renamed');
  await writeFile(path.join(dir, 'a.yaml'), `${ns('a', 'x: "4"')}---\n${ns('b')}`);
  await same(['a.yaml'], 'a duplicate of a key in another file');
  await writeFile(path.join(dir, 'a.yaml'), `${ns('a', 'x: "5"')}---\n${ns('a3')}`);
  await same(['a.yaml'], 'the duplicate gone');
  await writeFile(path.join(dir, 'sub/c.yaml'), ns('c'));
  await writeFile(path.join(dir, '.c.yaml.tmp'), '{{{ broken');
  await same(['sub/c.yaml', '.c.yaml.tmp'], 'a new file; dot-named paths are skipped');
  await writeFile(path.join(dir, 'a.yaml'), '{{{ broken');
  await same(['a.yaml'], 'a broken file keeps its last good content');
  await mkdir(path.join(dir, 'new/deeper'), { recursive: true });
  await writeFile(path.join(dir, 'new/deeper/d.yaml'), ns('d'));
  await same(['new'], 'a new directory is listed');
  await rm(path.join(dir, 'sub/b.yaml'));
  await same(['sub/b.yaml'], 'a removed file');
  await rm(path.join(dir, 'new'), { recursive: true });
  await same(['new'], 'a removed directory');
  await writeFile(path.join(dir, 'notes.txt'), ns('not-read'));
  await same(['notes.txt'], 'a file that is not YAML');
  await writeFile(path.join(dir, 'target.txt'), ns('linked'));
  await symlink(path.join(dir, 'target.txt'), path.join(dir, 'link.yaml'));
  await same(['link.yaml'], 'a new symlink');
  await writeFile(path.join(dir, 'target.txt'), ns('linked', 'y: "2"'));
  await same(['target.txt'], 'with symlinks in the input, every load is a full one');
  await same([path.join('..', 'outside.yaml')], 'a path outside the input');
});

test('a named change to an input that was removed reports it and keeps the last input, as a full load does', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'a.yaml'), ns('a'));
  const loader = new InputLoader(dir, defaultRegistry());
  const first = await loader.load();
  await rm(dir, { recursive: true });
  const after = await loader.load(new Set([path.join(dir, 'a.yaml')]));
  t.deepEqual(keys(after), keys(first));
  t.regex(after.diagnostics[0]?.message ?? '', /does not exist; the last loaded input stays in effect/);
});
