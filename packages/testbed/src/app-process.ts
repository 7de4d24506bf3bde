/** A process that reports JSON-line events on stdout (src/apps/echo.ts, test fixtures), read in order. */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { TestbedError } from './errors.js';

export type AppEvent = Readonly<Record<string, unknown>> & { readonly event: string };

/** Guards against hangs; healthy exchanges take milliseconds. Not a timed assertion. */
const DEFAULT_WAIT_MS = 15_000;

export class AppProcess {
  readonly child: ChildProcess;
  readonly #label: string;
  readonly #queue: AppEvent[] = [];
  readonly #waiters: { resolve(e: AppEvent): void; reject(err: Error): void }[] = [];
  #stderr = '';
  #ended = false;

  constructor(child: ChildProcess, label: string) {
    this.child = child;
    this.#label = label;
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (this.#stderr = (this.#stderr + d).slice(-4000)));
    if (!child.stdout) throw new TestbedError('TESTBED_ERR_APP', `${label}: spawned without a stdout pipe`);
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => this.#push(line));
    lines.on('close', () => {
      this.#ended = true;
      for (const waiter of this.#waiters.splice(0)) waiter.reject(this.#endedError());
    });
  }

  /** The next event, in order; rejects if the process ends first or says nothing for `waitMs`. */
  next(waitMs = DEFAULT_WAIT_MS): Promise<AppEvent> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#ended) return Promise.reject(this.#endedError());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new TestbedError('TESTBED_ERR_APP', `${this.#label}: no event in ${waitMs} ms; stderr: ${this.#stderr.trim()}`));
      }, waitMs);
      const waiter = {
        resolve: (e: AppEvent) => {
          clearTimeout(timer);
          resolve(e);
        },
        reject: (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.#waiters.push(waiter);
    });
  }

  /** Skips events until one named `event`; an `error` event rejects with its code and message. */
  async waitFor(event: string, waitMs = DEFAULT_WAIT_MS): Promise<AppEvent> {
    for (;;) {
      const next = await this.next(waitMs);
      if (next.event === event) return next;
      if (next.event === 'error') {
        throw new AppError(`${this.#label}: ${String(next['message'])}`, typeof next['code'] === 'string' ? next['code'] : undefined);
      }
    }
  }

  #push(line: string): void {
    let event: AppEvent;
    try {
      event = JSON.parse(line) as AppEvent;
    } catch {
      event = { event: 'output', line };
    }
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve(event);
    else this.#queue.push(event);
  }

  #endedError(): TestbedError {
    return new TestbedError('TESTBED_ERR_APP', `${this.#label}: exited before the event; stderr: ${this.#stderr.trim()}`);
  }
}

/** An app's own failure (connection refused, timeout…): `errno` is the code it reported, e.g. ECONNREFUSED. */
export class AppError extends TestbedError {
  readonly errno: string | undefined;

  constructor(reason: string, errno: string | undefined) {
    super('TESTBED_ERR_APP', reason);
    this.errno = errno;
  }
}
