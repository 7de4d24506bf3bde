/**
 * One path of `pnpm bench waypoint`, per protocol: a warm-up at full speed, the fixed-rate run (latency
 * percentiles from h2load's per-request log), the full-speed run (requests per second, with the CPU of the
 * path's processes read from /proc around it), then the proof that the path carried it all: the server pod's
 * nginx must have served every request answered, and the path's own counter must have moved as expected.
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
import { summarise, type CaseRaw, type PathProof } from './report.js';

const NODES = ['node-a', 'node-b'] as const;

/** The external programs, found before anything started. */
export interface Tools {
  readonly wrk: string;
  readonly h2load: string;
  readonly nginx: string;
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
  readonly proof: { readonly what: string; readonly read: () => Promise<number>; readonly expect: 'unchanged' | 'requests' | 'connections' };
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

/** Measures `plan` for every protocol of the run, in order. */
export async function measurePath(ctx: MeasureContext, plan: PathPlan): Promise<CaseRaw[]> {
  const out: CaseRaw[] = [];
  for (const protocol of ctx.options.protocols) out.push(await measureProtocol(ctx, plan, protocol));
  return out;
}

async function measureProtocol(ctx: MeasureContext, plan: PathPlan, protocol: Protocol): Promise<CaseRaw> {
  const { options: o, signal } = ctx;
  const label = `${plan.name} ${protocol}`;
  const url = plan.url[protocol];
  checkAborted(signal);
  const serverBefore = await ctx.server.requests();
  const proofBefore = await plan.proof.read();

  // Warm-up: connections, pools and JIT, at full speed, not measured.
  const warm = await onPath(label, 'warm-up', () => fullSpeed(ctx, protocol, url, { seconds: o.warmupSeconds }));
  checkAborted(signal);

  const logFile = path.join(ctx.tmpDir, `${plan.name}-${protocol}.log`);
  const rated = await onPath(label, `${o.rate} requests/s`, () =>
    runH2load(
      {
        h2load: ctx.tools.h2load,
        url,
        protocol,
        clients: o.rateClients,
        streams: 1,
        bodyFile: ctx.bodyFile,
        requests: o.rate * o.rateSeconds,
        ratePerClient: o.rate / o.rateClients,
        logFile,
        responseBytes: o.bodyBytes,
      },
      ctx.run,
    ),
  );
  await rm(logFile, { force: true });
  checkAborted(signal);

  const proxies = await plan.proxies();
  const ztunnels = plan.name === 'direct' ? [] : NODES.map((n) => ctx.mesh.ztunnel(n).pid);
  const cpuBefore = await cpuOf(proxies);
  const meshBefore = await cpuOf(ztunnels);
  // h2load's HTTP/2 run is a request count, so that every request must succeed: the warm-up's rate sizes it.
  const load = await onPath(label, 'full speed', () => fullSpeed(ctx, protocol, url, { seconds: o.loadSeconds, requests: Math.max(1000, Math.round(warm.rps * o.loadSeconds)) }));
  const proxyCpu = (await cpuOf(proxies)) - cpuBefore;
  const meshCpu = (await cpuOf(ztunnels)) - meshBefore;
  const peaks = await Promise.all(proxies.map(readPeakRssMiB));

  const answered = warm.requests + rated.summary.succeeded + load.requests;
  // The status request that reads the count is counted too.
  const served = (await ctx.server.requests()) - serverBefore - 1;
  if (served < answered) throw new BenchError('BENCH_ERR_PATH', `${label}: the server pod's nginx served ${served} requests, fewer than the ${answered} answered`);
  const proof = checkProof(plan, protocol, o, (await plan.proof.read()) - proofBefore, answered);

  const raw: CaseRaw = {
    name: plan.name,
    protocol,
    load,
    latenciesUs: rated.latenciesUs!,
    rate: { target: o.rate, achieved: rated.rps },
    proxyCpuSeconds: proxies.length === 0 ? undefined : proxyCpu,
    meshCpuSeconds: ztunnels.length === 0 ? undefined : meshCpu,
    peakRssMiB: peaks.length === 0 ? undefined : plan.rss === 'sum' ? peaks.reduce((a, b) => a + b, 0) : Math.max(...peaks),
    serverRequests: served,
    proof,
  };
  const s = summarise(raw);
  ctx.log(`${label}: ${s.rps.toFixed(0)} requests/s; at ${o.rate}/s p50 ${s.p50_us} us p99 ${s.p99_us} us; CPU ${s.cpu_s_per_1k_req ?? '-'} s per 1k requests`);
  return raw;
}

/** Checks how the path's counter moved; throws BENCH_ERR_PATH when the traffic did not take the path. */
export function checkProof(plan: Pick<PathPlan, 'name' | 'proof'>, protocol: Protocol, o: Pick<WaypointBenchOptions, 'concurrency' | 'h2Connections' | 'rateClients'>, rose: number, answered: number): PathProof {
  const label = `${plan.name} ${protocol}`;
  const { what, expect } = plan.proof;
  if (expect === 'unchanged') {
    if (rose !== 0) throw new BenchError('BENCH_ERR_PATH', `${label}: ${what} rose by ${rose}; the traffic went through the mesh`);
    return { counter: what, rose, expected: '= 0' };
  }
  // Warm-up and full speed at the fixed concurrency, and the fixed rate's connections.
  const connections = 2 * (protocol === 'http1' ? o.concurrency : o.h2Connections) + o.rateClients;
  const need = expect === 'requests' ? answered : connections;
  if (rose < need) throw new BenchError('BENCH_ERR_PATH', `${label}: ${what} rose by ${rose}, expected at least ${need}; the traffic did not take this path`);
  return { counter: what, rose, expected: `>= ${need}` };
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
