/**
 * The control plane's input as a directory of YAML files in a temporary directory, edited the way people
 * and tools edit it: a new version written aside and renamed over the old one (never half-written).
 */
import { cp, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';

/** The repository's worked example (tests run from `test/dist/e2e/support`). */
export const EXAMPLE = path.resolve(import.meta.dirname, '../../../../deploy/examples/mesh.yaml');

export class MeshDir {
  /** The temporary directory (config lives in `config/`, anything else beside it). */
  readonly root: string;
  readonly config: string;

  private constructor(root: string) {
    this.root = root;
    this.config = path.join(root, 'config');
  }

  /** A fresh directory, removed when the test ends. */
  static async create(t: ExecutionContext, files: Record<string, string> = {}): Promise<MeshDir> {
    const root = await mkdtemp(path.join(tmpdir(), 'ambit-e2e-'));
    t.teardown(() => rm(root, { recursive: true, force: true }));
    const dir = new MeshDir(root);
    await mkdir(dir.config, { recursive: true });
    for (const [name, text] of Object.entries(files)) await dir.write(name, text);
    return dir;
  }

  path(name: string): string {
    return path.join(this.config, name);
  }

  /** Writes `name` atomically (temp file beside it, renamed over). */
  async write(name: string, text: string): Promise<void> {
    const file = this.path(name);
    await mkdir(path.dirname(file), { recursive: true });
    const temp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
    await writeFile(temp, text);
    await rename(temp, file);
  }

  async read(name: string): Promise<string> {
    return readFile(this.path(name), 'utf8');
  }

  /** Replaces `from` (which must occur) with `to` in `name`. */
  async edit(name: string, from: string | RegExp, to: string): Promise<void> {
    const text = await this.read(name);
    const next = text.replace(from, to);
    if (next === text) throw new Error(`${name} does not contain ${String(from)}`);
    await this.write(name, next);
  }

  async remove(name: string): Promise<void> {
    await rm(this.path(name));
  }

  async copyExample(as = 'mesh.yaml'): Promise<void> {
    await cp(EXAMPLE, this.path(as));
  }
}

/** One pod as YAML (Running, Ready, on `node`), for composing inputs. */
export function podYaml(name: string, namespace: string, ip: string, options: { node?: string; labels?: Record<string, string>; sa?: string } = {}): string {
  const labels = Object.entries(options.labels ?? { app: name }).map(([k, v]) => `${k}: ${v}`).join(', ');
  return `---
apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: ${namespace}, labels: { ${labels} } }
spec: { nodeName: ${options.node ?? 'node-a'}, serviceAccountName: ${options.sa ?? name}, containers: [{ name: c, image: i }] }
status: { phase: Running, podIP: ${ip}, conditions: [{ type: Ready, status: "True" }] }
`;
}
