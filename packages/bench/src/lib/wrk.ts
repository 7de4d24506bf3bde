/**
 * HTTP/1.1 load at a fixed concurrency with wrk (Debian's, not wrk2: it drives as fast as the path answers).
 * A Lua script makes every request a POST with a body, and prints wrk's own summary as one JSON line when
 * done, so nothing has to be read from its human-readable text.
 */
import { BenchError } from './errors.js';
import { runToExit, underLauncher } from './child.js';
import type { RunOptions } from './loadgen.js';

export interface WrkResult {
  /** Responses received. */
  readonly requests: number;
  readonly seconds: number;
  /** Bytes read from the server, heads included. */
  readonly bytes: number;
  readonly rps: number;
}

/**
 * The Lua script: `POST` with `bodyBytes` bytes, and a `done` hook printing the summary. No `response` hook:
 * defining one makes wrk hand every response to Lua, which would cost the load generator more than the path.
 */
export function wrkScript(bodyBytes: number): string {
  return [
    'wrk.method = "POST"',
    `wrk.body = string.rep("a", ${bodyBytes})`,
    'wrk.headers["Content-Type"] = "application/octet-stream"',
    'function done(summary, latency, requests)',
    '  local e = summary.errors',
    '  io.write(string.format(\'{"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\\n\',',
    '    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout))',
    'end',
    '',
  ].join('\n');
}

/**
 * Reads the script's summary line (the last JSON line of wrk's output) and checks that the path delivered:
 * no socket error, no status >= 400, no timeout, at least one response, and at least `responseBytes` read
 * per response.
 */
export function parseWrkSummary(stdout: string, responseBytes: number): WrkResult {
  const line = stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('{'))
    .at(-1);
  if (line === undefined) throw new BenchError('BENCH_ERR_CHILD', `wrk printed no summary line (is the Lua script's done hook running?): ${JSON.stringify(stdout.slice(-400))}`);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(line) as Record<string, unknown>;
  } catch (cause) {
    throw new BenchError('BENCH_ERR_CHILD', `wrk's summary line is not JSON: ${JSON.stringify(line)}`, { cause });
  }
  const n = (key: string): number => {
    const v = raw[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new BenchError('BENCH_ERR_CHILD', `wrk's summary has no count "${key}": ${line}`);
    return v;
  };
  const requests = n('requests');
  const errors = ['connect', 'read', 'write', 'status', 'timeout'].map((k) => [k, n(k)] as const).filter(([, v]) => v > 0);
  if (errors.length > 0) {
    throw new BenchError('BENCH_ERR_PATH', `wrk: ${errors.map(([k, v]) => `${v} ${k === 'status' ? 'responses with status >= 400' : `${k} errors`}`).join(', ')} in ${requests} requests`);
  }
  if (requests === 0) throw new BenchError('BENCH_ERR_PATH', 'wrk: no response at all');
  const bytes = n('bytes');
  if (bytes < requests * responseBytes) {
    throw new BenchError('BENCH_ERR_PATH', `wrk: ${bytes} bytes read for ${requests} responses, fewer than the ${responseBytes}-byte body each`);
  }
  const seconds = n('duration_us') / 1e6;
  if (!(seconds > 0)) throw new BenchError('BENCH_ERR_CHILD', `wrk's summary has no duration: ${line}`);
  return { requests, seconds, bytes, rps: requests / seconds };
}

export interface WrkRun {
  readonly wrk: string;
  readonly url: string;
  readonly connections: number;
  readonly seconds: number;
  /** The script file (`wrkScript`), written by the caller once per run. */
  readonly script: string;
  readonly responseBytes: number;
}

/** `wrk -t1 -c<connections> -d<seconds>s -s <script> <url>` under `options.launcher` (in the client pod). */
export async function runWrk(run: WrkRun, options: RunOptions): Promise<WrkResult> {
  // One thread: one core is plenty for a few tens of thousands of requests a second, and the other core
  // belongs to the path being measured.
  const args = ['-t1', `-c${run.connections}`, `-d${run.seconds}s`, '--timeout', '10s', '-s', run.script, run.url];
  const [command, argv] = underLauncher(options.launcher, run.wrk, args);
  const { exit, stdout, child } = await runToExit('wrk', command, argv, options);
  if (exit.code !== 0) throw new BenchError('BENCH_ERR_PATH', `wrk failed: ${child.describeExit()}`);
  return parseWrkSummary(stdout, run.responseBytes);
}
