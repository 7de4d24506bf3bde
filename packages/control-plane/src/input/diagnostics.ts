/**
 * Building `InputDiagnostic`s from issues found by the decoders (in the input) and by the model (about
 * references between objects), all pointing at a file, a document, a field path and, when known, a line.
 */
import type { InputDiagnostic } from '../model/snapshot.js';
import { formatPath, type PathSegment, type Severity } from './field.js';
import type { SourceRef } from './objects.js';

export function diagnosticAt(
  source: SourceRef,
  path: readonly PathSegment[],
  message: string,
  severity: Severity,
): InputDiagnostic {
  const full = [...source.path, ...path];
  const line = source.lineOf(full);
  return {
    file: source.file,
    document: source.document,
    path: formatPath(full),
    message,
    severity,
    ...(line !== undefined ? { line } : {}),
  };
}

/** Stable order for a snapshot: by file, then document; within a document, in the order found. */
export function sortDiagnostics(diagnostics: readonly InputDiagnostic[]): InputDiagnostic[] {
  return diagnostics
    .map((d, i) => ({ d, i }))
    .sort((a, b) => compare(a.d.file, b.d.file) || a.d.document - b.d.document || a.i - b.i)
    .map(({ d }) => d);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
