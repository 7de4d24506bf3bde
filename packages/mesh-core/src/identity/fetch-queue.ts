/**
 * A bounded, prioritised work queue for certificate fetches. ztunnel caps concurrent CA requests
 * (8) and serves them by priority so that a connection waiting for a certificate is never stuck
 * behind a wave of background refreshes or pre-fetches for pods that just arrived
 * (ztunnel src/identity/manager.rs).
 */

export const FetchPriority = {
  /** A caller is waiting for the certificate to open a connection. */
  RealTime: 'realtime',
  /** Fetched ahead of need (a workload arrived on the node). */
  Warmup: 'warmup',
  /** Refresh of a certificate that is still valid. */
  Background: 'background',
} as const;
export type FetchPriority = (typeof FetchPriority)[keyof typeof FetchPriority];

/** Highest first. */
const ORDER: readonly FetchPriority[] = [FetchPriority.RealTime, FetchPriority.Warmup, FetchPriority.Background];
const RANK: Record<FetchPriority, number> = { realtime: 0, warmup: 1, background: 2 };

/**
 * Runs at most `limit` items at once. Waiting items start highest priority first, first-come within a
 * priority. An item is in the queue at most once; submitting it again can only raise its priority.
 */
export class FetchQueue<T> {
  readonly #limit: number;
  readonly #run: (item: T) => Promise<void>;
  /** Insertion-ordered sets: FIFO within a priority, O(1) removal when an identity is forgotten. */
  readonly #waiting: Record<FetchPriority, Set<T>> = { realtime: new Set(), warmup: new Set(), background: new Set() };
  readonly #priority = new Map<T, FetchPriority>();
  readonly #running = new Set<Promise<void>>();

  /** `run` must not reject; its settling frees the slot. */
  constructor(limit: number, run: (item: T) => Promise<void>) {
    if (!(Number.isInteger(limit) && limit > 0)) throw new RangeError(`fetch concurrency must be a positive integer, got ${limit}`);
    this.#limit = limit;
    this.#run = run;
  }

  /** Queues `item` (or raises its priority if already waiting), then starts what the limit allows. */
  submit(item: T, priority: FetchPriority): void {
    const current = this.#priority.get(item);
    if (current !== undefined) {
      if (RANK[priority] >= RANK[current]) return;
      this.#waiting[current].delete(item);
    }
    this.#priority.set(item, priority);
    this.#waiting[priority].add(item);
    this.#pump();
  }

  /** Removes a waiting item; returns whether it was waiting. Running items are not affected. */
  cancel(item: T): boolean {
    const current = this.#priority.get(item);
    if (current === undefined) return false;
    this.#priority.delete(item);
    this.#waiting[current].delete(item);
    return true;
  }

  /** The priority `item` waits at, or undefined if it is not waiting. */
  priorityOf(item: T): FetchPriority | undefined {
    return this.#priority.get(item);
  }

  get running(): number {
    return this.#running.size;
  }

  get waiting(): number {
    return this.#priority.size;
  }

  /** Resolves when every running item has settled (waiting items are not started by this). */
  async drain(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  #pump(): void {
    while (this.#running.size < this.#limit) {
      const item = this.#next();
      if (item === undefined) return;
      const done: Promise<void> = this.#run(item)
        .catch(() => undefined)
        .finally(() => {
          this.#running.delete(done);
          this.#pump();
        });
      this.#running.add(done);
    }
  }

  #next(): T | undefined {
    for (const p of ORDER) {
      const set = this.#waiting[p];
      for (const item of set) {
        set.delete(item);
        this.#priority.delete(item);
        return item;
      }
    }
    return undefined;
  }
}
