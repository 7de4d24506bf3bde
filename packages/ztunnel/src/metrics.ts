/**
 * Istio's standard TCP metrics as ztunnel reports them (`src/proxy/metrics.rs`), on the process's one
 * prom-client registry (never the global one):
 *
 * - `istio_tcp_connections_opened_total` when a connection is routed (its labels known, `response_flags` `-`);
 * - `istio_tcp_connections_closed_total` when it ends, with the final `response_flags`;
 * - `istio_tcp_sent_bytes_total`: bytes from the source to the destination (the client's request
 *   direction, as ztunnel counts `bytes_sent`);
 * - `istio_tcp_received_bytes_total`: bytes from the destination back to the source.
 *
 * Bytes are added once, when the connection closes, from the relay's totals: nothing is counted per chunk.
 * A long-lived connection therefore shows its bytes only when it ends (see docs/ztunnel.md).
 *
 * Outbound connections are reported by the source (`reporter="source"`), inbound by the destination. Label
 * values are workload names, namespaces, identities and services: bounded by the mesh, never by traffic.
 * `destination_service*` is the connection record's service: the VIP dialled (outbound), or on the inbound
 * side the service the client named or the one targeting the port (`proxy/inbound-service.ts`).
 */
import { Counter, type Registry } from 'prom-client';
import type { Identity } from '@ambit/mesh-core/identity';
import type { ConnectionRecord, ResponseFlag } from './proxy/record.js';
import type { Workload } from './state/model.js';

export const TCP_LABEL_NAMES = [
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
  'response_flags',
  'connection_security_policy',
] as const;

export type TcpLabelName = (typeof TCP_LABEL_NAMES)[number];
export type TcpLabels = Record<TcpLabelName, string>;

const UNKNOWN = 'unknown';

function principal(identity: Identity | undefined): string {
  return identity === undefined ? UNKNOWN : identity.uri;
}

function or(value: string | undefined): string {
  return value === undefined || value === '' ? UNKNOWN : value;
}

function workloadName(w: Workload | undefined): string {
  return w === undefined ? UNKNOWN : or(w.workloadName !== '' ? w.workloadName : w.name);
}

/** The labels of one connection, with `response_flags` `-` (what `opened` is counted with). */
export function tcpLabels(record: ConnectionRecord): TcpLabels {
  const src = record.source;
  const dst = record.destination;
  const svc = record.service;
  return {
    reporter: record.direction === 'outbound' ? 'source' : 'destination',
    source_workload: workloadName(src),
    source_workload_namespace: or(src?.namespace ?? record.sourceIdentity?.namespace),
    source_principal: principal(record.sourceIdentity),
    source_app: or(src?.canonicalName),
    source_version: or(src?.canonicalRevision),
    source_cluster: or(src?.clusterId),
    destination_workload: workloadName(dst),
    destination_workload_namespace: or(dst?.namespace),
    destination_principal: principal(record.destinationIdentity),
    destination_app: or(dst?.canonicalName),
    destination_version: or(dst?.canonicalRevision),
    destination_service: or(svc?.hostname),
    destination_service_name: or(svc?.name),
    destination_service_namespace: or(svc?.namespace),
    destination_cluster: or(dst?.clusterId),
    request_protocol: 'tcp',
    response_flags: '-',
    connection_security_policy: record.security,
  };
}

/**
 * Label sets kept for sharing at most; past it the table starts again (connections keep the sets they hold).
 * prom-client keeps a series per set anyway, so this is far above any mesh's real count.
 */
export const MAX_SHARED_LABEL_SETS = 10_000;

/** A label set as one string: the values in TCP_LABEL_NAMES order (no value holds a control character). */
function labelKey(labels: TcpLabels): string {
  let key = '';
  for (const name of TCP_LABEL_NAMES) key += `${labels[name]}\u0001`;
  return key;
}

/** The four TCP counters. */
export class ProxyMetrics {
  /**
   * One frozen label object per distinct set. Every connection keeps its labels until it closes (the closed
   * counters need them), and connections between the same two workloads have the same set: sharing the
   * object makes holding it free per connection.
   */
  readonly #labelSets = new Map<string, Readonly<TcpLabels>>();
  readonly #opened: Counter<TcpLabelName>;
  readonly #closed: Counter<TcpLabelName>;
  readonly #sent: Counter<TcpLabelName>;
  readonly #received: Counter<TcpLabelName>;

  constructor(registry: Registry) {
    const labelNames = TCP_LABEL_NAMES;
    const registers = [registry];
    this.#opened = new Counter({ name: 'istio_tcp_connections_opened_total', help: 'TCP connections opened', labelNames, registers });
    this.#closed = new Counter({ name: 'istio_tcp_connections_closed_total', help: 'TCP connections closed', labelNames, registers });
    this.#sent = new Counter({ name: 'istio_tcp_sent_bytes_total', help: 'Bytes sent from the source to the destination of TCP connections', labelNames, registers });
    this.#received = new Counter({ name: 'istio_tcp_received_bytes_total', help: 'Bytes sent back from the destination to the source of TCP connections', labelNames, registers });
  }

  /** The labels of `record`'s connection (`response_flags` `-`), shared with every connection that has the same. */
  labelsOf(record: ConnectionRecord): Readonly<TcpLabels> {
    const labels = tcpLabels(record);
    const key = labelKey(labels);
    const shared = this.#labelSets.get(key);
    if (shared !== undefined) return shared;
    if (this.#labelSets.size >= MAX_SHARED_LABEL_SETS) this.#labelSets.clear();
    const frozen = Object.freeze(labels);
    this.#labelSets.set(key, frozen);
    return frozen;
  }

  /** Label sets currently shared (for tests and diagnostics). */
  get sharedLabelSets(): number {
    return this.#labelSets.size;
  }

  opened(labels: Readonly<TcpLabels>): void {
    this.#opened.inc(labels);
  }

  /** The connection ended with `flag` after `sent` bytes to the destination and `received` back. */
  closed(labels: Readonly<TcpLabels>, flag: ResponseFlag, sent: number, received: number): void {
    const final = flag === labels.response_flags ? labels : { ...labels, response_flags: flag };
    this.#closed.inc(final);
    // Counted even when zero, so that every closed connection's series exists for both byte counters.
    this.#sent.inc(final, sent);
    this.#received.inc(final, received);
  }
}
