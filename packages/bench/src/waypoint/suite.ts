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
 * Run order: direct (at full speed, then at the fixed rate), enrolment, ztunnel and nginx at full speed, the
 * label and the waypoint at full speed, then the fixed-rate rounds: in each round every path in the mesh
 * takes its turn (the order rotating), so that the latencies compared by the target are measured under the
 * same load of the shared machine. The ztunnel and nginx paths dial pod addresses, which a service waypoint
 * does not take: they still bypass the waypoint once the Service is labelled, and must leave its counter
 * unchanged. Every path must prove it carried the traffic (measure.ts).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { waypointProcessName, waypointsExtension, type LocalMesh } from '@ambit/local-mesh';
import { enrolBench } from '../lib/bench-cluster.js';
import { BenchError } from '../lib/errors.js';
import type { RunOptions } from '../lib/loadgen.js';
import { launcher, startBenchMesh, sumCounter, ztunnelOpenedFrom } from '../lib/mesh.js';
import { checkAborted } from '../lib/steps.js';
import { findTool } from '../lib/tools.js';
import { wrkScript } from '../lib/wrk.js';
import { publishReport } from '../lib/publish.js';
import type { Suite, SuiteContext } from '../suite.js';
import { BENCH_MESH_YAML, CLIENT_POD, NAMESPACE, NGINX_IP, NGINX_POD, PORTS, SERVER_IP, SERVER_POD, SERVER_VIP, WAYPOINT_NAME, WAYPOINT_POD, useWaypoint } from './bench-mesh.js';
import { PathTally, measureLoad, measureRate, type Counter, type MeasureContext, type PathPlan, type Tools } from './measure.js';
import { NginxInPod } from './nginx.js';
import { WAYPOINT_USAGE, parseWaypointOptions, type CaseName, type Protocol, type WaypointBenchOptions } from './options.js';
import { formatReport, summarise, targets, type WaypointReport } from './report.js';

/** No workload on a working path gets near this, even on a loaded 2-core machine. */
const WORKLOAD_TIMEOUT_MS = 300_000;
const NODES = ['node-a', 'node-b'] as const;
const HINT = 'install it with scripts/setup.sh (Debian packages wrk, nghttp2-client, nginx-light) or name it with';
/** The waypoint's Prometheus endpoint, on its pod's loopback. */
const WAYPOINT_STATS_PORT = 15020;

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
    await publishReport(ctx, options.outDir, 'waypoint', report, formatReport(report));
  },
};

/** Runs every path and protocol asked for, checks that each carried its traffic, and returns the figures. */
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

  const withWaypoint = options.cases.includes('waypoint');
  log(`starting the mesh: control plane, a ztunnel per node${withWaypoint ? ', the waypoint' : ''} (namespace bench not enrolled)`);
  const mesh = await startBenchMesh({
    cleanup,
    yaml: BENCH_MESH_YAML,
    tag: 'bw',
    extensions: withWaypoint
      ? [
          waypointsExtension({
            // Warnings only, as the ztunnels: no access-log line per request (nginx logs none either).
            env: { LOG_LEVEL: 'warn' },
            nodeArgs: options.cpuProfDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`],
          }),
        ]
      : [],
  });
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
  const measure: MeasureContext = { mesh, server, tools, options, bodyFile, script, tmpDir, run, log, signal };
  const podUrls = (ip: string): Record<Protocol, string> => ({ http1: `http://${ip}:${PORTS.http1}/`, http2: `http://${ip}:${PORTS.http2}/` });
  const fromClient: Counter = { what: "node-b's ztunnel's connections from the client", read: () => meshOpened(mesh, CLIENT_POD) };
  const waypointCounter: Counter = { what: "the waypoint's istio_requests_total", read: () => waypointRequests(mesh) };
  const notThroughWaypoint = withWaypoint ? [waypointCounter] : [];
  const perRound = Math.floor((options.rate * options.rateSeconds) / options.rounds);
  const tallies: PathTally[] = [];
  const loadAll = async (plan: PathPlan): Promise<PathTally[]> => {
    const mine = options.protocols.map((protocol) => new PathTally(plan, protocol));
    for (const tally of mine) await measureLoad(measure, tally);
    tallies.push(...mine);
    return mine;
  };

  if (options.cases.includes('direct')) {
    const direct = await loadAll({ name: 'direct', url: podUrls(SERVER_IP), proxies: () => [], rss: 'largest', proof: { ...fromClient, expect: 'unchanged' }, untouched: notThroughWaypoint });
    // Before enrolment, so on its own: no other path exists yet.
    for (let r = 0; r < options.rounds; r++) for (const tally of direct) await measureRate(measure, tally, perRound);
  }
  if (options.cases.some((c) => c !== 'direct')) {
    log('enrolling namespace bench');
    const before = await meshOpened(mesh, CLIENT_POD);
    await enrolBench(mesh, async () => {
      await probe(mesh, podUrls(SERVER_IP).http1);
      return (await meshOpened(mesh, CLIENT_POD)) > before;
    });
  }
  const inMesh: PathTally[][] = [];
  if (options.cases.includes('ztunnel')) {
    const ztunnels = (): number[] => NODES.map((n) => mesh.ztunnel(n).pid);
    inMesh.push(await loadAll({ name: 'ztunnel', url: podUrls(SERVER_IP), proxies: ztunnels, rss: 'largest', proof: { ...fromClient, expect: 'connections' }, untouched: notThroughWaypoint }));
  }
  let proxy: NginxInPod | undefined;
  if (options.cases.includes('nginx')) {
    log('starting nginx as a reverse proxy in the nginx pod (node-b)');
    proxy = await startProxyNginx(mesh, measure);
    const nginx = proxy;
    const upstreamBefore = await meshOpened(mesh, NGINX_POD);
    inMesh.push(
      await loadAll({
        name: 'nginx',
        url: podUrls(NGINX_IP),
        proxies: () => nginx.pids(),
        rss: 'sum',
        // The status request that reads the count is one of them.
        proof: { what: "the proxy nginx's request count", read: async () => (await nginx.requests()) - 1, expect: 'requests' },
        untouched: notThroughWaypoint,
      }),
    );
    // nginx's own connections to the server were captured too: the whole path is in the mesh.
    if ((await meshOpened(mesh, NGINX_POD)) <= upstreamBefore) {
      throw new BenchError('BENCH_ERR_PATH', "nginx: node-b's ztunnel carried no connection from the nginx pod to the server; nginx's upstream traffic bypassed the mesh");
    }
  }
  if (withWaypoint) {
    // A service waypoint takes service traffic: the client dials the Service, both protocols on its one
    // HTTP port (the waypoint tells them apart).
    const url = `http://${SERVER_VIP}:${PORTS.http1}/`;
    log('labelling the server Service istio.io/use-waypoint');
    const before = await waypointRequests(mesh);
    await useWaypoint(mesh, async () => {
      await probe(mesh, url);
      return (await waypointRequests(mesh)) > before;
    });
    const waypoint = mesh.process(waypointProcessName({ namespace: NAMESPACE, gateway: WAYPOINT_NAME }));
    inMesh.push(await loadAll({ name: 'waypoint', url: { http1: url, http2: url }, proxies: () => [waypoint.pid], rss: 'largest', proof: { ...waypointCounter, expect: 'requests' }, untouched: [] }));
  }
  if (inMesh.length > 0) log(`${options.rounds} rounds at ${options.rate} requests/s, the paths in the mesh taking turns`);
  for (let r = 0; r < options.rounds; r++) {
    for (let p = 0; p < options.protocols.length; p++) {
      for (let i = 0; i < inMesh.length; i++) await measureRate(measure, inMesh[(i + r) % inMesh.length]![p]!, perRound);
    }
  }
  await proxy?.stop();

  const raws = tallies.map((t) => t.toRaw(options.rate));
  for (const raw of raws) {
    const s = summarise(raw);
    log(`${raw.name} ${raw.protocol}: at ${options.rate}/s p50 ${s.p50_us} us p99 ${s.p99_us} us over ${s.rate_requests} requests`);
  }
  const cases = sortCases(raws.map(summarise), options);
  return {
    cases,
    suite: 'waypoint',
    started_at: startedAt,
    config: {
      load_seconds: options.loadSeconds,
      rate_seconds: options.rateSeconds,
      rate_rounds: options.rounds,
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

/** nginx as a reverse proxy in the nginx pod (node-b), HTTP/1.1 with keepalive to the server pod. */
async function startProxyNginx(mesh: LocalMesh, measure: MeasureContext): Promise<NginxInPod> {
  return await NginxInPod.start(mesh, {
    nginx: measure.tools.nginx,
    pod: NGINX_POD,
    name: 'proxy-nginx',
    dir: path.join(measure.tmpDir, 'proxy-nginx'),
    ports: PORTS,
    role: { kind: 'proxy', upstream: `${SERVER_IP}:${PORTS.http1}`, keepalive: Math.max(64, measure.options.concurrency * 2) },
  });
}

/** One request from the client pod, whatever its outcome: traffic for a probe that then reads a counter. */
async function probe(mesh: LocalMesh, url: string): Promise<void> {
  await mesh.exec(CLIENT_POD, 'curl', ['-s', '-o', '/dev/null', '--max-time', '5', url]).catch(() => undefined);
}

/** Requests the waypoint has reported so far (`istio_requests_total`, reporter waypoint, every status). */
async function waypointRequests(mesh: LocalMesh): Promise<number> {
  const metrics = await mesh.httpGet(WAYPOINT_POD, WAYPOINT_STATS_PORT, '/metrics');
  if (metrics.status !== 200) throw new BenchError('BENCH_ERR_CHILD', `the waypoint's /metrics answered ${metrics.status || 'nothing'}`);
  return sumCounter(metrics.body, 'istio_requests_total', (labels) => labels.includes('reporter="waypoint"'));
}

/** Connections node-b's ztunnel has opened (destination side) for `pod`'s workload so far. */
function meshOpened(mesh: LocalMesh, pod: string): Promise<number> {
  return ztunnelOpenedFrom(mesh, 'node-b', pod);
}

/** The rows in the order of CASE_NAMES and then PROTOCOLS, whatever order the paths ran in. */
function sortCases<T extends { case: CaseName; protocol: Protocol }>(cases: readonly T[], options: WaypointBenchOptions): T[] {
  const rank = (c: T): number => options.cases.indexOf(c.case) * 10 + options.protocols.indexOf(c.protocol);
  return [...cases].sort((a, b) => rank(a) - rank(b));
}
