export { LocalMesh, HeldClient, CONTROL_PLANE_HOSTNAME, CONTROL_PLANE_MAIN, ZTUNNEL_MAIN, XDS_PORT } from './local-mesh.js';
export type { LocalMeshOptions, MeshExtension, StartZtunnelOptions, StartProcessOptions, HttpResult } from './local-mesh.js';
export { MeshProcess } from './mesh-process.js';
export type { LogRecord, ExitStatus } from './mesh-process.js';
export { LocalMeshError } from './errors.js';
export type { LocalMeshErrorCode } from './errors.js';
export { until, DEFAULT_WAIT_MS } from './wait.js';
export type { UntilOptions } from './wait.js';
export {
  findWaypoints,
  startWaypoint,
  waypointEnv,
  waypointProcessName,
  waypointReadiness,
  waypointsExtension,
  waypointTokenPath,
  GATEWAY_NAME_LABEL,
  WAYPOINT_GATEWAY_CLASS,
  WAYPOINT_MAIN,
} from './waypoints.js';
export type { StartWaypointOptions, WaypointSpec } from './waypoints.js';
