/**
 * Runs `nft` and `ip`. Failures become CaptureErrors whose message names the command line and carries what
 * it printed, so that a rejected rule can be diagnosed from the log line alone.
 */
import { execFileSync, spawn } from 'node:child_process';
import { CaptureError } from './errors.js';

export interface CommandOptions {
  /** Written to stdin (the script of `nft -f -`). */
  readonly input?: string;
  /** Kill the command after this long: a guard against a wedged netlink socket, never reached when healthy. */
  readonly timeoutMs: number;
}

/** Runs `argv` to completion and resolves with its stdout; rejects with CAPTURE_ERR_COMMAND. */
export function runCommand(argv: readonly string[], options: CommandOptions): Promise<string> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) return Promise.reject(new CaptureError('CAPTURE_ERR_COMMAND', 'empty command line'));
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: options.timeoutMs, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => reject(commandError(argv, `could not run ${cmd}: ${err.message}`, '', options.input, err)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve(stdout);
      else if (signal === 'SIGKILL') reject(commandError(argv, `timed out after ${options.timeoutMs} ms`, stderr, options.input));
      else reject(commandError(argv, signal ? `killed by ${signal}` : `exited ${String(code)}`, stderr, options.input));
    });
    // A command that exits without reading its input fails by its exit code, not by EPIPE.
    child.stdin.on('error', () => undefined).end(options.input);
  });
}

/** The synchronous twin of runCommand, for destroy() (which may run in a process 'exit' handler). */
export function runCommandSync(argv: readonly string[], options: CommandOptions): string {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new CaptureError('CAPTURE_ERR_COMMAND', 'empty command line');
  try {
    return execFileSync(cmd, args, {
      encoding: 'utf8',
      input: options.input ?? '',
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: options.timeoutMs,
      killSignal: 'SIGKILL',
    });
  } catch (err) {
    const { stderr, status, signal, code } = err as { stderr?: unknown; status?: unknown; signal?: unknown; code?: unknown };
    const text = typeof stderr === 'string' ? stderr : '';
    let what: string;
    if (typeof code === 'string' && code !== 'ETIMEDOUT') what = `could not run ${cmd}: ${(err as Error).message}`;
    else if (signal === 'SIGKILL') what = `timed out after ${options.timeoutMs} ms`;
    else what = `exited ${String(status)}`;
    throw commandError(argv, what, text, options.input, err);
  }
}

function commandError(argv: readonly string[], what: string, stderr: string, input: string | undefined, cause?: unknown): CaptureError {
  const printed = stderr.trim();
  const reason = `${argv.join(' ')} failed: ${what}${printed ? `: ${printed}` : ''}`;
  return new CaptureError('CAPTURE_ERR_COMMAND', reason, {
    command: argv,
    stderr,
    ...(input === undefined ? {} : { input }),
    ...(cause === undefined ? {} : { cause }),
  });
}
