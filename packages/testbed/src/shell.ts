/** Running the system tools (`ip`, `nft`, `sysctl`) with errors that show the command and what it printed. */
import { execFileSync, spawn } from 'node:child_process';
import { TestbedError } from './errors.js';

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Written to the command's stdin. */
  readonly input?: string;
  /** Kill the command after this long (default 30 s): a guard against hangs, never reached when healthy. */
  readonly timeoutMs?: number;
}

/** Runs `cmd args…`; rejects with TESTBED_ERR_COMMAND on a non-zero exit, a signal or a timeout. */
export function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 30_000,
      killSignal: 'SIGKILL',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => reject(commandError(cmd, args, `could not start: ${err.message}`, err)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve({ stdout, stderr });
      else reject(commandError(cmd, args, signal ? `killed by ${signal}` : `exited ${String(code)}: ${stderr.trim()}`));
    });
    // A command that exits without reading its input fails by its exit code, not by EPIPE.
    child.stdin.on('error', () => undefined).end(options.input);
  });
}

/** The synchronous twin of `run`, for process 'exit' handlers where nothing asynchronous runs any more. */
export function runSync(cmd: string, args: readonly string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  } catch (err) {
    const output = (err as { stderr?: unknown }).stderr;
    const stderr = typeof output === 'string' ? output.trim() : '';
    throw commandError(cmd, args, stderr || (err as Error).message, err);
  }
}

function commandError(cmd: string, args: readonly string[], what: string, cause?: unknown): TestbedError {
  return new TestbedError('TESTBED_ERR_COMMAND', `${[cmd, ...args].join(' ')}: ${what}`, { cause });
}
