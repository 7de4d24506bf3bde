import { MeshError } from '@ambit/mesh-core/errors';

/**
 * Stable codes:
 * - `LOCAL_MESH_ERR_CONFIG`: the YAML input is missing, holds no YAML file, or a config file name is bad;
 * - `LOCAL_MESH_ERR_EDIT`: a run-time edit names no file, is ambiguous, or changes nothing;
 * - `LOCAL_MESH_ERR_START`: a process of the mesh exited or was not ready in time;
 * - `LOCAL_MESH_ERR_PROCESS`: a process name is already running, or none has that name;
 * - `LOCAL_MESH_ERR_UNKNOWN_NODE`: no node (or pod) of the mesh has that name;
 * - `LOCAL_MESH_ERR_EXTENSION`: an extension failed to start (the mesh is torn down);
 * - `LOCAL_MESH_ERR_WAIT`: something awaited (a log line, a condition) did not happen in time;
 * - `LOCAL_MESH_ERR_DESTROYED`: the mesh was already closed or destroyed.
 */
export type LocalMeshErrorCode =
  | 'LOCAL_MESH_ERR_CONFIG'
  | 'LOCAL_MESH_ERR_EDIT'
  | 'LOCAL_MESH_ERR_START'
  | 'LOCAL_MESH_ERR_PROCESS'
  | 'LOCAL_MESH_ERR_UNKNOWN_NODE'
  | 'LOCAL_MESH_ERR_EXTENSION'
  | 'LOCAL_MESH_ERR_WAIT'
  | 'LOCAL_MESH_ERR_DESTROYED';

export class LocalMeshError extends MeshError {
  declare readonly code: LocalMeshErrorCode;

  constructor(code: LocalMeshErrorCode, reason: string, options?: { cause?: unknown }) {
    super(code, reason, options);
  }
}
