/**
 * The ztunnel end-to-end tests' mesh: `@ambit/local-mesh` over `fixtures/ztunnel-mesh.yaml` (control plane in
 * node-a's namespace, a ztunnel per node), plus an echo server on 8080 in every pod (and 9090 in api-b), and
 * the fixture's addresses by name.
 */
import path from 'node:path';
import { LocalMesh, type LocalMeshOptions } from '@ambit/local-mesh';
import { uniquePrefix } from '@ambit/testbed/test-support';

export { ZTUNNEL_MAIN as ZTUNNEL, until } from '@ambit/local-mesh';
export type { LogRecord } from '@ambit/local-mesh';

export const MESH_YAML = path.join(import.meta.dirname, '..', '..', '..', 'e2e', 'fixtures', 'ztunnel-mesh.yaml');

export const POD_IP = {
  'client-a': '10.244.0.10',
  'web-a': '10.244.0.11',
  kiosk: '10.244.0.12',
  'plain-a': '10.244.0.13',
  'web-b': '10.244.1.20',
  'api-b': '10.244.1.21',
  outsider: '10.244.1.30',
} as const;
export type PodName = keyof typeof POD_IP;
export const WEB_VIP = '10.96.0.10';

/**
 * Builds the mesh (run names `<prefix><random>`) with echo servers in the pods. On failure nothing is left.
 */
export async function createMesh(prefix: string, options: Pick<LocalMeshOptions, 'ztunnelEnv'> = {}): Promise<LocalMesh> {
  const mesh = await LocalMesh.start({ config: MESH_YAML, prefix: uniquePrefix(prefix), controlPlaneLogLevel: 'warn', ...options });
  try {
    for (const pod of Object.keys(POD_IP) as PodName[]) await mesh.cluster.startEchoServer(pod, { protocol: 'tcp', port: 8080 });
    await mesh.cluster.startEchoServer('api-b', { protocol: 'tcp', port: 9090 });
    return mesh;
  } catch (err) {
    await mesh.destroy();
    throw err;
  }
}
