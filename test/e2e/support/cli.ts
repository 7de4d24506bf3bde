/**
 * The `ambit-control-plane` command as a child process, as it is deployed: flags, its JSON log on
 * stdout, and the state directory it keeps (root CA, node tokens) across restarts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';

export const CONTROL_PLANE_MAIN = path.join(path.dirname(fileURLToPath(import.meta.resolve('@ambit/control-plane'))), 'main.js');

export interface CliRun {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[];
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first log line for which `match` holds (already logged or to come). */
  waitFor(match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  /** gRPC (xDS + CA) and admin addresses, once serving. */
  serving(): Promise<{ grpc: string; admin: string }>;
}

export function startCli(t: ExecutionContext, args: readonly string[]): CliRun {
  const child = spawn(process.execPath, [CONTROL_PLANE_MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: '' } });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines: Record<string, unknown>[] = [];
  const waiters: { match: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  let pending = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    pending += chunk;
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      const text = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        line = { raw: text };
      }
      lines.push(line);
      for (const w of waiters.filter((x) => x.match(line))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => (stderr += c));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const waitFor = (match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> => {
    const found = lines.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      waiters.push({ match, resolve });
      void exit.then(({ code, signal }) => reject(new Error(`control plane exited (${code ?? signal}) before the expected log line; stderr: ${stderr}`)));
    });
  };
  return {
    child,
    lines,
    exit,
    waitFor,
    serving: async () => {
      const line = await waitFor((l) => l['msg'] === 'control plane serving');
      return { grpc: String(line['grpc']), admin: String(line['admin']) };
    },
  };
}

/** Kills the process with `signal` and waits until it is gone. */
export async function kill(run: CliRun, signal: NodeJS.Signals): Promise<void> {
  if (run.child.exitCode !== null || run.child.signalCode !== null) return;
  run.child.kill(signal);
  await run.exit;
}

export async function nodeToken(stateDir: string, node: string): Promise<string> {
  return (await readFile(path.join(stateDir, 'node-tokens', `${node}.token`), 'utf8')).trim();
}
