/**
 * The undo list of a benchmark run. Whatever a suite starts (child processes, temp dirs) registers how to
 * undo it here, so that a normal end, an error and SIGINT all leave nothing behind.
 */
export type CleanupTask = () => Promise<void> | void;

export class Cleanup {
  readonly #tasks: CleanupTask[] = [];
  /** Processes still running, for the synchronous last resort in `killRemainingSync`. */
  readonly #live = new Map<number, { group: boolean }>();
  #ran: Promise<Error[]> | undefined;

  /** Registers an undo step; steps run in reverse order of registration. */
  defer(task: CleanupTask): void {
    if (this.#ran) {
      // Registered after the run was torn down (a late start racing an abort): undo it straight away.
      void Promise.resolve().then(task).catch(() => undefined);
      return;
    }
    this.#tasks.push(task);
  }

  /**
   * Tracks a child process so that `killRemainingSync` can reach it even when the asynchronous steps never
   * got to run. `group` means the pid leads its own process group and the whole group is signalled.
   */
  trackProcess(pid: number, group: boolean): void {
    this.#live.set(pid, { group });
  }

  untrackProcess(pid: number): void {
    this.#live.delete(pid);
  }

  /** Runs every step once (later calls get the same result); returns the errors the steps threw. */
  run(): Promise<Error[]> {
    this.#ran ??= this.#runAll();
    return this.#ran;
  }

  async #runAll(): Promise<Error[]> {
    const errors: Error[] = [];
    for (let task = this.#tasks.pop(); task; task = this.#tasks.pop()) {
      try {
        await task();
      } catch (err) {
        errors.push(err instanceof Error ? err : new Error(String(err)));
      }
    }
    return errors;
  }

  /** SIGKILLs every tracked process that is still alive: for `process.on('exit')`, where nothing can wait. */
  killRemainingSync(): void {
    for (const [pid, { group }] of this.#live) {
      try {
        process.kill(group ? -pid : pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    this.#live.clear();
  }
}
