/**
 * Run records in /run/ambit-testbed/<run>.json (tmpfs: gone after a reboot, like the namespaces). A record is
 * written before anything is created, so every `ambit-<run>-*` namespace without a record, or whose owner
 * process is gone, is a leftover that `down` may remove. The sockopt tests write the same record for their
 * namespaces.
 */
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { TestbedError } from './errors.js';

export const DEFAULT_STATE_DIR = '/run/ambit-testbed';

/** The process that owns a run; `start` (from /proc/<pid>/stat) tells a reused pid apart. */
export interface RunOwner {
  readonly pid: number;
  readonly start?: string;
}

export interface RunRecord {
  readonly version: 1;
  readonly prefix: string;
  /** null for a detached run (`testbed.sh up`), which lives until `down`. */
  readonly owner: RunOwner | null;
  readonly createdAt: string;
  readonly nodes?: readonly { name: string; ns: string; ip: string; podCidr: string }[];
  readonly pods?: readonly { name: string; namespace: string; ns: string; ip: string; node: string }[];
}

export function recordPath(stateDir: string, prefix: string): string {
  return path.join(stateDir, `${prefix}.json`);
}

/** Writes a new record; fails with TESTBED_ERR_PREFIX if the run name is taken. */
export function createRecord(stateDir: string, record: RunRecord): void {
  mkdirSync(stateDir, { recursive: true });
  try {
    writeFileSync(recordPath(stateDir, record.prefix), `${JSON.stringify(record, null, 2)}\n`, { flag: 'wx' });
  } catch (err) {
    if ((err as { code?: string }).code === 'EEXIST') {
      throw new TestbedError(
        'TESTBED_ERR_PREFIX',
        `run ${record.prefix} already exists (${recordPath(stateDir, record.prefix)}): pick another prefix or run scripts/testbed.sh down ${record.prefix}`,
      );
    }
    throw err;
  }
}

export function removeRecord(stateDir: string, prefix: string): void {
  rmSync(recordPath(stateDir, prefix), { force: true });
}

/** Every readable record; an unreadable file is reported as a record-less run (its namespaces are leftovers). */
export function listRecords(stateDir: string): RunRecord[] {
  let files: string[];
  try {
    files = readdirSync(stateDir).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  const records: RunRecord[] = [];
  for (const file of files) {
    try {
      const value = JSON.parse(readFileSync(path.join(stateDir, file), 'utf8')) as Partial<RunRecord>;
      if (typeof value.prefix === 'string') {
        records.push({ version: 1, createdAt: '', ...value, prefix: value.prefix, owner: value.owner ?? null });
      }
    } catch {
      // Half-written or foreign: ignored; `down` treats that run as ownerless.
    }
  }
  return records;
}

/** This process, as a run owner. */
export function currentOwner(): RunOwner {
  const start = processStart(process.pid);
  return start === undefined ? { pid: process.pid } : { pid: process.pid, start };
}

/** Whether the owner process still runs (the same process, not a later one with its pid). */
export function ownerAlive(owner: RunOwner): boolean {
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if ((err as { code?: string }).code !== 'EPERM') return false;
  }
  return owner.start === undefined || processStart(owner.pid) === owner.start;
}

/** Field 22 of /proc/<pid>/stat: the start time in clock ticks since boot. */
function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses; the fields after it start past the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}
