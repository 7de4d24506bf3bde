/**
 * The xDS client's metrics, with ztunnel's names (`src/xds/metrics.rs`), registered in the Registry the
 * process hands in; never prom-client's global one. Label values are bounded: type URLs are the
 * registered types, termination reasons the four below.
 */
import { Counter, type Registry } from 'prom-client';

/** Why a stream ended, as the `reason` label of `istio_xds_connection_terminations_total` says it. */
export type TerminationReason =
  /** Could not connect, or the connection broke (gRPC UNAVAILABLE, a failed token provider). */
  | 'ConnectionError'
  /** The server ended the stream with an error status other than the benign ones. */
  | 'Error'
  /** The stream was cycled: `reconnect()` was called, or the server ended it with CANCELLED or DEADLINE_EXCEEDED (e.g. max connection age). */
  | 'Reconnect'
  /** The server ended the stream with status OK. */
  | 'Complete';

export interface XdsMetrics {
  /** Responses received, per type URL. */
  readonly messages: Counter<'type_url'>;
  /** Encoded size of responses received, per type URL. */
  readonly messageBytes: Counter<'type_url'>;
  /** Streams ended, per reason. */
  readonly terminations: Counter<'reason'>;
}

function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[]): Counter<L> {
  // Several clients of one process (e.g. two xDS servers) share the registry: reuse what is there.
  const existing = registry.getSingleMetric(name);
  if (existing instanceof Counter) return existing;
  return new Counter<L>({ name, help, labelNames, registers: [registry] });
}

/** Creates (or finds) the xDS client's counters in `registry`. */
export function createXdsMetrics(registry: Registry): XdsMetrics {
  return {
    messages: counter(registry, 'istio_xds_message_total', 'Total number of xDS responses received, by type URL', ['type_url']),
    messageBytes: counter(registry, 'istio_xds_message_bytes_total', 'Total bytes of xDS responses received, by type URL', ['type_url']),
    terminations: counter(
      registry,
      'istio_xds_connection_terminations_total',
      'Total number of xDS stream terminations, by reason',
      ['reason'],
    ),
  };
}
