/**
 * Workload-addressed traffic at the waypoint: which pods get chains (by `istio.io/waypoint-for` and the
 * `use-waypoint` labels' precedence), what the chains are (every port, HTTP and TCP, the waypoint-wide
 * policies, one route to the ORIGINAL_DST cluster), that they encode, and how they follow pods.
 */
import test from 'ava';
import { envoyCodec } from '@ambit/protos';
import { assembleInput, type ParsedFile } from '../src/input/input-set.js';
import { defaultRegistry } from '../src/input/kinds/index.js';
import { parseFile } from '../src/input/parse-file.js';
import { ComputeCache, computeMesh, type MeshContent } from '../src/model/compute.js';
import { DEFAULT_MODEL_OPTIONS } from '../src/model/options.js';
import { EMPTY_SNAPSHOT, nextSnapshot } from '../src/model/versioning.js';
import { CLUSTER_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL } from '../src/server/envoy-tables.js';
import { inputFrom, meshFrom, workload, yamlDocs } from './helpers.js';
import {
  LISTENER,
  authorizationPolicy,
  base,
  chain,
  hcm,
  httpChain,
  httpFilters,
  listener,
  networkFilters,
  pod,
  problems,
  resources,
  routes,
  service,
  unpack,
} from './fixtures/waypoint-mesh.js';

const podHttp = (ip: string): string => `inbound-pod|*|http|${ip}`;
const podTcp = (ip: string): string => `inbound-pod|*|tcp|${ip}`;
const ROUTE = 'inbound-pod|*|http|shop/waypoint';
const CLUSTER = 'inbound-pod|*||shop/waypoint';
const uid = (name: string, ns = 'shop'): string => `Kubernetes//Pod/${ns}/${name}`;

/** The waypoint's own pod (never bound, never captured). */
const WAYPOINT_POD = `apiVersion: v1
kind: Pod
metadata: {name: waypoint-0, namespace: shop, labels: {gateway.networking.k8s.io/gateway-name: waypoint}}
spec: {nodeName: node-a, serviceAccountName: waypoint}
status: {podIP: 10.0.9.9}`;

/** `base()` with the waypoint taking `traffic` (no label: the default, service). */
function meshWith(traffic: string | undefined, ...docs: string[]): MeshContent {
  return meshFrom(base(traffic === undefined ? {} : { gatewayLabels: `istio.io/waypoint-for: ${traffic}` }) + yamlDocs(WAYPOINT_POD, ...docs));
}

/** The names of the workload chains of a listener. */
function podChains(mesh: Pick<MeshContent, 'waypoints'>, name = LISTENER): string[] {
  const found = mesh.waypoints?.listeners.get(name);
  if (found === undefined) throw new Error(`no listener ${name}`);
  return found.filter_chains.map((c) => c.name).filter((n) => n.startsWith('inbound-pod|'));
}

test('waypoint-for workload: a pod using it gets an HTTP and a TCP chain on its IP for every port', (t) => {
  const mesh = meshWith('workload', service('web', '10.96.0.10'), pod('web-1', '10.0.0.1', 'app: web'));
  // The namespace names the waypoint: its pods use it, its services do not (it takes no service traffic).
  t.deepEqual(problems(mesh), []);
  t.deepEqual(
    listener(mesh).filter_chains.map((c) => c.name),
    [podHttp('10.0.0.1'), podTcp('10.0.0.1')],
  );
  t.deepEqual(chain(mesh, podHttp('10.0.0.1')).filter_chain_match, {
    prefix_ranges: [{ address_prefix: '10.0.0.1', prefix_len: { value: 32 } }],
    application_protocols: ['http/1.1', 'h2c'],
  });
  t.deepEqual(chain(mesh, podTcp('10.0.0.1')).filter_chain_match, { prefix_ranges: [{ address_prefix: '10.0.0.1', prefix_len: { value: 32 } }] });
  const h = hcm(mesh, podHttp('10.0.0.1'));
  t.is(h['stat_prefix'], ROUTE);
  t.deepEqual(h['rds'], { route_config_name: ROUTE, config_source: { ads: {}, config_source_specifier: 'ads', resource_api_version: 'V3' } });
  t.deepEqual(h.http_filters.map((f) => f.name), ['envoy.filters.http.router']);
  // One route to the ORIGINAL_DST cluster, as Istio's inbound route for a pod: no timeout, no retries.
  t.deepEqual(routes(mesh, ROUTE), [{ name: 'default', match: { prefix: '/' }, route: { cluster: CLUSTER, timeout: { seconds: 0 } } }]);
  t.deepEqual(networkFilters(mesh, podTcp('10.0.0.1')), [
    { name: 'envoy.filters.network.tcp_proxy', config: { stat_prefix: 'inbound-pod|*|tcp|shop/waypoint', cluster: CLUSTER } },
  ]);
  const cluster = resources(mesh).clusters.get(CLUSTER)!;
  t.like(cluster, { name: CLUSTER, type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: { seconds: 10 } });
  t.false('eds_cluster_config' in cluster);
  t.deepEqual(
    Object.values(cluster.typed_extension_protocol_options).map((any) => unpack(any)),
    [{ use_downstream_protocol_config: {} }],
  );
  // No load assignment: the cluster's endpoint is wherever the connection was addressed.
  t.deepEqual([...resources(mesh).endpoints.keys()], []);
  t.deepEqual([...resources(mesh).clusters.keys()], [CLUSTER]);
});

test('which waypoint-for takes pod-addressed traffic: service (the default) and none do not, workload and all do', (t) => {
  const docs = [service('web', '10.96.0.10'), pod('web-1', '10.0.0.1', 'app: web, istio.io/use-waypoint: waypoint')];
  const label = 'metadata.labels["istio.io/use-waypoint"]';
  for (const traffic of [undefined, 'service', 'none']) {
    const mesh = meshWith(traffic, ...docs);
    t.deepEqual(podChains(mesh), [], String(traffic));
    t.false(resources(mesh).clusters.has(CLUSTER));
    t.false(resources(mesh).routes.has(ROUTE));
    // ztunnel is not told of a waypoint for the pod: it goes to the pod directly.
    t.is(workload(mesh, uid('web-1')).waypoint, undefined);
    t.deepEqual(problems(mesh), [[label, `waypoint shop/waypoint takes ${traffic ?? 'service'} traffic (istio.io/waypoint-for), not workload traffic; this Pod is served without a waypoint`]]);
  }
  // `service` keeps the service bound, `none` takes nothing at all.
  t.deepEqual(listener(meshWith('service', ...docs)).filter_chains.map((c) => c.name), [httpChain('web')]);
  t.deepEqual(listener(meshWith('none', ...docs)).filter_chains, []);
  const all = meshWith('all', ...docs);
  t.deepEqual(problems(all), []);
  t.deepEqual(listener(all).filter_chains.map((c) => c.name), [httpChain('web'), podHttp('10.0.0.1'), podTcp('10.0.0.1')]);
  t.truthy(workload(all, uid('web-1')).waypoint);
  t.deepEqual(podChains(meshWith('workload', ...docs)), [podHttp('10.0.0.1'), podTcp('10.0.0.1')]);
});

test('label precedence: a pod label beats the namespace label, none opts out, and a mismatch does not fall back', (t) => {
  const other = (name: string, traffic: string, vip: string): string => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: ${name}, namespace: shop, labels: {istio.io/waypoint-for: ${traffic}}}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
status: {addresses: [{type: IPAddress, value: ${vip}}]}`;
  const mesh = meshWith(
    'all',
    other('pods', 'workload', '10.96.8.1'),
    other('svc-only', 'service', '10.96.8.2'),
    // The namespace's waypoint (all).
    pod('a', '10.0.0.1', 'app: a'),
    // Its own label, to another waypoint that takes workload traffic.
    pod('b', '10.0.0.2', 'app: b, istio.io/use-waypoint: pods'),
    // Opted out.
    pod('c', '10.0.0.3', 'app: c, istio.io/use-waypoint: none'),
    // Its own label names a service-only waypoint: reported, and no waypoint at all (not the namespace's).
    pod('d', '10.0.0.4', 'app: d, istio.io/use-waypoint: svc-only'),
    // Not in the mesh: ztunnel does not send it through a waypoint, so nothing binds it.
    pod('e', '10.0.0.5', 'app: e, istio.io/dataplane-mode: none'),
  );
  t.deepEqual(problems(mesh), [
    ['metadata.labels["istio.io/use-waypoint"]', 'waypoint shop/svc-only takes service traffic (istio.io/waypoint-for), not workload traffic; this Pod is served without a waypoint'],
  ]);
  t.deepEqual(podChains(mesh), [podHttp('10.0.0.1'), podTcp('10.0.0.1')]);
  t.deepEqual(podChains(mesh, 'waypoint/shop/pods'), [podHttp('10.0.0.2'), podTcp('10.0.0.2')]);
  t.deepEqual(podChains(mesh, 'waypoint/shop/svc-only'), []);
  t.is(workload(mesh, uid('d')).waypoint, undefined);
  t.truthy(workload(mesh, uid('e')).waypoint, 'the uncaptured pod still names its waypoint, as istiod does');
  t.is(workload(mesh, uid('e')).tunnel_protocol, 'NONE');
  // Each waypoint that takes workload traffic has its own route and cluster.
  t.deepEqual([...resources(mesh).clusters.keys()], ['inbound-pod|*||shop/pods', CLUSTER]);
  t.is(hcm(mesh, podHttp('10.0.0.2'), 'waypoint/shop/pods')['stat_prefix'], 'inbound-pod|*|http|shop/pods');
});

test('a namespace label naming a service-only waypoint binds no pod, quietly', (t) => {
  const mesh = meshWith(undefined, pod('a', '10.0.0.1', 'app: a'), pod('b', '10.0.0.2', 'app: b'));
  t.deepEqual(problems(mesh), []);
  t.deepEqual(podChains(mesh), []);
});

test('a dual-stack pod: one chain pair over both addresses, named by the first', (t) => {
  const mesh = meshWith(
    'workload',
    `apiVersion: v1
kind: Pod
metadata: {name: dual, namespace: shop, labels: {app: dual}}
spec: {nodeName: node-a, serviceAccountName: dual}
status: {podIP: 10.0.0.7, podIPs: [{ip: 10.0.0.7}, {ip: "fd00::7"}]}`,
  );
  t.deepEqual(podChains(mesh), [podHttp('10.0.0.7'), podTcp('10.0.0.7')]);
  t.deepEqual(chain(mesh, podTcp('10.0.0.7')).filter_chain_match.prefix_ranges, [
    { address_prefix: '10.0.0.7', prefix_len: { value: 32 } },
    { address_prefix: 'fd00::7', prefix_len: { value: 128 } },
  ]);
});

test('policies on workload chains: those bound to the waypoint (Gateway, GatewayClass), not those bound to a Service', (t) => {
  const mesh = meshWith(
    'all',
    service('web', '10.96.0.10'),
    pod('web-1', '10.0.0.1', 'app: web'),
    authorizationPolicy('wp-deny', '  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}]\n  action: DENY\n  rules: [{to: [{operation: {paths: [/admin]}}]}]'),
    authorizationPolicy('web-deny', '  targetRefs: [{kind: Service, group: "", name: web}]\n  action: DENY\n  rules: [{to: [{operation: {methods: [DELETE]}}]}]'),
    authorizationPolicy('l4-allow', '  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}]\n  action: ALLOW\n  rules: [{from: [{source: {namespaces: [shop]}}]}]'),
    authorizationPolicy('everywhere', '  targetRefs: [{kind: GatewayClass, group: gateway.networking.k8s.io, name: istio-waypoint}]\n  action: DENY\n  rules: [{to: [{operation: {paths: [/debug]}}]}]', { ns: 'istio-system' }),
  );
  t.deepEqual(problems(mesh), []);
  const denyPolicies = (chainName: string): string[] => {
    const deny = httpFilters(mesh, chainName).find((f) => (f.config['rules'] as { action?: string } | undefined)?.action === 'DENY');
    return Object.keys((deny?.config['rules'] as { policies: Record<string, unknown> }).policies);
  };
  t.deepEqual(denyPolicies(podHttp('10.0.0.1')), ['ns[shop]-policy[wp-deny]-rule[0]', 'ns[istio-system]-policy[everywhere]-rule[0]']);
  t.deepEqual(denyPolicies(httpChain('web')), [
    'ns[shop]-policy[wp-deny]-rule[0]',
    'ns[shop]-policy[web-deny]-rule[0]',
    'ns[istio-system]-policy[everywhere]-rule[0]',
  ]);
  t.deepEqual(
    httpFilters(mesh, podHttp('10.0.0.1')).map((f) => f.name),
    ['envoy.filters.http.rbac', 'envoy.filters.http.rbac', 'envoy.filters.http.router'],
  );
  // The TCP chain enforces the L4 ALLOW; the path rules cannot be checked there and deny more (quietly:
  // the chain only takes what is not HTTP).
  const tcp = networkFilters(mesh, podTcp('10.0.0.1'));
  t.deepEqual(tcp.map((f) => [f.name, (f.config['rules'] as { action: string } | undefined)?.action]), [
    ['envoy.filters.network.rbac', 'DENY'],
    ['envoy.filters.network.rbac', 'ALLOW'],
    ['envoy.filters.network.tcp_proxy', undefined],
  ]);
});

test('every workload-binding resource round-trips through the Envoy codecs', (t) => {
  const mesh = meshWith(
    'all',
    service('web', '10.96.0.10'),
    pod('web-1', '10.0.0.1', 'app: web'),
    authorizationPolicy('wp-deny', '  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}]\n  action: DENY\n  rules: [{to: [{operation: {paths: [/admin]}}]}]'),
  );
  const w = resources(mesh);
  for (const [typeUrl, map] of [
    [LISTENER_TYPE_URL, w.listeners],
    [ROUTE_TYPE_URL, w.routes],
    [CLUSTER_TYPE_URL, w.clusters],
  ] as const) {
    const codec = envoyCodec<object>(typeUrl);
    for (const [name, resource] of map as ReadonlyMap<string, object>) {
      const bytes = codec.encode(resource);
      t.true(codec.encode(codec.decode(bytes)).equals(bytes), name);
    }
  }
  const decoded = envoyCodec<{ filter_chains: { name: string; filter_chain_match: { destination_port?: unknown } }[] }>(LISTENER_TYPE_URL).decode(
    envoyCodec<object>(LISTENER_TYPE_URL).encode(listener(mesh)),
  );
  // No destination_port on the wire: Envoy's "any port".
  t.is(decoded.filter_chains.find((c) => c.name === podHttp('10.0.0.1'))?.filter_chain_match.destination_port, undefined);
  const cluster = envoyCodec<{ type: string; lb_policy: string }>(CLUSTER_TYPE_URL).decode(envoyCodec<object>(CLUSTER_TYPE_URL).encode(w.clusters.get(CLUSTER)!));
  t.like(cluster, { type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED' });
});

test('snapshots: a pod elsewhere leaves the listener as it was; a bound pod moving or leaving changes it', (t) => {
  const docs = (ip: string, otherIp = '10.0.1.1'): string =>
    base({ gatewayLabels: 'istio.io/waypoint-for: workload' }) +
    yamlDocs(WAYPOINT_POD, pod('web-1', ip, 'app: web'), pod('opted-out', otherIp, 'app: x, istio.io/use-waypoint: none'));
  const options = DEFAULT_MODEL_OPTIONS;
  const first = nextSnapshot(EMPTY_SNAPSHOT, computeMesh(inputFrom({ 'm.yaml': docs('10.0.0.1') }), options))!;
  const unrelated = nextSnapshot(first, computeMesh(inputFrom({ 'm.yaml': docs('10.0.0.1', '10.0.1.2') }), options))!;
  t.truthy(unrelated, 'the other pod changed');
  t.is(unrelated.waypoints!.listeners.get(LISTENER), first.waypoints!.listeners.get(LISTENER));
  const moved = nextSnapshot(unrelated, computeMesh(inputFrom({ 'm.yaml': docs('10.0.0.9', '10.0.1.2') }), options))!;
  t.deepEqual(
    moved.waypoints!.listeners.get(LISTENER)!.filter_chains.map((c) => c.name),
    [podHttp('10.0.0.9'), podTcp('10.0.0.9')],
  );
  t.is(moved.waypoints!.routes.get(ROUTE), first.waypoints!.routes.get(ROUTE));
  t.is(moved.waypoints!.clusters.get(CLUSTER), first.waypoints!.clusters.get(CLUSTER));
  const gone = computeMesh(
    inputFrom({ 'm.yaml': base({ gatewayLabels: 'istio.io/waypoint-for: workload' }) + yamlDocs(WAYPOINT_POD, pod('opted-out', '10.0.1.1', 'app: x, istio.io/use-waypoint: none')) }),
    options,
  );
  t.deepEqual(gone.waypoints!.listeners.get(LISTENER)!.filter_chains, []);
});

test('a patched round (a few pods changed) rebinds only their waypoints, and equals a full computation', (t) => {
  const registry = defaultRegistry();
  const parsed = (file: string, text: string): ParsedFile => {
    const result = parseFile(file, text, registry);
    if (!result.ok) throw new Error('YAML did not parse');
    return { file, documents: result.documents, diagnostics: result.diagnostics };
  };
  const second = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: other, namespace: shop, labels: {istio.io/waypoint-for: workload}}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
status: {addresses: [{type: IPAddress, value: 10.96.8.8}]}`;
  const frame = parsed('frame.yaml', base({ gatewayLabels: 'istio.io/waypoint-for: workload' }) + yamlDocs(WAYPOINT_POD, second));
  const podDoc = (name: string, ip: string, labels = ''): string => pod(name, ip, `app: ${name}${labels}`);
  const pods = parsed('pods.yaml', yamlDocs(podDoc('a', '10.0.0.1'), podDoc('b', '10.0.0.2'), podDoc('c', '10.0.0.3', ', istio.io/use-waypoint: other')));
  const cache = new ComputeCache();
  const input = assembleInput([frame, pods]);
  const first = nextSnapshot(EMPTY_SNAPSHOT, computeMesh(input, DEFAULT_MODEL_OPTIONS, cache))!;
  t.deepEqual(podChains(first), [podHttp('10.0.0.1'), podTcp('10.0.0.1'), podHttp('10.0.0.2'), podTcp('10.0.0.2')]);
  // b moves to another IP: the same objects everywhere else, so the model patches the round.
  const moved = parsed('pods.yaml', yamlDocs(podDoc('b', '10.0.0.9'))).documents[0]!;
  const documents = pods.documents.slice();
  documents[1] = { ...documents[1]!, object: moved.object! };
  const changed = assembleInput([frame, { ...pods, documents }], input);
  const content = computeMesh(changed, DEFAULT_MODEL_OPTIONS, cache);
  t.is(cache.stats.roundsPatched, 1);
  const next = nextSnapshot(first, content)!;
  t.deepEqual(next.waypoints!.listeners, computeMesh(changed, DEFAULT_MODEL_OPTIONS).waypoints!.listeners);
  t.deepEqual(
    next.waypoints!.listeners.get(LISTENER)!.filter_chains.map((c) => c.name),
    [podHttp('10.0.0.1'), podTcp('10.0.0.1'), podHttp('10.0.0.9'), podTcp('10.0.0.9')],
  );
  // The other waypoint's pod did not change: its listener is the same object.
  t.is(next.waypoints!.listeners.get('waypoint/shop/other'), first.waypoints!.listeners.get('waypoint/shop/other'));
  t.deepEqual(podChains(next, 'waypoint/shop/other'), [podHttp('10.0.0.3'), podTcp('10.0.0.3')]);
});
