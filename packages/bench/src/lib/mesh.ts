/**
 * What the suites that run in a local mesh (`@ambit/local-mesh`: `ztunnel`, `waypoint`) share: starting a
 * mesh from a YAML text with the run's cleanup, running programs in a pod, and reading a ztunnel's counters.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LocalMesh, until, type MeshExtension } from '@ambit/local-mesh';
import type { Cleanup } from './cleanup.js';

export interface BenchMeshOptions {
  readonly cleanup: Cleanup;
  /** The control plane's input and the cluster's topology. */
  readonly yaml: string;
  /** Two letters naming the suite in the run's namespace names (`ambit-<tag><random>-…`). */
  readonly tag: string;
  /** Node.js flags for the ztunnels (e.g. `--cpu-prof`). */
  readonly ztunnelNodeArgs?: readonly string[];
  /** More environment for the ztunnels (e.g. `ZTUNNEL_WORKER_THREADS`). */
  readonly ztunnelEnv?: Readonly<Record<string, string>>;
  /** Started once the ztunnels are ready (waypoints, say). */
  readonly extensions?: readonly MeshExtension[];
}

/** Starts the mesh described by `options.yaml`; its graceful teardown is registered with `cleanup`. */
export async function startBenchMesh(options: BenchMeshOptions): Promise<LocalMesh> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `ambit-bench-${options.tag}-`));
  options.cleanup.defer(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'bench-mesh.yaml');
  await writeFile(file, options.yaml);
  const mesh = await LocalMesh.start({
    config: file,
    prefix: `${options.tag}${Math.floor(Math.random() * 0xfffff).toString(36)}`,
    controlPlaneLogLevel: 'warn',
    // Only failures: a line per connection would cost the data path and fill memory with thousands of lines.
    ztunnelEnv: { LOG_LEVEL: 'warn', ...options.ztunnelEnv },
    ztunnelNodeArgs: options.ztunnelNodeArgs ?? [],
    ...(options.extensions !== undefined ? { extensions: options.extensions } : {}),
  });
  // Graceful, so that --cpu-prof profiles are written; the proxies have nothing left to drain by then.
  options.cleanup.defer(() => mesh.close());
  return mesh;
}

/** `ip netns exec <ns>`: runs a program in a pod's or node's network namespace. */
export function launcher(mesh: LocalMesh, target: string): string[] {
  return ['ip', 'netns', 'exec', mesh.cluster.namespaceOf(target)];
}

/**
 * The sum of the samples of counter `name` in a Prometheus text exposition whose label set (the text between
 * the braces) satisfies `match`.
 */
export function sumCounter(exposition: string, name: string, match: (labels: string) => boolean): number {
  const prefix = `${name}{`;
  let total = 0;
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const close = line.lastIndexOf('}');
    if (close < 0 || !match(line.slice(prefix.length, close))) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) total += value;
  }
  return total;
}

/**
 * Connections `node`'s ztunnel has opened on the destination side for `sourceWorkload` so far (its
 * `istio_tcp_connections_opened_total`, reporter destination): how a suite knows which path traffic took.
 */
export async function ztunnelOpenedFrom(mesh: LocalMesh, node: string, sourceWorkload: string): Promise<number> {
  const metrics = await mesh.httpGet(node, 15020, '/metrics');
  return sumCounter(metrics.body, 'istio_tcp_connections_opened_total', (l) => l.includes('reporter="destination"') && l.includes(`source_workload="${sourceWorkload}"`));
}

/** How many connections a ztunnel's data path holds (its `/config_dump`). */
export async function ztunnelConnections(mesh: LocalMesh, node: string): Promise<number> {
  const dump = await mesh.httpGet(node, 15000, '/config_dump');
  const body = JSON.parse(dump.body) as { proxy?: { connections?: number } };
  return body.proxy?.connections ?? 0;
}

/**
 * Replaces `from` with `to` in the control plane's YAML (a label added, say) and waits until `probe` (which
 * sends traffic and looks where it went) says the mesh acts on it; `what` names the change in a timeout.
 */
export async function changeAndWait(mesh: LocalMesh, from: string, to: string, probe: () => Promise<boolean>, what: string): Promise<void> {
  await mesh.editConfig((yaml) => yaml.replace(from, to));
  await until(probe, () => what, { waitMs: 60_000 });
}
