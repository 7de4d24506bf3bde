/**
 * Time as an injectable dependency. Components whose behaviour is *about* time (certificate refresh,
 * backoff, drain deadlines) take a `Clock` so that tests can drive them with `FakeClock` instead of
 * waiting, and so that their assertions never depend on how busy the machine is.
 */

/** A scheduled callback; `cancel()` is idempotent and safe after the callback ran. */
export interface Timer {
  cancel(): void;
}

export interface TimerOptions {
  /**
   * Whether this timer alone keeps the process alive (Node's default). Background work such as a
   * certificate refresh twelve hours away passes `false` so that it never holds a process open.
   */
  readonly keepAlive?: boolean;
}

export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Runs `callback` once, `delayMs` from now (negative delays run as soon as possible). */
  setTimeout(callback: () => void, delayMs: number, options?: TimerOptions): Timer;
}

/**
 * Node's timers overflow above 2^31-1 ms (~24.8 days) and then fire after 1 ms; a 90-day certificate
 * refreshed at half-life would be refreshed at once. Longer delays are therefore run as a chain of
 * timers no longer than this.
 */
const MAX_NODE_DELAY_MS = 0x7fffffff;

class RealTimer implements Timer {
  #handle: NodeJS.Timeout | undefined;
  #cancelled = false;
  readonly #callback: () => void;
  readonly #dueAt: number;
  readonly #keepAlive: boolean;

  constructor(callback: () => void, delayMs: number, keepAlive: boolean) {
    this.#callback = callback;
    this.#dueAt = Date.now() + Math.max(0, delayMs);
    this.#keepAlive = keepAlive;
    this.#arm();
  }

  #arm(): void {
    const remaining = this.#dueAt - Date.now();
    if (remaining > MAX_NODE_DELAY_MS) {
      this.#handle = setTimeout(() => this.#arm(), MAX_NODE_DELAY_MS);
    } else {
      this.#handle = setTimeout(() => {
        this.#handle = undefined;
        if (!this.#cancelled) this.#callback();
      }, Math.max(0, remaining));
    }
    if (!this.#keepAlive) this.#handle.unref();
  }

  cancel(): void {
    this.#cancelled = true;
    if (this.#handle) clearTimeout(this.#handle);
    this.#handle = undefined;
  }
}

/** The wall clock and Node's timers. */
export const realClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimeout: (callback: () => void, delayMs: number, options?: TimerOptions): Timer =>
    new RealTimer(callback, delayMs, options?.keepAlive ?? true),
});

interface FakeTimerEntry {
  readonly dueAt: number;
  /** Creation order, so that timers due at the same instant fire in the order they were set. */
  readonly seq: number;
  readonly callback: () => void;
  cancelled: boolean;
}

/**
 * A clock that only moves when told to. Timers fire in due order, each with `now()` equal to its due
 * time, so code under test sees exactly the instants it asked for.
 */
export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: FakeTimerEntry[] = [];

  /** Starts at `startMs` (default 2025-01-01T00:00:00Z, a fixed instant so that runs are reproducible). */
  constructor(startMs = Date.UTC(2025, 0, 1)) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, delayMs: number): Timer {
    const entry: FakeTimerEntry = { dueAt: this.#now + Math.max(0, delayMs), seq: this.#seq++, callback, cancelled: false };
    this.#timers.push(entry);
    return {
      cancel: () => {
        entry.cancelled = true;
        this.#timers = this.#timers.filter((e) => e !== entry);
      },
    };
  }

  /** Timers set and not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  /** Milliseconds until the earliest pending timer, or undefined when none is pending. */
  nextTimerDelay(): number | undefined {
    const next = this.#earliest();
    return next ? next.dueAt - this.#now : undefined;
  }

  /**
   * Moves time forward by `ms`, synchronously firing every timer that falls due, including timers
   * those callbacks set inside the window. Returns how many fired.
   */
  advance(ms: number): number {
    if (!(ms >= 0)) throw new RangeError(`FakeClock.advance: ms must be >= 0, got ${ms}`);
    const target = this.#now + ms;
    let fired = 0;
    for (let next = this.#earliest(); next && next.dueAt <= target; next = this.#earliest()) {
      this.#fire(next);
      fired++;
    }
    this.#now = target;
    return fired;
  }

  /**
   * Like `advance`, but lets pending promise callbacks and I/O callbacks run after each timer fires
   * (one macrotask turn), so that async work a timer starts can set the next timer before the clock
   * moves past it. Use this when the code under test awaits between timers.
   */
  async advanceAsync(ms: number): Promise<number> {
    if (!(ms >= 0)) throw new RangeError(`FakeClock.advanceAsync: ms must be >= 0, got ${ms}`);
    const target = this.#now + ms;
    let fired = 0;
    await settle();
    for (let next = this.#earliest(); next && next.dueAt <= target; next = this.#earliest()) {
      this.#fire(next);
      fired++;
      await settle();
    }
    this.#now = target;
    await settle();
    return fired;
  }

  #earliest(): FakeTimerEntry | undefined {
    let best: FakeTimerEntry | undefined;
    for (const e of this.#timers) {
      if (!best || e.dueAt < best.dueAt || (e.dueAt === best.dueAt && e.seq < best.seq)) best = e;
    }
    return best;
  }

  #fire(entry: FakeTimerEntry): void {
    this.#timers = this.#timers.filter((e) => e !== entry);
    this.#now = Math.max(this.#now, entry.dueAt);
    if (!entry.cancelled) entry.callback();
  }
}

/** One full turn of the event loop: every queued microtask and already-due immediate runs first. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
