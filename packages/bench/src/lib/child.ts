/**
 * Child processes of a benchmark run: started, watched, and stopped by pid. Every child is registered with
 * the run's Cleanup as it starts, so none outlives the run however it ends.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { BenchError } from './errors.js';
import type { Cleanup } from './cleanup.js';

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface StartOptions {
  readonly cleanup: Cleanup;
  /** Own process group, signalled as a whole: for servers that fork a child per connection. */
  readonly group?: boolean;
  /** Open an IPC channel (for Node children that report back with `process.send`). */
  readonly ipc?: boolean;
  /** Called with each line the child writes to stdout. */
  readonly onStdoutLine?: (line: string) => void;
  /** Called with each line the child writes to stderr. */
  readonly onStderrLine?: (line: string) => void;
  readonly env?: NodeJS.ProcessEnv;
}

/** How much of a child's output to keep for error messages. */
const TAIL_CHARS = 4096;

export class Child {
  readonly name: string;
  readonly pid: number;
  readonly process: ChildProcess;
  /** Settles when the process has exited and its output is drained; never rejects. */
  readonly exited: Promise<ExitInfo>;
  readonly #group: boolean;
  #exit: ExitInfo | undefined;
  #tail = '';

  private constructor(name: string, proc: ChildProcess, group: boolean, options: StartOptions) {
    this.name = name;
    this.process = proc;
    this.pid = proc.pid!;
    this.#group = group;
    const outLines = options.onStdoutLine ? lineSplitter(options.onStdoutLine) : undefined;
    const errLines = options.onStderrLine ? lineSplitter(options.onStderrLine) : undefined;
    proc.stdout?.setEncoding('utf8');
    proc.stdout?.on('data', (chunk: string) => {
      this.#keep(chunk);
      outLines?.(chunk);
    });
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (chunk: string) => {
      this.#keep(chunk);
      errLines?.(chunk);
    });
    this.exited = new Promise((resolve) => {
      proc.once('close', (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
    });
  }

  /**
   * Starts `command` and resolves once the OS has created the process; rejects with BENCH_ERR_TOOL when the
   * program cannot be run at all (not found, not executable).
   */
  static async start(name: string, command: string, args: readonly string[], options: StartOptions): Promise<Child> {
    const stdio: StdioOptions = options.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'];
    const proc = spawn(command, args, { stdio, detached: options.group ?? false, env: options.env ?? process.env });
    await new Promise<void>((resolve, reject) => {
      proc.once('spawn', resolve);
      proc.once('error', (err) =>
        reject(new BenchError('BENCH_ERR_TOOL', `cannot run ${name} (${command}): ${err.message}`, { cause: err })),
      );
    });
    const child = new Child(name, proc, options.group ?? false, options);
    options.cleanup.trackProcess(child.pid, child.#group);
    options.cleanup.defer(() => child.stop());
    void child.exited.then(() => options.cleanup.untrackProcess(child.pid));
    return child;
  }

  /** The exit status, once the process has exited. */
  get exitInfo(): ExitInfo | undefined {
    return this.#exit;
  }

  /** The last few KiB the child wrote (stdout and stderr interleaved). */
  get outputTail(): string {
    return this.#tail.trim();
  }

  /** "name (pid N) exited with code 1: <output>", for error messages. */
  describeExit(): string {
    const exit = this.#exit;
    const how = !exit ? 'is still running' : exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
    const tail = this.outputTail;
    return `${this.name} (pid ${this.pid}) ${how}${tail ? `; its last output:\n${tail}` : ''}`;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.#exit) return;
    this.#signal('SIGTERM');
    const timer = setTimeout(() => this.#signal('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
    // A group leader's forked children may outlive it by a moment; make sure none is left.
    if (this.#group) this.#signal('SIGKILL');
  }

  #signal(signal: NodeJS.Signals): void {
    try {
      process.kill(this.#group ? -this.pid : this.pid, signal);
    } catch {
      // Already gone.
    }
  }

  #keep(chunk: string): void {
    this.#tail = (this.#tail + chunk).slice(-TAIL_CHARS);
  }
}

/** Turns a stream of text chunks into whole lines for `onLine` (a final unterminated line is dropped). */
function lineSplitter(onLine: (line: string) => void): (chunk: string) => void {
  let pending = '';
  return (chunk) => {
    pending += chunk;
    let nl = pending.indexOf('\n');
    while (nl >= 0) {
      onLine(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
      nl = pending.indexOf('\n');
    }
  };
}

/**
 * Waits for the first stdout line from which `pick` extracts a value: hand `onLine` to `Child.start` as
 * `onStdoutLine`, then await `value` (under `raceChild`, so that an early exit or a hang is reported).
 */
export class LineWaiter<T> {
  readonly value: Promise<T>;
  readonly onLine: (line: string) => void;

  constructor(pick: (line: string) => T | undefined) {
    let resolve!: (value: T) => void;
    this.value = new Promise<T>((r) => (resolve = r));
    let done = false;
    this.onLine = (line) => {
      if (done) return;
      const value = pick(line);
      if (value === undefined) return;
      done = true;
      resolve(value);
    };
  }
}

/** Runs a child to completion and returns its exit and full stdout, under a timeout and an abort signal. */
export async function runToExit(
  name: string,
  command: string,
  args: readonly string[],
  options: { cleanup: Cleanup; timeoutMs: number; signal?: AbortSignal | undefined },
): Promise<{ exit: ExitInfo; stdout: string; child: Child }> {
  const lines: string[] = [];
  const child = await Child.start(name, command, args, { cleanup: options.cleanup, onStdoutLine: (l) => lines.push(l) });
  try {
    const exit = await raceChild(child, options.timeoutMs, options.signal, `${name} did not finish`, () => child.exited);
    return { exit, stdout: lines.join('\n'), child };
  } catch (err) {
    await child.stop();
    throw err;
  }
}

/**
 * Runs `work` while watching `child`: rejects with the child's exit and output if it exits before `work`
 * settles, with a timeout error after `timeoutMs`, or with BENCH_ERR_ABORTED when `signal` aborts.
 */
export async function raceChild<T>(
  child: Child,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  timeoutReason: string,
  work: () => Promise<T>,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const guards = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new BenchError('BENCH_ERR_CHILD', `${timeoutReason} within ${timeoutMs} ms; ${child.describeExit()}`)),
      timeoutMs,
    );
    void child.exited.then(() =>
      // Give `work` a turn to settle first: a child that printed its answer and exited is a success.
      setImmediate(() => reject(new BenchError('BENCH_ERR_CHILD', `${timeoutReason}: ${child.describeExit()}`))),
    );
    if (signal) {
      onAbort = () => reject(new BenchError('BENCH_ERR_ABORTED', 'interrupted'));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  try {
    return await Promise.race([work(), guards]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

/** The command and arguments that run `program args` under `launcher` (e.g. `ip netns exec <ns>`), or directly without one. */
export function underLauncher(launcher: readonly string[] | undefined, program: string, args: readonly string[]): [string, string[]] {
  if (launcher === undefined || launcher.length === 0) return [program, [...args]];
  const [command, ...prefix] = launcher;
  return [command!, [...prefix, program, ...args]];
}
