/**
 * CPU time and peak memory of other processes, read from Linux /proc. The same reading serves Node
 * children and C programs (stunnel), so every path is measured by one method.
 */
import { execFile } from 'node:child_process';
import { readFile, readdir, readlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import { BenchError } from './errors.js';

/**
 * utime + stime, in clock ticks, from the text of /proc/<pid>/stat. For a process (thread-group leader)
 * these cover all its threads, including ones that have exited (proc(5)). The command name in field 2
 * may hold spaces and parentheses, so fields are counted from the last ")".
 */
export function parseStatCpuTicks(stat: string): number {
  const close = stat.lastIndexOf(')');
  if (close < 0) throw new BenchError('BENCH_ERR_CHILD', 'unreadable /proc stat line: no ")" after the command name');
  // After ")": field 3 (state) is index 0, so utime (field 14) is index 11 and stime (field 15) index 12.
  const fields = stat.slice(close + 2).trim().split(/\s+/);
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isSafeInteger(utime) || !Number.isSafeInteger(stime)) {
    throw new BenchError('BENCH_ERR_CHILD', `unreadable /proc stat line: utime ${fields[11]} stime ${fields[12]}`);
  }
  return utime + stime;
}

/** The peak resident set (VmHWM) in KiB, from the text of /proc/<pid>/status. */
export function parseStatusPeakRssKiB(status: string): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  if (!m) throw new BenchError('BENCH_ERR_CHILD', 'no VmHWM line in /proc status');
  return Number(m[1]);
}

/** The VmRSS line of /proc/<pid>/status (resident memory now), in KiB. */
export function parseStatusRssKiB(status: string): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!m) throw new BenchError('BENCH_ERR_CHILD', 'no VmRSS line in /proc status');
  return Number(m[1]);
}

let ticksPerSecond: Promise<number> | undefined;

/** USER_HZ, the unit of /proc CPU times (100 on every mainstream Linux build, but ask). */
export function clockTicksPerSecond(): Promise<number> {
  ticksPerSecond ??= promisify(execFile)('getconf', ['CLK_TCK']).then(
    ({ stdout }) => {
      const hz = Number(stdout.trim());
      if (!Number.isSafeInteger(hz) || hz <= 0) throw new BenchError('BENCH_ERR_TOOL', `getconf CLK_TCK printed ${JSON.stringify(stdout)}`);
      return hz;
    },
    (cause: unknown) => {
      throw new BenchError('BENCH_ERR_TOOL', 'cannot run getconf CLK_TCK', { cause });
    },
  );
  return ticksPerSecond;
}

async function readProc(pid: number, file: string): Promise<string> {
  try {
    return await readFile(`/proc/${pid}/${file}`, 'utf8');
  } catch (cause) {
    throw new BenchError('BENCH_ERR_CHILD', `cannot read /proc/${pid}/${file} (has the process exited?)`, { cause });
  }
}

/** CPU seconds (user + system) that process `pid` has used so far. */
export async function readCpuSeconds(pid: number): Promise<number> {
  const [stat, hz] = await Promise.all([readProc(pid, 'stat'), clockTicksPerSecond()]);
  return parseStatCpuTicks(stat) / hz;
}

/** The most memory `pid` has held resident so far, in MiB. */
export async function readPeakRssMiB(pid: number): Promise<number> {
  return parseStatusPeakRssKiB(await readProc(pid, 'status')) / 1024;
}

/** What `pid` holds resident now, in bytes. */
export async function readRssBytes(pid: number): Promise<number> {
  return parseStatusRssKiB(await readProc(pid, 'status')) * 1024;
}

/**
 * TCP ports on which `pid` is listening: the socket inodes among its open files, looked up in the
 * kernel's socket tables. For programs (stunnel) told to bind port 0 that do not say which port they got.
 */
export async function listeningPorts(pid: number): Promise<number[]> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(await readlink(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // The descriptor was closed while we looked.
    }
  }
  const ports: number[] = [];
  for (const table of ['tcp', 'tcp6']) {
    for (const row of parseTcpTable(await readProc(pid, `net/${table}`))) {
      if (row.listening && inodes.has(row.inode)) ports.push(row.localPort);
    }
  }
  return ports;
}

export interface TcpTableRow {
  readonly localPort: number;
  readonly listening: boolean;
  readonly inode: string;
}

/** Rows of /proc/net/tcp or tcp6: `sl local_address rem_address st ... uid timeout inode ...`. */
export function parseTcpTable(text: string): TcpTableRow[] {
  const rows: TcpTableRow[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const local = f[1]!;
    const port = Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
    // State 0A is TCP_LISTEN (include/net/tcp_states.h).
    rows.push({ localPort: port, listening: f[3] === '0A', inode: f[9]! });
  }
  return rows;
}
