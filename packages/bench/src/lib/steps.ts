/** Small steps every suite's run is made of: checking for an interruption, naming a failed workload, CPU of a set of processes. */
import { BenchError } from './errors.js';
import { readCpuSeconds } from './proc-stats.js';

/** Throws BENCH_ERR_ABORTED once SIGINT/SIGTERM aborted the run, so that no new workload starts. */
export function checkAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new BenchError('BENCH_ERR_ABORTED', 'interrupted');
}

/** Runs one workload on a path; a failure becomes BENCH_ERR_PATH naming the path and the workload. */
export async function onPath<T>(path: string, workload: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof BenchError && err.code === 'BENCH_ERR_ABORTED') throw err;
    throw new BenchError('BENCH_ERR_PATH', `${path}: ${workload} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/** CPU seconds (user + system) the processes `pids` have used so far, added up. */
export async function cpuOf(pids: readonly number[]): Promise<number> {
  let sum = 0;
  for (const pid of pids) sum += await readCpuSeconds(pid);
  return sum;
}
