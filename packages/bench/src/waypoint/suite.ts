/**
 * `pnpm bench waypoint` (as root): HTTP/1.1 and HTTP/2 POSTs pod to pod across the two nodes of a local mesh
 * (`@ambit/local-mesh`), through four paths with the same client pod, server pod and tools:
 *
 * - `direct`: namespace `bench` not enrolled; the client dials the server pod;
 * - `ztunnel`: `bench` enrolled; the client dials the server pod, both ztunnels carry it in HBONE;
 * - `nginx`: the client dials the nginx pod (node-b, in the mesh), which proxies to the server pod over
 *   HTTP/1.1 with keepalive: client → ztunnel → ztunnel → nginx → ztunnel → ztunnel → server;
 * - `waypoint`: the server's Service labelled `istio.io/use-waypoint`; the client dials the Service:
 *   client → ztunnel ═HBONE═▶ waypoint ═HBONE═▶ ztunnel → server.
 *
 * Run order: direct, enrolment, ztunnel, nginx, then the label and waypoint (once the Service is labelled,
 * its traffic goes to the waypoint). Per path and protocol: a warm-up, the fixed-rate run (latency
 * percentiles from h2load's per-request log), then the full-speed run (requests per second, and the CPU of
 * the path's processes from /proc around it). Every path must prove it carried the traffic: the server pod's
 * nginx counts every request, and each proxy's own counter must have risen by the requests sent through it.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { LocalMesh } from '@ambit/local-mesh';
import { BenchError } from '../lib/errors.js';
import { runH2load } from '../lib/h2load.js';
import type { RunOptions } from '../lib/loadgen.js';
import { launcher, startBenchMesh, ztunnelOpenedFrom } from '../lib/mesh.js';
import { readPeakRssMiB } from '../lib/proc-stats.js';
import { checkAborted, cpuOf, onPath } from '../lib/steps.js';
import { findTool } from '../lib/tools.js';
import { runWrk, wrkScript } from '../lib/wrk.js';
import type { Suite, SuiteContext } from '../suite.js';
import { enrolBench } from '../lib/bench-cluster.js';
import { BENCH_MESH_YAML, CLIENT_POD, NGINX_IP, NGINX_POD, PORTS, SERVER_IP, SERVER_POD } from './bench-mesh.js';
import { NginxInPod } from './nginx.js';
import { WAYPOINT_USAGE, parseWaypointOptions, type CaseName, type Protocol, type WaypointBenchOptions } from './options.js';
import { formatReport, summarise, targets, type CaseRaw, type WaypointReport } from './report.js';

/** No workload on a working path gets near this, even on a loaded 2-core machine. */
const WORKLOAD_TIMEOUT_MS = 300_000;
const NODES = ['node-a', 'node-b'] as const;
const HINT = 'install it with scripts/setup.sh (Debian packages wrk, nghttp2-client, nginx-light) or name it with';

export const waypointSuite: Suite = {
  name: 'waypoint',
  summary: 'HTTP/1.1 and HTTP/2 pod to pod: direct, ztunnel, ztunnel + waypoint, nginx in the mesh; rps, p50/p99 at 1,000 rps, CPU per request (root)',
  async run(args, ctx) {
    const options = parseWaypointOptions(args, ctx.resultsDir);
    if (!options) {
      ctx.out(WAYPOINT_USAGE);
      return;
    }
    if (process.getuid?.() !== 0) {
      throw new BenchError('BENCH_ERR_TOOL', 'pnpm bench waypoint needs root: it builds network namespaces and the ztunnels install nftables rules');
    }
    const report = await runWaypointBench(options, ctx);
    const file = path.join(options.outDir, 'waypoint.json');
    await mkdir(options.outDir, { recursive: true });
    await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
    ctx.out(formatReport(report));
    ctx.log(`wrote ${file}`);
  },
};

/** The tools, found before anything starts. */
interface Tools {
  readonly wrk: string;
  readonly h2load: string;
  readonly nginx: string;
}

/** Where one path's load goes, and what proves that it went there. */
interface PathPlan {
  readonly name: CaseName;
  readonly url: Readonly<Record<Protocol, string>>;
  /** The path's proxy processes (CPU and memory); empty for `direct`. */
  readonly proxies: () => readonly number[] | Promise<readonly number[]>;
  /** How `rss_MB` is made of the proxies' peaks: the larger one, or all added up. */
  readonly rss: 'largest' | 'sum';
  /**
   * A counter of the path's proxy that must rise by at least the requests sent through it, or by the
   * connections the load generators opened (undefined: none).
   */
  readonly counter?: { readonly what: string; readonly read: () => Promise<number>; readonly counts: 'requests' | 'connections' };
}

export async function runWaypointBench(options: WaypointBenchOptions, ctx: SuiteContext): Promise<WaypointReport> {
  const { cleanup, signal, log } = ctx;
  const startedAt = new Date().toISOString();
  const loadAtStart = os.loadavg();
  const tools: Tools = {
    wrk: await findTool(options.wrk, `${HINT} --wrk`),
    h2load: await findTool(options.h2load, `${HINT} --h2load`),
    nginx: await findTool(options.nginx, `${HINT} --nginx`),
  };
  const tmpDir = await mkdtemp(path.join(os.tmpdir(), 'ambit-bench-'));
  cleanup.defer(() => rm(tmpDir, { recursive: true, force: true }));
  const bodyFile = path.join(tmpDir, 'body');
  await writeFile(bodyFile, Buffer.alloc(options.bodyBytes, 'a'));
  const script = path.join(tmpDir, 'post.lua');
  await writeFile(script, wrkScript(options.bodyBytes));
  if (options.cpuProfDir !== undefined) await mkdir(options.cpuProfDir, { recursive: true });

  log('starting the mesh: control plane, a ztunnel per node (namespace bench not enrolled)');
  const mesh = await startBenchMesh({ cleanup, yaml: BENCH_MESH_YAML, tag: 'bw' });
  log(`mesh run ${mesh.cluster.prefix} up`);
  checkAborted(signal);
  const server = await NginxInPod.start(mesh, {
    nginx: tools.nginx,
    pod: SERVER_POD,
    name: 'server-nginx',
    dir: path.join(tmpDir, 'server-nginx'),
    ports: PORTS,
    role: { kind: 'server', responseBytes: options.bodyBytes },
  });

  const run: RunOptions = { cleanup, signal, timeoutMs: WORKLOAD_TIMEOUT_MS, launcher: launcher(mesh, CLIENT_POD) };
  const measurer = new CaseMeasurer(mesh, server, tools, options, { bodyFile, script, tmpDir, run, log, signal });
  const raws: CaseRaw[] = [];
  const podUrls = (ip: string): Record<Protocol, string> => ({ http1: `http://${ip}:${PORTS.http1}/`, http2: `http://${ip}:${PORTS.http2}/` });
  const ztunnelPids = (): number[] => NODES.map((n) => mesh.ztunnel(n).pid);

  if (options.cases.includes('direct')) {
    const before = await meshOpened(mesh, CLIENT_POD);
    raws.push(...(await measurer.measure({ name: 'direct', url: podUrls(SERVER_IP), proxies: () => [], rss: 'largest' })));
    const after = await meshOpened(mesh, CLIENT_POD);
    if (after !== before) throw new BenchError('BENCH_ERR_PATH', `direct: node-b's ztunnel proxied ${after - before} connection(s) of a namespace that is not enrolled`);
  }
  const inMesh = options.cases.filter((c) => c !== 'direct');
  if (inMesh.length > 0) {
    log('enrolling namespace bench');
    const before = await meshOpened(mesh, CLIENT_POD);
    await enrolBench(mesh, async () => {
      await mesh.exec(CLIENT_POD, 'curl', ['-s', '-o', '/dev/null', '--max-time', '5', podUrls(SERVER_IP).http1]).catch(() => undefined);
      return (await meshOpened(mesh, CLIENT_POD)) > before;
    });
  }
  if (options.cases.includes('ztunnel')) {
    raws.push(
      ...(await measurer.measure({
        name: 'ztunnel',
        url: podUrls(SERVER_IP),
        proxies: ztunnelPids,
        rss: 'largest',
        // ztunnel sees connections, not requests: each of the load generators' connections once.
        counter: { what: "node-b's ztunnel's connections from the client", read: () => meshOpened(mesh, CLIENT_POD), counts: 'connections' },
      })),
    );
  }
  if (options.cases.includes('nginx')) {
    log('starting nginx as a reverse proxy in the nginx pod (node-b)');
    const proxy = await NginxInPod.start(mesh, {
      nginx: tools.nginx,
      pod: NGINX_POD,
      name: 'proxy-nginx',
      dir: path.join(tmpDir, 'proxy-nginx'),
      ports: PORTS,
      role: { kind: 'proxy', upstream: `${SERVER_IP}:${PORTS.http1}`, keepalive: Math.max(64, options.concurrency * 2) },
    });
    const fromNginxBefore = await meshOpened(mesh, NGINX_POD);
    raws.push(
      ...(await measurer.measure({
        name: 'nginx',
        url: podUrls(NGINX_IP),
        proxies: () => proxy.pids(),
        rss: 'sum',
        counter: { what: 'the proxy nginx\'s request count', read: async () => (await proxy.requests()) - 1, counts: 'requests' },
      })),
    );
    // nginx's own connections to the server were captured too: the whole path was in the mesh.
    if ((await meshOpened(mesh, NGINX_POD)) <= fromNginxBefore) {
      throw new BenchError('BENCH_ERR_PATH', "nginx: node-b's ztunnel carried no connection from the nginx pod to the server; nginx's upstream traffic bypassed the mesh");
    }
    await proxy.stop();
  }

  const cases = raws.map(summarise);
  return {
    cases: sortCases(cases, options),
    suite: 'waypoint',
    started_at: startedAt,
    config: {
      load_seconds: options.loadSeconds,
      rate_seconds: options.rateSeconds,
      warmup_seconds: options.warmupSeconds,
      rate: options.rate,
      rate_clients: options.rateClients,
      concurrency: options.concurrency,
      h2_connections: options.h2Connections,
      body_bytes: options.bodyBytes,
      nginx_in_mesh: true,
      quick: options.quick,
      node: process.version,
      cpus: os.availableParallelism(),
      load_average_at_start: loadAtStart.map((l) => Math.round(l * 100) / 100),
      load_average_at_end: os.loadavg().map((l) => Math.round(l * 100) / 100),
    },
    targets: targets(cases, options.protocols),
  };
}

/** The rows in the order of CASE_NAMES and then PROTOCOLS, whatever order the paths ran in. */
function sortCases<T extends { case: CaseName; protocol: Protocol }>(cases: readonly T[], options: WaypointBenchOptions): T[] {
  const rank = (c: T): number => options.cases.indexOf(c.case) * 10 + options.protocols.indexOf(c.protocol);
  return [...cases].sort((a, b) => rank(a) - rank(b));
}

/** Connections node-b's ztunnel has opened (destination side) for `pod`'s workload so far. */
function meshOpened(mesh: LocalMesh, pod: string): Promise<number> {
  return ztunnelOpenedFrom(mesh, 'node-b', pod);
}

interface MeasureContext {
  readonly bodyFile: string;
  readonly script: string;
  readonly tmpDir: string;
  readonly run: RunOptions;
  readonly log: (line: string) => void;
  readonly signal: AbortSignal;
}

/** Runs the workloads of one path, per protocol, and checks that the path carried them. */
class CaseMeasurer {
  readonly #mesh: LocalMesh;
  readonly #server: NginxInPod;
  readonly #tools: Tools;
  readonly #options: WaypointBenchOptions;
  readonly #ctx: MeasureContext;

  constructor(mesh: LocalMesh, server: NginxInPod, tools: Tools, options: WaypointBenchOptions, ctx: MeasureContext) {
    this.#mesh = mesh;
    this.#server = server;
    this.#tools = tools;
    this.#options = options;
    this.#ctx = ctx;
  }

  async measure(plan: PathPlan): Promise<CaseRaw[]> {
    const out: CaseRaw[] = [];
    for (const protocol of this.#options.protocols) out.push(await this.#measureProtocol(plan, protocol));
    return out;
  }

  async #measureProtocol(plan: PathPlan, protocol: Protocol): Promise<CaseRaw> {
    const { run, signal, log } = this.#ctx;
    const o = this.#options;
    const label = `${plan.name} ${protocol}`;
    const url = plan.url[protocol];
    checkAborted(signal);
    const serverBefore = await this.#server.requests();
    const counterBefore = plan.counter ? await plan.counter.read() : 0;

    // Warm-up: connections, pools and JIT, at full speed, not measured.
    const warm = await onPath(label, 'warm-up', () => this.#fullSpeed(protocol, url, o.warmupSeconds, undefined));
    checkAborted(signal);

    const logFile = path.join(this.#ctx.tmpDir, `${plan.name}-${protocol}.log`);
    const rated = await onPath(label, `${o.rate} requests/s`, () =>
      runH2load(
        {
          h2load: this.#tools.h2load,
          url,
          protocol,
          clients: o.rateClients,
          streams: 1,
          bodyFile: this.#ctx.bodyFile,
          requests: o.rate * o.rateSeconds,
          ratePerClient: o.rate / o.rateClients,
          logFile,
          responseBytes: o.bodyBytes,
        },
        run,
      ),
    );
    await rm(logFile, { force: true });
    checkAborted(signal);

    const proxies = await plan.proxies();
    const ztunnels = plan.name === 'direct' ? [] : NODES.map((n) => this.#mesh.ztunnel(n).pid);
    const cpuBefore = await cpuOf(proxies);
    const meshBefore = await cpuOf(ztunnels);
    // h2load's HTTP/2 run is a request count, so that every request must succeed: the warm-up's rate sizes it.
    const load = await onPath(label, 'full speed', () => this.#fullSpeed(protocol, url, o.loadSeconds, Math.max(1000, Math.round(warm.rps * o.loadSeconds))));
    const proxyCpu = (await cpuOf(proxies)) - cpuBefore;
    const meshCpu = (await cpuOf(ztunnels)) - meshBefore;
    const peaks = await Promise.all(proxies.map(readPeakRssMiB));

    const sent = warm.requests + rated.summary.succeeded + load.requests;
    const served = (await this.#server.requests()) - serverBefore - 1;
    if (served < sent) throw new BenchError('BENCH_ERR_PATH', `${label}: the server pod's nginx served ${served} requests, fewer than the ${sent} answered`);
    if (plan.counter) {
      const rose = (await plan.counter.read()) - counterBefore;
      // Warm-up and full speed at the fixed concurrency, and the fixed rate's clients.
      const connections = 2 * (protocol === 'http1' ? o.concurrency : o.h2Connections) + o.rateClients;
      const need = plan.counter.counts === 'requests' ? sent : connections;
      if (rose < need) throw new BenchError('BENCH_ERR_PATH', `${label}: ${plan.counter.what} rose by ${rose}, expected at least ${need}; the traffic did not take this path`);
    }
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
    };
    const s = summarise(raw);
    log(`${label}: ${s.rps.toFixed(0)} requests/s; at ${o.rate}/s p50 ${s.p50_us} us p99 ${s.p99_us} us; CPU ${s.cpu_s_per_1k_req ?? '-'} s per 1k requests`);
    return raw;
  }

  /**
   * As many requests as the path answers, at the fixed concurrency: wrk for HTTP/1.1; h2load for HTTP/2,
   * `requests` of them when given (each must succeed), else for `seconds`.
   */
  async #fullSpeed(protocol: Protocol, url: string, seconds: number, requests: number | undefined): Promise<{ requests: number; seconds: number; rps: number }> {
    const o = this.#options;
    if (protocol === 'http1') {
      const r = await runWrk({ wrk: this.#tools.wrk, url, connections: o.concurrency, seconds, script: this.#ctx.script, responseBytes: o.bodyBytes }, this.#ctx.run);
      return { requests: r.requests, seconds: r.seconds, rps: r.rps };
    }
    const r = await runH2load(
      {
        h2load: this.#tools.h2load,
        url,
        protocol,
        clients: o.h2Connections,
        streams: o.concurrency / o.h2Connections,
        bodyFile: this.#ctx.bodyFile,
        ...(requests !== undefined ? { requests } : { seconds }),
        responseBytes: o.bodyBytes,
      },
      this.#ctx.run,
    );
    return { requests: r.summary.succeeded, seconds: r.summary.seconds, rps: r.rps };
  }
}
