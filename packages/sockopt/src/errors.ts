import { MeshError } from '@ambit/mesh-core/errors';

/**
 * Stable codes: `SOCKOPT_ERR_SYSCALL` (the kernel refused; see `errno`), `SOCKOPT_ERR_NOT_BUILT` (the native
 * addon is missing or does not load) and `SOCKOPT_ERR_INVALID_ARGUMENT` (rejected before any syscall).
 */
export type SockoptErrorCode = 'SOCKOPT_ERR_SYSCALL' | 'SOCKOPT_ERR_NOT_BUILT' | 'SOCKOPT_ERR_INVALID_ARGUMENT';

/** Raised by every function of this package. */
export class SockoptError extends MeshError {
  declare readonly code: SockoptErrorCode;
  /** The errno name (`EPERM`, `EBADF`…) when a syscall failed, else undefined. */
  readonly errno: string | undefined;
  /** The failed call, e.g. `setsockopt(IP_TRANSPARENT)` or `bind`, when a syscall failed, else undefined. */
  readonly syscall: string | undefined;

  constructor(
    code: SockoptErrorCode,
    reason: string,
    details: { errno?: string; syscall?: string; cause?: unknown } = {},
  ) {
    super(code, reason, { cause: details.cause });
    this.errno = details.errno;
    this.syscall = details.syscall;
  }
}
