/** Finding requests in the demo waypoint's access log (one JSON line per request, component `access`). */
import type { LocalMesh, LogRecord, MeshProcess } from '@ambit/local-mesh';
import { DemoError } from './errors.js';

/** demo's waypoint: mesh.yaml's Gateway demo/waypoint, run by the waypoints extension. */
export const DEMO_WAYPOINT = { namespace: 'demo', gateway: 'waypoint', process: 'waypoint-demo-waypoint' } as const;

export function demoWaypoint(mesh: LocalMesh): MeshProcess {
  if (!mesh.processes.has(DEMO_WAYPOINT.process)) {
    throw new DemoError('DEMO_ERR_CAST', `the demo needs the waypoint ${DEMO_WAYPOINT.namespace}/${DEMO_WAYPOINT.gateway} (a Gateway of class istio-waypoint with its pod); it is not running`);
  }
  return mesh.process(DEMO_WAYPOINT.process);
}

/** The waypoint's access line for `method path` from `srcIp`. */
export async function waypointAccessLine(mesh: LocalMesh, method: string, path: string, srcIp: string): Promise<LogRecord> {
  return await demoWaypoint(mesh).waitForLog(
    (r) => r['component'] === 'access' && r['method'] === method && r['path'] === path && typeof r['src.addr'] === 'string' && r['src.addr'].startsWith(`${srcIp}:`),
    `the waypoint's access line for ${method} ${path}`,
  );
}
