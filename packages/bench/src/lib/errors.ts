import { MeshError } from '@ambit/mesh-core/errors';

/** Stable codes for everything that can stop a benchmark run. */
export type BenchErrorCode =
  /** The command line is wrong (unknown suite, bad flag or value). */
  | 'BENCH_ERR_USAGE'
  /** A native tool could not be built or found (cc, stunnel). */
  | 'BENCH_ERR_TOOL'
  /** A child process failed to start, died, or printed something we cannot read. */
  | 'BENCH_ERR_CHILD'
  /** A path under test broke: a workload failed or moved the wrong number of bytes. */
  | 'BENCH_ERR_PATH'
  /** The run was interrupted (SIGINT/SIGTERM). */
  | 'BENCH_ERR_ABORTED';

export class BenchError extends MeshError {
  declare readonly code: BenchErrorCode;

  constructor(code: BenchErrorCode, reason: string, options?: { cause?: unknown }) {
    super(code, reason, options);
  }
}
