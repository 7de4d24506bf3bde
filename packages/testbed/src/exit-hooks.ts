/**
 * Last-resort cleanup for clusters a process forgot to destroy: on 'exit', on SIGINT/SIGTERM/SIGHUP and on an
 * uncaught exception, each live cluster is removed synchronously. One set of process listeners serves every
 * cluster, installed with the first and removed with the last. After a signal, if nothing else listens for
 * it, the signal is raised again so the process still dies of it.
 */

/** What a cluster offers the hooks: a synchronous, idempotent teardown. */
export interface EmergencyCleanup {
  cleanupNow(): void;
}

const live = new Set<EmergencyCleanup>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function cleanupAll(): void {
  for (const cluster of [...live]) {
    live.delete(cluster);
    try {
      cluster.cleanupNow();
    } catch {
      // Exiting anyway; `scripts/testbed.sh down` finds what is left.
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  cleanupAll();
  uninstall();
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function install(): void {
  process.on('exit', cleanupAll);
  process.on('uncaughtExceptionMonitor', cleanupAll);
  for (const signal of SIGNALS) process.on(signal, onSignal);
}

function uninstall(): void {
  process.off('exit', cleanupAll);
  process.off('uncaughtExceptionMonitor', cleanupAll);
  for (const signal of SIGNALS) process.off(signal, onSignal);
}

export function registerCleanup(cluster: EmergencyCleanup): void {
  if (live.size === 0) install();
  live.add(cluster);
}

export function unregisterCleanup(cluster: EmergencyCleanup): void {
  if (live.delete(cluster) && live.size === 0) uninstall();
}
