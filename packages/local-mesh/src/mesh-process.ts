/**
 * One long-running process of the mesh (the control plane, a ztunnel, whatever an extension starts) and the
 * JSON lines it logs on stdout: kept in order, searchable, awaitable. Lines that are not JSON are kept as
 * `{ msg: line }`; stderr keeps its last few KiB for error messages.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { LocalMeshError } from './errors.js';
import { DEFAULT_WAIT_MS } from './wait.js';

export type LogRecord = Readonly<Record<string, unknown>>;

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** How much of stderr to keep for error messages. */
const STDERR_TAIL = 4000;
/** How long stop() waits after SIGTERM before SIGKILL. */
const DEFAULT_STOP_GRACE_MS = 10_000;

export class MeshProcess {
  /** The name it is registered under, e.g. `ztunnel-node-a`. */
  readonly name: string;
  /** The pod or node whose network namespace it runs in. */
  readonly target: string;
  readonly child: ChildProcess;
  readonly logs: LogRecord[] = [];
  /** Settles when the process has exited; never rejects. */
  readonly exited: Promise<ExitStatus>;
  readonly #waiters = new Set<() => void>();
  #stderr = '';
  #exit: ExitStatus | undefined;

  /** Wraps a child spawned with piped stdout and stderr. */
  constructor(name: string, target: string, child: ChildProcess) {
    if (!child.stdout || !child.stderr) throw new LocalMeshError('LOCAL_MESH_ERR_START', `${name}: spawned without piped stdout and stderr`);
    this.name = name;
    this.target = target;
    this.child = child;
    // 'close', not 'exit': every line it wrote has been read by then, so a wait never misses its last words.
    this.exited = once(child, 'close').then(([code, signal]) => {
      this.#exit = { code: code as number | null, signal: signal as NodeJS.Signals | null };
      this.#wake();
      return this.#exit;
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      this.logs.push(parseLine(line));
      this.#wake();
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (this.#stderr = (this.#stderr + d).slice(-STDERR_TAIL)));
  }

  /** The pid (that of the program itself: `ip netns exec` execs it). */
  get pid(): number {
    const pid = this.child.pid;
    if (pid === undefined) throw new LocalMeshError('LOCAL_MESH_ERR_START', `${this.name}: the process was never created`);
    return pid;
  }

  /** True until the process has exited. */
  get running(): boolean {
    return this.#exit === undefined;
  }

  /** The exit status, once it exited. */
  get exitStatus(): ExitStatus | undefined {
    return this.#exit;
  }

  /** The last few KiB of stderr. */
  get stderr(): string {
    return this.#stderr;
  }

  /** Access-log records (component `access`), in order. */
  access(): LogRecord[] {
    return this.logs.filter((r) => r['component'] === 'access');
  }

  /**
   * Resolves with the first record (already logged or later) that matches. Rejects with
   * LOCAL_MESH_ERR_WAIT after `waitMs`, or LOCAL_MESH_ERR_START if the process exits without logging it.
   */
  async waitForLog(match: (r: LogRecord) => boolean, what: string, waitMs = DEFAULT_WAIT_MS): Promise<LogRecord> {
    const found = this.logs.find(match);
    if (found !== undefined) return found;
    return await new Promise((resolve, reject) => {
      const finish = (err: Error | undefined, record?: LogRecord): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        if (err) reject(err);
        else resolve(record!);
      };
      const timer = setTimeout(() => finish(new LocalMeshError('LOCAL_MESH_ERR_WAIT', `${this.name}: no log line for ${what} in ${waitMs} ms; ${this.describe()}`)), waitMs);
      let seen = 0;
      const check = (): void => {
        for (; seen < this.logs.length; seen++) {
          const record = this.logs[seen]!;
          if (match(record)) return finish(undefined, record);
        }
        if (!this.running) finish(new LocalMeshError('LOCAL_MESH_ERR_START', `${this.name}: exited without a log line for ${what}; ${this.describe()}`));
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** Signals the process (SIGTERM by default); SIGKILL after `graceMs`; resolves with its exit status. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = DEFAULT_STOP_GRACE_MS): Promise<ExitStatus> {
    if (!this.running) return await this.exited;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL; resolves with its exit status. */
  async kill(): Promise<ExitStatus> {
    if (this.running) this.child.kill('SIGKILL');
    return await this.exited;
  }

  /** "name in target: running|exited …; stderr: …; last lines: …", for error messages. */
  describe(): string {
    const exit = this.#exit;
    const state = exit === undefined ? 'running' : exit.signal !== null ? `killed by ${exit.signal}` : `exited with code ${String(exit.code)}`;
    return `${this.name} in ${this.target} ${state}; stderr: ${this.#stderr.trim() || '-'}; last lines: ${JSON.stringify(this.logs.slice(-5))}`;
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}

function parseLine(line: string): LogRecord {
  try {
    const value: unknown = JSON.parse(line);
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as LogRecord;
  } catch {
    // Not JSON: kept as text below.
  }
  return { msg: line };
}
