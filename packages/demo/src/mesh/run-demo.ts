/**
 * The local mesh demo from start to teardown: bring the mesh up from the config directory, say what is where,
 * run the scenes, tear down. Output goes through `out`; a scene that sees the mesh misbehave fails the run.
 */
import path from 'node:path';
import { LocalMesh } from '@ambit/local-mesh';
import type { Logger } from '@ambit/mesh-core/telemetry';
import { findWorkload, findWorkloads, type Workload } from './cast.js';
import { CAST, EXTENSIONS, SCENES, SERVERS } from './scenes.js';
import type { Scene } from './scene.js';

export interface DemoOptions {
  /** The control plane's input: deploy/examples by default. */
  readonly config: string;
  readonly prefix?: string;
  readonly logger: Logger;
  readonly out: (line?: string) => void;
  /** Called with the mesh once it is up, so that a signal handler can tear it down. */
  readonly onMesh: (mesh: LocalMesh) => void;
  readonly scenes?: readonly Scene[];
}

export async function runDemo(options: DemoOptions): Promise<void> {
  const { out } = options;
  out('Ambit local mesh: a control plane, two nodes with pods, a ztunnel per node, a waypoint per waypoint Gateway (network namespaces on this machine).');
  out(`Starting from ${path.relative(process.cwd(), options.config) || options.config} …`);
  const mesh = await LocalMesh.start({
    config: options.config,
    ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
    logger: options.logger,
    extensions: EXTENSIONS,
  });
  options.onMesh(mesh);
  try {
    out(`Up (run ${mesh.cluster.prefix}; config ${(await mesh.configFiles()).join(', ')} copied to ${mesh.configDir}):`);
    const cast = new Map<string, Workload>();
    for (const { namespace, app } of CAST) cast.set(app, await findWorkload(mesh, namespace, app));
    for (const { namespace, app, port } of SERVERS) {
      for (const w of await findWorkloads(mesh, namespace, app)) await mesh.cluster.startEchoServer(w.pod, { protocol: 'http', port });
    }
    describeMesh(mesh, cast, out);
    const scenes = options.scenes ?? SCENES;
    for (const [i, scene] of scenes.entries()) {
      out();
      out(`${i + 1}. ${scene.title}`);
      await scene.run({ mesh, cast, out: (line = '') => out(line === '' ? '' : `   ${line}`) });
    }
    out();
    out('Tearing down: the waypoints and ztunnels drain (the ztunnels remove their capture rules), the control plane stops, the namespaces go.');
    await mesh.close();
    out('Done: every hop proved its identity, the waypoint split and denied by HTTP attributes, and each policy denied what it names.');
  } finally {
    await mesh.destroy();
  }
}

function describeMesh(mesh: LocalMesh, cast: ReadonlyMap<string, Workload>, out: (line?: string) => void): void {
  out(`   control plane  in ${mesh.controlPlaneNode}'s namespace, xDS and CA on ${mesh.xdsAddress}`);
  const byPod = new Map([...cast.values()].map((w) => [w.pod, w]));
  for (const node of mesh.cluster.nodes.values()) {
    out(`   ${node.name}  ${node.ip}  ztunnel pid ${mesh.ztunnel(node.name).pid}, ready`);
    const waypoints = new Map([...mesh.processes.values()].filter((p) => p.name.startsWith('waypoint-')).map((p) => [p.target, p]));
    for (const pod of mesh.cluster.pods.values()) {
      if (pod.node !== node.name) continue;
      const w = byPod.get(pod.name);
      const waypoint = waypoints.get(pod.name);
      out(`      ${pod.ip.padEnd(12)} ${pod.namespace}/${pod.name}${w ? `  (${w.identity})` : ''}${waypoint ? `  ambit-waypoint pid ${waypoint.pid}, ready` : ''}`);
    }
  }
}
