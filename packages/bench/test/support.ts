/** Shared helpers for the bench package's tests: run the CLI, and find processes it left behind. */
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export const MAIN = path.resolve(import.meta.dirname, '..', 'src', 'main.js');

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliSandbox {
  /** Private TMPDIR for the run (the harness's temp dirs go here). */
  readonly tmp: string;
  /** Marks every process the run starts (inherited environment), so leftovers can be found. */
  readonly marker: string;
  readonly env: NodeJS.ProcessEnv;
  dispose(): Promise<void>;
}

export async function sandbox(): Promise<CliSandbox> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'bench-test-'));
  const marker = randomUUID();
  return {
    tmp,
    marker,
    env: { ...process.env, TMPDIR: tmp, AMBIT_BENCH_TEST_MARK: marker },
    dispose: async () => {
      for (const pid of await processesWithMarker(marker)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone meanwhile.
        }
      }
      await rm(tmp, { recursive: true, force: true });
    },
  };
}

/**
 * Runs `node main.js ...args`. `onStderr` sees stderr as it arrives and may return true to have SIGINT
 * sent to the harness (once).
 */
export function runCli(args: readonly string[], env: NodeJS.ProcessEnv, onStderr?: (text: string) => boolean): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let interrupted = false;
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
      if (!interrupted && onStderr?.(stderr)) {
        interrupted = true;
        child.kill('SIGINT');
      }
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Pids of live processes whose environment holds `AMBIT_BENCH_TEST_MARK=<marker>`. */
export async function processesWithMarker(marker: string): Promise<number[]> {
  const needle = `AMBIT_BENCH_TEST_MARK=${marker}`;
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let environ: string;
    try {
      environ = await readFile(`/proc/${entry}/environ`, 'utf8');
    } catch {
      continue; // exited, or not ours to read
    }
    // Zombies have an empty environ and hold nothing; only live processes count.
    if (environ.split('\0').includes(needle)) found.push(Number(entry));
  }
  return found;
}

/** Polls until no process carries `marker` (SIGKILLed processes take a moment to vanish); returns the rest. */
export async function leftoverProcesses(marker: string, waitMs = 3000): Promise<number[]> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const pids = await processesWithMarker(marker);
    if (pids.length === 0 || Date.now() > deadline) return pids;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The run name a mesh suite logs (`mesh run <name> up`). */
export function meshRunName(stderr: string): string {
  const m = /mesh run (\S+) up/.exec(stderr);
  if (!m) throw new Error(`no mesh run name in:\n${stderr}`);
  return m[1]!;
}

/** The network namespaces of mesh run `run` that still exist. */
export function meshNamespaces(run: string): string[] {
  // Namespaces removed while `ip` lists them make it complain on stderr; only the list matters.
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((ns) => ns.startsWith(`ambit-${run}-`));
}
