/**
 * The xDS server's Prometheus metrics, under istiod's names so that existing dashboards work:
 * `pilot_xds` (connected clients), `pilot_xds_pushes{type}` (responses sent) and
 * `pilot_total_xds_rejects{type}` (NACKs). `type` is the type URL, which is what istiod reports for types
 * outside its short list (pilot/pkg/xds/v3 GetMetricType); the label has one value per served type.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export interface XdsServerMetrics {
  readonly connected: Gauge;
  readonly pushes: Counter<'type'>;
  readonly rejects: Counter<'type'>;
}

/** Registers the xDS server metrics in `registry` (the process's one registry, never the global one). */
export function createXdsServerMetrics(registry: Registry): XdsServerMetrics {
  return {
    connected: new Gauge({
      name: 'pilot_xds',
      help: 'Number of endpoints connected to this control plane using xDS.',
      registers: [registry],
    }),
    pushes: new Counter({
      name: 'pilot_xds_pushes',
      help: 'xDS responses sent, by type.',
      labelNames: ['type'],
      registers: [registry],
    }),
    rejects: new Counter({
      name: 'pilot_total_xds_rejects',
      help: 'xDS responses rejected (NACKed) by clients, by type.',
      labelNames: ['type'],
      registers: [registry],
    }),
  };
}
