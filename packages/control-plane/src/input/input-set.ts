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

export function assembleInput(files: readonly ParsedFile[], previous: InputSet = EMPTY_INPUT): InputSet {
  const objects: InputObject[] = [];
  const byKey = new Map<string, InputObject>();
  const diagnostics: InputDiagnostic[] = [];
  for (const file of files) {
    diagnostics.push(...file.diagnostics);
    for (const doc of file.documents) {
      if (doc.key === undefined) continue;
      const first = byKey.get(doc.key);
      if (first !== undefined) {
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
      byKey.set(doc.key, object);
    }
  }
  return { objects, byKey, diagnostics };
}

function describeKey(key: string): string {
  const [kind, ...rest] = key.split('/');
  return `${kind} ${rest.join('/')}`;
}
