/**
 * The ztunnel suite's figures: one row per path, `idle_conn_bytes`, the issue's targets against baselines
 * from the same run, the JSON written to bench-results/ztunnel.json and the table printed at the end.
 */
import type { Target } from '../hbone/report.js';
import type { CaseName } from './options.js';

/** One row of ztunnel.json. The first six fields are the agreed schema; the rest say what was moved. */
export interface CaseResult {
  readonly case: CaseName;
  /** iperf3, one stream: bytes the server received per second, MB/s (10^6 bytes). */
  readonly throughput_MBps: number;
  /** Ping-pong round-trip percentiles, µs. */
  readonly p50_us: number;
  readonly p99_us: number;
  /** CPU of both proxy processes of the path together during the bulk run, per GiB received; null for direct. */
  readonly cpu_s_per_GiB: number | null;
  /** Peak resident memory (VmHWM) of the larger proxy process of the pair, MiB; null for direct. */
  readonly rss_MB: number | null;
  readonly bulk_bytes: number;
  readonly bulk_seconds: number;
  readonly round_trips: number;
}

/** The idle-connection measurement behind `idle_conn_bytes`. */
export interface IdleResult {
  readonly connections: number;
  /** Resident memory of each ztunnel (node → bytes) before opening and with every connection open, each after a GC. */
  readonly rss_before: Readonly<Record<string, number>>;
  readonly rss_after: Readonly<Record<string, number>>;
  /** Growth per connection on each node: node-a holds the client side, node-b the server side. */
  readonly bytes_per_conn: Readonly<Record<string, number>>;
  /** V8 heap in use (after the same GCs) before and with every connection open, and its growth per connection. */
  readonly heap_before: Readonly<Record<string, number>>;
  readonly heap_after: Readonly<Record<string, number>>;
  readonly heap_bytes_per_conn: Readonly<Record<string, number>>;
  /** Connections each ztunnel's data path reported holding. */
  readonly held: Readonly<Record<string, number>>;
  readonly gc: boolean;
}

export interface ZtunnelReport {
  readonly cases: CaseResult[];
  /**
   * RSS growth per idle proxied connection of the worst ztunnel: the larger of the two ends (each ztunnel
   * holds every connection, so this is what one ztunnel needs per connection); null when not measured.
   */
  readonly idle_conn_bytes: number | null;
  /** Each ztunnel's growth per connection: node-a the client side, node-b the server side. */
  readonly idle_conn_bytes_by_node: Readonly<Record<string, number>> | null;
  /** The two ends together (what the mesh as a whole spends per connection). */
  readonly idle_conn_bytes_both_ends: number | null;
  readonly suite: 'ztunnel';
  readonly started_at: string;
  readonly config: {
    readonly bulk_seconds: number;
    readonly round_trips: number;
    readonly message_size: number;
    readonly streams: number;
    readonly workers: number;
    readonly idle_connections: number;
    readonly quick: boolean;
    readonly node: string;
    readonly cpus: number;
    readonly load_average_at_start: readonly number[];
    readonly load_average_at_end: readonly number[];
  };
  readonly idle: IdleResult | null;
  readonly targets: Target[];
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

const GiB = 1024 ** 3;

export interface CaseRaw {
  readonly name: CaseName;
  readonly bulk: { readonly bytes: number; readonly seconds: number };
  readonly p50Us: number;
  readonly p99Us: number;
  readonly roundTrips: number;
  /** CPU seconds of the path's proxies during the bulk run; undefined without proxies. */
  readonly proxyCpuSeconds: number | undefined;
  readonly peakRssMiB: number | undefined;
}

export function summarise(raw: CaseRaw): CaseResult {
  return {
    case: raw.name,
    throughput_MBps: round(raw.bulk.bytes / raw.bulk.seconds / 1e6, 1),
    p50_us: round(raw.p50Us, 1),
    p99_us: round(raw.p99Us, 1),
    cpu_s_per_GiB: raw.proxyCpuSeconds === undefined ? null : round(raw.proxyCpuSeconds / (raw.bulk.bytes / GiB), 3),
    rss_MB: raw.peakRssMiB === undefined ? null : round(raw.peakRssMiB, 1),
    bulk_bytes: raw.bulk.bytes,
    bulk_seconds: round(raw.bulk.seconds, 3),
    round_trips: raw.roundTrips,
  };
}

/** The per-connection figures of the report from the idle measurement (all null without one). */
export function idleConnFigures(idle: IdleResult | null): Pick<ZtunnelReport, 'idle_conn_bytes' | 'idle_conn_bytes_by_node' | 'idle_conn_bytes_both_ends'> {
  const values = idle === null ? [] : Object.values(idle.bytes_per_conn);
  if (idle === null || values.length === 0) return { idle_conn_bytes: null, idle_conn_bytes_by_node: null, idle_conn_bytes_both_ends: null };
  return {
    idle_conn_bytes: Math.max(...values),
    idle_conn_bytes_by_node: { ...idle.bytes_per_conn },
    idle_conn_bytes_both_ends: values.reduce((a, b) => a + b, 0),
  };
}

/** The issue's three targets. */
export function targets(cases: readonly CaseResult[], idleConnBytes: number | null): Target[] {
  const get = (name: CaseName): CaseResult | undefined => cases.find((c) => c.case === name);
  const zt = get('ztunnel');
  const direct = get('direct');
  const c = get('c-tunnel');
  const p50Delta = zt && direct ? round(zt.p50_us - direct.p50_us, 1) : null;
  const vsC = zt && c && c.throughput_MBps > 0 ? round(zt.throughput_MBps / c.throughput_MBps, 3) : null;
  return [
    { name: 'ztunnel p50 - direct p50 (us)', value: p50Delta, target: '<= 150', met: p50Delta === null ? null : p50Delta <= 150 },
    { name: 'ztunnel/c-tunnel throughput', value: vsC, target: '>= 0.6', met: vsC === null ? null : vsC >= 0.6 },
    { name: 'idle_conn_bytes', value: idleConnBytes, target: '<= 8192', met: idleConnBytes === null ? null : idleConnBytes <= 8192 },
  ];
}

function fmt(n: number | null, digits: number): string {
  return n === null ? '-' : n.toFixed(digits);
}

function perNodeText(m: Readonly<Record<string, number>>): string {
  return Object.entries(m)
    .map(([node, b]) => `${node} ${b.toFixed(0)}`)
    .join(', ');
}

/** The table, the idle measurement and the target lines, as printed at the end of a run. */
export function formatReport(report: ZtunnelReport): string {
  const widths = [10, 9, 9, 9, 10, 8];
  const line = (cells: string[]): string => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  const rows = [line(['case', 'MB/s', 'p50 us', 'p99 us', 'CPU-s/GiB', 'RSS MB']), line(widths.map((w) => '-'.repeat(w)))];
  for (const c of report.cases) {
    rows.push(line([c.case, fmt(c.throughput_MBps, 1), fmt(c.p50_us, 1), fmt(c.p99_us, 1), fmt(c.cpu_s_per_GiB, 2), fmt(c.rss_MB, 1)]));
  }
  const { bulk_seconds, round_trips, message_size, streams, workers, load_average_at_start, load_average_at_end } = report.config;
  rows.push(
    '',
    `bulk: iperf3, ${streams === 1 ? 'one stream' : `${streams} streams`}, ${bulk_seconds} s; ping-pong ${round_trips} x ${message_size} B (C load generator); pod to pod across nodes; ${workers === 1 ? 'one data-path thread' : `${workers} data-path worker threads`} per ztunnel.`,
    'CPU-s/GiB: both proxy processes of the path during the bulk run. RSS MB: peak (VmHWM) of the larger one.',
    `load average at start ${load_average_at_start.map((l) => l.toFixed(2)).join(' ')}, at end ${load_average_at_end.map((l) => l.toFixed(2)).join(' ')}`,
  );
  const idle = report.idle;
  if (idle) {
    rows.push(
      `idle: ${idle.connections} connections held through the mesh (held: ${perNodeText(idle.held)}); ` +
        `RSS growth per connection ${perNodeText(idle.bytes_per_conn)} bytes${idle.gc ? ', each measured after a GC' : ''}; ` +
        `of which V8 heap ${perNodeText(idle.heap_bytes_per_conn)}.`,
    );
  }
  if (report.idle_conn_bytes_by_node !== null) {
    rows.push(
      `idle_conn_bytes_by_node: ${perNodeText(report.idle_conn_bytes_by_node)}; idle_conn_bytes_both_ends: ${report.idle_conn_bytes_both_ends}; ` +
        'idle_conn_bytes is the larger end.',
    );
  }
  rows.push('');
  for (const t of report.targets) {
    const verdict = t.met === null ? `(target ${t.target ?? '-'}: n/a)` : `(target ${t.target ?? '-'}: ${t.met ? 'PASS' : 'MISS'})`;
    rows.push(`${t.name}: ${t.value === null ? 'n/a' : String(t.value)}  ${verdict}`);
  }
  return `${rows.join('\n')}\n`;
}
