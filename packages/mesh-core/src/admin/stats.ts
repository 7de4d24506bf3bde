/**
 * The Prometheus scrape endpoint both proxies serve on 15020: the process's registry in text format, at
 * `/metrics` and at Envoy's `/stats/prometheus` (which Istio's scrape annotations name).
 */
import type { EndpointResponse, Routes } from './http-endpoint.js';

/** What `/metrics` reads: a prom-client `Registry`, or anything that renders metrics the same way (e.g. merged workers'). */
export interface MetricsSource {
  metrics(): Promise<string>;
  readonly contentType: string;
}

export function statsRoutes(registry: MetricsSource): Routes {
  const metrics = async (): Promise<EndpointResponse> => ({ status: 200, body: await registry.metrics(), contentType: registry.contentType });
  return { '/metrics': { GET: metrics }, '/stats/prometheus': { GET: metrics } };
}
