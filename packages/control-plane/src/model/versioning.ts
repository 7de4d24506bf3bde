/**
 * Turning computed content into the next immutable snapshot, or into nothing when nothing changed.
 *
 * Unchanged resources are carried over by reference: `next.addresses.get(k) === prev.addresses.get(k)`
 * exactly when resource `k` did not change, so a server can find what to push by identity alone.
 * Resources are frozen (except their byte buffers, which JavaScript cannot freeze).
 */
import { isDeepStrictEqual } from 'node:util';
import { LayeredMap } from '../lib/layered-map.js';
import { addressesPatchOf, type MeshContent } from './compute.js';
import type { MeshSnapshot } from './snapshot.js';
import { shareWaypointResources } from './waypoint-config/versioning.js';

export const EMPTY_SNAPSHOT: MeshSnapshot = Object.freeze({
  version: 0,
  addresses: new Map(),
  authorizations: new Map(),
  identitiesByNode: new Map(),
  diagnostics: Object.freeze([]),
});

/** The snapshot after `previous` holding `content`, or undefined when `content` is what `previous` holds. */
export function nextSnapshot(previous: MeshSnapshot, content: MeshContent): MeshSnapshot | undefined {
  const addresses = shareUnchanged(previous.addresses, content.addresses, addressesPatchOf(content));
  const authorizations = shareUnchanged(previous.authorizations, content.authorizations);
  const identitiesSame = isDeepStrictEqual(previous.identitiesByNode, content.identitiesByNode);
  const diagnosticsSame = isDeepStrictEqual(previous.diagnostics, content.diagnostics);
  const waypoints = shareWaypointResources(previous.waypoints, content.waypoints, shareUnchanged);
  if (addresses.same && authorizations.same && identitiesSame && diagnosticsSame && waypoints.same) return undefined;
  return Object.freeze({
    version: previous.version + 1,
    addresses: addresses.map,
    authorizations: authorizations.map,
    identitiesByNode: identitiesSame ? previous.identitiesByNode : content.identitiesByNode,
    diagnostics: diagnosticsSame ? previous.diagnostics : deepFreeze([...content.diagnostics]),
    changed: Object.freeze({ addresses: addresses.changed, authorizations: authorizations.changed }),
    waypoints: waypoints.resources,
  });
}

const NOTHING_CHANGED: ReadonlySet<string> = new Set();

interface Shared<T> {
  readonly map: ReadonlyMap<string, T>;
  readonly same: boolean;
  readonly changed: ReadonlySet<string>;
}

/**
 * `next` with every resource that did not change replaced by the previous snapshot's object. The map is
 * `next` itself (adopted, not copied: a 10,000-entry copy per snapshot is much of a one-pod change's
 * cost), or `previous` when nothing changed. Adopting is safe because computed content is not changed
 * after it is handed over: the compute cache derives new versions of its maps (`LayeredMap.update`) and
 * never writes to one it returned. A `next` that is a `Map` may have equal resources swapped for the
 * previous objects in place; a `LayeredMap` gets a new version with them (the compute cache hands equal
 * resources through as the previous objects, so that it does not happen on the patched path).
 */
function shareUnchanged<T extends object>(
  previous: ReadonlyMap<string, T>,
  next: ReadonlyMap<string, T>,
  patch?: { readonly base: ReadonlyMap<string, T>; readonly changed: ReadonlySet<string> },
): Shared<T> {
  if (next === previous) return { map: previous, same: true, changed: NOTHING_CHANGED };
  // `next` is `previous` but for the hinted keys: only those are looked at.
  if (patch !== undefined && patch.base === previous) {
    const shared = sharePatched(previous, next, patch.changed);
    if (shared !== undefined) return shared;
  }
  const changed = new Set<string>();
  /** Resources equal to, but not the same object as, the previous one: swapped for the previous object. */
  let swaps: [string, T][] | undefined;
  for (const [key, value] of next) {
    const old = previous.get(key);
    // Identity first: the compute cache hands unchanged resources through as the same objects.
    if (old === value) continue;
    if (old !== undefined && isDeepStrictEqual(old, value)) {
      (swaps ??= []).push([key, old]);
    } else {
      deepFreeze(value);
      changed.add(key);
    }
  }
  if (next.size !== previous.size || changed.size > 0) {
    for (const key of previous.keys()) if (!next.has(key)) changed.add(key);
  }
  if (changed.size === 0) return { map: previous, same: true, changed };
  if (swaps === undefined) return { map: next, same: false, changed };
  // Setting an existing key keeps its place, so the order stays that of `next`. Swapping in place (the
  // values are equal) keeps `next` the map the compute cache patches next time, so its hint stays usable.
  if (next instanceof LayeredMap) return { map: (next as LayeredMap<string, T>).update(swaps), same: false, changed };
  const map = next instanceof Map ? (next as Map<string, T>) : new Map(next);
  for (const [key, old] of swaps) map.set(key, old);
  return { map, same: false, changed };
}

/**
 * `next` adopted after looking only at `hinted` keys, or undefined when one of them holds a re-created
 * equal resource (then the full comparison decides).
 */
function sharePatched<T extends object>(previous: ReadonlyMap<string, T>, next: ReadonlyMap<string, T>, hinted: ReadonlySet<string>): Shared<T> | undefined {
  const changed = new Set<string>();
  for (const key of hinted) {
    const value = next.get(key);
    const old = previous.get(key);
    if (value === old) continue;
    if (value === undefined || old === undefined) {
      changed.add(key);
      continue;
    }
    if (isDeepStrictEqual(old, value)) return undefined;
    deepFreeze(value);
    changed.add(key);
  }
  if (changed.size === 0) return { map: previous, same: true, changed };
  return { map: next, same: false, changed };
}

function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Buffer.isBuffer(value) || Object.isFrozen(value)) return value;
  for (const child of Object.values(value)) deepFreeze(child);
  return Object.freeze(value);
}
