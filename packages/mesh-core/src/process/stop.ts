/**
 * How a long-running binary stops: SIGTERM or SIGINT (or another request, such as ztunnel's
 * `POST /quitquitquit`) starts the graceful stop; a signal that arrives while it runs cuts it short with
 * the forced stop and exit code 1, as Envoy and ztunnel do. The handlers stay for the whole life of the
 * process, so that no signal ever falls back to Node's default (exit at once, nothing closed).
 */
import type { Logger } from '../telemetry/index.js';

/** Where SIGTERM and SIGINT arrive: `process`, or an emitter in tests. */
export interface SignalSource {
  on(event: 'SIGTERM' | 'SIGINT', listener: (signal: NodeJS.Signals) => void): unknown;
}

export interface StopOptions {
  /** The process's root logger: the forced stop is logged as `second signal: stopping now`. */
  readonly logger: Logger;
  /**
   * The graceful stop, told what asked for it (a signal's name, or the cause `requested` resolved with);
   * logs what it does and resolves with the exit code. A rejection rejects `runUntilStopped`.
   */
  readonly stop: (cause: string) => Promise<number>;
  /** The forced stop, on a signal during the graceful one; `runUntilStopped` then resolves with 1. */
  readonly destroy: () => void;
  /** Another way to ask for the graceful stop; resolves with the cause to report. */
  readonly requested?: Promise<string>;
  /** Default `process`. */
  readonly signals?: SignalSource;
}

/**
 * Waits for the first stop request, runs the graceful stop, and resolves with its exit code, or with 1
 * when a further signal forces the stop first. Call it once the binary is serving.
 */
export async function runUntilStopped(options: StopOptions): Promise<number> {
  const { logger, stop, destroy, requested, signals = process } = options;
  let stopping = false;
  let forceStop!: (signal: NodeJS.Signals) => void;
  const forced = new Promise<number>((resolve) => {
    forceStop = (signal) => {
      logger.warn({ signal }, 'second signal: stopping now');
      destroy();
      resolve(1);
    };
  });
  const signalled = new Promise<string>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        forceStop(signal);
        return;
      }
      stopping = true;
      resolve(signal);
    };
    signals.on('SIGTERM', onSignal);
    signals.on('SIGINT', onSignal);
  });
  const cause = await (requested === undefined ? signalled : Promise.race([signalled, requested]));
  // A request that came another way counts as the first: the next signal forces.
  stopping = true;
  return await Promise.race([stop(cause), forced]);
}
