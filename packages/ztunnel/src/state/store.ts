/**
 * The single writer of ztunnel's state. Each batch (one xDS response of one type, or a local-config load
 * of both types) becomes exactly one new `ProxySnapshot`, built copy-on-write from the current one and
 * published by swapping one reference; readers holding an older snapshot keep a consistent view.
 *
 * Listeners run after the swap, synchronously, in subscription order. A listener that throws is logged
 * and does not affect the store, the other listeners, or the ACK of the response being applied.
 */
import type { Rejection, ResourceBatch } from '@ambit/xds';
import { silentLogger, type Logger } from '@ambit/mesh-core/telemetry';
import type { Policy } from '../authz/policy.js';
import { StateClosedError } from '../errors.js';
import { applyAddressChanges } from './address-index.js';
import type { AddressResource } from './model.js';
import { applyPolicyChanges } from './policy-index.js';
import { ProxySnapshot } from './snapshot.js';

/** Changes to one resource type: resources to add or replace, and names to remove. */
export interface TypeChanges<T> {
  readonly upserts: readonly T[];
  readonly removals: readonly string[];
}

/** Everything to apply as one snapshot. */
export interface StateUpdate {
  readonly addresses?: TypeChanges<AddressResource>;
  readonly authorizations?: TypeChanges<Policy>;
}

/** Called with the new snapshot and the one it replaced. */
export type SnapshotListener = (current: ProxySnapshot, previous: ProxySnapshot) => void;

export interface StateStoreOptions {
  /** Warnings about throwing listeners, debug lines per published snapshot. Silent if absent. */
  readonly logger?: Logger;
}

const NO_REJECTIONS: readonly Rejection[] = Object.freeze([]);

export class StateStore {
  #current = ProxySnapshot.empty();
  readonly #logger: Logger;
  readonly #listeners = new Set<SnapshotListener>();
  readonly #policyListeners = new Set<SnapshotListener>();
  #closed = false;

  constructor(options: StateStoreOptions = {}) {
    this.#logger = (options.logger ?? silentLogger()).child({ component: 'state' });
  }

  /** The latest snapshot. The data path reads this once per connection and keeps the reference. */
  get current(): ProxySnapshot {
    return this.#current;
  }

  /**
   * Applies both parts of `update` as one snapshot and returns the current snapshot afterwards (the same
   * one when nothing changed: no new generation, no notification). Throws `StateClosedError` once closed.
   */
  apply(update: StateUpdate): ProxySnapshot {
    if (this.#closed) throw new StateClosedError('state store', 'apply an update');
    const previous = this.#current;
    const addressResult = update.addresses
      ? applyAddressChanges(previous.addressIndices, update.addresses.upserts, update.addresses.removals)
      : { indices: previous.addressIndices, policyRefsChanged: false };
    const prevPolicies = previous.policyIndices;
    const policies = update.authorizations ? applyPolicyChanges(prevPolicies, update.authorizations.upserts, update.authorizations.removals) : prevPolicies;
    const addressesChanged = addressResult.indices !== previous.addressIndices;
    const policiesChanged = policies.policies !== prevPolicies.policies;
    if (!addressesChanged && !policiesChanged) return previous;

    const g = previous.generations;
    const policyChanged = policiesChanged || addressResult.policyRefsChanged;
    const next = new ProxySnapshot(
      previous.generation + 1,
      {
        addresses: g.addresses + (addressesChanged ? 1 : 0),
        authorizations: g.authorizations + (policiesChanged ? 1 : 0),
        policy: g.policy + (policyChanged ? 1 : 0),
      },
      addressResult.indices,
      policies,
    );
    this.#current = next;
    this.#logger.debug(
      { generation: next.generation, workloads: next.workloads.size, services: next.services.size, policies: next.policies.size },
      'published state snapshot',
    );
    this.#notify(this.#listeners, next, previous);
    if (policyChanged) this.#notify(this.#policyListeners, next, previous);
    return next;
  }

  /** The xDS handler for Address batches: applies the batch as one snapshot; nothing is refused here. */
  applyAddresses(batch: ResourceBatch<AddressResource>): readonly Rejection[] {
    this.apply({ addresses: { upserts: batch.upserts.map((u) => u.resource), removals: batch.removals } });
    return NO_REJECTIONS;
  }

  /** The xDS handler for Authorization batches. */
  applyAuthorizations(batch: ResourceBatch<Policy>): readonly Rejection[] {
    this.apply({ authorizations: { upserts: batch.upserts.map((u) => u.resource), removals: batch.removals } });
    return NO_REJECTIONS;
  }

  /** Calls `listener` after every published snapshot. Returns the function that unsubscribes it. */
  subscribe(listener: SnapshotListener): () => void {
    return this.#add(this.#listeners, listener);
  }

  /**
   * Calls `listener` after a snapshot whose `generations.policy` moved (after the `subscribe` listeners):
   * the signal for re-checking live connections against policy.
   */
  onPolicyChange(listener: SnapshotListener): () => void {
    return this.#add(this.#policyListeners, listener);
  }

  /** Drops every listener and refuses further updates; `current` stays readable. */
  close(): Promise<void> {
    this.destroy();
    return Promise.resolve();
  }

  /** Same as `close()`: the store holds no resources beyond its listeners. */
  destroy(): void {
    this.#closed = true;
    this.#listeners.clear();
    this.#policyListeners.clear();
  }

  #add(set: Set<SnapshotListener>, listener: SnapshotListener): () => void {
    if (this.#closed) throw new StateClosedError('state store', 'subscribe');
    // A wrapper per subscription, so that the same function subscribed twice is two subscriptions.
    const entry: SnapshotListener = (current, previous) => listener(current, previous);
    set.add(entry);
    return () => void set.delete(entry);
  }

  #notify(listeners: ReadonlySet<SnapshotListener>, next: ProxySnapshot, previous: ProxySnapshot): void {
    for (const listener of [...listeners]) {
      try {
        listener(next, previous);
      } catch (err) {
        this.#logger.error({ err, generation: next.generation }, 'a state listener threw; the snapshot stays published');
      }
    }
  }
}
