/**
 * Turns the raw runs of the HBONE suite into per-case figures, the ratios the issue sets targets for, the
 * JSON written to bench-results/hbone.json, and the table printed at the end.
 */
import type { BulkResult, PingPongResult } from '../lib/loadgen.js';
import type { CaseName } from './paths.js';

const GiB = 1024 ** 3;

/** Everything measured on one path over all repetitions. */
export interface CaseRuns {
  readonly name: CaseName;
  readonly bulk: BulkResult[];
  readonly pingPong: PingPongResult[];
  /** CPU seconds the path's proxies (summed over the pair) spent during the bulk runs. */
  proxyCpuSeconds: number;
  /** The larger peak RSS of the pair, MiB; undefined when the path has no proxy. */
  peakRssMiB: number | undefined;
  readonly hasProxies: boolean;
}

/** One row of hbone.json. The first six fields are the agreed schema; the rest say what was moved. */
export interface CaseResult {
  readonly case: CaseName;
  /** Median over the bulk runs, MB/s (10^6 bytes). */
  readonly throughput_MBps: number;
  /** Medians over the ping-pong runs of each run's percentile, µs. */
  readonly p50_us: number;
  readonly p99_us: number;
  /** CPU of both proxy processes together per GiB of bulk traffic; null for direct (no proxy). */
  readonly cpu_s_per_GiB: number | null;
  /** Peak resident memory of the larger proxy process of the pair, MiB; null for direct. */
  readonly rss_MB: number | null;
  /** Bytes the backend acknowledged in each bulk run (every run is checked to equal the request). */
  readonly bulk_bytes: number;
  /** Round trips echoed intact in each ping-pong run. */
  readonly round_trips: number;
  readonly runs: number;
}

export interface Target {
  readonly name: string;
  readonly value: number | null;
  /** Human form of the target, e.g. ">= 0.8"; null for figures reported without a target. */
  readonly target: string | null;
  /** null when there is no target or the figure could not be computed (a case was not run). */
  readonly met: boolean | null;
}

export interface HboneReport {
  readonly suite: 'hbone';
  readonly started_at: string;
  readonly config: {
    readonly bulk_bytes: number;
    readonly round_trips: number;
    readonly message_size: number;
    readonly repeat: number;
    readonly quick: boolean;
    readonly node: string;
    readonly cpus: number;
  };
  readonly cases: CaseResult[];
  readonly ratios: Target[];
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export function summarise(runs: CaseRuns): CaseResult {
  const bulkBytes = runs.bulk.reduce((sum, r) => sum + r.bytes, 0);
  return {
    case: runs.name,
    throughput_MBps: round(median(runs.bulk.map((r) => r.bytes / r.seconds / 1e6)), 1),
    p50_us: round(median(runs.pingPong.map((r) => r.p50Us)), 1),
    p99_us: round(median(runs.pingPong.map((r) => r.p99Us)), 1),
    cpu_s_per_GiB: runs.hasProxies ? round(runs.proxyCpuSeconds / (bulkBytes / GiB), 3) : null,
    rss_MB: runs.peakRssMiB === undefined ? null : round(runs.peakRssMiB, 1),
    bulk_bytes: runs.bulk[0]?.bytes ?? 0,
    round_trips: runs.pingPong[0]?.roundTrips ?? 0,
    runs: runs.bulk.length,
  };
}

/** The targets, computed against baselines from the same run. */
export function ratios(cases: readonly CaseResult[]): Target[] {
  const get = (name: CaseName): CaseResult | undefined => cases.find((c) => c.case === name);
  const hbone = get('hbone');
  const nodeTls = get('node-tls');
  const direct = get('direct');
  const cTunnel = get('c-tunnel');
  const ratio = (a: number | undefined, b: number | undefined): number | null =>
    a === undefined || b === undefined || b === 0 ? null : round(a / b, 3);
  const vsNodeTls = ratio(hbone?.throughput_MBps, nodeTls?.throughput_MBps);
  const p50Delta = hbone && direct ? round(hbone.p50_us - direct.p50_us, 1) : null;
  return [
    { name: 'hbone/node-tls throughput', value: vsNodeTls, target: '>= 0.8', met: vsNodeTls === null ? null : vsNodeTls >= 0.8 },
    { name: 'hbone p50 - direct p50 (us)', value: p50Delta, target: '<= 100', met: p50Delta === null ? null : p50Delta <= 100 },
    { name: 'hbone/c-tunnel throughput', value: ratio(hbone?.throughput_MBps, cTunnel?.throughput_MBps), target: null, met: null },
  ];
}

function pad(s: string, width: number, left = false): string {
  return left ? s.padEnd(width) : s.padStart(width);
}

function fmt(n: number | null, digits: number): string {
  return n === null ? '-' : n.toFixed(digits);
}

/** The table and the ratio lines, as printed at the end of a run. */
export function formatReport(report: HboneReport): string {
  const header = ['case', 'MB/s', 'p50 us', 'p99 us', 'CPU-s/GiB', 'RSS MB'];
  const widths = [10, 9, 9, 9, 10, 8];
  const line = (cells: string[]): string => cells.map((c, i) => pad(c, widths[i]!, i === 0)).join('  ');
  const rows = [line(header), line(widths.map((w) => '-'.repeat(w)))];
  for (const c of report.cases) {
    rows.push(
      line([c.case, fmt(c.throughput_MBps, 1), fmt(c.p50_us, 1), fmt(c.p99_us, 1), fmt(c.cpu_s_per_GiB, 2), fmt(c.rss_MB, 1)]),
    );
  }
  const { bulk_bytes, round_trips, message_size, repeat } = report.config;
  rows.push(
    '',
    `bulk ${bulk_bytes / 1024 ** 2} MiB one way, ping-pong ${round_trips} x ${message_size} B; median of ${repeat} run(s).`,
    'CPU-s/GiB: both proxy processes of the pair together, during the bulk runs. RSS MB: peak (VmHWM) of the larger',
    'proxy process of the pair, MiB.',
    '',
  );
  for (const r of report.ratios) {
    const verdict = r.target === null ? '' : r.met === null ? `  (target ${r.target}: n/a)` : `  (target ${r.target}: ${r.met ? 'PASS' : 'MISS'})`;
    rows.push(`${r.name}: ${r.value === null ? 'n/a' : String(r.value)}${verdict}`);
  }
  return `${rows.join('\n')}\n`;
}
