/**
 * The mesh's own copy of its YAML input. The control plane of a local mesh reads a private directory (so
 * run-time edits never touch the source, e.g. `deploy/examples/`), and the testbed's topology comes from the
 * same documents. Files are what the control plane reads: `*.yaml` / `*.yml`, searched recursively,
 * dot-named entries skipped; their paths relative to the input are kept.
 */
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LocalMeshError } from './errors.js';

const YAML_FILE = /\.ya?ml$/;

/**
 * Copies the YAML files of `input` (a file, or a directory searched recursively) into `destDir`; returns
 * their relative paths, sorted. Throws LOCAL_MESH_ERR_CONFIG when the input is missing or holds no YAML.
 */
export async function copyConfig(input: string, destDir: string): Promise<string[]> {
  let info;
  try {
    info = await stat(input);
  } catch (cause) {
    throw new LocalMeshError('LOCAL_MESH_ERR_CONFIG', `the mesh config ${input} cannot be read: ${(cause as Error).message}`, { cause });
  }
  const files = info.isDirectory() ? await findYaml(input, '') : [path.basename(input)];
  if (files.length === 0) throw new LocalMeshError('LOCAL_MESH_ERR_CONFIG', `the mesh config directory ${input} holds no *.yaml or *.yml file`);
  const root = info.isDirectory() ? input : path.dirname(input);
  for (const file of files) {
    const to = path.join(destDir, file);
    await mkdir(path.dirname(to), { recursive: true });
    await writeFile(to, await readFile(path.join(root, file)));
  }
  return files;
}

/** The YAML files under `dir`, relative, sorted. */
export async function listConfig(dir: string): Promise<string[]> {
  return await findYaml(dir, '');
}

async function findYaml(root: string, relative: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(path.join(root, relative), { withFileTypes: true });
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const rel = relative === '' ? entry.name : path.join(relative, entry.name);
    if (entry.isDirectory()) out.push(...(await findYaml(root, rel)));
    else if ((entry.isFile() || entry.isSymbolicLink()) && YAML_FILE.test(entry.name)) out.push(rel);
  }
  return out.sort();
}

/** All documents of the given files as one multi-document YAML text (for the testbed's topology). */
export async function joinDocuments(dir: string, files: readonly string[]): Promise<string> {
  const texts = await Promise.all(files.map((f) => readFile(path.join(dir, f), 'utf8')));
  return texts.map((t) => `---\n${t}\n`).join('');
}

/**
 * Checks a config file name given by a caller: relative, inside the directory, a YAML file, no dot-named
 * part (the control plane would skip it). Returns the normalised relative path.
 */
export function checkConfigName(name: string): string {
  const normal = path.normalize(name);
  const parts = normal.split(path.sep);
  if (path.isAbsolute(normal) || parts.some((p) => p === '..' || p.startsWith('.')) || !YAML_FILE.test(normal)) {
    throw new LocalMeshError(
      'LOCAL_MESH_ERR_CONFIG',
      `bad config file name ${JSON.stringify(name)}: a relative path inside the config directory, ending in .yaml or .yml, with no dot-named part`,
    );
  }
  return normal;
}

/**
 * Replaces `file` in one step (a temporary dot-named sibling renamed over it), so that the control plane's
 * watcher never reads half a file; the dot name keeps the loader from reading the temporary one.
 */
export async function writeAtomically(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    await writeFile(tmp, text);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
