/**
 * What one delta xDS stream has asked for of one type, what it holds, and what it should be sent next.
 *
 * Subscription semantics follow the xDS protocol (envoy api-docs "xds_protocol", delta section):
 * - The first request of a type with no names at all is a legacy wildcard subscription; `*` subscribes to
 *   the wildcard explicitly and unsubscribing `*` leaves it. Subscribes are applied before unsubscribes, so
 *   ztunnel's on-demand opening request (`subscribe: [*], unsubscribe: [*]`) means "nothing yet, by name".
 * - A name may be a resource name or an alias (`network/IP` of an Address). Named subscriptions to a
 *   service also bring the workloads behind it (istiod's AdditionalPodSubscriptions).
 * - A subscribed name that does not exist is answered in `removed_resources`, so an on-demand client
 *   waiting for it completes (istiod pilot/pkg/xds/workload.go does the same).
 * - `initial_resource_versions` seeds what the client holds: equal versions are skipped, claimed names
 *   that no longer exist (or are no longer subscribed) are sent as removed.
 * - What the client unsubscribed is forgotten without a removal; anything else that leaves the
 *   subscription's scope (deleted, or no longer behind a subscribed alias or service) is sent as removed.
 *
 * The record of what the client holds is updated when a response is sent, not when it is ACKed: after a
 * NACK the same version is not sent again (it would be refused again), only a changed one.
 */
import type { ResourceEntry, ResourceTable, TableDiff } from './resource-table.js';

/** The content of the next response for one type, already committed to the watch's record. */
export interface PendingResponse {
  readonly resources: readonly ResourceEntry[];
  readonly removed: readonly string[];
  /** Whether to send each resource's aliases (only on-demand clients look them up by alias). */
  readonly withAliases: boolean;
}

export const WILDCARD = '*';

/** Above this many changed names a wildcard watch rescans the table rather than keep a set. */
const DIRTY_SET_LIMIT = 4096;

export class TypeWatch {
  readonly typeUrl: string;
  #started = false;
  #wildcard = false;
  /** Names the client subscribed to (resource names or aliases), not counting the wildcard. */
  readonly #explicit = new Set<string>();
  /** Resource name → version the client holds (as far as we know). */
  readonly #held = new Map<string, string>();
  /** Names to re-examine at the next `take` (wildcard mode), or everything. */
  #dirty: Set<string> | 'all' = new Set();
  /** Names subscribed since the last response: answered even when they do not exist. */
  readonly #requested = new Set<string>();
  /** Names unsubscribed since the last response: their resources are forgotten without a removal. */
  readonly #unsubscribed = new Set<string>();
  #unsubscribedWildcard = false;
  #mustRespond = false;

  constructor(typeUrl: string) {
    this.typeUrl = typeUrl;
  }

  get started(): boolean {
    return this.#started;
  }

  get wildcard(): boolean {
    return this.#wildcard;
  }

  /** Explicit subscriptions, sorted (for config_dump). */
  subscriptions(): string[] {
    return [...this.#explicit].sort();
  }

  /** How many resources the client holds. */
  get heldCount(): number {
    return this.#held.size;
  }

  /** Whether the next `take` may produce a response (a cheap pre-check). */
  get pending(): boolean {
    return this.#mustRespond || this.#dirty === 'all' || this.#dirty.size > 0;
  }

  /**
   * Applies the subscription part of a request. Only the first request of a type may carry
   * `initialResourceVersions`; on later requests it is ignored, as the protocol says.
   */
  applyRequest(subscribe: readonly string[], unsubscribe: readonly string[], initialResourceVersions?: Readonly<Record<string, string>>): void {
    const first = !this.#started;
    if (first) {
      this.#started = true;
      this.#mustRespond = true;
      this.#dirty = 'all';
      if (subscribe.length === 0 && unsubscribe.length === 0) this.#wildcard = true;
      if (initialResourceVersions) {
        for (const [name, version] of Object.entries(initialResourceVersions)) this.#held.set(name, version);
      }
    }
    for (const name of subscribe) {
      this.#mustRespond = true;
      if (name === WILDCARD) {
        if (!this.#wildcard) this.#dirty = 'all';
        this.#wildcard = true;
      } else {
        this.#explicit.add(name);
        this.#requested.add(name);
        this.#unsubscribed.delete(name);
      }
    }
    for (const name of unsubscribe) {
      if (name === WILDCARD) {
        // In the opening request this is ztunnel's "not wildcard" marker: nothing is held yet to forget
        // except initial versions, and those must be answered (removed), so it is not a silent drop.
        if (this.#wildcard && !first) this.#unsubscribedWildcard = true;
        this.#wildcard = false;
      } else {
        this.#explicit.delete(name);
        this.#requested.delete(name);
        if (!first) this.#unsubscribed.add(name);
      }
    }
    // Leaving names or the wildcard can shrink a named scope (a service's workloads go with it); a
    // wildcard watch keeps everything whatever its names, so it has nothing to rescan.
    if (unsubscribe.length > 0 && !this.#wildcard) this.#dirty = 'all';
  }

  /** Records what a new snapshot changed, for the next `take`. */
  noteChanges(diff: TableDiff): void {
    if (!this.#started) return;
    if (!this.#wildcard) {
      // Named watches recompute their (small) scope on every take; any change may move an alias.
      if (diff.upserted.length + diff.removed.length > 0) this.#dirty = 'all';
      return;
    }
    if (this.#dirty === 'all') return;
    const dirty = this.#dirty;
    for (const name of diff.upserted) dirty.add(name);
    for (const name of diff.removed) dirty.add(name);
    if (dirty.size > DIRTY_SET_LIMIT) this.#dirty = 'all';
  }

  /**
   * The next response against `table`, or undefined when there is nothing to say. What it returns is
   * recorded as held by the client.
   */
  take(table: ResourceTable): PendingResponse | undefined {
    if (!this.pending) return undefined;
    const resources: ResourceEntry[] = [];
    const removed: string[] = [];
    if (this.#wildcard) this.#collectWildcard(table, resources, removed);
    else this.#collectNamed(table, resources, removed);
    for (const name of this.#requested) {
      // Asked for, and nothing by that name or alias: say so, so that the client stops waiting.
      if (table.resolve(name) === undefined && !removed.includes(name)) removed.push(name);
    }
    const mustRespond = this.#mustRespond;
    this.#dirty = new Set();
    this.#requested.clear();
    this.#unsubscribed.clear();
    this.#unsubscribedWildcard = false;
    this.#mustRespond = false;
    for (const entry of resources) this.#held.set(entry.name, entry.version);
    for (const name of removed) this.#held.delete(name);
    if (resources.length === 0 && removed.length === 0 && !mustRespond) return undefined;
    return { resources, removed, withAliases: this.#explicit.size > 0 };
  }

  #collectWildcard(table: ResourceTable, resources: ResourceEntry[], removed: string[]): void {
    const entries = table.entries;
    if (this.#dirty === 'all') {
      for (const entry of entries.values()) {
        if (this.#held.get(entry.name) !== entry.version) resources.push(entry);
      }
      for (const name of this.#held.keys()) if (!entries.has(name)) removed.push(name);
      return;
    }
    for (const name of this.#dirty) {
      const entry = entries.get(name);
      if (entry) {
        if (this.#held.get(name) !== entry.version) resources.push(entry);
      } else if (this.#held.has(name)) {
        removed.push(name);
      }
    }
  }

  #collectNamed(table: ResourceTable, resources: ResourceEntry[], removed: string[]): void {
    const scope = new Set<string>();
    for (const name of this.#explicit) {
      const resolved = table.resolve(name);
      if (resolved === undefined) continue;
      scope.add(resolved);
      for (const member of table.membersOf(resolved)) scope.add(member);
    }
    for (const name of scope) {
      const entry = table.entries.get(name)!;
      if (this.#held.get(name) !== entry.version) resources.push(entry);
    }
    // What the client just unsubscribed (by name or alias) it has dropped itself.
    const forgotten = new Set<string>();
    for (const name of this.#unsubscribed) {
      forgotten.add(name);
      const resolved = table.resolve(name);
      if (resolved !== undefined) forgotten.add(resolved);
    }
    for (const name of this.#held.keys()) {
      if (scope.has(name)) continue;
      if (this.#unsubscribedWildcard || forgotten.has(name)) this.#held.delete(name);
      else removed.push(name);
    }
  }
}
