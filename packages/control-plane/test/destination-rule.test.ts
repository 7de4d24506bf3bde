/**
 * DestinationRule: the decoder's checks, and Clusters with Envoy's and Istio's defaults, circuit breakers,
 * outlier detection, load balancing (with the routes' hash policies), port-level settings and subsets.
 */
import test from 'ava';
import { defaultRegistry } from '../src/input/kinds/index.js';
import { parseFile } from '../src/input/parse-file.js';
import type { EdsCluster as Cluster } from '../src/model/waypoint-config/envoy-types.js';
import { cluster, destinationRule, httpChain, problems, resources, routes, service, unpack, virtualService, waypointMesh } from './fixtures/waypoint-mesh.js';

function diagnostics(spec: string): [string, string, string][] {
  const text = `apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: dr, namespace: shop}\nspec:\n${spec}\n`;
  const result = parseFile('dr.yaml', text, defaultRegistry());
  if (!result.ok) throw new Error('YAML did not parse');
  const errors = result.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0 && result.documents[0]?.object !== undefined) throw new Error('a document with errors was decoded');
  return result.diagnostics.map((d) => [d.severity, d.path, d.message]);
}

const policy = (body: string): string => `  host: reviews\n  trafficPolicy:\n${body}`;

test('decoder: host, selectors and settings that would change where traffic goes are refused', (t) => {
  t.deepEqual(diagnostics('  trafficPolicy: {}'), [['error', 'spec.host', 'is required']]);
  t.deepEqual(diagnostics('  host: "*.shop.svc.cluster.local"'), [['error', 'spec.host', 'must name one service: wildcard hosts are not supported by the waypoint']]);
  t.deepEqual(diagnostics('  host: "Bad Host"'), [['error', 'spec.host', '"Bad Host" is not a host name (a DNS name such as "reviews" or "reviews.default.svc.cluster.local")']]);
  t.deepEqual(diagnostics('  host: reviews\n  workloadSelector: {matchLabels: {a: b}}'), [['error', 'spec.workloadSelector', 'is for sidecars; a waypoint applies a DestinationRule by host']]);
  t.deepEqual(diagnostics(policy('    tls: {mode: SIMPLE}')), [
    ['error', 'spec.trafficPolicy.tls', 'is not supported by the waypoint except mode ISTIO_MUTUAL (mesh traffic is always mutual TLS over HBONE)'],
  ]);
  t.deepEqual(diagnostics(policy('    tls: {mode: ISTIO_MUTUAL}')), []);
  t.deepEqual(diagnostics(policy('    tunnel: {protocol: CONNECT}\n    proxyProtocol: {}')), [
    ['error', 'spec.trafficPolicy.tunnel', 'is not supported by the waypoint'],
    ['error', 'spec.trafficPolicy.proxyProtocol', 'is not supported by the waypoint'],
  ]);
  t.deepEqual(diagnostics(policy('    loadBalancer: {simple: PASSTHROUGH}')), [
    ['error', 'spec.trafficPolicy.loadBalancer.simple', 'PASSTHROUGH (to the original destination) is not supported by the waypoint'],
  ]);
  t.deepEqual(diagnostics(policy('    loadBalancer: {simple: RANDOM, consistentHash: {useSourceIp: true}}')), [
    ['error', 'spec.trafficPolicy.loadBalancer', 'sets both simple and consistentHash; choose one'],
  ]);
  t.deepEqual(diagnostics(policy('    loadBalancer: {consistentHash: {}}')), [
    ['error', 'spec.trafficPolicy.loadBalancer.consistentHash', 'must set one of httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName'],
  ]);
  t.deepEqual(diagnostics(policy('    loadBalancer: {consistentHash: {useSourceIp: true, httpHeaderName: x}}')), [
    ['error', 'spec.trafficPolicy.loadBalancer.consistentHash', 'sets httpHeaderName and useSourceIp; set exactly one hash key'],
  ]);
  t.deepEqual(diagnostics(policy('    loadBalancer: {consistentHash: {useSourceIp: false}}')), [
    ['error', 'spec.trafficPolicy.loadBalancer.consistentHash.useSourceIp', 'must be true when it is the hash key'],
  ]);
  t.deepEqual(diagnostics(policy('    loadBalancer: {consistentHash: {useSourceIp: true, ringHash: {}, maglev: {}}}')), [
    ['error', 'spec.trafficPolicy.loadBalancer.consistentHash', 'sets both ringHash and maglev; choose one'],
  ]);
  t.deepEqual(diagnostics(policy('    outlierDetection: {consecutiveErrors: 5}')), [
    ['error', 'spec.trafficPolicy.outlierDetection.consecutiveErrors', 'is deprecated; use consecutive5xxErrors or consecutiveGatewayErrors'],
  ]);
  t.deepEqual(diagnostics(policy('    connectionPool: {tcp: {maxConnections: 0, connectTimeout: soon}}')), [
    ['error', 'spec.trafficPolicy.connectionPool.tcp.maxConnections', 'must be between 1 and 4294967295, got 0'],
    ['error', 'spec.trafficPolicy.connectionPool.tcp.connectTimeout', '"soon" is not a duration such as "10s", "1.5s", "1m30s" or "100ms"'],
  ]);
  t.deepEqual(diagnostics(policy('    outlierDetection: {maxEjectionPercent: 101}')), [
    ['error', 'spec.trafficPolicy.outlierDetection.maxEjectionPercent', 'must be between 0 and 100, got 101'],
  ]);
  t.deepEqual(
    diagnostics(`  host: reviews\n  subsets: [{name: v1, labels: {version: v1}}, {name: v1, labels: {version: v2}}]\n  trafficPolicy:\n    portLevelSettings: [{port: {number: 80}}, {port: {number: 80}}]`),
    [
      ['error', 'spec.trafficPolicy.portLevelSettings[1].port', 'port 80 already has settings in portLevelSettings[0]'],
      ['error', 'spec.subsets[1].name', 'duplicates the name of spec.subsets[0]'],
    ],
  );
  t.deepEqual(diagnostics(policy('    connectionPool: {http: {idleTimeout: 1s, h2UpgradePolicy: UPGRADE}}')), [
    ['warning', 'spec.trafficPolicy.connectionPool.http.idleTimeout', 'is not implemented by the waypoint and is ignored'],
    ['warning', 'spec.trafficPolicy.connectionPool.http.h2UpgradePolicy', 'is not implemented by the waypoint and is ignored'],
  ]);
});

const svcs = [
  service('reviews', '10.96.0.10', [
    { name: 'http', port: 80 },
    { name: 'grpc', port: 9090 },
    { name: 'metrics', port: 9100 },
  ]),
];

function clusterOf(mesh: ReturnType<typeof waypointMesh>, name: string): Record<string, unknown> {
  const found = resources(mesh).clusters.get(name);
  if (found === undefined) throw new Error(`no cluster ${name}`);
  return { ...found, typed_extension_protocol_options: Object.fromEntries(Object.entries(found.typed_extension_protocol_options).map(([k, v]) => [k, unpack(v)])) };
}

test('clusters without a DestinationRule: EDS, Istio\'s 10 s connect timeout, round robin, Envoy\'s default thresholds, protocol by port', (t) => {
  const mesh = waypointMesh(...svcs);
  t.deepEqual(clusterOf(mesh, cluster('reviews')), {
    name: cluster('reviews'),
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: cluster('reviews') },
    connect_timeout: { seconds: 10 },
    lb_policy: 'ROUND_ROBIN',
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { explicit_http_config: { http_protocol_options: {} } },
    },
    metadata: {
      filter_metadata: {
        istio: { fields: { services: { listValue: { values: [{ structValue: { fields: { host: { stringValue: 'reviews.shop.svc.cluster.local' }, name: { stringValue: 'reviews' }, namespace: { stringValue: 'shop' } } } }] } } } },
      },
    },
  });
  const options = (port: number): unknown => clusterOf(mesh, cluster('reviews', port))['typed_extension_protocol_options'];
  t.deepEqual(options(9090), { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { explicit_http_config: { http2_protocol_options: {} } } });
  t.deepEqual(options(9100), { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { use_downstream_protocol_config: {} } });
});

test('a DestinationRule sets circuit breakers, outlier detection (with Istio\'s defaults) and the load balancer, per port too', (t) => {
  const mesh = waypointMesh(
    ...svcs,
    destinationRule(
      'reviews',
      `  host: reviews
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 7, connectTimeout: 250ms}
      http: {http1MaxPendingRequests: 3, http2MaxRequests: 9, maxRetries: 2}
    outlierDetection: {consecutiveGatewayErrors: 4, interval: 1m}
    loadBalancer: {simple: LEAST_CONN}
    portLevelSettings:
      - port: {number: 9090}
        loadBalancer: {simple: RANDOM}
        connectionPool: {http: {useClientProtocol: true}}`,
    ),
  );
  t.deepEqual(problems(mesh), []);
  const c80 = clusterOf(mesh, cluster('reviews'));
  t.deepEqual(c80['connect_timeout'], { seconds: 0, nanos: 250000000 });
  t.is(c80['lb_policy'], 'LEAST_REQUEST');
  t.deepEqual(c80['circuit_breakers'], { thresholds: [{ max_connections: { value: 7 }, max_pending_requests: { value: 3 }, max_requests: { value: 9 }, max_retries: { value: 2 } }] });
  t.deepEqual(c80['outlier_detection'], {
    consecutive_5xx: { value: 5 },
    consecutive_gateway_failure: { value: 4 },
    interval: { seconds: 60 },
    base_ejection_time: { seconds: 30 },
    max_ejection_percent: { value: 10 },
  });
  // Port 9090's settings replace the parts they set: load balancer and connection pool, not outlier detection.
  const c9090 = clusterOf(mesh, cluster('reviews', 9090));
  t.is(c9090['lb_policy'], 'RANDOM');
  t.is(c9090['circuit_breakers'], undefined);
  t.deepEqual(c9090['connect_timeout'], { seconds: 10 });
  t.deepEqual(c9090['outlier_detection'], c80['outlier_detection']);
  t.deepEqual(c9090['typed_extension_protocol_options'], { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { use_downstream_protocol_config: {} } });
});

test('consistent hashing: ring hash or maglev on the cluster, the hash key on the routes that reach it', (t) => {
  const mesh = waypointMesh(
    service('reviews', '10.96.0.10'),
    service('ratings', '10.96.0.11'),
    service('details', '10.96.0.12'),
    service('cart', '10.96.0.13'),
    destinationRule('reviews', '  host: reviews\n  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: X-User}}}'),
    destinationRule('ratings', '  host: ratings\n  trafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: sid, path: /, ttl: 0s}, maglev: {tableSize: 65537}}}}'),
    destinationRule('details', '  host: details\n  trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true}}}'),
    destinationRule('cart', '  host: cart\n  trafficPolicy: {loadBalancer: {consistentHash: {httpQueryParameterName: user}}}'),
  );
  const hashOf = (name: string): unknown => routes(mesh, httpChain(name))[0]?.route?.hash_policy;
  t.is(resources(mesh).clusters.get(cluster('reviews'))?.lb_policy, 'RING_HASH');
  t.is(resources(mesh).clusters.get(cluster('ratings'))?.lb_policy, 'MAGLEV');
  t.deepEqual(hashOf('reviews'), [{ header: { header_name: 'x-user' } }]);
  t.deepEqual(hashOf('ratings'), [{ cookie: { name: 'sid', path: '/' } }]);
  t.deepEqual(hashOf('details'), [{ connection_properties: { source_ip: true } }]);
  t.deepEqual(hashOf('cart'), [{ query_parameter: { name: 'user' } }]);
  t.deepEqual(
    problems(mesh).map(([path]) => path),
    ['spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize', 'spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.ttl'],
  );
});

test('subsets: a cluster per named subset, with the subset\'s settings over the rule\'s and only its pods', (t) => {
  const mesh = waypointMesh(
    service('reviews', '10.96.0.10'),
    `apiVersion: v1
kind: Pod
metadata: {name: r1, namespace: shop, labels: {app: reviews, version: v1}}
spec: {nodeName: node-a}
status: {podIP: 10.0.0.1}`,
    `apiVersion: v1
kind: Pod
metadata: {name: r2, namespace: shop, labels: {app: reviews, version: v2}}
spec: {nodeName: node-a}
status: {podIP: 10.0.0.2}`,
    destinationRule(
      'reviews',
      `  host: reviews.shop.svc.cluster.local
  trafficPolicy: {loadBalancer: {simple: RANDOM}, connectionPool: {tcp: {maxConnections: 5}}}
  subsets:
    - {name: v1, labels: {version: v1}}
    - {name: v2, labels: {version: v2}, trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}}`,
    ),
    virtualService(
      'reviews',
      '  hosts: [reviews]\n  http: [{route: [{destination: {host: reviews, subset: v1}, weight: 50}, {destination: {host: reviews, subset: v2}, weight: 50}]}]',
    ),
  );
  t.deepEqual(problems(mesh), []);
  const v1 = resources(mesh).clusters.get(cluster('reviews', 80, 'v1')) as Cluster;
  const v2 = resources(mesh).clusters.get(cluster('reviews', 80, 'v2')) as Cluster;
  t.is(v1.lb_policy, 'RANDOM');
  t.is(v2.lb_policy, 'LEAST_REQUEST');
  t.deepEqual(v2.circuit_breakers, { thresholds: [{ max_connections: { value: 5 } }] });
  const ips = (name: string): string[] =>
    (resources(mesh).endpoints.get(name)?.endpoints ?? []).flatMap((l) => l.lb_endpoints.map((e) => e.endpoint.address.socket_address.address));
  t.deepEqual(ips(cluster('reviews', 80, 'v1')), ['10.0.0.1']);
  t.deepEqual(ips(cluster('reviews', 80, 'v2')), ['10.0.0.2']);
  // Nothing routes to the whole service, so it has no cluster of its own.
  t.false(resources(mesh).clusters.has(cluster('reviews')));
});

test('which rule applies: the service\'s namespace over the root namespace, the oldest of several; others are reported', (t) => {
  const mesh = waypointMesh(
    service('reviews', '10.96.0.10'),
    destinationRule('root', '  host: reviews.shop.svc.cluster.local\n  trafficPolicy: {loadBalancer: {simple: RANDOM}}', { ns: 'istio-system' }),
    destinationRule('newer', '  host: reviews\n  trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}', { metadata: 'creationTimestamp: "2024-06-01T00:00:00Z"' }),
    destinationRule('older', '  host: reviews\n  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}', { metadata: 'creationTimestamp: "2024-01-01T00:00:00Z"' }),
    destinationRule('client-side', '  host: reviews.shop.svc.cluster.local', { ns: 'client' }),
    destinationRule('external', '  host: api.example.com'),
  );
  t.is(resources(mesh).clusters.get(cluster('reviews'))?.lb_policy, 'ROUND_ROBIN');
  // In document order: root, newer, client-side, external.
  t.deepEqual(problems(mesh), [
    ['spec.host', 'DestinationRule shop/older already configures reviews.shop.svc.cluster.local; this one is not applied'],
    ['spec.host', 'DestinationRule shop/older already configures reviews.shop.svc.cluster.local; this one is not applied'],
    ['metadata.namespace', 'a waypoint applies DestinationRules from the service\'s namespace (shop) or the root namespace (istio-system); this one is not applied'],
    ['spec.host', 'host api.example.com is not a Service of this mesh; the rule applies to nothing'],
  ]);
});
