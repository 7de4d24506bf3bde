/**
 * Istio's standard HTTP metrics as a waypoint reports them (`reporter="waypoint"`), on the process's one
 * registry: `istio_requests_total`, `istio_request_duration_milliseconds` (histogram),
 * `istio_request_bytes` and `istio_response_bytes` (histograms), all with the standard labels. Label values
 * are identities, workloads and services — bounded by the mesh — plus status code and flags.
 */
import { Counter, Histogram, type Registry } from 'prom-client';

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

export class HttpMetrics {
  readonly #requests: Counter<HttpLabelName>;
  readonly #duration: Histogram<HttpLabelName>;
  readonly #requestBytes: Histogram<HttpLabelName>;
  readonly #responseBytes: Histogram<HttpLabelName>;

  constructor(registry: Registry) {
    const labelNames = HTTP_LABEL_NAMES;
    const registers = [registry];
    this.#requests = new Counter({ name: 'istio_requests_total', help: 'Requests handled', labelNames, registers });
    this.#duration = new Histogram({ name: 'istio_request_duration_milliseconds', help: 'Request duration in milliseconds', labelNames, buckets: DURATION_BUCKETS, registers });
    this.#requestBytes = new Histogram({ name: 'istio_request_bytes', help: 'Request body sizes in bytes', labelNames, buckets: BYTES_BUCKETS, registers });
    this.#responseBytes = new Histogram({ name: 'istio_response_bytes', help: 'Response body sizes in bytes', labelNames, buckets: BYTES_BUCKETS, registers });
  }

  /** One finished request. */
  record(labels: HttpLabels, durationMs: number, requestBytes: number, responseBytes: number): void {
    this.#requests.inc(labels);
    this.#duration.observe(labels, durationMs);
    this.#requestBytes.observe(labels, requestBytes);
    this.#responseBytes.observe(labels, responseBytes);
  }
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
