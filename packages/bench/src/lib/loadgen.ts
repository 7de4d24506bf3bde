/**
 * The C load generator and backend (`native/loadgen.c`): built with the system C compiler at bench time,
 * then run as separate processes so that no load is generated or consumed on Node.
 */
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { BenchError } from './errors.js';
import { Child, LineWaiter, raceChild, runToExit } from './child.js';
import type { Cleanup } from './cleanup.js';
import type { Address } from './address.js';

export type { Address };

/** The bench package's root (this file is `dist/src/lib/loadgen.js` once compiled). */
export const PACKAGE_ROOT = path.resolve(import.meta.dirname, '../../..');
const SOURCE = path.join(PACKAGE_ROOT, 'native', 'loadgen.c');
/** Git-ignored (`build/` in .gitignore). */
const BUILD_DIR = path.join(PACKAGE_ROOT, 'build');

export interface BulkResult {
  readonly bytes: number;
  readonly seconds: number;
}

export interface PingPongResult {
  readonly roundTrips: number;
  readonly bytes: number;
  readonly seconds: number;
  readonly p50Us: number;
  readonly p90Us: number;
  readonly p99Us: number;
  readonly maxUs: number;
  readonly meanUs: number;
}

export interface RunOptions {
  readonly cleanup: Cleanup;
  readonly signal?: AbortSignal | undefined;
  readonly timeoutMs: number;
  /** A command the client runs under, e.g. `['ip', 'netns', 'exec', '<ns>']` to run it in a pod. */
  readonly launcher?: readonly string[];
}

/**
 * Compiles the load generator with `cc -O2` and returns the binary's path. The binary is written under a
 * temporary name and renamed into place, so concurrent runs never execute a half-written file.
 */
export async function buildLoadgen(cleanup: Cleanup, compiler = process.env['CC'] ?? 'cc'): Promise<string> {
  await mkdir(BUILD_DIR, { recursive: true });
  const out = path.join(BUILD_DIR, 'loadgen');
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    const { exit, child } = await runToExit('cc', compiler, ['-O2', '-Wall', '-Wextra', '-o', tmp, SOURCE], {
      cleanup,
      timeoutMs: 60_000,
    });
    if (exit.code !== 0) throw new BenchError('BENCH_ERR_TOOL', `compiling ${SOURCE} failed: ${child.describeExit()}`);
    await rename(tmp, out);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return out;
}

/** The backend: sink for bulk transfers and echo for ping-pong, chosen by each connection's header. */
export class Backend {
  readonly address: Address;
  readonly #child: Child;

  private constructor(child: Child, address: Address) {
    this.#child = child;
    this.address = address;
  }

  static async start(loadgen: string, host: string, options: RunOptions): Promise<Backend> {
    const waiter = new LineWaiter(parseListening);
    // Its own process group: it forks a child per connection, and stopping it must stop them too.
    const child = await Child.start('backend', loadgen, ['backend-server', host, '0'], {
      cleanup: options.cleanup,
      group: true,
      onStdoutLine: waiter.onLine,
    });
    const port = await raceChild(child, options.timeoutMs, options.signal, 'backend did not report its port', () => waiter.value);
    return new Backend(child, { host, port });
  }

  get pid(): number {
    return this.#child.pid;
  }

  stop(): Promise<void> {
    return this.#child.stop();
  }
}

function parseListening(line: string): number | undefined {
  const m = /^\{"listening":(\d+)\}$/.exec(line.trim());
  return m ? Number(m[1]) : undefined;
}

/** Sends `bytes` one way through `to` to the backend's sink; rejects unless every byte was acknowledged. */
export async function runBulk(loadgen: string, to: Address, bytes: number, options: RunOptions): Promise<BulkResult> {
  const out = await runClient('bulk-client', loadgen, ['bulk-client', to.host, String(to.port), String(bytes)], options);
  const sent = numberField(out, 'bytes');
  const acked = numberField(out, 'acked');
  if (sent !== bytes || acked !== bytes) {
    throw new BenchError('BENCH_ERR_PATH', `bulk: asked for ${bytes} bytes, sent ${sent}, the backend acknowledged ${acked}`);
  }
  return { bytes: acked, seconds: numberField(out, 'seconds') };
}

/** `roundTrips` measured echoes of `size` bytes through `to`, after `warmup` unmeasured ones. */
export async function runPingPong(
  loadgen: string,
  to: Address,
  roundTrips: number,
  size: number,
  warmup: number,
  options: RunOptions,
): Promise<PingPongResult> {
  const args = ['pingpong-client', to.host, String(to.port), String(roundTrips), String(size), String(warmup)];
  const out = await runClient('pingpong-client', loadgen, args, options);
  const done = numberField(out, 'round_trips');
  if (done !== roundTrips) throw new BenchError('BENCH_ERR_PATH', `ping-pong: asked for ${roundTrips} round trips, did ${done}`);
  return {
    roundTrips: done,
    bytes: numberField(out, 'bytes'),
    seconds: numberField(out, 'seconds'),
    p50Us: numberField(out, 'p50_us'),
    p90Us: numberField(out, 'p90_us'),
    p99Us: numberField(out, 'p99_us'),
    maxUs: numberField(out, 'max_us'),
    meanUs: numberField(out, 'mean_us'),
  };
}

async function runClient(name: string, loadgen: string, args: readonly string[], options: RunOptions): Promise<Record<string, unknown>> {
  const [command = loadgen, ...prefix] = options.launcher ?? [];
  const argv = options.launcher === undefined || options.launcher.length === 0 ? args : [...prefix, loadgen, ...args];
  const { exit, stdout, child } = await runToExit(name, command, argv, options);
  if (exit.code !== 0) throw new BenchError('BENCH_ERR_PATH', `${name} failed: ${child.describeExit()}`);
  try {
    return JSON.parse(stdout) as Record<string, unknown>;
  } catch (cause) {
    throw new BenchError('BENCH_ERR_CHILD', `${name} printed something other than one JSON line: ${JSON.stringify(stdout)}`, { cause });
  }
}

function numberField(out: Record<string, unknown>, key: string): number {
  const v = out[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new BenchError('BENCH_ERR_CHILD', `load generator output has no number "${key}": ${JSON.stringify(out)}`);
  }
  return v;
}
