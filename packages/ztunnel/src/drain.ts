/**
 * Graceful shutdown with a deadline, as ztunnel's `drain.rs`: start the graceful close of everything, wait
 * for it until the deadline, and force what is still open when the deadline passes. The deadline comes
 * from the configuration (`drainDeadlineFromGrace`: the pod's grace period minus a margin, so that the
 * forced close and the cleanup after it happen before the kubelet's SIGKILL).
 */
import type { Clock } from '@ambit/mesh-core/lifecycle';

export interface DrainSteps {
  /** Stops accepting and resolves once every connection has finished. */
  readonly graceful: () => Promise<void>;
  /** Closes whatever is still open, now. */
  readonly force: () => void;
}

/** `drained`: everything finished in time; `forced`: the deadline passed and the rest was closed. */
export type DrainOutcome = 'drained' | 'forced';

/**
 * Runs `steps.graceful()` and resolves when it does, or calls `steps.force()` once `deadlineMs` has passed
 * and resolves then (without waiting for the graceful close, which the force is expected to settle). A
 * graceful close that rejects is forced at once and the error rethrown.
 */
export async function drain(steps: DrainSteps, deadlineMs: number, clock: Clock): Promise<DrainOutcome> {
  let timer: { cancel(): void } | undefined;
  const deadline = new Promise<'forced'>((resolve) => {
    timer = clock.setTimeout(() => resolve('forced'), deadlineMs);
  });
  let graceful: Promise<'drained'>;
  try {
    graceful = steps.graceful().then(() => 'drained' as const);
  } catch (err) {
    timer?.cancel();
    steps.force();
    throw err;
  }
  try {
    const outcome = await Promise.race([graceful, deadline]);
    if (outcome === 'forced') {
      // The graceful close may still settle (or fail) after the force; nobody waits for it any more.
      graceful.catch(() => undefined);
      steps.force();
    }
    return outcome;
  } catch (err) {
    steps.force();
    throw err;
  } finally {
    timer?.cancel();
  }
}
