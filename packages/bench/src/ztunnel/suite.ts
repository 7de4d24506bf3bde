/**
 * `pnpm bench ztunnel` (as root): pod to pod across the two nodes of a local mesh (`@ambit/local-mesh`), over
 * three paths with the same pods, commands and destination address:
 *
 * - `direct`: namespace `bench` not enrolled; the packets are routed node to node;
 * - `c-tunnel`: still not enrolled; node-a steers the client's connections (nft DNAT) into an stunnel client,
 *   which carries them in mutual TLS 1.3 to an stunnel server on node-b (see c-tunnel.ts);
 * - `ztunnel`: `bench` enrolled by editing the control plane's YAML; both ztunnels capture and carry the
 *   connections in HBONE.
 *
 * Per path: iperf3 for `--seconds` (one stream), then the C load generator's ping-pong; the path's proxies'
 * CPU is read from /proc around the bulk run, their peak RSS after. Then, through the ztunnels, `idle_conn_bytes`:
 * each ztunnel is made to collect garbage (over its inspector, opened by SIGUSR1), its RSS read, N idle
 * connections opened and held, garbage collected again and RSS read again; per ztunnel, the growth divided by
 * N. `idle_conn_bytes` is the larger of the two (the worst ztunnel: what one needs per connection it holds);
 * the report keeps each end and their sum too.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LocalMesh } from '@ambit/local-mesh';
import { Child, LineWaiter, raceChild, runToExit } from '../lib/child.js';
import { BenchError } from '../lib/errors.js';
import { buildLoadgen, runPingPong, type RunOptions } from '../lib/loadgen.js';
import { launcher, ztunnelConnections, ztunnelOpenedFrom } from '../lib/mesh.js';
import { readPeakRssMiB, readRssBytes } from '../lib/proc-stats.js';
import { checkAborted, cpuOf, onPath } from '../lib/steps.js';
import type { Suite, SuiteContext } from '../suite.js';
import { writeBenchCertificates } from '../hbone/certs.js';
import { enrolBench } from '../lib/bench-cluster.js';
import { publishReport } from '../lib/publish.js';
import { CLIENT_POD, PORTS, SERVER_IP, SERVER_POD, startZtunnelBenchMesh } from './bench-mesh.js';
import { startCTunnel } from './c-tunnel.js';
import { runIperf } from './iperf.js';
import { ZTUNNEL_USAGE, parseZtunnelOptions, type CaseName, type ZtunnelBenchOptions } from './options.js';
import { formatReport, idleConnFigures, summarise, targets, type CaseRaw, type IdleResult, type ZtunnelReport } from './report.js';

const IDLE_APP = fileURLToPath(new URL('./idle-app.js', import.meta.url));
const GC_CLIENT = fileURLToPath(new URL('./gc-client.js', import.meta.url));
/** No workload on a working path gets near this, even on a loaded 2-core machine. */
const WORKLOAD_TIMEOUT_MS = 300_000;
const NODES = ['node-a', 'node-b'] as const;
/** Where a Node process's inspector listens once SIGUSR1 opened it. */
const INSPECTOR_PORT = 9229;

export const ztunnelSuite: Suite = {
  name: 'ztunnel',
  summary: 'pod to pod across nodes: direct, through two ztunnels, through stunnel; throughput, latency, CPU, memory per idle connection (root)',
  async run(args, ctx) {
    const options = parseZtunnelOptions(args, ctx.resultsDir);
    if (!options) {
      ctx.out(ZTUNNEL_USAGE);
      return;
    }
    if (process.getuid?.() !== 0) {
      throw new BenchError('BENCH_ERR_TOOL', 'pnpm bench ztunnel needs root: it builds network namespaces and the ztunnels install nftables rules');
    }
    const report = await runZtunnelBench(options, ctx);
    await publishReport(ctx, options.outDir, 'ztunnel', report, formatReport(report));
  },
};

export async function runZtunnelBench(options: ZtunnelBenchOptions, ctx: SuiteContext): Promise<ZtunnelReport> {
  const { cleanup, signal, log } = ctx;
  const startedAt = new Date().toISOString();
  const loadAtStart = os.loadavg();
  log('building the load generator');
  const loadgen = await buildLoadgen(cleanup);
  const tmpDir = await mkdtemp(path.join(os.tmpdir(), 'ambit-bench-'));
  cleanup.defer(() => rm(tmpDir, { recursive: true, force: true }));
  if (options.cpuProfDir !== undefined) await mkdir(options.cpuProfDir, { recursive: true });
  if (options.heapSnapshotDir !== undefined) await mkdir(options.heapSnapshotDir, { recursive: true });

  log('starting the mesh: control plane, a ztunnel per node (namespace bench not enrolled)');
  const mesh = await startZtunnelBenchMesh(cleanup, options.cpuProfDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`], options.workers);
  log(`mesh run ${mesh.cluster.prefix} up`);
  checkAborted(signal);
  await startServers(mesh, loadgen, options);

  const run: RunOptions = { cleanup, signal, timeoutMs: WORKLOAD_TIMEOUT_MS, launcher: launcher(mesh, CLIENT_POD) };
  const raws = new Map<CaseName, CaseRaw>();
  const measure = async (name: CaseName, proxies: readonly number[]): Promise<void> => {
    checkAborted(signal);
    const cpuBefore = await cpuOf(proxies);
    const bulk = await onPath(name, 'bulk', () => runIperf(options.iperf3, SERVER_IP, PORTS.iperf3, options.bulkSeconds, run, options.streams));
    const cpu = (await cpuOf(proxies)) - cpuBefore;
    checkAborted(signal);
    const pp = await onPath(name, 'ping-pong', () => runPingPong(loadgen, { host: SERVER_IP, port: PORTS.loadgen }, options.roundTrips, options.messageSize, options.warmup, run));
    const peak = proxies.length === 0 ? undefined : Math.max(...(await Promise.all(proxies.map(readPeakRssMiB))));
    raws.set(name, { name, bulk, p50Us: pp.p50Us, p99Us: pp.p99Us, roundTrips: pp.roundTrips, proxyCpuSeconds: proxies.length === 0 ? undefined : cpu, peakRssMiB: peak });
    log(`${name}: ${(bulk.bytes / bulk.seconds / 1e6).toFixed(1)} MB/s, ping-pong p50 ${pp.p50Us.toFixed(1)} us p99 ${pp.p99Us.toFixed(1)} us`);
  };

  if (options.cases.includes('direct')) {
    const before = await meshOpened(mesh);
    await measure('direct', []);
    const after = await meshOpened(mesh);
    if (after !== before) throw new BenchError('BENCH_ERR_PATH', `direct: node-b's ztunnel proxied ${after - before} connection(s) of a namespace that is not enrolled`);
  }
  if (options.cases.includes('c-tunnel')) {
    log('starting the stunnel pair in the node namespaces');
    const tunnel = await startCTunnel({ mesh, certs: await writeBenchCertificates(tmpDir), stunnel: options.stunnel, ports: [PORTS.iperf3, PORTS.loadgen], tmpDir, cleanup, signal });
    await measure('c-tunnel', tunnel.proxies.map((c) => c.pid));
    // iperf3's control and data connections, and the ping-pong's.
    if (tunnel.accepted() < 3) throw new BenchError('BENCH_ERR_PATH', `c-tunnel: node-a's stunnel accepted ${tunnel.accepted()} connection(s); the steering did not take the traffic`);
    await tunnel.stop();
  }
  const wantIdle = options.idleConnections > 0;
  if (options.cases.includes('ztunnel') || wantIdle) {
    log('enrolling namespace bench');
    const before = await meshOpened(mesh);
    await enrolBench(mesh, async () => {
      await runPingPong(loadgen, { host: SERVER_IP, port: PORTS.loadgen }, 5, 16, 0, { ...run, timeoutMs: 10_000 }).catch(() => undefined);
      return (await meshOpened(mesh)) > before;
    });
  }
  const ztunnelPids = NODES.map((n) => mesh.ztunnel(n).pid);
  if (options.cases.includes('ztunnel')) {
    const before = await meshOpened(mesh);
    await measure('ztunnel', ztunnelPids);
    const through = (await meshOpened(mesh)) - before;
    if (through < 3) throw new BenchError('BENCH_ERR_PATH', `ztunnel: node-b's ztunnel reports ${through} connection(s) from the client; the traffic did not go through the mesh`);
  }
  const idle = wantIdle ? await measureIdle(mesh, options.idleConnections, options.heapSnapshotDir, ctx) : null;

  const cases = options.cases.map((c) => summarise(raws.get(c)!));
  const perConn = idleConnFigures(idle);
  return {
    cases,
    idle_conn_bytes: perConn.idle_conn_bytes,
    idle_conn_bytes_by_node: perConn.idle_conn_bytes_by_node,
    idle_conn_bytes_both_ends: perConn.idle_conn_bytes_both_ends,
    suite: 'ztunnel',
    started_at: startedAt,
    config: {
      bulk_seconds: options.bulkSeconds,
      round_trips: options.roundTrips,
      message_size: options.messageSize,
      streams: options.streams,
      workers: options.workers,
      idle_connections: options.idleConnections,
      quick: options.quick,
      node: process.version,
      cpus: os.availableParallelism(),
      load_average_at_start: loadAtStart.map((l) => Math.round(l * 100) / 100),
      load_average_at_end: os.loadavg().map((l) => Math.round(l * 100) / 100),
    },
    idle,
    targets: targets(cases, perConn.idle_conn_bytes),
  };
}

/** The C backend, iperf3's server and the idle server, in the server pod. */
async function startServers(mesh: LocalMesh, loadgen: string, options: ZtunnelBenchOptions): Promise<void> {
  const listening = (port: number) => (p: { logs: readonly Readonly<Record<string, unknown>>[] }) => p.logs.some((l) => l['listening'] === port);
  await mesh.startProcess(SERVER_POD, 'loadgen-backend', loadgen, ['backend-server', '0.0.0.0', String(PORTS.loadgen)], { ready: listening(PORTS.loadgen) });
  await mesh.startProcess(SERVER_POD, 'iperf3-server', options.iperf3, ['-s', '-p', String(PORTS.iperf3), '--forceflush'], {
    ready: (p) => p.logs.some((l) => typeof l['msg'] === 'string' && l['msg'].includes('Server listening')),
  });
  if (options.idleConnections > 0) {
    await mesh.startProcess(SERVER_POD, 'idle-server', process.execPath, [IDLE_APP, 'server', String(PORTS.idle)], { ready: listening(PORTS.idle) });
  }
}

/** Connections node-b's ztunnel has opened for the client pod so far: which path the traffic took. */
function meshOpened(mesh: LocalMesh): Promise<number> {
  return ztunnelOpenedFrom(mesh, 'node-b', 'client');
}

async function measureIdle(mesh: LocalMesh, count: number, snapshotDir: string | undefined, ctx: SuiteContext): Promise<IdleResult> {
  const { cleanup, signal, log } = ctx;
  checkAborted(signal);
  log(`idle connections: a GC in each ztunnel, then ${count} connections opened and held`);
  const rss = async (): Promise<Record<string, number>> => Object.fromEntries(await Promise.all(NODES.map(async (n) => [n, await readRssBytes(mesh.ztunnel(n).pid)] as const)));
  const gcAll = async (): Promise<Record<string, number>> => Object.fromEntries(await Promise.all(NODES.map(async (n) => [n, await collectGarbage(mesh, n, undefined, ctx)] as const)));
  // After the RSS reading (serialising a snapshot grows the process for a while), one node at a time.
  const snapshots = async (phase: string): Promise<void> => {
    if (snapshotDir === undefined) return;
    for (const n of NODES) await collectGarbage(mesh, n, path.join(snapshotDir, `${n}-${phase}.heapsnapshot`), ctx);
  };
  const heapBefore = await gcAll();
  const before = await rss();
  await snapshots('before');

  const opened = new LineWaiter<Record<string, unknown>>((line) => {
    const event = JSON.parse(line) as Record<string, unknown>;
    return 'open' in event || 'error' in event ? event : undefined;
  });
  const [ip, ...prefix] = launcher(mesh, CLIENT_POD);
  const client = await Child.start('idle-client', ip!, [...prefix, process.execPath, IDLE_APP, 'client', SERVER_IP, String(PORTS.idle), String(count), '64'], {
    cleanup,
    onStdoutLine: opened.onLine,
  });
  const event = await raceChild(client, WORKLOAD_TIMEOUT_MS, signal, 'the idle client did not open its connections', () => opened.value);
  if (event['open'] !== count) throw new BenchError('BENCH_ERR_PATH', `idle: the client opened ${String(event['open'])} of ${count} connections: ${String(event['error'])}`);
  const held = Object.fromEntries(await Promise.all(NODES.map(async (n) => [n, await ztunnelConnections(mesh, n)] as const)));
  for (const n of NODES) {
    if (held[n]! < count) throw new BenchError('BENCH_ERR_PATH', `idle: the ztunnel on ${n} holds ${held[n]} connections, fewer than the ${count} open`);
  }
  // Let the last connections' set-up garbage become garbage, then collect it.
  await sleep(1_000);
  const heapAfter = await gcAll();
  const after = await rss();
  await snapshots('after');
  await client.stop();
  const perConn = Object.fromEntries(NODES.map((n) => [n, Math.round((after[n]! - before[n]!) / count)]));
  const heapPerConn = Object.fromEntries(NODES.map((n) => [n, Math.round((heapAfter[n]! - heapBefore[n]!) / count)]));
  log(`idle: RSS growth per connection ${NODES.map((n) => `${n} ${perConn[n]} B (heap ${heapPerConn[n]} B)`).join(', ')}`);
  return { connections: count, rss_before: before, rss_after: after, bytes_per_conn: perConn, heap_before: heapBefore, heap_after: heapAfter, heap_bytes_per_conn: heapPerConn, held, gc: true };
}

/**
 * Opens `node`'s ztunnel's inspector (SIGUSR1) and has it collect garbage (gc-client.ts, in the node's
 * namespace), writing a heap snapshot to `snapshot` when given. Resolves with the heap in use after the GC.
 */
async function collectGarbage(mesh: LocalMesh, node: string, snapshot: string | undefined, ctx: SuiteContext): Promise<number> {
  process.kill(mesh.ztunnel(node).pid, 'SIGUSR1');
  const [ip, ...prefix] = launcher(mesh, node);
  const args = [...prefix, process.execPath, '--experimental-websocket', '--no-warnings', GC_CLIENT, String(INSPECTOR_PORT), ...(snapshot === undefined ? [] : [snapshot])];
  const { exit, child, stdout } = await runToExit('gc-client', ip!, args, {
    cleanup: ctx.cleanup,
    timeoutMs: snapshot === undefined ? 30_000 : 200_000,
    signal: ctx.signal,
  });
  if (exit.code !== 0) throw new BenchError('BENCH_ERR_CHILD', `making the ztunnel on ${node} collect garbage failed: ${child.describeExit()}`);
  const done = stdout
    .split('\n')
    .map((l) => JSON.parse(l) as { gc?: string; heap_used?: unknown })
    .find((e) => e.gc === 'done');
  if (typeof done?.heap_used !== 'number') throw new BenchError('BENCH_ERR_CHILD', `the gc client for ${node} reported no heap size: ${stdout}`);
  return done.heap_used;
}
