/**
 * The workloads of `pnpm bench waypoint` on one path and protocol, in segments: the full-speed segment (a
 * warm-up, then requests per second at the fixed concurrency, with the CPU of the path's processes read from
 * /proc around it) and fixed-rate segments (latencies from h2load's per-request log), which the suite
 * interleaves across paths so that a burst of load on the shared machine falls on all of them alike.
 *
 * Every segment is accounted: the server pod's nginx must have served every request answered, the path's
 * own counter must move as expected, and counters of other paths (the waypoint's, on paths that must not
 * cross it) must not move at all. A `PathTally` adds the segments of one path and protocol up into a row.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { LocalMesh } from '@ambit/local-mesh';
import { BenchError } from '../lib/errors.js';
import { runH2load } from '../lib/h2load.js';
import type { RunOptions } from '../lib/loadgen.js';
import { readPeakRssMiB } from '../lib/proc-stats.js';
import { checkAborted, cpuOf, onPath } from '../lib/steps.js';
import { runWrk } from '../lib/wrk.js';
import type { NginxInPod } from './nginx.js';
import type { CaseName, Protocol, WaypointBenchOptions } from './options.js';
import type { CaseRaw, PathProof } from './report.js';

const NODES = ['node-a', 'node-b'] as const;

/** The external programs, found before anything started. */
export interface Tools {
  readonly wrk: string;
  readonly h2load: string;
  readonly nginx: string;
}

/** A counter read from a process of the mesh. */
export interface Counter {
  readonly what: string;
  readonly read: () => Promise<number>;
}

/** Where one path's load goes, and what proves that it went there. */
export interface PathPlan {
  readonly name: CaseName;
  readonly url: Readonly<Record<Protocol, string>>;
  /** The path's proxy processes (CPU and memory); none for `direct`. */
  readonly proxies: () => readonly number[] | Promise<readonly number[]>;
  /** How `rss_MB` is made of the proxies' peaks: the larger one, or all added up. */
  readonly rss: 'largest' | 'sum';
  /**
   * A counter that tells which way the traffic went: it must stay `unchanged` (a mesh counter on a path
   * outside the mesh), or rise by at least the `requests` answered, or by the `connections` the load
   * generators opened (ztunnel sees connections, not requests).
   */
  readonly proof: Counter & { readonly expect: 'unchanged' | 'requests' | 'connections' };
  /** Counters of other paths that this path's traffic must not move (the waypoint's, for ztunnel and nginx). */
  readonly untouched: readonly Counter[];
}

export interface MeasureContext {
  readonly mesh: LocalMesh;
  /** The server pod's nginx: every path ends there. */
  readonly server: NginxInPod;
  readonly tools: Tools;
  readonly options: WaypointBenchOptions;
  /** The POST body (h2load) and the wrk script, written once per run. */
  readonly bodyFile: string;
  readonly script: string;
  readonly tmpDir: string;
  /** Runs the load generators in the client pod. */
  readonly run: RunOptions;
  readonly log: (line: string) => void;
  readonly signal: AbortSignal;
}

interface LoadFigures {
  readonly requests: number;
  readonly seconds: number;
  readonly proxyCpuSeconds: number | undefined;
  readonly meshCpuSeconds: number | undefined;
  readonly peakRssMiB: number | undefined;
}

/** The segments of one path and protocol, added up; `toRaw()` checks the totals and makes the row. */
export class PathTally {
  readonly plan: PathPlan;
  readonly protocol: Protocol;
  #load: LoadFigures | undefined;
  readonly #latencies: number[] = [];
  #rateSeconds = 0;
  #rateSegments = 0;
  #answered = 0;
  #served = 0;
  #rose = 0;
  #connections = 0;

  constructor(plan: PathPlan, protocol: Protocol) {
    this.plan = plan;
    this.protocol = protocol;
  }

  get label(): string {
    return `${this.plan.name} ${this.protocol}`;
  }

  /** Adds one accounted segment: requests answered and served, the proof counter's rise, connections opened. */
  addSegment(answered: number, served: number, rose: number, connections: number): void {
    this.#answered += answered;
    this.#served += served;
    this.#rose += rose;
    this.#connections += connections;
  }

  setLoad(load: LoadFigures): void {
    this.#load = load;
  }

  addRate(latenciesUs: readonly number[], seconds: number): void {
    for (const l of latenciesUs) this.#latencies.push(l);
    this.#rateSeconds += seconds;
    this.#rateSegments++;
  }

  /** The row's raw figures; throws BENCH_ERR_PATH when the path did not carry what was answered. */
  toRaw(rate: number): CaseRaw {
    const load = this.#load;
    if (load === undefined || this.#rateSegments === 0) throw new BenchError('BENCH_ERR_PATH', `${this.label}: not measured at full speed and at the fixed rate`);
    if (this.#served < this.#answered) {
      throw new BenchError('BENCH_ERR_PATH', `${this.label}: the server pod's nginx served ${this.#served} requests, fewer than the ${this.#answered} answered`);
    }
    return {
      name: this.plan.name,
      protocol: this.protocol,
      load: { requests: load.requests, seconds: load.seconds },
      latenciesUs: [...this.#latencies].sort((a, b) => a - b),
      rate: { target: rate, achieved: this.#latencies.length / this.#rateSeconds, segments: this.#rateSegments },
      proxyCpuSeconds: load.proxyCpuSeconds,
      meshCpuSeconds: load.meshCpuSeconds,
      peakRssMiB: load.peakRssMiB,
      serverRequests: this.#served,
      proof: checkProof(this.plan, this.protocol, this.#rose, this.#answered, this.#connections),
    };
  }
}

/** Checks how the path's counter moved over all its segments; throws BENCH_ERR_PATH when the traffic did not take the path. */
export function checkProof(plan: Pick<PathPlan, 'name' | 'proof'>, protocol: Protocol, rose: number, answered: number, connections: number): PathProof {
  const label = `${plan.name} ${protocol}`;
  const { what, expect } = plan.proof;
  if (expect === 'unchanged') {
    if (rose !== 0) throw new BenchError('BENCH_ERR_PATH', `${label}: ${what} rose by ${rose}; the traffic went through the mesh`);
    return { counter: what, rose, expected: '= 0' };
  }
  const need = expect === 'requests' ? answered : connections;
  if (rose < need) throw new BenchError('BENCH_ERR_PATH', `${label}: ${what} rose by ${rose}, expected at least ${need}; the traffic did not take this path`);
  return { counter: what, rose, expected: `>= ${need}` };
}

/**
 * Runs `work` (which returns the requests answered) as one accounted segment of `tally`, `connections`
 * being the connections its load generators open.
 */
async function segment(ctx: MeasureContext, tally: PathTally, connections: number, work: () => Promise<number>): Promise<void> {
  checkAborted(ctx.signal);
  const { plan } = tally;
  const serverBefore = await ctx.server.requests();
  const proofBefore = await plan.proof.read();
  const untouchedBefore = await Promise.all(plan.untouched.map((c) => c.read()));
  const answered = await work();
  // The status request that reads the count is counted too.
  const served = (await ctx.server.requests()) - serverBefore - 1;
  const rose = (await plan.proof.read()) - proofBefore;
  checkUntouched(tally.label, plan.untouched, untouchedBefore, await Promise.all(plan.untouched.map((c) => c.read())));
  tally.addSegment(answered, served, rose, connections);
}

/** Throws BENCH_ERR_PATH when one of `counters` (another path's) moved between `before` and `after`. */
export function checkUntouched(label: string, counters: readonly Counter[], before: readonly number[], after: readonly number[]): void {
  for (const [i, counter] of counters.entries()) {
    const moved = after[i]! - before[i]!;
    if (moved !== 0) throw new BenchError('BENCH_ERR_PATH', `${label}: ${counter.what} rose by ${moved}; this path's traffic went through another path's proxy`);
  }
}

/**
 * The full-speed segment: a warm-up (connections, pools, JIT; not measured), then as many requests as the
 * path answers at the fixed concurrency, with the CPU of the path's proxies and of both ztunnels around it.
 */
export async function measureLoad(ctx: MeasureContext, tally: PathTally): Promise<void> {
  const { options: o } = ctx;
  const { plan, protocol, label } = tally;
  const url = plan.url[protocol];
  const perRun = protocol === 'http1' ? o.concurrency : o.h2Connections;
  await segment(ctx, tally, 2 * perRun, async () => {
    const warm = await onPath(label, 'warm-up', () => fullSpeed(ctx, protocol, url, { seconds: o.warmupSeconds }));
    checkAborted(ctx.signal);
    const proxies = await plan.proxies();
    const ztunnels = plan.name === 'direct' ? [] : NODES.map((n) => ctx.mesh.ztunnel(n).pid);
    const cpuBefore = await cpuOf(proxies);
    const meshBefore = await cpuOf(ztunnels);
    // h2load's HTTP/2 run is a request count, so that every request must succeed: the warm-up's rate sizes it.
    const load = await onPath(label, 'full speed', () => fullSpeed(ctx, protocol, url, { seconds: o.loadSeconds, requests: Math.max(1000, Math.round(warm.rps * o.loadSeconds)) }));
    const proxyCpu = (await cpuOf(proxies)) - cpuBefore;
    const meshCpu = (await cpuOf(ztunnels)) - meshBefore;
    const peaks = await Promise.all(proxies.map(readPeakRssMiB));
    tally.setLoad({
      requests: load.requests,
      seconds: load.seconds,
      proxyCpuSeconds: proxies.length === 0 ? undefined : proxyCpu,
      meshCpuSeconds: ztunnels.length === 0 ? undefined : meshCpu,
      peakRssMiB: peaks.length === 0 ? undefined : plan.rss === 'sum' ? peaks.reduce((a, b) => a + b, 0) : Math.max(...peaks),
    });
    ctx.log(`${label}: ${(load.requests / load.seconds).toFixed(0)} requests/s, proxy CPU ${proxies.length === 0 ? '-' : ((proxyCpu / load.requests) * 1000).toFixed(4)} s per 1k requests`);
    return warm.requests + load.requests;
  });
}

/** One fixed-rate segment of `requests` at the run's rate (h2load `--rps`), its latencies from the per-request log. */
export async function measureRate(ctx: MeasureContext, tally: PathTally, requests: number): Promise<void> {
  const { options: o } = ctx;
  const { plan, protocol, label } = tally;
  await segment(ctx, tally, o.rateClients, async () => {
    const logFile = path.join(ctx.tmpDir, `${plan.name}-${protocol}.log`);
    try {
      const rated = await onPath(label, `${o.rate} requests/s`, () =>
        runH2load(
          {
            h2load: ctx.tools.h2load,
            url: plan.url[protocol],
            protocol,
            clients: o.rateClients,
            streams: 1,
            bodyFile: ctx.bodyFile,
            requests,
            ratePerClient: o.rate / o.rateClients,
            logFile,
            responseBytes: o.bodyBytes,
          },
          ctx.run,
        ),
      );
      tally.addRate(rated.latenciesUs!, rated.summary.seconds);
      return rated.summary.succeeded;
    } finally {
      await rm(logFile, { force: true });
    }
  });
}

/**
 * As many requests as the path answers at the fixed concurrency: wrk for `seconds` (HTTP/1.1); h2load for
 * HTTP/2, `requests` of them when given (each must succeed), else for `seconds`.
 */
async function fullSpeed(ctx: MeasureContext, protocol: Protocol, url: string, size: { seconds: number; requests?: number }): Promise<{ requests: number; seconds: number; rps: number }> {
  const o = ctx.options;
  if (protocol === 'http1') {
    const r = await runWrk({ wrk: ctx.tools.wrk, url, connections: o.concurrency, seconds: size.seconds, script: ctx.script, responseBytes: o.bodyBytes }, ctx.run);
    return { requests: r.requests, seconds: r.seconds, rps: r.rps };
  }
  const r = await runH2load(
    {
      h2load: ctx.tools.h2load,
      url,
      protocol,
      clients: o.h2Connections,
      streams: o.concurrency / o.h2Connections,
      bodyFile: ctx.bodyFile,
      ...(size.requests !== undefined ? { requests: size.requests } : { seconds: size.seconds }),
      responseBytes: o.bodyBytes,
    },
    ctx.run,
  );
  return { requests: r.summary.succeeded, seconds: r.summary.seconds, rps: r.rps };
}
