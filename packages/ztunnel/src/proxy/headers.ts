/**
 * The informational HBONE request headers ztunnel sends (`src/baggage.rs`, `src/proxy/outbound.rs`):
 * `baggage` describing the source workload, and a random `traceparent` per connection.
 */
import { randomFillSync } from 'node:crypto';
import type { Workload } from '../state/model.js';

const baggageCache = new WeakMap<Workload, string>();

/** Baggage values are percent-encoded where they could break the list (W3C Baggage, section 3.3.1). */
function value(v: string): string {
  return encodeURIComponent(v);
}

/**
 * `k8s.cluster.name=…,k8s.namespace.name=…,k8s.<type>.name=…,service.name=…,service.version=…` plus
 * `cloud.region` / `cloud.availability_zone` when the locality says, for `workload` (empty values left out). Workloads are immutable,
 * so each one's string is built once and kept while the workload is.
 */
export function baggageOf(workload: Workload): string {
  let text = baggageCache.get(workload);
  if (text !== undefined) return text;
  const parts: string[] = [];
  if (workload.clusterId !== '') parts.push(`k8s.cluster.name=${value(workload.clusterId)}`);
  parts.push(`k8s.namespace.name=${value(workload.namespace)}`);
  const kind = workload.workloadType.toLowerCase();
  parts.push(`k8s.${kind}.name=${value(workload.workloadName !== '' ? workload.workloadName : workload.name)}`);
  if (workload.canonicalName !== '') parts.push(`service.name=${value(workload.canonicalName)}`);
  if (workload.canonicalRevision !== '') parts.push(`service.version=${value(workload.canonicalRevision)}`);
  if (workload.locality.region !== '') parts.push(`cloud.region=${value(workload.locality.region)}`);
  if (workload.locality.zone !== '') parts.push(`cloud.availability_zone=${value(workload.locality.zone)}`);
  text = parts.join(',');
  baggageCache.set(workload, text);
  return text;
}

const traceBytes = Buffer.alloc(24);

/** A W3C `traceparent` with a random trace id and span id (version 00, not sampled). */
export function newTraceparent(): string {
  randomFillSync(traceBytes);
  return `00-${traceBytes.toString('hex', 0, 16)}-${traceBytes.toString('hex', 16, 24)}-00`;
}
