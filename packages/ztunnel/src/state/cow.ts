/**
 * Copy-on-write maps for building the next snapshot from the current one: a map is copied the first time
 * a batch writes to it and shared untouched otherwise, so a snapshot never changes after it is published
 * and a batch that touches only services leaves every workload map shared with the previous snapshot.
 *
 * A copy is of the whole map (O(n) once per batch per touched map): simple and fast enough for meshes of
 * tens of thousands of entries, where a persistent map would cost more on every lookup.
 */

export class CowMap<K, V> {
  readonly #base: ReadonlyMap<K, V>;
  #copy: Map<K, V> | undefined;

  constructor(base: ReadonlyMap<K, V>) {
    this.#base = base;
  }

  get(key: K): V | undefined {
    return (this.#copy ?? this.#base).get(key);
  }

  has(key: K): boolean {
    return (this.#copy ?? this.#base).has(key);
  }

  get size(): number {
    return (this.#copy ?? this.#base).size;
  }

  set(key: K, value: V): void {
    this.#writable().set(key, value);
  }

  delete(key: K): void {
    if (this.has(key)) this.#writable().delete(key);
  }

  /** Whether this batch wrote to the map. */
  get changed(): boolean {
    return this.#copy !== undefined;
  }

  /** The map to publish: the copy if written, else the base itself. */
  result(): ReadonlyMap<K, V> {
    return this.#copy ?? this.#base;
  }

  #writable(): Map<K, V> {
    this.#copy ??= new Map(this.#base);
    return this.#copy;
  }
}

/**
 * A map of maps (e.g. service → workload uid → endpoint) where only the inner maps a batch touches are
 * copied; an inner map left empty is dropped, so absence means "none".
 */
export class CowMapOfMaps<K, IK, V> {
  readonly #outer: CowMap<K, ReadonlyMap<IK, V>>;
  /** Inner maps already copied by this batch (safe to write). */
  readonly #owned = new Set<K>();

  constructor(base: ReadonlyMap<K, ReadonlyMap<IK, V>>) {
    this.#outer = new CowMap(base);
  }

  get(key: K, innerKey: IK): V | undefined {
    return this.#outer.get(key)?.get(innerKey);
  }

  set(key: K, innerKey: IK, value: V): void {
    this.#inner(key).set(innerKey, value);
  }

  delete(key: K, innerKey: IK): void {
    const current = this.#outer.get(key);
    if (current === undefined || !current.has(innerKey)) return;
    if (current.size === 1) {
      this.#outer.delete(key);
      this.#owned.delete(key);
      return;
    }
    this.#inner(key).delete(innerKey);
  }

  get changed(): boolean {
    return this.#outer.changed;
  }

  result(): ReadonlyMap<K, ReadonlyMap<IK, V>> {
    return this.#outer.result();
  }

  #inner(key: K): Map<IK, V> {
    if (this.#owned.has(key)) return this.#outer.get(key) as Map<IK, V>;
    const copy = new Map(this.#outer.get(key) ?? []);
    this.#outer.set(key, copy);
    this.#owned.add(key);
    return copy;
  }
}
