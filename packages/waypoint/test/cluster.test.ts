import test, { type ExecutionContext } from 'ava';
import { addressCodec, type Address } from '@ambit/protos';
import { compileAddress } from '../src/config/address.js';
import { compileCluster, DEFAULT_CIRCUIT_BREAKER } from '../src/config/cluster.js';
import type * as envoy from '../src/config/envoy-types.js';
import { WaypointConfigError } from '../src/config/errors.js';
import { compileLoadAssignment } from '../src/config/load-assignment.js';
import { any, roundTrip, T } from './support/envoy.js';

const NAME = 'outbound|9080|v1|reviews.default.svc.cluster.local';

function cluster(extra: object = {}): envoy.Cluster {
  return roundTrip<envoy.Cluster>(T.cluster, { name: NAME, type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } }, ...extra });
}

function cla(endpoints: object[], name = NAME): envoy.ClusterLoadAssignment {
  return roundTrip<envoy.ClusterLoadAssignment>(T.cla, { cluster_name: name, endpoints });
}

function lb(address: string, port: number, extra: object = {}): object {
  return { endpoint: { address: { socket_address: { address, port_value: port } } }, ...extra };
}

function rejects(t: ExecutionContext, fn: () => unknown, type: string, path: string, detail: RegExp): void {
  const err = t.throws(fn, { instanceOf: WaypointConfigError });
  t.is(err?.resourceType, type);
  t.is(err?.path, path);
  t.regex(err?.detail ?? '', detail);
}

test("a cluster with nothing set gets Envoy's defaults and its service from the Istio name", (t) => {
  const c = compileCluster(cluster(), NAME);
  t.deepEqual(c, {
    name: NAME,
    serviceHost: 'reviews.default.svc.cluster.local',
    subset: 'v1',
    connectTimeoutMs: 5000,
    lbPolicy: 'round-robin',
    protocol: 'http1',
    circuitBreaker: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
    outlierDetection: undefined,
    edsServiceName: NAME,
  });
  t.true(Object.isFrozen(c));
  t.is(c.circuitBreaker, DEFAULT_CIRCUIT_BREAKER);
});

test('a cluster with every supported field set', (t) => {
  const c = compileCluster(
    cluster({
      eds_cluster_config: { eds_config: { ads: {} }, service_name: 'eds-name' },
      connect_timeout: { seconds: 1, nanos: 500_000_000 },
      lb_policy: 'LEAST_REQUEST',
      circuit_breakers: {
        thresholds: [
          { priority: 'HIGH', max_connections: { value: 1 } },
          { max_connections: { value: 10 }, max_pending_requests: { value: 0 }, max_requests: { value: 20 }, max_retries: { value: 1 } },
        ],
      },
      outlier_detection: {
        consecutive_5xx: { value: 3 },
        consecutive_gateway_failure: { value: 2 },
        interval: { seconds: 5 },
        base_ejection_time: { seconds: 60 },
        max_ejection_percent: { value: 50 },
      },
      typed_extension_protocol_options: {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': any(T.httpOptions, { explicit_http_config: { http2_protocol_options: {} } }),
      },
      metadata: {
        filter_metadata: {
          istio: {
            fields: {
              services: { listValue: { values: [{ structValue: { fields: { host: { stringValue: 'reviews.default.svc.cluster.local' }, subset: { stringValue: 'v1' } } } }] } },
            },
          },
        },
      },
    }),
  );
  t.is('edsServiceName' in c ? c.edsServiceName : undefined, 'eds-name');
  t.is(c.connectTimeoutMs, 1500);
  t.is(c.lbPolicy, 'least-request');
  t.deepEqual(c.circuitBreaker, { maxConnections: 10, maxPendingRequests: 0, maxRequests: 20, maxRetries: 1 });
  t.deepEqual(c.outlierDetection, { consecutive5xx: 3, consecutiveGatewayErrors: 2, intervalMs: 5000, baseEjectionMs: 60_000, maxEjectionPercent: 50 });
  t.is(c.protocol, 'http2');
  t.is(c.serviceHost, 'reviews.default.svc.cluster.local');
  t.is(c.subset, 'v1');
});

test('lb policies, protocols and outlier enforcement', (t) => {
  for (const [policy, expected] of [
    ['ROUND_ROBIN', 'round-robin'],
    ['RANDOM', 'random'],
    ['RING_HASH', 'ring-hash'],
    ['MAGLEV', 'maglev'],
  ] as const) {
    t.is(compileCluster(cluster({ lb_policy: policy })).lbPolicy, expected);
  }
  const opts = (o: object) => ({ typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': any(T.httpOptions, o) } });
  t.is(compileCluster(cluster(opts({ explicit_http_config: { http_protocol_options: {} } }))).protocol, 'http1');
  t.is(compileCluster(cluster(opts({ use_downstream_protocol_config: {} }))).protocol, 'downstream');
  t.is(compileCluster(cluster(opts({}))).protocol, 'http1');
  // Defaults: 5xx detection on (5), gateway detection off; enforcing 0 turns 5xx detection off.
  t.deepEqual(compileCluster(cluster({ outlier_detection: {} })).outlierDetection, { consecutive5xx: 5, consecutiveGatewayErrors: 0, intervalMs: 10_000, baseEjectionMs: 30_000, maxEjectionPercent: 10 });
  t.is(compileCluster(cluster({ outlier_detection: { enforcing_consecutive_5xx: { value: 0 } } })).outlierDetection?.consecutive5xx, 0);
  t.is(compileCluster(cluster({ outlier_detection: { enforcing_consecutive_gateway_failure: { value: 100 } } })).outlierDetection?.consecutiveGatewayErrors, 5);
  t.is(compileCluster(cluster({ outlier_detection: { consecutive_gateway_failure: { value: 4 }, enforcing_consecutive_gateway_failure: { value: 0 } } })).outlierDetection?.consecutiveGatewayErrors, 0);
  // A name not in Istio's form and no metadata: no service for telemetry.
  const plain = compileCluster(roundTrip(T.cluster, { name: 'plain', type: 'EDS' }));
  t.deepEqual([plain.serviceHost, plain.subset, 'edsServiceName' in plain ? plain.edsServiceName : undefined], ['', '', 'plain']);
});

test('cluster rejections', (t) => {
  const r = (c: envoy.Cluster, path: string, detail: RegExp): void => rejects(t, () => compileCluster(c), 'Cluster', path, detail);
  r(roundTrip(T.cluster, { type: 'EDS' }), 'name', /is empty/);
  rejects(t, () => compileCluster(cluster(), 'other'), 'Cluster', 'name', /does not match the resource name "other"/);
  r(roundTrip(T.cluster, { name: NAME }), 'type', /"STATIC" is not supported/);
  r(roundTrip(T.cluster, { name: NAME, type: 'STRICT_DNS' }), 'type', /"STRICT_DNS" is not supported/);
  r(cluster({ eds_cluster_config: { eds_config: { path: '/x' } } }), 'eds_cluster_config.eds_config', /must be ads/);
  r(cluster({ connect_timeout: {} }), 'connect_timeout', /greater than 0/);
  r(cluster({ lb_policy: 'CLUSTER_PROVIDED' }), 'lb_policy', /unsupported value "CLUSTER_PROVIDED"/);
  r(cluster({ load_assignment: { cluster_name: NAME } }), 'load_assignment', /not supported/);
  r(cluster({ circuit_breakers: { thresholds: [{}, {}] } }), 'circuit_breakers.thresholds[1]', /second DEFAULT-priority/);
  r(cluster({ outlier_detection: { enforcing_consecutive_5xx: { value: 50 } } }), 'outlier_detection.enforcing_consecutive_5xx', /50% is not supported/);
  r(cluster({ outlier_detection: { interval: {} } }), 'outlier_detection.interval', /greater than 0/);
  r(cluster({ outlier_detection: { base_ejection_time: {} } }), 'outlier_detection.base_ejection_time', /greater than 0/);
  r(cluster({ outlier_detection: { max_ejection_percent: { value: 101 } } }), 'outlier_detection.max_ejection_percent', /above 100/);
  r(cluster({ outlier_detection: { split_external_local_origin_errors: true } }), 'outlier_detection.split_external_local_origin_errors', /not supported/);
  r(cluster({ typed_extension_protocol_options: { other: any(T.httpOptions, {}) } }), 'typed_extension_protocol_options["other"]', /unsupported protocol options/);
  r(
    cluster({ typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': any(T.httpOptions, { explicit_http_config: { http3_protocol_options: {} } }) } }),
    'typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].explicit_http_config',
    /unsupported protocol "http3_protocol_options"/,
  );
  r(
    cluster({ typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': any(T.httpOptions, { auto_config: {} }) } }),
    'typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]',
    /unsupported "auto_config"/,
  );
  r(
    cluster({ typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': any(T.router, {}) } }),
    'typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].type_url',
    /is not type.googleapis.com\/envoy.extensions.upstreams.http.v3.HttpProtocolOptions/,
  );
  r(cluster({ metadata: { filter_metadata: { istio: { fields: { services: { listValue: { values: [] } } } } } } }), 'metadata.filter_metadata.istio.services[0].host', /missing or not a string/);
});

test('an ORIGINAL_DST cluster (CLUSTER_PROVIDED): no load assignment, Envoy\'s 5 s cleanup interval unless set', (t) => {
  const OD = 'inbound-pod|*||shop/waypoint';
  const od = (extra: object = {}): envoy.Cluster => roundTrip<envoy.Cluster>(T.cluster, { name: OD, type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', ...extra });
  const c = compileCluster(od(), OD);
  t.deepEqual(c, {
    name: OD,
    serviceHost: '',
    subset: '',
    connectTimeoutMs: 5000,
    protocol: 'http1',
    circuitBreaker: DEFAULT_CIRCUIT_BREAKER,
    outlierDetection: undefined,
    lbPolicy: 'cluster-provided',
    originalDestination: { cleanupIntervalMs: 5000 },
  });
  t.false('edsServiceName' in c, 'nothing to subscribe to');
  t.true(Object.isFrozen(c));
  const full = compileCluster(
    od({
      connect_timeout: { seconds: 10 },
      cleanup_interval: { seconds: 1 },
      original_dst_lb_config: { use_http_header: false },
      typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': any(T.httpOptions, { use_downstream_protocol_config: {} }) },
      circuit_breakers: { thresholds: [{ max_connections: { value: 7 } }] },
    }),
  );
  t.like(full, { connectTimeoutMs: 10_000, protocol: 'downstream', originalDestination: { cleanupIntervalMs: 1000 } });
  t.is(full.circuitBreaker.maxConnections, 7);
  const r = (c: envoy.Cluster, path: string, detail: RegExp): void => rejects(t, () => compileCluster(c), 'Cluster', path, detail);
  // Envoy's rule: an ORIGINAL_DST cluster picks its own host.
  r(od({ lb_policy: 'ROUND_ROBIN' }), 'lb_policy', /unsupported value "ROUND_ROBIN" \(supported: CLUSTER_PROVIDED\)/);
  r(roundTrip(T.cluster, { name: OD, type: 'ORIGINAL_DST' }), 'lb_policy', /unsupported value "ROUND_ROBIN"/);
  r(od({ eds_cluster_config: { eds_config: { ads: {} } } }), 'eds_cluster_config', /not allowed on an ORIGINAL_DST cluster/);
  r(od({ original_dst_lb_config: { use_http_header: true } }), 'original_dst_lb_config.use_http_header', /not supported/);
  r(od({ original_dst_lb_config: { upstream_port_override: { value: 80 } } }), 'original_dst_lb_config.upstream_port_override', /not supported/);
  r(od({ original_dst_lb_config: { http_header_name: 'x-dst' } }), 'original_dst_lb_config.http_header_name', /not supported/);
  r(od({ cleanup_interval: {} }), 'cleanup_interval', /greater than 0/);
  r(cluster({ original_dst_lb_config: {} }), 'original_dst_lb_config', /only for ORIGINAL_DST clusters/);
});

test('a load assignment compiles endpoints with health, weight and locality; IPs are canonical', (t) => {
  const a = compileLoadAssignment(
    cla([
      {
        locality: { region: 'r', zone: 'z', sub_zone: 's' },
        lb_endpoints: [
          lb('10.0.0.1', 9080),
          lb('10.0.0.2', 9080, { health_status: 'UNHEALTHY', load_balancing_weight: { value: 3 } }),
          lb('FD00::0001', 9080, { health_status: 'DEGRADED' }),
          lb('10.0.0.3', 9080, { health_status: 'DRAINING' }),
          lb('10.0.0.4', 9080, { health_status: 'HEALTHY' }),
        ],
      },
    ]),
    NAME,
  );
  t.is(a.clusterName, NAME);
  t.deepEqual(
    a.endpoints.map((e) => [e.ip, e.port, e.weight, e.healthy]),
    [
      ['10.0.0.1', 9080, 1, true],
      ['10.0.0.2', 9080, 3, false],
      ['fd00::1', 9080, 1, true],
      ['10.0.0.3', 9080, 1, false],
      ['10.0.0.4', 9080, 1, true],
    ],
  );
  t.deepEqual(a.endpoints[0]!.locality, { region: 'r', zone: 'z', subZone: 's' });
  t.true(Object.isFrozen(a.endpoints) && Object.isFrozen(a.endpoints[0]));
  t.deepEqual(compileLoadAssignment(cla([])).endpoints, []);
});

test('load assignment rejections', (t) => {
  const r = (c: envoy.ClusterLoadAssignment, path: string, detail: RegExp, name = ''): void => rejects(t, () => compileLoadAssignment(c, name), 'ClusterLoadAssignment', path, detail);
  r(roundTrip(T.cla, {}), 'cluster_name', /is empty/);
  r(cla([]), 'cluster_name', /does not match the resource name "x"/, 'x');
  r(cla([{ priority: 1, lb_endpoints: [lb('10.0.0.1', 80)] }]), 'endpoints[0].priority', /only priority 0/);
  r(cla([{ lb_endpoints: [{ endpoint_name: 'n' }] }]), 'endpoints[0].lb_endpoints[0]', /has no endpoint/);
  r(cla([{ lb_endpoints: [{ endpoint: {} }] }]), 'endpoints[0].lb_endpoints[0].endpoint.address', /must be a socket_address/);
  r(cla([{ lb_endpoints: [{ endpoint: { address: { pipe: { path: '/x' } } } }] }]), 'endpoints[0].lb_endpoints[0].endpoint.address', /must be a socket_address/);
  r(cla([{ lb_endpoints: [lb('not-an-ip', 80)] }]), 'endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address', /not an IP address/);
  r(cla([{ lb_endpoints: [lb('10.0.0.1', 0)] }]), 'endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value', /out of range/);
  r(cla([{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.1', named_port: 'http' } } } }] }]), 'endpoints[0].lb_endpoints[0].endpoint.address.socket_address.named_port', /not supported/);
  r(cla([{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 53, protocol: 'UDP' } } } }] }]), 'endpoints[0].lb_endpoints[0].endpoint.address.socket_address.protocol', /unsupported value "UDP"/);
  r(cla([{ lb_endpoints: [lb('10.0.0.1', 80), lb('10.0.0.1', 80)] }]), 'endpoints[0].lb_endpoints[1]', /10.0.0.1:80 is listed twice/);
  r(cla([{ lb_endpoints: [lb('10.0.0.1', 80, { load_balancing_weight: {} })] }]), 'endpoints[0].lb_endpoints[0].load_balancing_weight', /at least 1/);
  r(roundTrip(T.cla, { cluster_name: NAME, named_endpoints: { a: {} } }), 'named_endpoints', /not supported/);
});

function address(value: Address): Address {
  const codec = addressCodec();
  return codec.decode(codec.encode(value));
}

test('addresses: workloads give identity, tunnel and IPs; services are accepted', (t) => {
  const w = compileAddress(
    address({
      type: 'workload',
      workload: {
        uid: 'Kubernetes//Pod/default/reviews-1',
        name: 'reviews-1',
        namespace: 'default',
        service_account: 'reviews',
        tunnel_protocol: 'HBONE',
        addresses: [Buffer.from([10, 0, 0, 1]), Buffer.from('fd000000000000000000000000000001', 'hex')],
        canonical_name: 'reviews',
        canonical_revision: 'v1',
        cluster_id: 'Kubernetes',
      },
    }),
    'Kubernetes//Pod/default/reviews-1',
  );
  t.deepEqual(w, {
    kind: 'workload',
    workload: {
      uid: 'Kubernetes//Pod/default/reviews-1',
      name: 'reviews-1',
      namespace: 'default',
      serviceAccount: 'reviews',
      canonicalName: 'reviews',
      canonicalRevision: 'v1',
      clusterId: 'Kubernetes',
      identity: 'spiffe://cluster.local/ns/default/sa/reviews',
      hbone: true,
      addresses: ['10.0.0.1', 'fd00::1'],
    },
  });
  const plain = compileAddress(address({ type: 'workload', workload: { uid: 'u', name: 'n', namespace: 'ns', trust_domain: 'example.org' } }));
  t.deepEqual(plain.kind === 'workload' && [plain.workload.identity, plain.workload.hbone], ['spiffe://example.org/ns/ns/sa/default', false]);
  // Unset telemetry names stay empty (the metrics say `unknown`).
  t.like(plain.kind === 'workload' ? plain.workload : {}, { canonicalName: '', canonicalRevision: '', clusterId: '' });
  t.deepEqual(compileAddress(address({ type: 'service', service: { namespace: 'default', hostname: 'reviews.default.svc.cluster.local' } })), { kind: 'service', key: 'default/reviews.default.svc.cluster.local' });
});

test('address rejections', (t) => {
  const r = (a: Address, path: string, detail: RegExp, name = ''): void => rejects(t, () => compileAddress(address(a), name), 'Address', path, detail);
  r({}, '', /neither a workload nor a service/);
  r({ type: 'workload', workload: { name: 'n', namespace: 'ns' } }, 'workload.uid', /is empty/);
  r({ type: 'workload', workload: { uid: 'u', name: 'n', namespace: 'ns' } }, 'workload.uid', /does not match the resource name/, 'v');
  r({ type: 'workload', workload: { uid: 'u', namespace: 'ns' } }, 'workload.name', /is empty/);
  r({ type: 'workload', workload: { uid: 'u', name: 'n' } }, 'workload.namespace', /is empty/);
  r({ type: 'workload', workload: { uid: 'u', name: 'n', namespace: 'ns', tunnel_protocol: 'LEGACY_ISTIO_MTLS' } }, 'workload.tunnel_protocol', /not supported/);
  r({ type: 'workload', workload: { uid: 'u', name: 'n', namespace: 'NS' } }, 'workload', /invalid SPIFFE identity/);
  r({ type: 'workload', workload: { uid: 'u', name: 'n', namespace: 'ns', addresses: [Buffer.from([1, 2, 3])] } }, 'workload.addresses[0]', /3 bytes/);
  r({ type: 'service', service: { hostname: 'h' } }, 'service', /needs namespace and hostname/);
  r({ type: 'service', service: { namespace: 'ns', hostname: 'h' } }, 'service', /does not match the resource name/, 'x/y');
});
