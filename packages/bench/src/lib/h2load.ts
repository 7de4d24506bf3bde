/**
 * HTTP load with h2load (nghttp2's load generator, C): HTTP/2 with prior knowledge, or HTTP/1.1 with `--h1`;
 * a POST body from a file (`-d`); a fixed number of requests (`-n`) or a duration (`-D`); optionally a
 * fixed rate per client (`--rps`) with a per-request log (`--log-file`) from which the latency percentiles
 * are computed (h2load itself prints only min, max, mean and deviation).
 */
import { readFile } from 'node:fs/promises';
import { BenchError } from './errors.js';
import { runToExit, underLauncher } from './child.js';
import type { RunOptions } from './loadgen.js';

export interface H2loadSummary {
  readonly seconds: number;
  readonly total: number;
  readonly started: number;
  readonly done: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly errored: number;
  readonly timeout: number;
  readonly status2xx: number;
  readonly status3xx: number;
  readonly status4xx: number;
  readonly status5xx: number;
  /** Response body bytes received (h2load's `traffic: … data`). */
  readonly dataBytes: number;
}

/** Reads the `finished in`, `requests:`, `status codes:` and `traffic:` lines of h2load's report. */
export function parseH2loadSummary(stdout: string): H2loadSummary {
  const match = (re: RegExp, what: string): RegExpExecArray => {
    const m = re.exec(stdout);
    if (!m) throw new BenchError('BENCH_ERR_CHILD', `h2load's report has no ${what} line: ${JSON.stringify(stdout.slice(-600))}`);
    return m;
  };
  const finished = match(/^finished in ([\d.]+)(us|ms|s),/m, '"finished in"');
  const scale = finished[2] === 'us' ? 1e-6 : finished[2] === 'ms' ? 1e-3 : 1;
  const r = match(/^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout$/m, '"requests:"');
  const s = match(/^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx$/m, '"status codes:"');
  const t = match(/^traffic: .* \((\d+)\) data$/m, '"traffic:"');
  return {
    seconds: Number(finished[1]) * scale,
    total: Number(r[1]),
    started: Number(r[2]),
    done: Number(r[3]),
    succeeded: Number(r[4]),
    failed: Number(r[5]),
    errored: Number(r[6]),
    timeout: Number(r[7]),
    status2xx: Number(s[1]),
    status3xx: Number(s[2]),
    status4xx: Number(s[3]),
    status5xx: Number(s[4]),
    dataBytes: Number(t[1]),
  };
}

/**
 * Checks that every one of `expected` requests got a 2xx answer with at least `responseBytes` of body; for
 * a timed run (`expected` undefined) only that some did, and that bodies are short by no more than the
 * `inFlight` responses the end of the run may cut off. Throws BENCH_ERR_PATH saying what went wrong.
 */
export function checkDelivered(summary: H2loadSummary, expected: number | undefined, responseBytes: number, inFlight = 0): void {
  const problems: string[] = [];
  if (expected !== undefined && summary.succeeded !== expected) problems.push(`${summary.succeeded} of ${expected} requests succeeded`);
  if (expected === undefined && summary.succeeded === 0) problems.push('no request succeeded');
  if (expected !== undefined) {
    for (const [n, what] of [
      [summary.failed, 'failed'],
      [summary.errored, 'errored'],
      [summary.timeout, 'timed out'],
    ] as const) {
      if (n > 0) problems.push(`${n} ${what}`);
    }
  }
  const bad = summary.status3xx + summary.status4xx + summary.status5xx;
  if (bad > 0) problems.push(`status codes: ${summary.status3xx} 3xx, ${summary.status4xx} 4xx, ${summary.status5xx} 5xx`);
  const complete = expected === undefined ? Math.max(0, summary.status2xx - inFlight) : summary.status2xx;
  if (summary.dataBytes < complete * responseBytes) {
    problems.push(`${summary.dataBytes} body bytes for ${summary.status2xx} responses, fewer than ${responseBytes} each${complete < summary.status2xx ? ` (${inFlight} may be cut off)` : ''}`);
  }
  if (problems.length > 0) throw new BenchError('BENCH_ERR_PATH', `h2load: ${problems.join('; ')}`);
}

/**
 * The latencies (µs, sorted ascending) of h2load's `--log-file`: one line per request, tab-separated start
 * time (µs since the epoch), status code and microseconds until the end of the response. Every line must
 * be a 2xx.
 */
export function parseH2loadLog(text: string): number[] {
  const latencies: number[] = [];
  let lineNo = 0;
  for (const line of text.split('\n')) {
    lineNo++;
    if (line === '') continue;
    const fields = line.split('\t');
    const status = Number(fields[1]);
    const us = Number(fields[2]);
    if (fields.length !== 3 || !Number.isSafeInteger(status) || !Number.isFinite(us) || us < 0) {
      throw new BenchError('BENCH_ERR_CHILD', `h2load's log line ${lineNo} is not "start<TAB>status<TAB>microseconds": ${JSON.stringify(line)}`);
    }
    if (status < 200 || status > 299) throw new BenchError('BENCH_ERR_PATH', `h2load's log line ${lineNo}: status ${status}`);
    latencies.push(us);
  }
  return latencies.sort((a, b) => a - b);
}

export interface H2loadRun {
  readonly h2load: string;
  readonly url: string;
  readonly protocol: 'http1' | 'http2';
  /** Connections. */
  readonly clients: number;
  /** Concurrent streams per connection (HTTP/2; HTTP/1.1 with a body is always 1). */
  readonly streams: number;
  /** The POST body. */
  readonly bodyFile: string;
  /** Exactly this many requests (every one must succeed), or else `seconds` of them (warm-up). */
  readonly requests?: number;
  readonly seconds?: number;
  /** Requests per second per client (`--rps`): a fixed rate. */
  readonly ratePerClient?: number;
  /** Where h2load writes one line per request (`--log-file`). */
  readonly logFile?: string;
  readonly responseBytes: number;
}

/** The h2load command line for `run`. */
export function h2loadArgs(run: H2loadRun): string[] {
  if ((run.requests === undefined) === (run.seconds === undefined)) throw new BenchError('BENCH_ERR_USAGE', 'h2load: give either a request count or a duration');
  return [
    '-t1',
    `-c${run.clients}`,
    `-m${run.protocol === 'http1' ? 1 : run.streams}`,
    ...(run.protocol === 'http1' ? ['--h1'] : []),
    '-d',
    run.bodyFile,
    ...(run.requests !== undefined ? ['-n', String(run.requests)] : ['-D', String(run.seconds)]),
    ...(run.ratePerClient !== undefined ? ['--rps', String(run.ratePerClient)] : []),
    ...(run.logFile !== undefined ? ['--log-file', run.logFile] : []),
    run.url,
  ];
}

export interface H2loadResult {
  readonly summary: H2loadSummary;
  /** Requests that succeeded per second. */
  readonly rps: number;
  /** Sorted latencies (µs) from the log, when one was asked for. */
  readonly latenciesUs: number[] | undefined;
}

/** Runs h2load under `options.launcher` (in the client pod) and checks that the path delivered. */
export async function runH2load(run: H2loadRun, options: RunOptions): Promise<H2loadResult> {
  const [command, argv] = underLauncher(options.launcher, run.h2load, h2loadArgs(run));
  const { exit, stdout, child } = await runToExit('h2load', command, argv, options);
  if (exit.code !== 0) throw new BenchError('BENCH_ERR_PATH', `h2load failed: ${child.describeExit()}`);
  const summary = parseH2loadSummary(stdout);
  checkDelivered(summary, run.requests, run.responseBytes, run.clients * (run.protocol === 'http1' ? 1 : run.streams));
  if (!(summary.seconds > 0)) throw new BenchError('BENCH_ERR_CHILD', `h2load reports a duration of ${summary.seconds} s`);
  let latenciesUs: number[] | undefined;
  if (run.logFile !== undefined) {
    latenciesUs = parseH2loadLog(await readFile(run.logFile, 'utf8'));
    if (latenciesUs.length !== summary.succeeded) {
      throw new BenchError('BENCH_ERR_CHILD', `h2load's log has ${latenciesUs.length} lines for ${summary.succeeded} requests that succeeded`);
    }
  }
  return { summary, rps: summary.succeeded / summary.seconds, latenciesUs };
}
