/** Bulk throughput with iperf3 (C, both ends in the pods): `-t <seconds> -J`, one TCP stream or `-P` of them. */
import { runToExit } from '../lib/child.js';
import { BenchError } from '../lib/errors.js';
import type { RunOptions } from '../lib/loadgen.js';

export interface IperfResult {
  /** Bytes the server received. */
  readonly bytes: number;
  readonly seconds: number;
}

/** Reads iperf3's JSON report: what the receiving side counted (`end.sum_received`). */
export function parseIperf(json: string): IperfResult {
  let report: unknown;
  try {
    report = JSON.parse(json);
  } catch (cause) {
    throw new BenchError('BENCH_ERR_CHILD', `iperf3 printed no JSON report: ${JSON.stringify(json.slice(0, 400))}`, { cause });
  }
  const r = report as { error?: unknown; end?: { sum_received?: { bytes?: unknown; seconds?: unknown } } };
  if (typeof r.error === 'string') throw new BenchError('BENCH_ERR_PATH', `iperf3: ${r.error}`);
  const bytes = r.end?.sum_received?.bytes;
  const seconds = r.end?.sum_received?.seconds;
  if (typeof bytes !== 'number' || typeof seconds !== 'number' || !(seconds > 0)) {
    throw new BenchError('BENCH_ERR_CHILD', `iperf3's report has no end.sum_received bytes and seconds: ${JSON.stringify(r.end ?? null).slice(0, 400)}`);
  }
  if (bytes <= 0) throw new BenchError('BENCH_ERR_PATH', 'iperf3: the server received nothing');
  return { bytes, seconds };
}

/** Runs `iperf3 -c host -p port -t seconds -P streams -J` under `options.launcher` (in the client pod). */
export async function runIperf(iperf3: string, host: string, port: number, seconds: number, options: RunOptions, streams = 1): Promise<IperfResult> {
  const [command = iperf3, ...prefix] = options.launcher ?? [];
  const args = ['-c', host, '-p', String(port), '-t', String(seconds), '-P', String(streams), '-J'];
  const { exit, stdout, child } = await runToExit('iperf3-client', command, options.launcher === undefined ? args : [...prefix, iperf3, ...args], options);
  // With -J, iperf3 reports its own failures as {"error": …} on stdout and exits 1.
  if (exit.code !== 0) {
    try {
      parseIperf(stdout);
    } catch (err) {
      if (err instanceof BenchError && err.code === 'BENCH_ERR_PATH') throw err;
    }
    throw new BenchError('BENCH_ERR_PATH', `iperf3 failed: ${child.describeExit()}`);
  }
  return parseIperf(stdout);
}
