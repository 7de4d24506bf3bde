/**
 * `pnpm bench hbone`: the same workloads over every path in one run, so that ratios compare figures taken
 * under the same machine noise.
 *
 * Layout: one C backend (sink + echo), then per path its proxy processes (Node children or stunnel), all
 * started up front. Each repetition runs the paths in turn, bulk then ping-pong, with the C load generator
 * as the client. Proxy CPU is read from /proc around each bulk run; peak RSS at the end.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Backend, buildLoadgen, runBulk, runPingPong } from '../lib/loadgen.js';
import { readCpuSeconds, readPeakRssMiB } from '../lib/proc-stats.js';
import { BenchError } from '../lib/errors.js';
import { publishReport } from '../lib/publish.js';
import type { Suite, SuiteContext } from '../suite.js';
import { writeBenchCertificates } from './certs.js';
import { HBONE_USAGE, parseHboneOptions } from './options.js';
import type { HboneBenchOptions } from './options.js';
import { startPath } from './paths.js';
import type { BenchPath } from './paths.js';
import { formatReport, ratios, summarise } from './report.js';
import type { CaseRuns, HboneReport } from './report.js';

/** No single workload on a working path should get near this, even on a loaded 2-core machine. */
const WORKLOAD_TIMEOUT_MS = 300_000;

export const hboneSuite: Suite = {
  name: 'hbone',
  summary: 'HBONE vs direct TCP, a Node TLS relay pair and stunnel: throughput, latency, CPU, memory',
  async run(args, ctx) {
    const options = parseHboneOptions(args, ctx.resultsDir);
    if (!options) {
      ctx.out(HBONE_USAGE);
      return;
    }
    const report = await runHboneBench(options, ctx);
    await publishReport(ctx, options.outDir, 'hbone', report, formatReport(report));
  },
};

export async function runHboneBench(options: HboneBenchOptions, ctx: SuiteContext): Promise<HboneReport> {
  const { cleanup, signal, log } = ctx;
  const startedAt = new Date().toISOString();
  const run = { cleanup, signal, timeoutMs: WORKLOAD_TIMEOUT_MS };

  log('building the load generator');
  const loadgen = await buildLoadgen(cleanup);
  const tmpDir = await mkdtemp(path.join(os.tmpdir(), 'ambit-bench-'));
  cleanup.defer(() => rm(tmpDir, { recursive: true, force: true }));
  const certs = await writeBenchCertificates(tmpDir);
  const backend = await Backend.start(loadgen, '127.0.0.1', { ...run, timeoutMs: 10_000 });

  const paths: BenchPath[] = [];
  for (const name of options.cases) {
    checkAborted(signal);
    log(`starting ${name}`);
    paths.push(await startPath(name, { backend: backend.address, certs, tmpDir, stunnel: options.stunnel, cleanup, signal }));
  }

  const runs = new Map<string, CaseRuns>(
    paths.map((p) => [p.name, { name: p.name, bulk: [], pingPong: [], proxyCpuSeconds: 0, peakRssMiB: undefined, hasProxies: p.proxies.length > 0 }]),
  );
  for (let rep = 1; rep <= options.repeat; rep++) {
    for (const p of paths) {
      checkAborted(signal);
      const r = runs.get(p.name)!;
      const cpuBefore = await proxyCpu(p);
      const bulk = await onPath(p, 'bulk', () => runBulk(loadgen, p.entry, options.bulkBytes, run));
      r.proxyCpuSeconds += (await proxyCpu(p)) - cpuBefore;
      r.bulk.push(bulk);
      const pp = await onPath(p, 'ping-pong', () =>
        runPingPong(loadgen, p.entry, options.roundTrips, options.messageSize, options.warmup, run),
      );
      r.pingPong.push(pp);
      log(
        `run ${rep}/${options.repeat} ${p.name}: ${(bulk.bytes / bulk.seconds / 1e6).toFixed(1)} MB/s, ` +
          `ping-pong p50 ${pp.p50Us.toFixed(1)} us p99 ${pp.p99Us.toFixed(1)} us`,
      );
    }
  }
  for (const p of paths) {
    if (p.proxies.length === 0) continue;
    const rss = await Promise.all(p.proxies.map((c) => readPeakRssMiB(c.pid)));
    runs.get(p.name)!.peakRssMiB = Math.max(...rss);
  }

  const cases = paths.map((p) => summarise(runs.get(p.name)!));
  return {
    suite: 'hbone',
    started_at: startedAt,
    config: {
      bulk_bytes: options.bulkBytes,
      round_trips: options.roundTrips,
      message_size: options.messageSize,
      repeat: options.repeat,
      quick: options.quick,
      node: process.version,
      cpus: os.availableParallelism(),
    },
    cases,
    ratios: ratios(cases),
  };
}

function checkAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new BenchError('BENCH_ERR_ABORTED', 'interrupted');
}

async function proxyCpu(p: BenchPath): Promise<number> {
  let sum = 0;
  for (const c of p.proxies) sum += await readCpuSeconds(c.pid);
  return sum;
}

/**
 * Runs one workload on a path. When it fails, says which path broke and adds the state and last output
 * of the path's proxies (a crashed or complaining proxy is the usual cause).
 */
async function onPath<T>(p: BenchPath, workload: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof BenchError && err.code === 'BENCH_ERR_ABORTED') throw err;
    // Every proxy of the path, dead or alive, with its last output: the reason is usually there.
    const proxies = p.proxies.map((c) => c.describeExit());
    const reason = err instanceof Error ? err.message : String(err);
    throw new BenchError('BENCH_ERR_PATH', `${p.name}: ${workload} failed: ${reason}${proxies.length ? `\n${proxies.join('\n')}` : ''}`, {
      cause: err,
    });
  }
}
