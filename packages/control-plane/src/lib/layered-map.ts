/**
 * A persistent map: immutable, and cheap to derive a new version from when a few entries change.
 *
 * The model's address map and the server's resource tables hold 10,000+ entries, and a one-pod change
 * replaces one of them. Copying the whole map for every snapshot (so that the previous one stays intact for
 * its readers) cost milliseconds per change and left two large tables per change in the old generation
 * for the collector. A LayeredMap instead keeps
 *
 * - a **base** `Map` that is never changed once a LayeredMap holds it, shared by every version derived
 *   from it, and
 * - a small **overlay**: base keys given a new value or removed (`#replaced`), and keys added after the
 *   base (`#appended`, in insertion order).
 *
 * `update` copies only the overlay. Once the overlay holds more than `overlayLimit(size)` entries (about
 * 2·√size), the new version is flattened into a fresh base. A one-entry update therefore costs
 * O(√size) amortized — the overlay copy, plus one O(size) flattening every √size updates or so — instead
 * of O(size); lookups cost at most three hash probes.
 *
 * It iterates exactly as a `Map` would that received the same `set`/`delete` calls: a replaced key keeps
 * its place, a new key comes last, and a key deleted and then set again moves to the end.
 *
 * Values cannot be `undefined` (in `update`, `undefined` means "delete"). Two LayeredMaps have no
 * enumerable own properties, so `util.isDeepStrictEqual` cannot tell them apart: compare their entries.
 */

/** Marks a base key as removed in the overlay. */
const REMOVED: unique symbol = Symbol('removed');
type Slot<V> = V | typeof REMOVED;

/** The empty overlay, shared: nothing is ever written to it. */
const EMPTY: ReadonlyMap<unknown, never> = new Map<unknown, never>();

function empty<K, V>(): ReadonlyMap<K, V> {
  return EMPTY as ReadonlyMap<K, V>;
}

/** Overlays at most this large are never flattened: copying them costs next to nothing. */
const MIN_OVERLAY_LIMIT = 32;

/**
 * How many overlay entries a LayeredMap of `size` entries may carry before `update` flattens it. Copying the
 * overlay on each update and flattening every `limit` updates balance near `limit ≈ √(2·size)`; twice
 * that keeps flattening rarer at a still negligible copy cost.
 */
export function overlayLimit(size: number): number {
  return Math.max(MIN_OVERLAY_LIMIT, Math.ceil(2 * Math.sqrt(size)));
}

/** One change for `LayeredMap.update`: a new value for `key`, or `undefined` to delete it. */
export type MapChange<K, V> = readonly [key: K, value: V | undefined];

export class LayeredMap<K, V extends object> implements ReadonlyMap<K, V> {
  readonly #base: ReadonlyMap<K, V>;
  readonly #replaced: ReadonlyMap<K, Slot<V>>;
  readonly #appended: ReadonlyMap<K, V>;
  readonly #size: number;

  private constructor(base: ReadonlyMap<K, V>, replaced: ReadonlyMap<K, Slot<V>>, appended: ReadonlyMap<K, V>, size: number) {
    this.#base = base;
    this.#replaced = replaced;
    this.#appended = appended;
    this.#size = size;
  }

  /**
   * A LayeredMap over `map` itself, without copying it: the caller hands `map` over and must never change
   * it again. A LayeredMap is returned as it is.
   */
  static adopt<K, V extends object>(map: ReadonlyMap<K, V>): LayeredMap<K, V> {
    if (map instanceof LayeredMap) return map as LayeredMap<K, V>;
    return new LayeredMap(map, empty(), empty(), map.size);
  }

  /** A LayeredMap of `entries` (copied), in their order; a later entry for the same key replaces an earlier one in place. */
  static of<K, V extends object>(entries: Iterable<readonly [K, V]>): LayeredMap<K, V> {
    const map = new Map<K, V>();
    for (const [key, value] of entries) map.set(key, value);
    return new LayeredMap(map, empty(), empty(), map.size);
  }

  get size(): number {
    return this.#size;
  }

  /** Entries held in the overlay rather than the base (for tests and diagnostics). */
  get overlaySize(): number {
    return this.#replaced.size + this.#appended.size;
  }

  get(key: K): V | undefined {
    if (this.#appended.size > 0) {
      const added = this.#appended.get(key);
      if (added !== undefined) return added;
    }
    if (this.#replaced.size > 0) {
      const slot = this.#replaced.get(key);
      if (slot !== undefined) return slot === REMOVED ? undefined : slot;
    }
    return this.#base.get(key);
  }

  has(key: K): boolean {
    return this.get(key) !== undefined;
  }

  /**
   * This map with `changes` applied in order (a value sets, `undefined` deletes), as a new LayeredMap; this
   * one is unchanged. Returns `this` when no change makes a difference (same value object, absent key).
   */
  update(changes: Iterable<MapChange<K, V>>): LayeredMap<K, V> {
    const base = this.#base;
    // Copied on the first real change only.
    let replaced: Map<K, Slot<V>> | undefined;
    let appended: Map<K, V> | undefined;
    let size = this.#size;
    for (const [key, value] of changes) {
      const inAppended = (appended ?? this.#appended).get(key);
      if (inAppended !== undefined) {
        if (inAppended === value) continue;
        appended ??= new Map(this.#appended);
        if (value === undefined) {
          appended.delete(key);
          size--;
        } else {
          // Setting an existing key keeps its place, as in a Map.
          appended.set(key, value);
        }
        continue;
      }
      const slot = (replaced ?? this.#replaced).get(key);
      const inBase = slot !== REMOVED ? base.get(key) : undefined;
      if (inBase !== undefined) {
        // A live base key: its value is the overlay's, else the base's.
        const current = slot ?? inBase;
        if (current === value) continue;
        replaced ??= new Map(this.#replaced);
        if (value === undefined) {
          replaced.set(key, REMOVED);
          size--;
        } else if (value === inBase) {
          replaced.delete(key);
        } else {
          replaced.set(key, value);
        }
        continue;
      }
      // Not present (never, or removed from the base): a set appends it, as a Map puts a new key last.
      if (value === undefined) continue;
      appended ??= new Map(this.#appended);
      appended.set(key, value);
      size++;
    }
    if (replaced === undefined && appended === undefined) return this;
    const next = new LayeredMap(base, replaced ?? this.#replaced, appended ?? this.#appended, size);
    return next.overlaySize > overlayLimit(size) ? next.compact() : next;
  }

  /** The same entries over a fresh base with an empty overlay (`this` when the overlay is empty). */
  compact(): LayeredMap<K, V> {
    if (this.overlaySize === 0) return this;
    // The engine's own Map copy is several times faster than iterating entry by entry. Then the overlay is
    // replayed as Map operations: a set on an existing key keeps its place, a delete removes it, and the
    // appended keys (a removed base key set again among them) go last: the order `entries()` gives.
    const map = new Map<K, V>(this.#base);
    for (const [key, slot] of this.#replaced) {
      if (slot === REMOVED) map.delete(key);
      else map.set(key, slot);
    }
    for (const [key, value] of this.#appended) map.set(key, value);
    return new LayeredMap(map, empty(), empty(), map.size);
  }

  entries(): MapIterator<[K, V]> {
    return this.overlaySize === 0 ? this.#base.entries() : this.#entries();
  }

  keys(): MapIterator<K> {
    return this.overlaySize === 0 ? this.#base.keys() : this.#keys();
  }

  values(): MapIterator<V> {
    return this.overlaySize === 0 ? this.#base.values() : this.#values();
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  forEach(callback: (value: V, key: K, map: ReadonlyMap<K, V>) => void, thisArg?: unknown): void {
    for (const [key, value] of this.entries()) callback.call(thisArg, value, key, this);
  }

  get [Symbol.toStringTag](): string {
    return 'LayeredMap';
  }

  *#entries(): Generator<[K, V], undefined, unknown> {
    const replaced = this.#replaced;
    if (replaced.size === 0) {
      yield* this.#base.entries();
    } else {
      for (const entry of this.#base) {
        const slot = replaced.get(entry[0]);
        if (slot === undefined) yield entry;
        else if (slot !== REMOVED) yield [entry[0], slot];
      }
    }
    yield* this.#appended.entries();
  }

  *#keys(): Generator<K, undefined, unknown> {
    const replaced = this.#replaced;
    for (const key of this.#base.keys()) if (replaced.get(key) !== REMOVED) yield key;
    yield* this.#appended.keys();
  }

  *#values(): Generator<V, undefined, unknown> {
    for (const entry of this.#entries()) yield entry[1];
  }
}
