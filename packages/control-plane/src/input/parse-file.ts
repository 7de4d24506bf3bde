/**
 * One YAML file → its decoded documents and diagnostics.
 *
 * A YAML syntax error anywhere in the file fails the whole file (`ok: false`): document boundaries after a
 * broken one are unreliable, and a half-saved file must not remove workloads, so the caller keeps the
 * file's last good parse instead. A document that parses but does not validate fails alone.
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, type Document } from 'yaml';
import type { InputDiagnostic } from '../model/snapshot.js';
import { diagnosticAt } from './diagnostics.js';
import { Field, IssueSink, isMapping, type PathSegment } from './field.js';
import { decodeMetadata } from './metadata.js';
import { objectKey, type InputObject, type ObjectMeta, type SourceRef } from './objects.js';
import type { KindRegistry } from './registry.js';

export interface DocumentResult {
  readonly index: number;
  /** `Kind/namespace/name` when the metadata could be read, even if the rest of the document is invalid. */
  readonly key?: string;
  /** The decoded object; absent when the document has errors (or is of an unsupported kind). */
  readonly object?: InputObject;
  /** Where to point diagnostics about this document. */
  readonly source: SourceRef;
}

export type FileParse =
  | { readonly ok: true; readonly documents: readonly DocumentResult[]; readonly diagnostics: readonly InputDiagnostic[] }
  | { readonly ok: false; readonly diagnostics: readonly InputDiagnostic[] };

/** Aliases can expand exponentially ("billion laughs"); Kubernetes objects never need many. */
const MAX_ALIAS_COUNT = 100;

const PLACEHOLDER_META: ObjectMeta = { name: '', namespace: '', labels: {}, annotations: {}, ownerReferences: [] };

export function parseFile(file: string, text: string, registry: KindRegistry): FileParse {
  const lineCounter = new LineCounter();
  const documents = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  // An empty stream (only comments or nothing) is a valid file with no documents.
  if (!Array.isArray(documents)) return { ok: true, documents: [], diagnostics: [] };

  const syntaxErrors: InputDiagnostic[] = [];
  documents.forEach((doc, index) => {
    const first = doc.errors[0];
    if (first === undefined) return;
    syntaxErrors.push({
      file,
      document: index,
      path: '',
      message: `YAML syntax error: ${first.message.split('\n')[0]}`,
      severity: 'error',
      line: lineCounter.linePos(first.pos[0]).line,
    });
  });
  if (syntaxErrors.length > 0) return { ok: false, diagnostics: syntaxErrors };

  const results: DocumentResult[] = [];
  const diagnostics: InputDiagnostic[] = [];
  documents.forEach((doc, index) => {
    const source: SourceRef = { file, document: index, path: [], lineOf: lazyLineOf(text, doc.range, lineCounter) };
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      diagnostics.push(diagnosticAt(source, [], `cannot read document: ${(err as Error).message}`, 'error'));
      return;
    }
    if (value === null || value === undefined) return; // an empty document, e.g. after a trailing `---`
    const sink = new IssueSink();
    const result = decodeDocument(new Field(value, [], sink), source, registry);
    for (const issue of sink.issues) diagnostics.push(diagnosticAt(source, issue.path, issue.message, issue.severity));
    results.push({
      index,
      source,
      ...(result.key !== undefined ? { key: result.key } : {}),
      ...(result.object !== undefined && !sink.hasErrors ? { object: result.object } : {}),
    });
  });
  return { ok: true, documents: results, diagnostics };
}

function decodeDocument(root: Field, source: SourceRef, registry: KindRegistry): { key?: string; object?: InputObject } {
  if (!isMapping(root.value)) {
    root.error('a Kubernetes object must be a mapping with apiVersion, kind and metadata');
    return {};
  }
  const apiVersion = root.child('apiVersion').string({ required: true });
  const kind = root.child('kind').string({ required: true });
  if (apiVersion === undefined || kind === undefined) return {};
  const decoder = registry.lookup(kind);
  if (decoder === undefined) {
    root.child('kind').warn(`unsupported kind ${JSON.stringify(kind)}; the document is skipped (supported: ${registry.kinds.join(', ')})`);
    return {};
  }
  if (!decoder.apiVersions.includes(apiVersion)) {
    root.child('apiVersion').error(`${JSON.stringify(apiVersion)} is not a supported apiVersion for ${kind} (use ${decoder.apiVersions.join(' or ')})`);
    return {};
  }
  const metadata = decodeMetadata(root, decoder);
  // Decode the rest even without usable metadata, so that one pass reports every problem.
  const object = decoder.decode(root, { apiVersion, metadata: metadata ?? PLACEHOLDER_META, source });
  if (metadata === undefined) return {};
  return { key: objectKey(kind, metadata.namespace, metadata.name), ...(object !== undefined ? { object } : {}) };
}

/**
 * `lineOf` for the document at `range` of `text`. The parsed document is not kept: its syntax tree is
 * about fifteen times the size of its text (160 MB for 10,000 pods), lines are only needed for the rare
 * diagnostic, and the loader keeps the file's text anyway. The first question re-parses the document
 * alone; answers are remembered per path (a diagnostic is reported again at every recomputation).
 */
function lazyLineOf(text: string, range: readonly number[], lineCounter: LineCounter): SourceRef['lineOf'] {
  const start = range[0] ?? 0;
  const end = range[2] ?? text.length;
  let answers: Map<string, number | undefined> | undefined;
  return (path) => {
    const key = path.join('\0');
    answers ??= new Map();
    if (answers.has(key)) return answers.get(key);
    const [doc] = parseAllDocuments(text.slice(start, end), { prettyErrors: false, uniqueKeys: true }) as Document[];
    const offset = doc === undefined ? undefined : offsetOf(doc, path);
    const line = offset === undefined ? undefined : lineCounter.linePos(start + offset).line;
    answers.set(key, line);
    return line;
  };
}

/** The offset of the node at `path`, or of its deepest existing ancestor. */
function offsetOf(doc: Document, path: readonly PathSegment[]): number | undefined {
  let node: unknown = doc.contents;
  let offset = rangeStart(node);
  for (const segment of path) {
    let next: unknown;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment));
      // Point at the key when the value is empty or a block that starts on a later line.
      if (pair) {
        next = pair.value ?? pair.key;
        offset = rangeStart(pair.key) ?? offset;
        if (isScalar(pair.value)) offset = rangeStart(pair.value) ?? offset;
      }
    } else if (isSeq(node) && typeof segment === 'number') {
      next = node.items[segment];
      offset = rangeStart(next) ?? offset;
    }
    if (next === undefined) break;
    node = next;
  }
  return offset;
}

function rangeStart(node: unknown): number | undefined {
  if (typeof node !== 'object' || node === null || !('range' in node)) return undefined;
  const range = (node as { range?: readonly number[] | null }).range;
  return range?.[0];
}
