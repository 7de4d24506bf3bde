/**
 * Cancellation of an upstream attempt whose `AbortSignal` is made only when something waits on it: an
 * attempt that finds an idle connection (the common case) never needs one, and an `AbortController` with
 * its `EventTarget` costs more than the rest of the attempt's bookkeeping.
 */

/** What the connection pools take: something with a signal, read only when they must wait. */
export interface Cancellation {
  readonly signal: AbortSignal;
}

export class LazyAbort implements Cancellation {
  #controller: AbortController | undefined;
  #reason: Error | undefined;

  /** Whether `abort` was called. */
  get aborted(): boolean {
    return this.#reason !== undefined;
  }

  /** The reason given to `abort`, if it was called. */
  get reason(): Error | undefined {
    return this.#reason;
  }

  /** A signal that aborts with the reason (already aborted if `abort` came first). */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#reason !== undefined) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** Aborts (once; later reasons are ignored). */
  abort(reason: Error): void {
    if (this.#reason !== undefined) return;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }
}
