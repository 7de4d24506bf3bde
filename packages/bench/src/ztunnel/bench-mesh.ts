/**
 * The benchmark's cluster: two nodes, one client pod on node-a and one server pod on node-b, in namespace
 * `bench`, which is not enrolled at first (the `direct` and `c-tunnel` cases) and is enrolled at run time by
 * editing the control plane's YAML (the `ztunnel` case): the same pods, addresses and routes for every case.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LocalMesh, until } from '@ambit/local-mesh';
import type { Cleanup } from '../lib/cleanup.js';

export const CLIENT_POD = 'client';
export const SERVER_POD = 'server';
export const CLIENT_IP = '10.244.0.10';
export const SERVER_IP = '10.244.1.10';
/** The C backend (bulk sink + echo), iperf3, and the idle-connection server, in the server pod. */
export const PORTS = { loadgen: 9000, iperf3: 5201, idle: 9100 } as const;

const NOT_ENROLLED = 'metadata: { name: bench }';
const ENROLLED = 'metadata: { name: bench, labels: { istio.io/dataplane-mode: ambient } }';

export const BENCH_MESH_YAML = `# pnpm bench ztunnel: generated for the run.
apiVersion: v1
kind: Namespace
metadata: { name: istio-system }
---
apiVersion: v1
kind: Namespace
${NOT_ENROLLED}
---
apiVersion: v1
kind: Namespace
metadata: { name: anchor, labels: { istio.io/dataplane-mode: ambient } }
---
apiVersion: v1
kind: Node
metadata: { name: node-a }
---
apiVersion: v1
kind: Node
metadata: { name: node-b }
---
apiVersion: v1
kind: Pod
metadata: { name: ${CLIENT_POD}, namespace: bench, labels: { app: client } }
spec: { nodeName: node-a, serviceAccountName: client, containers: [{ name: load, image: loadgen }] }
status: { phase: Running, podIP: ${CLIENT_IP}, conditions: [{ type: Ready, status: "True" }] }
---
apiVersion: v1
kind: Pod
metadata: { name: ${SERVER_POD}, namespace: bench, labels: { app: server } }
spec: { nodeName: node-b, serviceAccountName: server, containers: [{ name: backend, image: loadgen }] }
status: { phase: Running, podIP: ${SERVER_IP}, conditions: [{ type: Ready, status: "True" }] }
---
# An enrolled pod on each node, idle: the control plane gives a node its token (and so its ztunnel a
# connection) once the node has a pod in the mesh, and bench is not enrolled at first.
apiVersion: v1
kind: Pod
metadata: { name: anchor-a, namespace: anchor }
spec: { nodeName: node-a, serviceAccountName: anchor, containers: [{ name: idle, image: pause }] }
status: { phase: Running, podIP: 10.244.0.99, conditions: [{ type: Ready, status: "True" }] }
---
apiVersion: v1
kind: Pod
metadata: { name: anchor-b, namespace: anchor }
spec: { nodeName: node-b, serviceAccountName: anchor, containers: [{ name: idle, image: pause }] }
status: { phase: Running, podIP: 10.244.1.99, conditions: [{ type: Ready, status: "True" }] }
`;

export interface BenchMeshOptions {
  readonly cleanup: Cleanup;
  readonly ztunnelNodeArgs: readonly string[];
}

/** Starts the mesh (ztunnels on both nodes, `bench` not enrolled); its teardown is registered with `cleanup`. */
export async function startBenchMesh(options: BenchMeshOptions): Promise<LocalMesh> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ambit-bench-zt-'));
  options.cleanup.defer(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'bench-mesh.yaml');
  await writeFile(file, BENCH_MESH_YAML);
  const mesh = await LocalMesh.start({
    config: file,
    prefix: `bz${Math.floor(Math.random() * 0xfffff).toString(36)}`,
    controlPlaneLogLevel: 'warn',
    // Only failures: a line per connection would cost the data path and fill memory with 10,000 lines.
    ztunnelEnv: { LOG_LEVEL: 'warn' },
    ztunnelNodeArgs: options.ztunnelNodeArgs,
  });
  // Graceful, so that --cpu-prof profiles are written; the ztunnels have nothing left to drain by then.
  options.cleanup.defer(() => mesh.close());
  return mesh;
}

/** `ip netns exec <ns>`: runs a program in a pod's or node's network namespace. */
export function launcher(mesh: LocalMesh, target: string): string[] {
  return ['ip', 'netns', 'exec', mesh.cluster.namespaceOf(target)];
}

/** How many connections a ztunnel's data path holds (its `/config_dump`). */
export async function ztunnelConnections(mesh: LocalMesh, node: string): Promise<number> {
  const dump = await mesh.httpGet(node, 15000, '/config_dump');
  const body = JSON.parse(dump.body) as { proxy?: { connections?: number } };
  return body.proxy?.connections ?? 0;
}

/**
 * Enrols namespace `bench` and waits until both ztunnels proxy its pods: `probe` opens a connection from the
 * client to the server, and node-b's ztunnel must hold a connection while it is open (capture and
 * certificates are then in place on both sides).
 */
export async function enrol(mesh: LocalMesh, probe: () => Promise<boolean>): Promise<void> {
  await mesh.editConfig((y) => y.replace(NOT_ENROLLED, ENROLLED));
  await until(probe, () => 'namespace bench to be captured by both ztunnels', { waitMs: 60_000 });
}
