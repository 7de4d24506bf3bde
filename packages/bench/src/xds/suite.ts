/**
 * `pnpm bench xds`: the control plane (the real command, its own process) over a generated mesh, and an
 * xDS client (its own process, `--expose-gc`) holding the decoded state as ztunnel would.
 *
 * 1. Cold start: from spawning the control plane to the client having applied and ACKed both types.
 * 2. The client's heap after GC, minus its baseline before connecting, per workload.
 * 3. One-pod changes: `churn.yaml` (one pod) is rewritten with a new IP and version label (temp file
 *    renamed over it, as editors and ConfigMap updates do), one at a time; each is timed from the write
 *    and from the moment the control plane started re-reading (from its log), to the client's apply.
 */
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { raceChild } from '../lib/child.js';
import { BenchError } from '../lib/errors.js';
import type { Suite, SuiteContext } from '../suite.js';
import { BenchClient } from './client.js';
import { ControlPlaneProcess, type Serving } from './control-plane.js';
import { CHURN_FILE, churnState, churnYaml, generateMesh } from './mesh-gen.js';
import { preciseNow } from './messages.js';
import { XDS_USAGE, parseXdsOptions, type XdsBenchOptions } from './options.js';
import { changeFigures, formatXdsReport, round, xdsTargets, type ChangeTiming, type XdsReport } from './report.js';

/** Generous bounds: a broken path fails in minutes, not never. */
const START_TIMEOUT_MS = 300_000;
const CHANGE_TIMEOUT_MS = 30_000;
const SERVER_NAME = 'istiod.istio-system.svc';

export const xdsSuite: Suite = {
  name: 'xds',
  summary: 'control plane + xDS client: cold push, one-change latency, push bytes, client heap per workload',
  async run(args, ctx) {
    const options = parseXdsOptions(args, ctx.resultsDir);
    if (!options) {
      ctx.out(XDS_USAGE);
      return;
    }
    const report = await runXdsBench(options, ctx);
    const file = path.join(options.outDir, 'xds.json');
    await mkdir(options.outDir, { recursive: true });
    await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
    ctx.out(formatXdsReport(report));
    ctx.log(`wrote ${file}`);
    if (options.profileDir !== undefined) ctx.log(`CPU profiles and the control plane's log with its GC trace are in ${options.profileDir} once the processes have exited`);
  },
};

export async function runXdsBench(options: XdsBenchOptions, ctx: SuiteContext): Promise<XdsReport> {
  const { cleanup, signal, log } = ctx;
  const startedAt = new Date().toISOString();
  const tmpDir = await mkdtemp(path.join(os.tmpdir(), 'ambit-bench-xds-'));
  cleanup.defer(() => rm(tmpDir, { recursive: true, force: true }));
  const configDir = path.join(tmpDir, 'config');

  log(`generating ${options.mesh.pods} pods, ${options.mesh.services} services, ${options.mesh.policies} policies`);
  const mesh = generateMesh(options.mesh);
  let inputBytes = 0;
  for (const [file, text] of mesh.files) {
    const full = path.join(configDir, file);
    await mkdir(path.dirname(full), { recursive: true });
    await writeFile(full, text);
    inputBytes += Buffer.byteLength(text);
  }

  if (options.profileDir !== undefined) await mkdir(options.profileDir, { recursive: true });
  const client = await BenchClient.start(cleanup, signal, START_TIMEOUT_MS, options.profileDir);
  log('starting the control plane');
  const spawnedAt = preciseNow();
  const plane = await ControlPlaneProcess.start(configDir, path.join(tmpDir, 'state'), cleanup, options.profileDir);
  const serving = await raceStart(plane, signal);
  const servingAt = preciseNow();
  client.send({ type: 'connect', target: serving.grpc, rootCertPem: serving.rootCertPem, serverName: SERVER_NAME, churnUid: mesh.churn.uid });
  const synced = await client.synced();
  const first = await plane.snapshot(1, START_TIMEOUT_MS, signal);
  if (synced.workloads !== mesh.counts.pods) {
    throw new BenchError('BENCH_ERR_PATH', `the client holds ${synced.workloads} workloads, not the ${mesh.counts.pods} pods of the mesh`);
  }
  log(`full push applied after ${round(synced.at - spawnedAt)} ms (${synced.bytes} bytes)`);

  const heap = await client.heap();
  const heapDelta = heap.heapUsed - client.baseline.heapUsed;

  const changes: ChangeTiming[] = [];
  const churnPath = path.join(configDir, CHURN_FILE);
  const tempPath = path.join(configDir, `.${CHURN_FILE}.tmp`);
  for (let g = 1; g <= options.changes; g++) {
    if (signal.aborted) throw new BenchError('BENCH_ERR_ABORTED', 'interrupted');
    const state = churnState(g);
    const applied = client.churn(state.ip, state.version);
    // Written aside and renamed over: the control plane never reads a half-written file.
    await writeFile(tempPath, churnYaml(mesh, state));
    await rename(tempPath, churnPath);
    const written = preciseNow();
    const done = await applied;
    const snapshot = await plane.snapshot(1 + g, CHANGE_TIMEOUT_MS, signal);
    const served = await plane.served(1 + g, CHANGE_TIMEOUT_MS, signal);
    changes.push({
      written,
      seen: snapshot.time - snapshot.readMs - snapshot.computeMs,
      readMs: snapshot.readMs,
      computeMs: snapshot.computeMs,
      published: snapshot.time,
      served,
      applied: done.at,
    });
  }
  log(`timed ${changes.length} one-pod changes`);

  const partial = {
    cold_push_ms: round(synced.at - spawnedAt),
    ...changeFigures(changes),
    full_push_bytes: synced.bytes,
    client_heap_bytes_per_workload: Math.round(heapDelta / synced.workloads),
  };
  // The four agreed figures first, in the agreed order.
  const { cold_push_ms, one_change_p99_ms, full_push_bytes, client_heap_bytes_per_workload, ...more } = partial;
  return {
    cold_push_ms,
    one_change_p99_ms,
    full_push_bytes,
    client_heap_bytes_per_workload,
    ...more,
    cold_start: { serving_ms: round(servingAt - spawnedAt), first_read_ms: first.readMs, first_compute_ms: first.computeMs },
    full_push_responses: synced.responses,
    client_heap: {
      baseline_bytes: client.baseline.heapUsed,
      synced_bytes: heap.heapUsed,
      array_buffers_bytes: heap.arrayBuffers - client.baseline.arrayBuffers,
      workloads: synced.workloads,
      services: synced.services,
      authorizations: synced.authorizations,
      bytes_per_1000_workloads: Math.round((heapDelta / synced.workloads) * 1000),
    },
    config: { ...options.mesh, changes: options.changes, input_files: mesh.files.size, input_bytes: inputBytes },
    targets: xdsTargets(partial),
    suite: 'xds',
    started_at: startedAt,
  };
}

function raceStart(plane: ControlPlaneProcess, signal: AbortSignal): Promise<Serving> {
  return raceChild(plane.child, START_TIMEOUT_MS, signal, 'the control plane did not start serving', () => plane.serving);
}
