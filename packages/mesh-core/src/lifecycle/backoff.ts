/**
 * Exponential backoff for retrying a failing operation: `initialMs`, then doubling, capped at `maxMs`.
 *
 * Jitter is subtracted (each delay is drawn from [base·(1−jitter), base]) rather than added, so the
 * cap is a true upper bound, while many clients that failed together (a CA restart) still spread out
 * instead of retrying in lock-step.
 */

export interface BackoffOptions {
  /** First delay. */
  readonly initialMs: number;
  /** Largest delay. */
  readonly maxMs: number;
  /** Growth factor per failure (default 2). */
  readonly multiplier?: number;
  /** Fraction of each delay that may be taken off at random, in [0, 1) (default 0.2). */
  readonly jitter?: number;
  /** Source of randomness in [0, 1) (default Math.random); tests pass a fixed one. */
  readonly random?: () => number;
}

export class ExponentialBackoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #multiplier: number;
  readonly #jitter: number;
  readonly #random: () => number;
  #base: number;
  #attempts = 0;

  constructor(options: BackoffOptions) {
    const { initialMs, maxMs, multiplier = 2, jitter = 0.2, random = Math.random } = options;
    if (!(initialMs > 0)) throw new RangeError(`backoff initialMs must be > 0, got ${initialMs}`);
    if (!(maxMs >= initialMs)) throw new RangeError(`backoff maxMs must be >= initialMs (${initialMs}), got ${maxMs}`);
    if (!(multiplier >= 1)) throw new RangeError(`backoff multiplier must be >= 1, got ${multiplier}`);
    if (!(jitter >= 0 && jitter < 1)) throw new RangeError(`backoff jitter must be in [0, 1), got ${jitter}`);
    this.#initialMs = initialMs;
    this.#maxMs = maxMs;
    this.#multiplier = multiplier;
    this.#jitter = jitter;
    this.#random = random;
    this.#base = initialMs;
  }

  /** The delay before the next attempt; each call counts one more failure. */
  next(): number {
    const base = this.#base;
    this.#base = Math.min(this.#maxMs, base * this.#multiplier);
    this.#attempts++;
    return Math.round(base * (1 - this.#jitter * this.#random()));
  }

  /** After a success: the next failure starts again from `initialMs`. */
  reset(): void {
    this.#base = this.#initialMs;
    this.#attempts = 0;
  }

  /** Failures counted since the last reset. */
  get attempts(): number {
    return this.#attempts;
  }
}
