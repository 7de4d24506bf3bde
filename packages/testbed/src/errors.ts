import { MeshError } from '@ambit/mesh-core/errors';

/**
 * Stable codes:
 * - `TESTBED_ERR_TOPOLOGY`: the YAML or objects do not describe a cluster (every problem is listed);
 * - `TESTBED_ERR_PREFIX`: the run prefix is malformed or already in use;
 * - `TESTBED_ERR_COMMAND`: a command (`ip`, `nft`, a process in a namespace) failed;
 * - `TESTBED_ERR_NOT_ROOT`: building namespaces needs root;
 * - `TESTBED_ERR_UNKNOWN_TARGET`: no pod, node or namespace of this cluster has that name;
 * - `TESTBED_ERR_DESTROYED`: the cluster was already destroyed;
 * - `TESTBED_ERR_APP`: an echo app reported an error or said nothing in time.
 */
export type TestbedErrorCode =
  | 'TESTBED_ERR_TOPOLOGY'
  | 'TESTBED_ERR_PREFIX'
  | 'TESTBED_ERR_COMMAND'
  | 'TESTBED_ERR_NOT_ROOT'
  | 'TESTBED_ERR_UNKNOWN_TARGET'
  | 'TESTBED_ERR_DESTROYED'
  | 'TESTBED_ERR_APP';

export class TestbedError extends MeshError {
  declare readonly code: TestbedErrorCode;

  constructor(code: TestbedErrorCode, reason: string, options?: { cause?: unknown }) {
    super(code, reason, options);
  }
}
