/** Polling waits with a safety-net deadline (not timed assertions: healthy steps take far less). */
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalMeshError } from './errors.js';

/** The default safety net for one step of bringing a mesh up. */
export const DEFAULT_WAIT_MS = 30_000;
const POLL_MS = 50;

export interface UntilOptions {
  /** True once the process being waited on is gone: stop at once with LOCAL_MESH_ERR_START. */
  readonly dead?: () => boolean;
  readonly waitMs?: number;
}

/**
 * Polls `cond` until it holds. Fails with LOCAL_MESH_ERR_START when `dead()` says the awaited process
 * exited, and with LOCAL_MESH_ERR_WAIT after `waitMs`; `what` is called only to word the error.
 */
export async function until(cond: () => Promise<boolean> | boolean, what: () => string, options: UntilOptions = {}): Promise<void> {
  const waitMs = options.waitMs ?? DEFAULT_WAIT_MS;
  const deadline = Date.now() + waitMs;
  for (;;) {
    if (await cond()) return;
    if (options.dead?.() === true) throw new LocalMeshError('LOCAL_MESH_ERR_START', `gave up waiting for ${what()}: the process exited`);
    if (Date.now() > deadline) throw new LocalMeshError('LOCAL_MESH_ERR_WAIT', `timed out after ${waitMs} ms waiting for ${what()}`);
    await sleep(POLL_MS);
  }
}
