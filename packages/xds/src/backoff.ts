/**
 * Reconnect delays: exponential with full jitter (AWS architecture blog's "full jitter": a uniform draw
 * between 0 and the capped exponential), so that many clients restarted together spread their retries
 * instead of hammering the control plane in waves. ztunnel uses 10 ms → 15 s.
 */

/** Timers the client schedules through, injectable so that tests can drive time by hand. */
export interface Clock {
  /** Milliseconds on a monotonic scale. */
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The process clock: `performance.now()` and the global timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface BackoffOptions {
  /** Cap of the first delay, in ms (default 10). */
  readonly initialMs?: number;
  /** Largest cap any delay can reach, in ms (default 15 000). */
  readonly maxMs?: number;
  /** Growth of the cap per failed attempt (default 2). */
  readonly multiplier?: number;
  /** Uniform draw in [0, 1); injectable so that tests get deterministic delays (default Math.random). */
  readonly random?: () => number;
}

export const DEFAULT_BACKOFF = { initialMs: 10, maxMs: 15_000, multiplier: 2 } as const;

/** Exponential backoff with full jitter. It only computes delays; the caller schedules them. */
export class Backoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #multiplier: number;
  readonly #random: () => number;
  #cap: number;

  constructor(options: BackoffOptions = {}) {
    this.#initialMs = options.initialMs ?? DEFAULT_BACKOFF.initialMs;
    this.#maxMs = options.maxMs ?? DEFAULT_BACKOFF.maxMs;
    this.#multiplier = options.multiplier ?? DEFAULT_BACKOFF.multiplier;
    this.#random = options.random ?? Math.random;
    if (!(this.#initialMs > 0) || !(this.#maxMs >= this.#initialMs) || !(this.#multiplier >= 1)) {
      throw new RangeError(
        `invalid backoff: need 0 < initialMs <= maxMs and multiplier >= 1, got ${this.#initialMs}, ${this.#maxMs}, ${this.#multiplier}`,
      );
    }
    this.#cap = this.#initialMs;
  }

  /** The current cap: the largest delay the next call to `next()` can return. */
  get cap(): number {
    return this.#cap;
  }

  /** The next delay in ms (a uniform draw in [0, cap)), then grows the cap. */
  next(): number {
    const delay = Math.floor(this.#random() * this.#cap);
    this.#cap = Math.min(this.#maxMs, this.#cap * this.#multiplier);
    return delay;
  }

  /** Back to the initial cap, after a healthy stream. */
  reset(): void {
    this.#cap = this.#initialMs;
  }
}
