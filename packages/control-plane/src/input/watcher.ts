/**
 * Watches the input for changes and calls back once things settle. Every event just (re)arms a short
 * debounce timer: editors save in bursts (write, rename, chmod), and the loader re-reads the whole input
 * anyway, so the event details do not matter.
 *
 * A directory is watched recursively. A single file is watched through its directory, because editors
 * that save by renaming a new file over the old one would otherwise leave us watching a deleted inode.
 */
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';

/** The timer functions the debounce uses; tests pass a fake clock. */
export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface InputWatcherOptions {
  readonly debounceMs: number;
  readonly timers?: Timers;
  /**
   * The OS watch failed (e.g. the inotify watch limit was reached); changes may go unnoticed. Without a
   * listener such an error would be thrown as an unhandled 'error' event and end the process.
   */
  readonly onError?: (error: Error) => void;
  /** `fs.watch`, replaceable so that tests can make the OS watch fail. */
  readonly watch?: typeof watch;
}

export class InputWatcher {
  readonly #inputPath: string;
  readonly #onChange: () => void;
  readonly #debounceMs: number;
  readonly #timers: Timers;
  readonly #onError: (error: Error) => void;
  readonly #watch: typeof watch;
  #watcher: FSWatcher | undefined;
  #timer: unknown;
  #closed = false;

  constructor(inputPath: string, onChange: () => void, options: InputWatcherOptions) {
    this.#inputPath = inputPath;
    this.#onChange = onChange;
    this.#debounceMs = options.debounceMs;
    this.#timers = options.timers ?? realTimers;
    this.#onError = options.onError ?? (() => {});
    this.#watch = options.watch ?? watch;
  }

  /** Starts watching; resolves once the OS watch is in place, so a change made afterwards is seen. */
  async start(): Promise<void> {
    if (this.#watcher !== undefined || this.#closed) return;
    const isDirectory = (await stat(this.#inputPath)).isDirectory();
    if (this.#closed) return;
    let watcher: FSWatcher;
    if (isDirectory) {
      watcher = this.#watch(this.#inputPath, { recursive: true }, () => this.notify());
    } else {
      const base = path.basename(this.#inputPath);
      watcher = this.#watch(path.dirname(this.#inputPath), (_event, filename) => {
        if (filename === null || filename === base) this.notify();
      });
    }
    watcher.on('error', (error) => this.#onError(error));
    this.#watcher = watcher;
  }

  /** Something changed: (re)arm the debounce. Public so a caller can force a reload through the same path. */
  notify(): void {
    if (this.#closed) return;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = this.#timers.setTimeout(() => {
      this.#timer = undefined;
      if (!this.#closed) this.#onChange();
    }, this.#debounceMs);
  }

  /** Stops watching and drops a pending callback. Idempotent. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}
