/**
 * The Prometheus scrape endpoint both proxies serve on 15020: the process's registry in text format, at
 * `/metrics` and at Envoy's `/stats/prometheus` (which Istio's scrape annotations name).
 */
import type { Registry } from 'prom-client';
import type { EndpointResponse, Routes } from './http-endpoint.js';

export function statsRoutes(registry: Registry): Routes {
  const metrics = async (): Promise<EndpointResponse> => ({ status: 200, body: await registry.metrics(), contentType: registry.contentType });
  return { '/metrics': { GET: metrics }, '/stats/prometheus': { GET: metrics } };
}
