/**
 * The waypoint suite's figures: one row per path and protocol, the issue's two targets against the ztunnel
 * and nginx rows of the same run, the JSON written to bench-results/waypoint.json and the printed table.
 */
import type { Target } from '../hbone/report.js';
import { percentileOfSorted } from '../lib/stats.js';
import type { CaseName, Protocol } from './options.js';

/** One row of waypoint.json. The first seven fields are the agreed schema; the rest say how they were made. */
export interface CaseResult {
  readonly case: CaseName;
  readonly protocol: Protocol;
  /** Requests per second at full speed, at the fixed concurrency. */
  readonly rps: number;
  /** Latency percentiles at the fixed rate (1,000 requests per second by default), µs. */
  readonly p50_us: number;
  readonly p99_us: number;
  /** CPU of the path's proxy per 1,000 requests at full speed: both ztunnels for `ztunnel`, the waypoint
   * process for `waypoint`, nginx's master and worker for `nginx`; null for `direct`. */
  readonly cpu_s_per_1k_req: number | null;
  /** Peak resident memory of that proxy, MiB: the larger ztunnel, the waypoint, nginx's processes together. */
  readonly rss_MB: number | null;
  readonly p90_us: number;
  readonly max_us: number;
  /** Both ztunnels' CPU per 1,000 requests at full speed (the mesh under the L7 proxy); null for `direct`. */
  readonly mesh_cpu_s_per_1k_req: number | null;
  /** The full-speed run: requests completed and its length. */
  readonly load_requests: number;
  readonly load_seconds: number;
  /** The fixed-rate runs: the rate asked for, the rate achieved, the requests timed, in how many segments. */
  readonly rate_target_rps: number;
  readonly rate_achieved_rps: number;
  readonly rate_requests: number;
  readonly rate_segments: number;
  /** Requests the server pod's nginx counted during the case (warm-up included): the traffic arrived. */
  readonly server_requests: number;
  /** How the path's own counter moved: the traffic took this path. */
  readonly path_proof: PathProof;
}

/** A counter of the path (a proxy's requests, a ztunnel's connections) and how it moved during a case. */
export interface PathProof {
  readonly counter: string;
  readonly rose: number;
  /** What it had to do: `= 0` (outside the mesh), or `>= N`. */
  readonly expected: string;
}

export interface WaypointReport {
  readonly cases: CaseResult[];
  readonly suite: 'waypoint';
  readonly started_at: string;
  readonly config: {
    readonly load_seconds: number;
    readonly rate_seconds: number;
    readonly rate_rounds: number;
    readonly warmup_seconds: number;
    readonly rate: number;
    readonly rate_clients: number;
    readonly concurrency: number;
    readonly h2_connections: number;
    readonly body_bytes: number;
    readonly nginx_in_mesh: true;
    readonly quick: boolean;
    readonly node: string;
    readonly cpus: number;
    readonly load_average_at_start: readonly number[];
    readonly load_average_at_end: readonly number[];
  };
  readonly targets: Target[];
}

/** What the suite measured for one path and protocol. */
export interface CaseRaw {
  readonly name: CaseName;
  readonly protocol: Protocol;
  readonly load: { readonly requests: number; readonly seconds: number };
  /** Sorted latencies at the fixed rate, µs. */
  readonly latenciesUs: readonly number[];
  /** The fixed rate asked for, the rate achieved over the segments, and how many segments. */
  readonly rate: { readonly target: number; readonly achieved: number; readonly segments: number };
  /** CPU seconds during the full-speed run: the path's proxy (undefined without one) and both ztunnels. */
  readonly proxyCpuSeconds: number | undefined;
  readonly meshCpuSeconds: number | undefined;
  readonly peakRssMiB: number | undefined;
  readonly serverRequests: number;
  readonly proof: PathProof;
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export function summarise(raw: CaseRaw): CaseResult {
  const perK = (cpu: number | undefined): number | null => (cpu === undefined ? null : round((cpu / raw.load.requests) * 1000, 4));
  const pct = (p: number): number => round(percentileOfSorted(raw.latenciesUs, p), 1);
  return {
    case: raw.name,
    protocol: raw.protocol,
    rps: round(raw.load.requests / raw.load.seconds, 1),
    p50_us: pct(50),
    p99_us: pct(99),
    cpu_s_per_1k_req: perK(raw.proxyCpuSeconds),
    rss_MB: raw.peakRssMiB === undefined ? null : round(raw.peakRssMiB, 1),
    p90_us: pct(90),
    max_us: pct(100),
    mesh_cpu_s_per_1k_req: perK(raw.meshCpuSeconds),
    load_requests: raw.load.requests,
    load_seconds: round(raw.load.seconds, 3),
    rate_target_rps: raw.rate.target,
    rate_achieved_rps: round(raw.rate.achieved, 1),
    rate_requests: raw.latenciesUs.length,
    rate_segments: raw.rate.segments,
    server_requests: raw.serverRequests,
    path_proof: raw.proof,
  };
}

/** The issue's targets, per protocol: the waypoint's added p99 latency, and its requests per CPU-second against nginx's. */
export function targets(cases: readonly CaseResult[], protocols: readonly Protocol[]): Target[] {
  const get = (name: CaseName, protocol: Protocol): CaseResult | undefined => cases.find((c) => c.case === name && c.protocol === protocol);
  const out: Target[] = [];
  for (const protocol of protocols) {
    const wp = get('waypoint', protocol);
    const zt = get('ztunnel', protocol);
    const added = wp && zt ? round(wp.p99_us - zt.p99_us, 1) : null;
    out.push({ name: `${protocol}: waypoint p99 - ztunnel p99 at the fixed rate (us)`, value: added, target: '<= 1000', met: added === null ? null : added <= 1000 });
  }
  for (const protocol of protocols) {
    const wp = get('waypoint', protocol)?.cpu_s_per_1k_req ?? null;
    const ng = get('nginx', protocol)?.cpu_s_per_1k_req ?? null;
    // Requests per CPU-second is 1000 / cpu_s_per_1k_req, so the ratio of the two is nginx's CPU over the waypoint's.
    const ratio = wp !== null && ng !== null && wp > 0 ? round(ng / wp, 3) : null;
    out.push({ name: `${protocol}: waypoint/nginx requests per CPU-second`, value: ratio, target: '>= 0.5', met: ratio === null ? null : ratio >= 0.5 });
  }
  // For reading the two above, without a target: the C proxy in the waypoint's place measured against the same
  // latency bound, and CPU over the whole path. nginx gets its HBONE legs from the ztunnels (node-b's carries
  // the tunnels in and out of the nginx pod), where the waypoint terminates and originates HBONE itself.
  for (const protocol of protocols) {
    const ng = get('nginx', protocol);
    const zt = get('ztunnel', protocol);
    const added = ng && zt ? round(ng.p99_us - zt.p99_us, 1) : null;
    out.push({ name: `${protocol}: reference: nginx p99 - ztunnel p99 at the fixed rate (us)`, value: added, target: null, met: null });
  }
  for (const protocol of protocols) {
    const path = (c: CaseResult | undefined): number | null => (c === undefined || c.cpu_s_per_1k_req === null || c.mesh_cpu_s_per_1k_req === null ? null : c.cpu_s_per_1k_req + c.mesh_cpu_s_per_1k_req);
    const wp = path(get('waypoint', protocol));
    const ng = path(get('nginx', protocol));
    const ratio = wp !== null && ng !== null && wp > 0 ? round(ng / wp, 3) : null;
    out.push({ name: `${protocol}: reference: waypoint path/nginx path requests per CPU-second (the L7 proxy and both ztunnels)`, value: ratio, target: null, met: null });
  }
  return out;
}

function fmt(n: number | null, digits: number): string {
  return n === null ? '-' : n.toFixed(digits);
}

/** The table and the target lines, as printed at the end of a run. */
export function formatReport(report: WaypointReport): string {
  const widths = [9, 6, 9, 9, 9, 11, 11, 8];
  const line = (cells: string[]): string => cells.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  const rows = [line(['case', 'proto', 'rps', 'p50 us', 'p99 us', 'CPU-s/1k', 'mesh CPU', 'RSS MB']), line(widths.map((w) => '-'.repeat(w)))];
  for (const c of report.cases) {
    rows.push(line([c.case, c.protocol, fmt(c.rps, 0), fmt(c.p50_us, 0), fmt(c.p99_us, 0), fmt(c.cpu_s_per_1k_req, 4), fmt(c.mesh_cpu_s_per_1k_req, 4), fmt(c.rss_MB, 1)]));
  }
  const k = report.config;
  const slow = report.cases.filter((c) => c.rate_achieved_rps < 0.95 * c.rate_target_rps);
  rows.push(
    '',
    `rps: most requests per second at ${k.concurrency} in flight (HTTP/1.1: wrk, ${k.concurrency} connections; HTTP/2: h2load, ${k.h2_connections} connections x ${k.concurrency / k.h2_connections} streams), ${k.load_seconds} s;`,
    `p50/p99: h2load at a fixed ${k.rate} requests/s (${k.rate_clients} connections), ${k.rate_seconds} s in ${k.rate_rounds} rounds taking the paths in turn; POST ${k.body_bytes} B, response ${k.body_bytes} B.`,
    'CPU-s/1k: the proxy of the path (ztunnel: both ztunnels; waypoint: its process; nginx: master + worker) per 1,000 requests at full speed;',
    'mesh CPU: both ztunnels. RSS MB: peak of the proxy (the larger ztunnel; nginx: its processes added up).',
    `load average at start ${k.load_average_at_start.map((l) => l.toFixed(2)).join(' ')}, at end ${k.load_average_at_end.map((l) => l.toFixed(2)).join(' ')}`,
  );
  for (const c of slow) rows.push(`note: ${c.case} ${c.protocol} reached ${c.rate_achieved_rps} of the ${c.rate_target_rps} requests/s asked for`);
  rows.push('');
  for (const t of report.targets) {
    const verdict = t.target === null ? '' : t.met === null ? `(target ${t.target}: n/a)` : `(target ${t.target}: ${t.met ? 'PASS' : 'MISS'})`;
    rows.push(`${t.name}: ${t.value === null ? 'n/a' : String(t.value)}${verdict === '' ? '' : `  ${verdict}`}`);
  }
  return `${rows.join('\n')}\n`;
}
