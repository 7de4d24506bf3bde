/**
 * Turning computed content into the next immutable snapshot, or into nothing when nothing changed.
 *
 * Unchanged resources are carried over by reference: `next.addresses.get(k) === prev.addresses.get(k)`
 * exactly when resource `k` did not change, so a server can find what to push by identity alone.
 * Resources are frozen (except their byte buffers, which JavaScript cannot freeze).
 */
import { isDeepStrictEqual } from 'node:util';
import type { MeshContent } from './compute.js';
import type { MeshSnapshot } from './snapshot.js';

export const EMPTY_SNAPSHOT: MeshSnapshot = Object.freeze({
  version: 0,
  addresses: new Map(),
  authorizations: new Map(),
  identitiesByNode: new Map(),
  diagnostics: Object.freeze([]),
});

/** The snapshot after `previous` holding `content`, or undefined when `content` is what `previous` holds. */
export function nextSnapshot(previous: MeshSnapshot, content: MeshContent): MeshSnapshot | undefined {
  const addresses = shareUnchanged(previous.addresses, content.addresses);
  const authorizations = shareUnchanged(previous.authorizations, content.authorizations);
  const identitiesSame = isDeepStrictEqual(previous.identitiesByNode, content.identitiesByNode);
  const diagnosticsSame = isDeepStrictEqual(previous.diagnostics, content.diagnostics);
  if (addresses.same && authorizations.same && identitiesSame && diagnosticsSame) return undefined;
  return Object.freeze({
    version: previous.version + 1,
    addresses: addresses.map,
    authorizations: authorizations.map,
    identitiesByNode: identitiesSame ? previous.identitiesByNode : content.identitiesByNode,
    diagnostics: diagnosticsSame ? previous.diagnostics : deepFreeze([...content.diagnostics]),
    changed: Object.freeze({ addresses: addresses.changed, authorizations: authorizations.changed }),
  });
}

function shareUnchanged<T extends object>(
  previous: ReadonlyMap<string, T>,
  next: ReadonlyMap<string, T>,
): { map: ReadonlyMap<string, T>; same: boolean; changed: ReadonlySet<string> } {
  const map = new Map<string, T>();
  const changed = new Set<string>();
  for (const [key, value] of next) {
    const old = previous.get(key);
    // Identity first: the compute cache hands unchanged resources through as the same objects.
    if (old !== undefined && (old === value || isDeepStrictEqual(old, value))) {
      map.set(key, old);
    } else {
      map.set(key, deepFreeze(value));
      changed.add(key);
    }
  }
  if (map.size !== previous.size || changed.size > 0) {
    for (const key of previous.keys()) if (!next.has(key)) changed.add(key);
  }
  const same = changed.size === 0;
  return { map: same ? previous : map, same, changed };
}

function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Buffer.isBuffer(value) || Object.isFrozen(value)) return value;
  for (const child of Object.values(value)) deepFreeze(child);
  return Object.freeze(value);
}
