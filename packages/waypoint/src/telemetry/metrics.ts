/**
 * Istio's standard HTTP metrics as a waypoint reports them (`reporter="waypoint"`), on the process's one
 * registry: `istio_requests_total`, `istio_request_duration_milliseconds` (histogram),
 * `istio_request_bytes` and `istio_response_bytes` (histograms), all with the standard labels. Label values
 * are identities, workloads and services — bounded by the mesh — plus status code and flags.
 *
 * The series are kept here as plain numbers and turned into prom-client's metric objects only when the
 * registry is scraped: prom-client validates and hashes the label object on every `inc`/`observe` (and its
 * `labels()` children only bind the object, so they do the same), which cost four validations and four
 * hashes per request. Here a request costs one string key and one map look-up.
 */
import type { Metric, Registry } from 'prom-client';

export const HTTP_LABEL_NAMES = [
  'reporter',
  'source_workload',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_cluster',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_service_name',
  'destination_service_namespace',
  'destination_cluster',
  'request_protocol',
  'response_code',
  'grpc_response_status',
  'response_flags',
  'connection_security_policy',
] as const;

export type HttpLabelName = (typeof HTTP_LABEL_NAMES)[number];
export type HttpLabels = Record<HttpLabelName, string>;

/** Istio's default buckets. */
const DURATION_BUCKETS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];
const BYTES_BUCKETS = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000];

/** One histogram of one series: per-bucket (not cumulative) counts, the `+Inf` bucket last. */
class HistogramCells {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(buckets: number) {
    this.counts = new Float64Array(buckets + 1);
  }
  observe(bounds: readonly number[], value: number): void {
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

/** One label set's four metrics. */
class HttpSeries {
  readonly labels: HttpLabels;
  requests = 0;
  readonly duration = new HistogramCells(DURATION_BUCKETS.length);
  readonly requestBytes = new HistogramCells(BYTES_BUCKETS.length);
  readonly responseBytes = new HistogramCells(BYTES_BUCKETS.length);
  constructor(labels: HttpLabels) {
    // A copy: the caller's object is its own.
    this.labels = { ...labels };
  }
  /** Whether `labels` holds this series' values (a key collision would show here). */
  matches(l: HttpLabels): boolean {
    // Written out (not a loop over HTTP_LABEL_NAMES): monomorphic property loads, on every request.
    const m = this.labels;
    return (
      m.response_code === l.response_code && m.response_flags === l.response_flags && m.destination_workload === l.destination_workload &&
      m.source_workload === l.source_workload && m.source_principal === l.source_principal && m.destination_service === l.destination_service &&
      m.reporter === l.reporter && m.source_workload_namespace === l.source_workload_namespace && m.source_app === l.source_app &&
      m.source_version === l.source_version && m.source_cluster === l.source_cluster && m.destination_workload_namespace === l.destination_workload_namespace &&
      m.destination_principal === l.destination_principal && m.destination_app === l.destination_app && m.destination_version === l.destination_version &&
      m.destination_service_name === l.destination_service_name && m.destination_service_namespace === l.destination_service_namespace &&
      m.destination_cluster === l.destination_cluster && m.request_protocol === l.request_protocol && m.grpc_response_status === l.grpc_response_status &&
      m.connection_security_policy === l.connection_security_policy
    );
  }
}

/** A metric value as prom-client's registry formats it. */
interface ExportedValue {
  readonly value: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly metricName?: string;
}

/** What prom-client's registry asks of a metric: a name, and its values when scraped. */
interface ExportedMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'histogram';
  readonly aggregator: 'sum';
  get(): Promise<{ name: string; help: string; type: 'counter' | 'histogram'; aggregator: 'sum'; values: ExportedValue[] }>;
  /** The registry's `resetMetrics()`. */
  reset(): void;
}

const SEP = '\u0001';

/** The key of a label set: the values in `HTTP_LABEL_NAMES` order. A collision is caught by `matches`. */
function keyOf(l: HttpLabels): string {
  return (
    l.reporter + SEP + l.source_workload + SEP + l.source_workload_namespace + SEP + l.source_principal + SEP + l.source_app + SEP + l.source_version + SEP + l.source_cluster + SEP +
    l.destination_workload + SEP + l.destination_workload_namespace + SEP + l.destination_principal + SEP + l.destination_app + SEP + l.destination_version + SEP +
    l.destination_service + SEP + l.destination_service_name + SEP + l.destination_service_namespace + SEP + l.destination_cluster + SEP +
    l.request_protocol + SEP + l.response_code + SEP + l.grpc_response_status + SEP + l.response_flags + SEP + l.connection_security_policy
  );
}

/** A collision-free key: the values as JSON. */
function exactKeyOf(l: HttpLabels): string {
  return JSON.stringify(HTTP_LABEL_NAMES.map((n) => l[n]));
}

export class HttpMetrics {
  /** Every series, by `keyOf`. */
  readonly #series = new Map<string, HttpSeries>();
  /** The series whose `keyOf` was taken by another label set, by `exactKeyOf` (not exported twice: also in `#all`). */
  readonly #collided = new Map<string, HttpSeries>();
  /** Every series once, in creation order (what a scrape lists). */
  readonly #all: HttpSeries[] = [];
  /**
   * The series of the last request: consecutive requests mostly share every label (same client, route,
   * endpoint and status), and comparing 21 strings costs less than building the key and hashing it.
   */
  #last: HttpSeries | undefined;

  constructor(registry: Registry) {
    const all = (): readonly HttpSeries[] => this.#all;
    const reset = (): void => {
      this.#series.clear();
      this.#collided.clear();
      this.#all.length = 0;
      this.#last = undefined;
    };
    const metrics: ExportedMetric[] = [
      counter('istio_requests_total', 'Requests handled', all, reset),
      histogram('istio_request_duration_milliseconds', 'Request duration in milliseconds', DURATION_BUCKETS, (s) => s.duration, all, reset),
      histogram('istio_request_bytes', 'Request body sizes in bytes', BYTES_BUCKETS, (s) => s.requestBytes, all, reset),
      histogram('istio_response_bytes', 'Response body sizes in bytes', BYTES_BUCKETS, (s) => s.responseBytes, all, reset),
    ];
    // prom-client's registry takes any object with its metrics' `name`/`get()`/`reset()` shape; its types
    // only name its own classes.
    for (const m of metrics) registry.registerMetric(m as unknown as Metric);
  }

  /** One finished request. */
  record(labels: HttpLabels, durationMs: number, requestBytes: number, responseBytes: number): void {
    const s = this.#seriesOf(labels);
    s.requests++;
    s.duration.observe(DURATION_BUCKETS, durationMs);
    s.requestBytes.observe(BYTES_BUCKETS, requestBytes);
    s.responseBytes.observe(BYTES_BUCKETS, responseBytes);
  }

  #seriesOf(labels: HttpLabels): HttpSeries {
    const last = this.#last;
    if (last !== undefined && last.matches(labels)) return last;
    const s = this.#lookup(labels);
    this.#last = s;
    return s;
  }

  #lookup(labels: HttpLabels): HttpSeries {
    const key = keyOf(labels);
    const s = this.#series.get(key);
    if (s !== undefined && s.matches(labels)) return s;
    if (s === undefined) return this.#add(labels, this.#series, key);
    // Values containing the separator made two label sets share a key: this one goes by its exact key.
    const exact = exactKeyOf(labels);
    return this.#collided.get(exact) ?? this.#add(labels, this.#collided, exact);
  }

  #add(labels: HttpLabels, map: Map<string, HttpSeries>, key: string): HttpSeries {
    const s = new HttpSeries(labels);
    map.set(key, s);
    this.#all.push(s);
    return s;
  }
}

function counter(name: string, help: string, all: () => readonly HttpSeries[], reset: () => void): ExportedMetric {
  return {
    name,
    help,
    type: 'counter',
    aggregator: 'sum',
    get: () => {
      const values: ExportedValue[] = [];
      for (const s of all()) values.push({ value: s.requests, labels: s.labels });
      return Promise.resolve({ name, help, type: 'counter', aggregator: 'sum', values });
    },
    reset,
  };
}

/** Exported as prom-client does: cumulative `_bucket`s with `le` first, `+Inf`, then `_sum` and `_count`. */
function histogram(name: string, help: string, bounds: readonly number[], cells: (s: HttpSeries) => HistogramCells, all: () => readonly HttpSeries[], reset: () => void): ExportedMetric {
  const les = [...bounds.map(String), '+Inf'];
  return {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get: () => {
      const values: ExportedValue[] = [];
      for (const s of all()) {
        const c = cells(s);
        let cumulative = 0;
        for (let i = 0; i < les.length; i++) {
          cumulative += c.counts[i]!;
          values.push({ value: cumulative, labels: { le: les[i]!, ...s.labels }, metricName: `${name}_bucket` });
        }
        values.push({ value: c.sum, labels: s.labels, metricName: `${name}_sum` });
        values.push({ value: c.count, labels: s.labels, metricName: `${name}_count` });
      }
      return Promise.resolve({ name, help, type: 'histogram', aggregator: 'sum', values });
    },
    reset,
  };
}

const UNKNOWN = 'unknown';

/** `name.namespace.svc.…` → [name, namespace] (unknown parts as `unknown`). */
export function serviceParts(host: string): [string, string] {
  if (host === '') return [UNKNOWN, UNKNOWN];
  const parts = host.split('.');
  return [parts[0] || UNKNOWN, parts[1] ?? UNKNOWN];
}

/** The namespace of a SPIFFE ID (`spiffe://td/ns/<ns>/sa/<sa>`), or unknown. */
export function namespaceOf(principal: string | undefined): string {
  if (principal === undefined) return UNKNOWN;
  const m = /\/ns\/([^/]+)\//.exec(principal);
  return m?.[1] ?? UNKNOWN;
}

/** Baggage (`k=v,k=v`, W3C) as a map; ztunnel puts the source workload's metadata there. */
export function parseBaggage(baggage: string | undefined): ReadonlyMap<string, string> {
  const m = new Map<string, string>();
  if (baggage === undefined) return m;
  for (const item of baggage.split(',')) {
    const eq = item.indexOf('=');
    if (eq <= 0) continue;
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).split(';', 1)[0]!.trim();
    if (key !== '' && value !== '') m.set(key, value);
  }
  return m;
}

export function orUnknown(v: string | undefined): string {
  return v === undefined || v === '' ? UNKNOWN : v;
}
