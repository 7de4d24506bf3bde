/**
 * `metadata` as every kind has it. Decoded before the rest of the document so that even a document whose
 * spec is broken can be named in diagnostics and matched with its last valid version.
 */
import type { Field } from './field.js';
import { checkAnnotation, checkDns1123Label, checkLabel } from './names.js';
import type { ObjectMeta, OwnerReference } from './objects.js';

export interface MetadataRules {
  readonly namespaced: boolean;
  readonly checkName: (name: string) => string | undefined;
}

/** Decodes `metadata`; undefined when the name or namespace is unusable (errors recorded). */
export function decodeMetadata(doc: Field, rules: MetadataRules): ObjectMeta | undefined {
  const meta = doc.child('metadata');
  meta.object(true);
  const name = meta.child('name').string({ required: true, check: rules.checkName });
  let namespace = '';
  const nsField = meta.child('namespace');
  if (rules.namespaced) {
    // kubectl puts objects without a namespace into `default`; so do we.
    namespace = nsField.string({ check: checkDns1123Label }) ?? (nsField.present ? '' : 'default');
  } else if (nsField.present) {
    nsField.warn('is ignored: this kind is not namespaced');
  }
  const labels = meta.child('labels').stringMap(checkLabel) ?? {};
  const annotations = meta.child('annotations').stringMap(checkAnnotation) ?? {};
  const uid = meta.child('uid').string();
  const created = decodeTimestamp(meta.child('creationTimestamp'));
  const ownerReferences = decodeOwnerReferences(meta.child('ownerReferences'));
  if (name === undefined || (rules.namespaced && namespace.length === 0)) return undefined;
  return {
    name,
    namespace,
    labels,
    annotations,
    ...(uid !== undefined ? { uid } : {}),
    ...(created !== undefined ? { creationTimestamp: created } : {}),
    ownerReferences,
  };
}

function decodeTimestamp(field: Field): number | undefined {
  const text = field.string();
  if (text === undefined) return undefined;
  const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(ms)) {
    field.error(`${JSON.stringify(text)} is not an RFC 3339 timestamp such as "2024-01-31T12:00:00Z"`);
    return undefined;
  }
  return ms;
}

function decodeOwnerReferences(field: Field): OwnerReference[] {
  const out: OwnerReference[] = [];
  for (const ref of field.list() ?? []) {
    ref.object(true);
    const apiVersion = ref.child('apiVersion').string({ required: true });
    const kind = ref.child('kind').string({ required: true });
    const name = ref.child('name').string({ required: true });
    const controller = ref.child('controller').boolean() ?? false;
    if (apiVersion !== undefined && kind !== undefined && name !== undefined) out.push({ apiVersion, kind, name, controller });
  }
  return out;
}

/** `selector.matchLabels`-style label maps used by policies and Services. */
export function decodeMatchLabels(field: Field): Record<string, string> | undefined {
  return field.stringMap(checkLabel);
}
