/**
 * Finding and removing runs: a run is everything in the `ambit-<run>-*` namespaces plus its record. Removal kills
 * the processes inside each namespace first (a process would keep a deleted namespace, and its veths, alive)
 * and then deletes it; the veths and the bridge go with their namespaces. Synchronous on purpose: it also runs
 * from process 'exit' handlers.
 */
import { readdirSync } from 'node:fs';
import { TestbedError } from './errors.js';
import { runOfNamespace, NS_PREFIX } from './names.js';
import { runSync } from './shell.js';
import { listRecords, ownerAlive, removeRecord } from './state.js';
import type { RunRecord } from './state.js';

const NETNS_DIR = '/run/netns';

/**
 * - `live`: its owner process runs (a test, a tool); `down` leaves it unless named or `--all`;
 * - `detached`: made by `testbed.sh up`, lives until `down`;
 * - `dead`: its owner exited without cleaning up (killed, crashed);
 * - `orphan`: namespaces without a record.
 */
export type RunState = 'live' | 'detached' | 'dead' | 'orphan';

export interface RunStatus {
  readonly prefix: string;
  readonly state: RunState;
  readonly record: RunRecord | undefined;
  /** Its namespaces that exist now. */
  readonly namespaces: readonly string[];
}

/**
 * The named namespaces this package (or the sockopt tests) made: the entries of /run/netns, which is what
 * `ip netns list` reads too (without asking the kernel for ids, which races with concurrent deletions).
 */
export function listNamespaces(): string[] {
  let entries: string[];
  try {
    entries = readdirSync(NETNS_DIR);
  } catch {
    return []; // no namespace was ever named on this boot
  }
  return entries.filter((name) => name.startsWith(NS_PREFIX) && runOfNamespace(name) !== undefined);
}

/** Every run on this machine: those with a record and those with only namespaces. */
export function surveyRuns(stateDir: string): RunStatus[] {
  const byRun = new Map<string, string[]>();
  for (const ns of listNamespaces()) {
    const run = runOfNamespace(ns)!;
    byRun.set(run, [...(byRun.get(run) ?? []), ns]);
  }
  const records = new Map(listRecords(stateDir).map((r) => [r.prefix, r]));
  const prefixes = [...new Set([...records.keys(), ...byRun.keys()])].sort();
  return prefixes.map((prefix) => {
    const record = records.get(prefix);
    let state: RunState;
    if (record === undefined) state = 'orphan';
    else if (record.owner === null) state = 'detached';
    else state = ownerAlive(record.owner) ? 'live' : 'dead';
    return { prefix, state, record, namespaces: byRun.get(prefix) ?? [] };
  });
}

/** Removes one run's namespaces (killing what runs inside) and its record; returns the namespaces removed. */
export function removeRun(stateDir: string, prefix: string): string[] {
  const mine = listNamespaces().filter((ns) => runOfNamespace(ns) === prefix);
  const failures: string[] = [];
  for (const ns of mine) {
    try {
      killInside(ns);
      runSync('ip', ['netns', 'del', ns]);
    } catch (err) {
      failures.push((err as Error).message);
    }
  }
  removeRecord(stateDir, prefix);
  if (failures.length > 0) {
    throw new TestbedError('TESTBED_ERR_COMMAND', `removing run ${prefix} failed:\n  ${failures.join('\n  ')}`);
  }
  return mine;
}

export interface DownOptions {
  /** Remove exactly these runs. */
  readonly prefixes?: readonly string[];
  /** With no prefixes: only runs whose owner is gone (dead, orphan), leaving detached ones. */
  readonly stale?: boolean;
  /** Remove every run, live ones too. */
  readonly all?: boolean;
}

/**
 * Removes the named runs; with none named, every run not owned by a live process (detached, dead, orphan),
 * only dead and orphaned ones with `stale`, or every run with `all`. Returns what was removed.
 */
export function down(stateDir: string, options: DownOptions = {}): RunStatus[] {
  const named = new Set(options.prefixes ?? []);
  const chosen = surveyRuns(stateDir).filter((run) => {
    if (options.all === true) return true;
    if (named.size > 0) return named.has(run.prefix);
    if (options.stale === true) return run.state === 'dead' || run.state === 'orphan';
    return run.state !== 'live';
  });
  for (const run of chosen) removeRun(stateDir, run.prefix);
  return chosen;
}

function killInside(ns: string): void {
  for (const pid of runSync('ip', ['netns', 'pids', ns]).split('\n').filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Exited meanwhile.
    }
  }
}
