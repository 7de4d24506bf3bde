import { MeshError } from '@ambit/mesh-core/errors';

/**
 * Stable codes:
 * - `DEMO_ERR_USAGE`: a bad command line;
 * - `DEMO_ERR_NOT_ROOT`: the local mesh needs root (network namespaces, nftables);
 * - `DEMO_ERR_CAST`: the config lacks a workload a scene needs;
 * - `DEMO_ERR_SCENE`: the mesh did not behave as the scene shows (the demo fails rather than print it).
 */
export type DemoErrorCode = 'DEMO_ERR_USAGE' | 'DEMO_ERR_NOT_ROOT' | 'DEMO_ERR_CAST' | 'DEMO_ERR_SCENE';

export class DemoError extends MeshError {
  declare readonly code: DemoErrorCode;

  constructor(code: DemoErrorCode, reason: string, options?: { cause?: unknown }) {
    super(code, reason, options);
  }
}

/** Throws DEMO_ERR_SCENE unless `actual` equals `expected`: the demo only prints what it checked. */
export function expectEqual(what: string, actual: unknown, expected: unknown): void {
  if (actual !== expected) {
    throw new DemoError('DEMO_ERR_SCENE', `${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}
