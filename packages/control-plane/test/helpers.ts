/**
 * Test helpers: computing the model from YAML written inline, fixture paths, and small builders for the
 * expected proto objects.
 */
import path from 'node:path';
import type { Address, Authorization, Service, Workload } from '@ambit/protos';
import { addressCodec, authorizationCodec } from '@ambit/protos';
import { CaClientError } from '@ambit/mesh-core/identity';
import { assembleInput, type InputSet, type ParsedFile } from '../src/input/input-set.js';
import { defaultRegistry } from '../src/input/kinds/index.js';
import { parseFile } from '../src/input/parse-file.js';
import { computeMesh, type MeshContent } from '../src/model/compute.js';
import { DEFAULT_MODEL_OPTIONS, type ModelOptions } from '../src/model/options.js';
import type { InputDiagnostic } from '../src/model/snapshot.js';

/** `packages/control-plane` (tests run from `dist/test`). */
export const PACKAGE_DIR = path.resolve(import.meta.dirname, '../..');
export const FIXTURES = path.join(PACKAGE_DIR, 'test/fixtures');
export const EXAMPLE = path.resolve(PACKAGE_DIR, '../../deploy/examples/mesh.yaml');

/** Parses YAML files given as `name → text` (in that order) into an input set. */
export function inputFrom(files: Record<string, string>, previous?: InputSet): InputSet {
  const parsed: ParsedFile[] = Object.entries(files).map(([file, text]) => {
    const result = parseFile(file, text, defaultRegistry());
    if (!result.ok) return { file, documents: [], diagnostics: result.diagnostics };
    return { file, documents: result.documents, diagnostics: result.diagnostics };
  });
  return assembleInput(parsed, previous);
}

/** Computes the mesh from one inline YAML file named `mesh.yaml`. */
export function meshFrom(yaml: string, options: Partial<ModelOptions> = {}): MeshContent {
  return computeMesh(inputFrom({ 'mesh.yaml': yaml }), { ...DEFAULT_MODEL_OPTIONS, ...options });
}

export function workload(mesh: MeshContent, uid: string): Workload {
  const address = mesh.addresses.get(uid);
  if (address?.workload === undefined) throw new Error(`no workload ${uid} in ${[...mesh.addresses.keys()].join(', ')}`);
  return address.workload;
}

export function service(mesh: MeshContent, name: string): Service {
  const address = mesh.addresses.get(name);
  if (address?.service === undefined) throw new Error(`no service ${name} in ${[...mesh.addresses.keys()].join(', ')}`);
  return address.service;
}

export function authorization(mesh: MeshContent, name: string): Authorization {
  const found = mesh.authorizations.get(name);
  if (found === undefined) throw new Error(`no authorization ${name} in ${[...mesh.authorizations.keys()].join(', ')}`);
  return found;
}

/** Diagnostics without `file`, for compact assertions on inline YAML. */
export function brief(diagnostics: readonly InputDiagnostic[]): Array<Omit<InputDiagnostic, 'file'>> {
  return diagnostics.map(({ file: _file, ...rest }) => rest);
}

export function ip(text: string): Buffer {
  if (text.includes(':')) {
    const [head = '', tail = ''] = text.split('::');
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
    return Buffer.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
  }
  return Buffer.from(text.split('.').map(Number));
}

/** Encodes and decodes every resource, returning problems (an empty list means all are wire-valid and stable). */
export function wireProblems(mesh: Pick<MeshContent, 'addresses' | 'authorizations'>): string[] {
  const problems: string[] = [];
  const check = <T extends object>(name: string, value: T, codec: { encode(v: T): Buffer; decode(b: Uint8Array): T }): void => {
    try {
      const bytes = codec.encode(value);
      const again = codec.encode(codec.decode(bytes));
      if (!bytes.equals(again)) problems.push(`${name}: re-encoding the decoded message gives different bytes`);
    } catch (err) {
      problems.push(`${name}: ${(err as Error).message}`);
    }
  };
  for (const [name, value] of mesh.addresses) check<Address>(name, value, addressCodec());
  for (const [name, value] of mesh.authorizations) check<Authorization>(name, value, authorizationCodec());
  return problems;
}

/** A Kubernetes object in YAML, for composing inline inputs. */
export function yamlDocs(...docs: string[]): string {
  return docs.map((d) => `---\n${d.trim()}\n`).join('');
}

/** The CA's refusal of `promise`'s request; anything else (or no refusal at all) fails the test. */
export async function refusal(promise: Promise<unknown>): Promise<CaClientError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof CaClientError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}
