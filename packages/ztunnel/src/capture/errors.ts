import { MeshError } from '@ambit/mesh-core/errors';

/**
 * Stable codes:
 * - `CAPTURE_ERR_COMMAND`: `nft` or `ip` failed; `command`, `stderr` (and `input` for nft scripts) say how.
 * - `CAPTURE_ERR_PERMISSION`: the process lacks CAP_NET_ADMIN, which every rule change needs.
 * - `CAPTURE_ERR_CONFLICT`: the routing table is already used by something else.
 * - `CAPTURE_ERR_INVALID_WORKLOAD`: `setWorkloads` input rejected before the kernel was touched.
 * - `CAPTURE_ERR_INVALID_OPTION`: a constructor or helper option is out of range.
 * - `CAPTURE_ERR_STATE`: a call that the manager's state does not allow (e.g. `setWorkloads` before `start`).
 * - `CAPTURE_ERR_LISTEN`: a capture listener could not be opened.
 * - `CAPTURE_ERR_DIAL`, `CAPTURE_ERR_DIAL_TIMEOUT`, `CAPTURE_ERR_DIAL_ABORTED`: a transparent dial failed
 *   (`errno` set when the kernel said why), timed out, or was cancelled.
 */
export type CaptureErrorCode =
  | 'CAPTURE_ERR_COMMAND'
  | 'CAPTURE_ERR_PERMISSION'
  | 'CAPTURE_ERR_CONFLICT'
  | 'CAPTURE_ERR_INVALID_WORKLOAD'
  | 'CAPTURE_ERR_INVALID_OPTION'
  | 'CAPTURE_ERR_STATE'
  | 'CAPTURE_ERR_LISTEN'
  | 'CAPTURE_ERR_DIAL'
  | 'CAPTURE_ERR_DIAL_TIMEOUT'
  | 'CAPTURE_ERR_DIAL_ABORTED';

export interface CaptureErrorDetails {
  readonly cause?: unknown;
  /** The argv of a failed command, e.g. `['nft', '-f', '-']`. */
  readonly command?: readonly string[];
  /** What a failed command printed on stderr. */
  readonly stderr?: string;
  /** The script a failed `nft -f -` was given. */
  readonly input?: string;
  /** The errno name (`ECONNREFUSED`, `EADDRINUSE`…) when the kernel refused. */
  readonly errno?: string;
}

/** Raised by everything in src/capture. */
export class CaptureError extends MeshError {
  declare readonly code: CaptureErrorCode;
  readonly command: readonly string[] | undefined;
  readonly stderr: string | undefined;
  readonly input: string | undefined;
  readonly errno: string | undefined;

  constructor(code: CaptureErrorCode, reason: string, details: CaptureErrorDetails = {}) {
    super(code, reason, { cause: details.cause });
    this.command = details.command;
    this.stderr = details.stderr;
    this.input = details.input;
    this.errno = details.errno;
  }
}
