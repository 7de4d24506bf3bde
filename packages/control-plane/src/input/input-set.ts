/**
 * Assembling parsed files into the set of objects the model computes from, with the two rules that span
 * documents:
 *
 * - **Duplicates.** The same kind/namespace/name defined twice: the first (in sorted file order, then
 *   document order) wins, the later one is reported and ignored.
 * - **Rejected updates.** A document whose metadata is readable but whose content is invalid leaves the
 *   object as it was, like a `kubectl apply` the API server refuses: the last valid version of that object
 *   (from the previous input set) stays in effect and a warning says so. A new object that was never
 *   valid simply does not exist.
 */
import type { InputDiagnostic } from '../model/snapshot.js';
import { diagnosticAt } from './diagnostics.js';
import type { InputObject } from './objects.js';
import type { DocumentResult } from './parse-file.js';

export interface InputSet {
  /** Valid objects, first definition of each key only, in file then document order. */
  readonly objects: readonly InputObject[];
  readonly byKey: ReadonlyMap<string, InputObject>;
  readonly diagnostics: readonly InputDiagnostic[];
}

export interface ParsedFile {
  readonly file: string;
  readonly documents: readonly DocumentResult[];
  readonly diagnostics: readonly InputDiagnostic[];
}

export const EMPTY_INPUT: InputSet = { objects: [], byKey: new Map(), diagnostics: [] };

/**
 * An assembled input that remembers where each file's objects start, so that a later one-file change can
 * be patched in (`patchInput`). Its `byKey` index is built when first asked for: a 10,000-object index
 * rebuilt for every one-file change would be much of that change's cost, and only a rejected update
 * looks into it.
 */
class AssembledInput implements InputSet {
  readonly objects: readonly InputObject[];
  readonly diagnostics: readonly InputDiagnostic[];
  /** The key of each of `objects`. */
  readonly keys: readonly string[];
  /** Index in `objects` of each file's first object. */
  readonly starts: ReadonlyMap<string, number>;
  /** No key was defined twice. */
  readonly duplicateFree: boolean;
  #byKey: Map<string, InputObject> | undefined;

  constructor(
    objects: readonly InputObject[],
    keys: readonly string[],
    diagnostics: readonly InputDiagnostic[],
    starts: ReadonlyMap<string, number>,
    duplicateFree: boolean,
    byKey?: Map<string, InputObject>,
  ) {
    this.objects = objects;
    this.keys = keys;
    this.diagnostics = diagnostics;
    this.starts = starts;
    this.duplicateFree = duplicateFree;
    this.#byKey = byKey;
  }

  get byKey(): ReadonlyMap<string, InputObject> {
    if (this.#byKey === undefined) {
      const byKey = new Map<string, InputObject>();
      for (let i = 0; i < this.objects.length; i++) byKey.set(this.keys[i]!, this.objects[i]!);
      this.#byKey = byKey;
    }
    return this.#byKey;
  }
}

/** How a patched input differs from the one it was patched from: `objects[i]` for each `i` in `indices`. */
export interface InputPatch {
  readonly previous: InputSet;
  /** Indices into `objects` of the replaced files' objects, ascending; every other index holds the same object. */
  readonly indices: readonly number[];
}

/** Patches by input; kept beside the input so that an InputSet stays plain data. */
const inputPatches = new WeakMap<InputSet, InputPatch>();

/**
 * How `input` differs from the input before it, when `patchInput` made it; undefined when it was assembled
 * in full. Lets the model look only at the objects that may have changed.
 */
export function inputPatchOf(input: InputSet): InputPatch | undefined {
  return inputPatches.get(input);
}

/**
 * `previous` with the files in `replaced` swapped for their new parse, without assembling every file
 * again; undefined when that could give a different result than `assembleInput`. It cannot when no key
 * was defined twice and each replaced file, before and after, has no diagnostics and only valid
 * documents, with the same keys in the same order: then its objects take the same places and nothing
 * else moves.
 */
export function patchInput(previous: InputSet, replaced: readonly { readonly before: ParsedFile; readonly after: ParsedFile }[]): InputSet | undefined {
  if (!(previous instanceof AssembledInput) || !previous.duplicateFree) return undefined;
  for (const { before, after } of replaced) {
    if (before.file !== after.file || before.diagnostics.length > 0 || after.diagnostics.length > 0) return undefined;
    if (before.documents.length !== after.documents.length || previous.starts.get(before.file) === undefined) return undefined;
    for (let i = 0; i < before.documents.length; i++) {
      const a = before.documents[i]!;
      const b = after.documents[i]!;
      if (a.key === undefined || a.object === undefined || b.object === undefined || a.key !== b.key) return undefined;
    }
  }
  const objects = previous.objects.slice();
  const indices: number[] = [];
  for (const { after } of replaced) {
    const start = previous.starts.get(after.file)!;
    after.documents.forEach((doc, i) => {
      objects[start + i] = doc.object!;
      indices.push(start + i);
    });
  }
  const input = new AssembledInput(objects, previous.keys, previous.diagnostics, previous.starts, true);
  inputPatches.set(input, { previous, indices: indices.sort((a, b) => a - b) });
  return input;
}

export function assembleInput(files: readonly ParsedFile[], previous: InputSet = EMPTY_INPUT): InputSet {
  const objects: InputObject[] = [];
  const keys: string[] = [];
  const byKey = new Map<string, InputObject>();
  const diagnostics: InputDiagnostic[] = [];
  const starts = new Map<string, number>();
  let duplicateFree = true;
  for (const file of files) {
    starts.set(file.file, objects.length);
    diagnostics.push(...file.diagnostics);
    for (const doc of file.documents) {
      if (doc.key === undefined) continue;
      const first = byKey.get(doc.key);
      if (first !== undefined) {
        duplicateFree = false;
        diagnostics.push(
          diagnosticAt(
            doc.source,
            ['metadata', 'name'],
            `duplicate ${describeKey(doc.key)}: already defined in ${first.source.file} document ${first.source.document}; this one is ignored`,
            'error',
          ),
        );
        continue;
      }
      let object = doc.object;
      if (object === undefined) {
        const last = previous.byKey.get(doc.key);
        if (last === undefined) continue;
        // Point later diagnostics about the kept object at the document that now stands for it (the same
        // object again when that document is unchanged, so that the model can tell nothing changed).
        object = last.source === doc.source ? last : { ...last, source: doc.source };
        diagnostics.push(
          diagnosticAt(doc.source, [], `${describeKey(doc.key)} is invalid; its last valid version stays in effect until the document is fixed`, 'warning'),
        );
      }
      objects.push(object);
      keys.push(doc.key);
      byKey.set(doc.key, object);
    }
  }
  return new AssembledInput(objects, keys, diagnostics, starts, duplicateFree, byKey);
}

function describeKey(key: string): string {
  const [kind, ...rest] = key.split('/');
  return `${kind} ${rest.join('/')}`;
}
