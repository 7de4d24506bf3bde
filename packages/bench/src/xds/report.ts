/**
 * The xDS benchmark's figures: the four the issue asks for first (`cold_push_ms`, `one_change_p99_ms`,
 * `full_push_bytes`, `client_heap_bytes_per_workload`), then what explains them, and the targets.
 */

/** One timed one-pod change. All times are epoch ms. */
export interface ChangeTiming {
  /** When the harness's write (temp file renamed over churn.yaml) completed. */
  readonly written: number;
  /** When the control plane started re-reading the input (its snapshot log time minus read and compute). */
  readonly seen: number;
  readonly readMs: number;
  readonly computeMs: number;
  /** When the control plane had published the snapshot (its log time), just before pushing it. */
  readonly published: number;
  /**
   * When its xDS server had encoded the snapshot and diffed it against the last (its "serving new
   * snapshot" log time), just before telling each stream.
   */
  readonly served: number;
  /** When the client had applied the change. */
  readonly applied: number;
}

/**
 * One change's time split into consecutive parts (ms): re-reading the input, computing the snapshot,
 * the server's encoding and diff (log times: millisecond resolution), then the streams, the wire and the
 * client. They add up to `total_ms` (from the control plane seeing the change to the client's apply).
 */
export interface ChangeBreakdown {
  readonly total_ms: number;
  readonly read_ms: number;
  readonly compute_ms: number;
  readonly serve_ms: number;
  readonly deliver_ms: number;
}

export interface XdsTarget {
  readonly name: string;
  readonly value: number;
  readonly target: string;
  readonly met: boolean;
}

export interface XdsReport {
  /** From starting the control plane process to the client having applied and ACKed both types. */
  readonly cold_push_ms: number;
  /** From the control plane seeing a one-pod change on disk (its re-read starts) to the client having applied it. */
  readonly one_change_p99_ms: number;
  /** Encoded size of the responses of the full push (both types). */
  readonly full_push_bytes: number;
  /** Client heap after GC with the full state held, minus its baseline, per workload. */
  readonly client_heap_bytes_per_workload: number;
  readonly one_change_p50_ms: number;
  /** The same changes timed from the completed write: includes the file watch and its debounce. */
  readonly one_change_from_write_p50_ms: number;
  readonly one_change_from_write_p99_ms: number;
  /** From the write to the control plane starting its re-read (the watcher's event and debounce). */
  readonly change_detection_p50_ms: number;
  /** The control plane's re-read and recompute of a one-pod change, its own figures. */
  readonly reload_read_p50_ms: number;
  readonly reload_compute_p50_ms: number;
  readonly reload_compute_p99_ms: number;
  /** From the snapshot's publication (log time, ms resolution) to the client's apply: the server, the wire and the client. */
  readonly one_change_push_p50_ms: number;
  readonly one_change_push_p99_ms: number;
  /** Every seen → applied time, sorted (ms): the p99 of 50 samples is their maximum, so the tail shows here. */
  readonly one_change_samples_ms: readonly number[];
  /** The slowest changes (at most five, slowest first), each split into where its time went. */
  readonly one_change_slowest: readonly ChangeBreakdown[];
  readonly cold_start: {
    /** From spawning the control plane to its "serving" log line (it has loaded and computed the input by then). */
    readonly serving_ms: number;
    readonly first_read_ms: number;
    readonly first_compute_ms: number;
  };
  readonly full_push_responses: number;
  readonly client_heap: {
    readonly baseline_bytes: number;
    readonly synced_bytes: number;
    /** Buffers (outside the JS heap) held beyond the baseline. */
    readonly array_buffers_bytes: number;
    readonly workloads: number;
    readonly services: number;
    readonly authorizations: number;
    readonly bytes_per_1000_workloads: number;
  };
  readonly config: {
    readonly pods: number;
    readonly services: number;
    readonly policies: number;
    readonly namespaces: number;
    readonly nodes: number;
    readonly changes: number;
    readonly input_files: number;
    readonly input_bytes: number;
  };
  readonly targets: readonly XdsTarget[];
  readonly suite: 'xds';
  readonly started_at: string;
}

/** Nearest-rank percentile of `values` (p in 0..100). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new RangeError('percentile of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function changeFigures(changes: readonly ChangeTiming[]): Pick<
  XdsReport,
  | 'one_change_p99_ms'
  | 'one_change_p50_ms'
  | 'one_change_from_write_p50_ms'
  | 'one_change_from_write_p99_ms'
  | 'change_detection_p50_ms'
  | 'reload_read_p50_ms'
  | 'reload_compute_p50_ms'
  | 'reload_compute_p99_ms'
  | 'one_change_samples_ms'
  | 'one_change_slowest'
  | 'one_change_push_p50_ms'
  | 'one_change_push_p99_ms'
> {
  const fromSeen = changes.map((c) => c.applied - c.seen);
  const fromWrite = changes.map((c) => c.applied - c.written);
  return {
    one_change_p99_ms: round(percentile(fromSeen, 99)),
    one_change_p50_ms: round(percentile(fromSeen, 50)),
    one_change_from_write_p50_ms: round(percentile(fromWrite, 50)),
    one_change_from_write_p99_ms: round(percentile(fromWrite, 99)),
    change_detection_p50_ms: round(percentile(changes.map((c) => c.seen - c.written), 50)),
    reload_read_p50_ms: round(percentile(changes.map((c) => c.readMs), 50)),
    reload_compute_p50_ms: round(percentile(changes.map((c) => c.computeMs), 50)),
    reload_compute_p99_ms: round(percentile(changes.map((c) => c.computeMs), 99)),
    one_change_push_p50_ms: round(percentile(changes.map((c) => c.applied - c.published), 50)),
    one_change_push_p99_ms: round(percentile(changes.map((c) => c.applied - c.published), 99)),
    one_change_samples_ms: fromSeen.map((v) => round(v)).sort((a, b) => a - b),
    one_change_slowest: changes
      .map(breakdown)
      .sort((a, b) => b.total_ms - a.total_ms)
      .slice(0, SLOWEST_SHOWN),
  };
}

/** How many of the slowest changes the report breaks down. */
const SLOWEST_SHOWN = 5;

function breakdown(c: ChangeTiming): ChangeBreakdown {
  return {
    total_ms: round(c.applied - c.seen),
    read_ms: round(c.readMs),
    compute_ms: round(c.computeMs),
    serve_ms: round(c.served - c.published),
    deliver_ms: round(c.applied - c.served),
  };
}

export function xdsTargets(report: Pick<XdsReport, 'one_change_p99_ms' | 'client_heap_bytes_per_workload'>): XdsTarget[] {
  return [
    { name: 'one_change_p99_ms', value: report.one_change_p99_ms, target: '< 50', met: report.one_change_p99_ms < 50 },
    {
      name: 'client_heap_bytes_per_workload',
      value: report.client_heap_bytes_per_workload,
      target: '<= 2048',
      met: report.client_heap_bytes_per_workload <= 2048,
    },
  ];
}

export function formatXdsReport(r: XdsReport): string {
  const c = r.config;
  const lines = [
    `xDS: ${c.pods} pods, ${c.services} services, ${c.policies} policies over ${c.namespaces} namespaces and ${c.nodes} nodes ` +
      `(${c.input_files} files, ${round(c.input_bytes / 1e6, 1)} MB of YAML); ${c.changes} one-pod changes.`,
    '',
    `cold start to full push applied:   ${r.cold_push_ms} ms  (control plane serving after ${r.cold_start.serving_ms} ms: read ${r.cold_start.first_read_ms} ms, compute ${r.cold_start.first_compute_ms} ms)`,
    `one change, seen -> applied:       p50 ${r.one_change_p50_ms} ms, p99 ${r.one_change_p99_ms} ms`,
    `one change, written -> applied:    p50 ${r.one_change_from_write_p50_ms} ms, p99 ${r.one_change_from_write_p99_ms} ms  (detection p50 ${r.change_detection_p50_ms} ms)`,
    `control plane re-read / recompute: p50 ${r.reload_read_p50_ms} ms / ${r.reload_compute_p50_ms} ms (compute p99 ${r.reload_compute_p99_ms} ms)`,
    `published -> applied:              p50 ${r.one_change_push_p50_ms} ms, p99 ${r.one_change_push_p99_ms} ms`,
    ...r.one_change_slowest.slice(0, 1).map(
      (s) => `slowest change:                    ${s.total_ms} ms = read ${s.read_ms} + compute ${s.compute_ms} + serve ${s.serve_ms} + deliver ${s.deliver_ms}`,
    ),
    `full push:                         ${r.full_push_bytes} bytes in ${r.full_push_responses} responses`,
    `client heap:                       ${r.client_heap_bytes_per_workload} bytes per workload (${r.client_heap.workloads} workloads, ` +
      `${r.client_heap.services} services, ${r.client_heap.authorizations} authorizations; +${round(r.client_heap.array_buffers_bytes / 1e6, 1)} MB of buffers)`,
    '',
    ...r.targets.map((t) => `${t.name}: ${t.value}  (target ${t.target}: ${t.met ? 'PASS' : 'MISS'})`),
  ];
  return `${lines.join('\n')}\n`;
}
