import type { Timers } from '../../src/hbone/index.js';

/** Timers that only fire when the test advances the clock: keepalive and idle release without waiting. */
export class ManualTimers implements Timers {
  #now = 0;
  #seq = 0;
  readonly #pending = new Map<number, { at: number; fn: () => void }>();

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#seq;
    this.#pending.set(id, { at: this.#now + ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#pending.delete(handle as number);
  }

  now(): number {
    return this.#now;
  }

  get pending(): number {
    return this.#pending.size;
  }

  /** Moves the clock forward, firing every timer that falls due, in order (including ones they schedule). */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let nextId: number | undefined;
      let next: { at: number; fn: () => void } | undefined;
      for (const [id, timer] of this.#pending) {
        if (timer.at <= target && (!next || timer.at < next.at)) {
          nextId = id;
          next = timer;
        }
      }
      if (!next) break;
      this.#pending.delete(nextId!);
      this.#now = next.at;
      next.fn();
    }
    this.#now = target;
  }
}
