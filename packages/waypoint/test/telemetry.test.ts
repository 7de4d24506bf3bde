/**
 * Telemetry labels from what the snapshot and the tunnel carry: the destination endpoint's workload and
 * identity, the source's baggage, the service host; and the metrics' exposition, which must match what
 * prom-client's own metric classes print.
 */
import test from 'ava';
import { destinationLabels } from '../src/proxy/record.js';
import { pino } from 'pino';
import { Counter, Histogram, Registry } from 'prom-client';
import { AccessLog, type RequestLogRecord } from '../src/telemetry/access-log.js';
import { HTTP_LABEL_NAMES, HttpMetrics, namespaceOf, parseBaggage, serviceParts, type HttpLabels } from '../src/telemetry/metrics.js';
import { endpoint } from './helpers/fixtures.js';

const REVIEWS_V2 = { name: 'reviews-v2', namespace: 'shop', serviceAccount: 'reviews', canonicalName: 'reviews', canonicalRevision: 'v2', clusterId: 'Kubernetes' };

test('destination labels: workload, namespace, app (canonical name), version (canonical revision) and cluster from Endpoint.workload, principal from the HBONE identity', (t) => {
  const ep = { ...endpoint(8080, { kind: 'hbone', identity: 'spiffe://cluster.local/ns/shop/sa/reviews', hbonePort: 15008 }), workload: REVIEWS_V2 };
  t.deepEqual(destinationLabels(ep), {
    destination_workload: 'reviews-v2',
    destination_workload_namespace: 'shop',
    destination_principal: 'spiffe://cluster.local/ns/shop/sa/reviews',
    destination_app: 'reviews',
    destination_version: 'v2',
    destination_cluster: 'Kubernetes',
  });
  // A plain (out of mesh) endpoint whose workload is known still has its names, but no principal.
  t.like(destinationLabels({ ...endpoint(80, { kind: 'plain' }), workload: { ...REVIEWS_V2, clusterId: 'east' } }), {
    destination_principal: 'unknown',
    destination_app: 'reviews',
    destination_version: 'v2',
    destination_cluster: 'east',
  });
});

test('destination labels: canonical name, revision and cluster id left unset by the control plane are unknown', (t) => {
  const ep = { ...endpoint(8080, { kind: 'hbone', identity: 'spiffe://cluster.local/ns/shop/sa/reviews', hbonePort: 15008 }), workload: { ...REVIEWS_V2, canonicalName: '', canonicalRevision: '', clusterId: '' } };
  t.like(destinationLabels(ep), { destination_workload: 'reviews-v2', destination_app: 'unknown', destination_version: 'unknown', destination_cluster: 'unknown' });
});

test('destination labels: without a known workload the namespace comes from the identity; a plain endpoint has neither', (t) => {
  const hbone = { ...endpoint(8080, { kind: 'hbone', identity: 'spiffe://cluster.local/ns/payments/sa/api', hbonePort: 15008 }), workload: undefined };
  t.like(destinationLabels(hbone), { destination_workload: 'unknown', destination_workload_namespace: 'payments', destination_principal: 'spiffe://cluster.local/ns/payments/sa/api' });
  const plain = { ...endpoint(80, { kind: 'plain' }), workload: undefined };
  t.like(destinationLabels(plain), { destination_workload: 'unknown', destination_workload_namespace: 'unknown', destination_principal: 'unknown' });
  t.deepEqual(destinationLabels(undefined), {
    destination_workload: 'unknown',
    destination_workload_namespace: 'unknown',
    destination_principal: 'unknown',
    destination_app: 'unknown',
    destination_version: 'unknown',
    destination_cluster: 'unknown',
  });
});

test('source labels from ztunnel baggage; service name and namespace from the host', (t) => {
  const b = parseBaggage('k8s.deployment.name=client, k8s.namespace.name=default,service.name=client;prop=1,service.version=v1,bad,=x,k8s.cluster.name=');
  t.deepEqual([...b], [
    ['k8s.deployment.name', 'client'],
    ['k8s.namespace.name', 'default'],
    ['service.name', 'client'],
    ['service.version', 'v1'],
  ]);
  t.deepEqual(serviceParts('reviews.shop.svc.cluster.local'), ['reviews', 'shop']);
  t.deepEqual(serviceParts(''), ['unknown', 'unknown']);
  t.deepEqual(serviceParts('single'), ['single', 'unknown']);
  t.is(namespaceOf('spiffe://td/ns/a/sa/b'), 'a');
  t.is(namespaceOf('spiffe://td/other'), 'unknown');
});

const LABELS: HttpLabels = Object.fromEntries(HTTP_LABEL_NAMES.map((n) => [n, `v-${n}`])) as HttpLabels;

/** The same observations through prom-client's own Counter and Histograms, for comparison. */
function promClientReference(observations: readonly (readonly [HttpLabels, number, number, number])[]): Registry {
  const registry = new Registry();
  const labelNames = HTTP_LABEL_NAMES;
  const registers = [registry];
  const requests = new Counter({ name: 'istio_requests_total', help: 'Requests handled', labelNames, registers });
  const duration = new Histogram({ name: 'istio_request_duration_milliseconds', help: 'Request duration in milliseconds', labelNames, buckets: [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000], registers });
  const bytes = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000];
  const requestBytes = new Histogram({ name: 'istio_request_bytes', help: 'Request body sizes in bytes', labelNames, buckets: bytes, registers });
  const responseBytes = new Histogram({ name: 'istio_response_bytes', help: 'Response body sizes in bytes', labelNames, buckets: bytes, registers });
  for (const [labels, d, rq, rs] of observations) {
    requests.inc(labels);
    duration.observe(labels, d);
    requestBytes.observe(labels, rq);
    responseBytes.observe(labels, rs);
  }
  return registry;
}

test('HTTP metrics scrape exactly as prom-client would print the same observations (bucket edges, several series, escaping)', async (t) => {
  const other: HttpLabels = { ...LABELS, response_code: '503', response_flags: 'UO,URX', source_workload: 'a "quoted"\\name\nwith newline' };
  const observations = [
    [LABELS, 0.5, 0, 1024],
    [LABELS, 0.51, 1, 1025],
    [other, 3_600_001, 1_000_000_001, 10],
    [LABELS, 42.25, 100, 100],
  ] as const;
  const registry = new Registry();
  const metrics = new HttpMetrics(registry);
  for (const [labels, d, rq, rs] of observations) metrics.record({ ...labels }, d, rq, rs);
  t.is(await registry.metrics(), await promClientReference(observations).metrics());
  t.true((await registry.metrics()).includes('istio_requests_total{reporter="v-reporter"'));
});

test('HTTP metrics: label sets whose joined values coincide stay separate series', async (t) => {
  // With the separator inside the values, both sets join to the same string.
  const a: HttpLabels = { ...LABELS, source_app: 'x\u0001y', source_version: 'z' };
  const b: HttpLabels = { ...LABELS, source_app: 'x', source_version: 'y\u0001z' };
  const registry = new Registry();
  const metrics = new HttpMetrics(registry);
  const observations = [
    [a, 1, 1, 1],
    [b, 2, 2, 2],
    [b, 3, 3, 3],
    [a, 4, 4, 4],
  ] as const;
  for (const [labels, d, rq, rs] of observations) metrics.record(labels, d, rq, rs);
  t.is(await registry.metrics(), await promClientReference(observations).metrics());
  const json = await registry.getMetricsAsJSON();
  const total = json.find((m) => m.name === 'istio_requests_total');
  t.deepEqual(total?.values.map((v) => v.value), [2, 2]);
});

test('HTTP metrics: a request differing from the one before in any single label is its own series', async (t) => {
  const registry = new Registry();
  const metrics = new HttpMetrics(registry);
  const observations: [HttpLabels, number, number, number][] = [];
  for (const name of HTTP_LABEL_NAMES) {
    // The same labels again (the last-series shortcut), then one label changed, then the first again.
    const changed: HttpLabels = { ...LABELS, [name]: `changed-${name}` };
    observations.push([LABELS, 1, 1, 1], [{ ...LABELS }, 2, 2, 2], [changed, 3, 3, 3], [LABELS, 4, 4, 4]);
  }
  for (const [labels, d, rq, rs] of observations) metrics.record(labels, d, rq, rs);
  t.is(await registry.metrics(), await promClientReference(observations).metrics());
  const total = (await registry.getMetricsAsJSON()).find((m) => m.name === 'istio_requests_total');
  t.is(total?.values.length, HTTP_LABEL_NAMES.length + 1);
  t.is(total?.values[0]?.value, 3 * HTTP_LABEL_NAMES.length);
});

test('HTTP metrics: the registry\'s resetMetrics starts every series over', async (t) => {
  const registry = new Registry();
  const metrics = new HttpMetrics(registry);
  metrics.record(LABELS, 1, 2, 3);
  registry.resetMetrics();
  t.false((await registry.metrics()).includes('v-reporter'));
  metrics.record(LABELS, 7, 8, 9);
  t.is(await registry.metrics(), await promClientReference([[LABELS, 7, 8, 9]]).metrics());
});

test('access log: at warn level only 5xx requests are wanted and written; at info level all are', (t) => {
  const lines: string[] = [];
  const sink = { write: (line: string): void => void lines.push(line) };
  const record = (status: number): RequestLogRecord => ({
    method: 'GET', path: '/x', authority: 'svc', protocol: 'HTTP/1.1', status, flags: '-', details: undefined, durationMs: 1.5, bytesReceived: 0, bytesSent: 2,
    route: undefined, cluster: undefined, upstream: undefined, sourceAddress: '10.0.0.1:1', sourceIdentity: undefined, destinationAddress: '10.0.0.2:80',
    destinationService: 'svc', destinationIdentity: undefined, traceId: undefined, requestId: undefined,
  });
  const warn = new AccessLog(pino({ level: 'warn' }, sink));
  t.false(warn.enabled(200));
  t.false(warn.enabled(404));
  t.true(warn.enabled(503));
  warn.request(record(503));
  t.is(lines.length, 1);
  t.like(JSON.parse(lines[0]!) as object, { status: 503, component: 'access', msg: 'request' });
  const info = new AccessLog(pino({ level: 'info' }, sink));
  t.true(info.enabled(200));
  info.request(record(200));
  t.is(lines.length, 2);
  t.like(JSON.parse(lines[1]!) as object, { status: 200, path: '/x' });
});
