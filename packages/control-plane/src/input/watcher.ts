/**
 * Watches the input for changes and calls back once things settle. Every event just (re)arms a short
 * debounce timer: editors save in bursts (write, rename, chmod), and the loader re-reads the input anyway,
 * so the event details do not matter.
 *
 * A directory is watched one directory at a time (a non-recursive OS watch on each, skipping the same
 * dot-named entries the loader skips), not with `fs.watch(…, { recursive: true })`: on Linux, Node 20's
 * recursive watch is emulated with per-file watches that lose events when a file is replaced by a rename
 * (measured: one save in four went unnoticed). A directory watch reports every entry created, changed,
 * renamed over or removed in it. The set of watched directories is brought up to date whenever the
 * debounce fires; when that finds new directories, another round is scheduled, so that a file written into
 * a new directory before its watch existed is still read.
 *
 * A single file is watched through its directory, because editors that save by renaming a new file over
 * the old one would otherwise leave us watching a deleted inode.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
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
  /** Watched directory → its OS watch. */
  readonly #watchers = new Map<string, FSWatcher>();
  #isDirectory = false;
  #started = false;
  #timer: unknown;
  #closed = false;
  /** A directory rescan in progress; rescans run one at a time. */
  #rescan: Promise<void> | undefined;

  constructor(inputPath: string, onChange: () => void, options: InputWatcherOptions) {
    this.#inputPath = inputPath;
    this.#onChange = onChange;
    this.#debounceMs = options.debounceMs;
    this.#timers = options.timers ?? realTimers;
    this.#onError = options.onError ?? (() => {});
    this.#watch = options.watch ?? watch;
  }

  /** Directories being watched, sorted (for tests and diagnostics). */
  get watchedDirectories(): string[] {
    return [...this.#watchers.keys()].sort();
  }

  /** Starts watching; resolves once the OS watches are in place, so a change made afterwards is seen. */
  async start(): Promise<void> {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#isDirectory = (await stat(this.#inputPath)).isDirectory();
    if (this.#closed) return;
    if (this.#isDirectory) {
      await this.#syncDirectories();
    } else {
      const base = path.basename(this.#inputPath);
      this.#add(path.dirname(this.#inputPath), (filename) => filename === null || filename === base);
    }
  }

  /** Something changed: (re)arm the debounce. Public so a caller can force a reload through the same path. */
  notify(): void {
    if (this.#closed) return;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = this.#timers.setTimeout(() => {
      this.#timer = undefined;
      if (this.#closed) return;
      this.#onChange();
      if (this.#isDirectory) this.#scheduleRescan();
    }, this.#debounceMs);
  }

  /** Stops watching and drops a pending callback. Idempotent. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
  }

  #add(dir: string, relevant: (filename: string | null) => boolean = () => true): void {
    const watcher = this.#watch(dir, (_event, filename) => {
      if (relevant(filename)) this.notify();
    });
    watcher.on('error', (error) => this.#onError(error));
    this.#watchers.set(dir, watcher);
  }

  #scheduleRescan(): void {
    if (this.#rescan !== undefined) return;
    this.#rescan = this.#syncDirectories()
      .then((added) => {
        // A file may have been written into a new directory before its watch existed: read again.
        if (added > 0) this.notify();
      })
      .catch((error: unknown) => this.#onError(error instanceof Error ? error : new Error(String(error))))
      .finally(() => (this.#rescan = undefined));
  }

  /** Watches every directory of the tree and stops watching those that are gone; returns how many were added. */
  async #syncDirectories(): Promise<number> {
    const present = new Set<string>();
    await listDirectories(this.#inputPath, present);
    if (this.#closed) return 0;
    let added = 0;
    for (const dir of present) {
      if (this.#watchers.has(dir)) continue;
      try {
        this.#add(dir);
        added++;
      } catch (error) {
        // Removed between the listing and the watch (ENOENT) is harmless; anything else is reported.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.#onError(error as Error);
      }
    }
    for (const [dir, watcher] of this.#watchers) {
      if (present.has(dir)) continue;
      watcher.close();
      this.#watchers.delete(dir);
    }
    return added;
  }
}

/** `dir` and every directory below it, skipping dot-named ones (as the loader does) and symlinks. */
async function listDirectories(dir: string, out: Set<string>): Promise<void> {
  out.add(dir);
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    // The root itself must exist (the caller checked); a subdirectory may vanish while we look.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && out.size > 1) return;
    throw error;
  }
  for (const entry of entries) {
    if (entry.isDirectory() && !entry.name.startsWith('.')) await listDirectories(path.join(dir, entry.name), out);
  }
}
