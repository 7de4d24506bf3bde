/**
 * The benchmark's cluster: two nodes, one client pod on node-a and one server pod on node-b, in namespace
 * `bench`, which is not enrolled at first (the `direct` and `c-tunnel` cases) and is enrolled at run time by
 * editing the control plane's YAML (the `ztunnel` case): the same pods, addresses and routes for every case.
 */
import type { LocalMesh } from '@ambit/local-mesh';
import type { Cleanup } from '../lib/cleanup.js';
import { benchClusterYaml, benchPod } from '../lib/bench-cluster.js';
import { startBenchMesh } from '../lib/mesh.js';

export const CLIENT_POD = 'client';
export const SERVER_POD = 'server';
export const CLIENT_IP = '10.244.0.10';
export const SERVER_IP = '10.244.1.10';
/** The C backend (bulk sink + echo), iperf3, and the idle-connection server, in the server pod. */
export const PORTS = { loadgen: 9000, iperf3: 5201, idle: 9100 } as const;

export const BENCH_MESH_YAML = benchClusterYaml('ztunnel', [
  benchPod(CLIENT_POD, 'node-a', CLIENT_IP, 'app: client', '{ name: load, image: loadgen }'),
  benchPod(SERVER_POD, 'node-b', SERVER_IP, 'app: server', '{ name: backend, image: loadgen }'),
]);

/** Starts the mesh (ztunnels on both nodes, `bench` not enrolled); its teardown is registered with `cleanup`. */
export async function startZtunnelBenchMesh(cleanup: Cleanup, ztunnelNodeArgs: readonly string[], workerThreads = 1): Promise<LocalMesh> {
  return await startBenchMesh({ cleanup, yaml: BENCH_MESH_YAML, tag: 'bz', ztunnelNodeArgs, ztunnelEnv: { ZTUNNEL_WORKER_THREADS: String(workerThreads) } });
}
