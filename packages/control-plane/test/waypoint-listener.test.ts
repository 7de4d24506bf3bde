/**
 * A waypoint's Listener (one filter chain per bound service port, by declared protocol), its HTTP
 * connection manager, its endpoints, and how its resources carry over from snapshot to snapshot.
 */
import test from 'ava';
import { assembleInput, type ParsedFile } from '../src/input/input-set.js';
import { defaultRegistry } from '../src/input/kinds/index.js';
import { parseFile } from '../src/input/parse-file.js';
import { ComputeCache, computeMesh } from '../src/model/compute.js';
import { DEFAULT_MODEL_OPTIONS } from '../src/model/options.js';
import { EMPTY_SNAPSHOT, nextSnapshot } from '../src/model/versioning.js';
import { inputFrom, yamlDocs } from './helpers.js';
import {
  LISTENER,
  base,
  chain,
  cluster,
  hcm,
  httpChain,
  listener,
  pod,
  problems,
  resources,
  service,
  tcpChain,
  waypointMesh,
} from './fixtures/waypoint-mesh.js';

test('one listener per waypoint, with an HTTP chain, a TCP chain or both per bound service port', (t) => {
  const mesh = waypointMesh(
    service('web', '10.96.0.10', [
      { name: 'http-web', port: 80 },
      { name: 'grpc', port: 9090 },
      { name: 'tcp-raw', port: 7000 },
      { name: 'metrics', port: 9100 },
      { name: 'admin', port: 8443, appProtocol: 'https' },
      { name: 'odd', port: 8081, appProtocol: 'kubernetes.io/h2c' },
    ]),
    service('dual', '10.96.0.20', [{ port: 80 }], { extra: 'clusterIPs: [10.96.0.20, "fd00::20"], ipFamilies: [IPv4, IPv6]' }),
    service('opted-out', '10.96.0.30', [{ port: 80 }], { labels: 'istio.io/use-waypoint: none' }),
    `apiVersion: v1
kind: Service
metadata: {name: headless, namespace: shop}
spec: {clusterIP: None, selector: {app: h}, ports: [{port: 80}]}`,
  );
  t.deepEqual(problems(mesh), []);
  const l = listener(mesh);
  t.deepEqual([...resources(mesh).listeners.keys()], [LISTENER]);
  t.deepEqual(l.address, { socket_address: { address: '0.0.0.0', port_value: 15008 } });
  t.deepEqual(
    l.filter_chains.map((c) => c.name),
    [
      httpChain('dual'),
      tcpChain('dual'),
      httpChain('web'),
      httpChain('web', 9090),
      tcpChain('web', 7000),
      httpChain('web', 9100),
      tcpChain('web', 9100),
      tcpChain('web', 8443),
      httpChain('web', 8081),
    ],
  );
  t.deepEqual(chain(mesh, httpChain('dual')).filter_chain_match, {
    prefix_ranges: [
      { address_prefix: '10.96.0.20', prefix_len: { value: 32 } },
      { address_prefix: 'fd00::20', prefix_len: { value: 128 } },
    ],
    destination_port: { value: 80 },
    application_protocols: ['http/1.1', 'h2c'],
  });
  t.deepEqual(chain(mesh, tcpChain('dual')).filter_chain_match.application_protocols, undefined);
  // The waypoint's own Service, services that opt out and headless services get no chain.
  t.false(l.filter_chains.some((c) => /waypoint|opted-out|headless/.test(c.name)));
  t.deepEqual([...resources(mesh).identities], [['shop/waypoint', 'spiffe://cluster.local/ns/shop/sa/waypoint']]);
});

test('the HTTP connection manager: RDS by the chain name over ADS, path normalization and merged slashes, the router last', (t) => {
  const mesh = waypointMesh(service('web', '10.96.0.10'));
  const h = hcm(mesh, httpChain('web'));
  t.is(chain(mesh, httpChain('web')).filters[0]?.name, 'envoy.filters.network.http_connection_manager');
  t.is(h['stat_prefix'], httpChain('web'));
  t.deepEqual(h['rds'], { route_config_name: httpChain('web'), config_source: { ads: {}, config_source_specifier: 'ads', resource_api_version: 'V3' } });
  t.deepEqual(h['normalize_path'], { value: true });
  t.is(h['merge_slashes'], true);
  t.deepEqual(h.http_filters.map((f) => f.name), ['envoy.filters.http.router']);
  t.deepEqual(resources(mesh).routes.get(httpChain('web'))?.virtual_hosts.map((v) => [v.name, v.domains]), [['web.shop.svc.cluster.local:80', ['*']]]);
});

test('waypoints in several namespaces each get their own listener and identity; a waypoint with nothing bound has no chains', (t) => {
  const mesh = waypointMesh(
    `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: wp2, namespace: other}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
status: {addresses: [{type: IPAddress, value: 10.96.7.7}]}`,
    service('a', '10.96.0.10', [{ port: 80 }], { ns: 'other', labels: 'istio.io/use-waypoint: wp2' }),
  );
  t.deepEqual([...resources(mesh).listeners.keys()], ['waypoint/other/wp2', LISTENER]);
  t.deepEqual(listener(mesh, 'waypoint/other/wp2').filter_chains.map((c) => c.name), [httpChain('a', 80, 'other'), tcpChain('a', 80, 'other')]);
  t.deepEqual(listener(mesh).filter_chains, []);
  t.deepEqual([...resources(mesh).identities.keys()], ['other/wp2', 'shop/waypoint']);
});

test('endpoints: the pods behind the port at their resolved target port, by locality, healthy when ready', (t) => {
  const mesh = waypointMesh(
    `apiVersion: v1
kind: Node
metadata: {name: node-b, labels: {topology.kubernetes.io/region: r1, topology.kubernetes.io/zone: z2, topology.istio.io/subzone: rack-3}}`,
    service('web', '10.96.0.10', [{ name: 'http', port: 80, targetPort: 'web' }]),
    service('warm', '10.96.0.11', [{ name: 'http', port: 80, targetPort: 8080 }], { selector: 'app: web', extra: 'publishNotReadyAddresses: true' }),
    pod('web-2', '10.0.0.2', 'app: web', { ports: '{name: web, containerPort: 8000}' }),
    pod('web-1', '10.0.0.1', 'app: web', { ready: false, ports: '{name: web, containerPort: 8001}' }),
    `apiVersion: v1
kind: Pod
metadata: {name: web-3, namespace: shop, labels: {app: web}}
spec: {nodeName: node-b, containers: [{name: c, ports: [{name: web, containerPort: 8000}]}]}
status: {podIP: 10.0.0.3}`,
    pod('other', '10.0.0.9', 'app: other'),
  );
  t.deepEqual(resources(mesh).endpoints.get(cluster('web')), {
    cluster_name: cluster('web'),
    endpoints: [
      {
        locality: { region: 'r1', zone: 'z1' },
        lb_endpoints: [
          { endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 8001 } } }, health_status: 'UNHEALTHY', load_balancing_weight: { value: 1 } },
          { endpoint: { address: { socket_address: { address: '10.0.0.2', port_value: 8000 } } }, health_status: 'HEALTHY', load_balancing_weight: { value: 1 } },
        ],
      },
      {
        locality: { region: 'r1', zone: 'z2', sub_zone: 'rack-3' },
        lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.3', port_value: 8000 } } }, health_status: 'HEALTHY', load_balancing_weight: { value: 1 } }],
      },
    ],
  });
  // publishNotReadyAddresses: every endpoint counts as healthy.
  t.true(resources(mesh).endpoints.get(cluster('warm'))!.endpoints.every((l) => l.lb_endpoints.every((e) => e.health_status === 'HEALTHY')));
});

test('snapshots: unchanged waypoint resources keep their objects, a pod change touches only endpoints', (t) => {
  const docs = (podIp: string): string =>
    base() + yamlDocs(service('web', '10.96.0.10'), pod('web-1', podIp, 'app: web'), pod('web-2', '10.0.0.2', 'app: web'));
  const first = nextSnapshot(EMPTY_SNAPSHOT, computeMesh(inputFrom({ 'm.yaml': docs('10.0.0.1') }), DEFAULT_MODEL_OPTIONS))!;
  const second = nextSnapshot(first, computeMesh(inputFrom({ 'm.yaml': docs('10.0.0.1') }), DEFAULT_MODEL_OPTIONS));
  t.is(second, undefined);
  const third = nextSnapshot(first, computeMesh(inputFrom({ 'm.yaml': docs('10.0.0.7') }), DEFAULT_MODEL_OPTIONS))!;
  t.is(third.waypoints!.listeners.get(LISTENER), first.waypoints!.listeners.get(LISTENER));
  t.is(third.waypoints!.routes.get(httpChain('web')), first.waypoints!.routes.get(httpChain('web')));
  t.is(third.waypoints!.clusters.get(cluster('web')), first.waypoints!.clusters.get(cluster('web')));
  t.not(third.waypoints!.endpoints.get(cluster('web')), first.waypoints!.endpoints.get(cluster('web')));
  t.deepEqual(
    third.waypoints!.endpoints.get(cluster('web'))!.endpoints[0]!.lb_endpoints.map((e) => e.endpoint.address.socket_address.address),
    ['10.0.0.2', '10.0.0.7'],
  );
  t.true(Object.isFrozen(third.waypoints!.endpoints.get(cluster('web'))));
});

test('a few pods changed: only the load assignments of their services are recomputed, and they equal a full computation', (t) => {
  const podDoc = (name: string, ip: string, app: string): string => pod(name, ip, `app: ${app}`);
  const frameText = base() + yamlDocs(service('a', '10.96.0.10'), service('b', '10.96.0.11'));
  const podsText = yamlDocs(podDoc('a-1', '10.0.0.1', 'a'), podDoc('a-2', '10.0.0.2', 'a'), podDoc('b-1', '10.0.1.1', 'b'));
  const registry = defaultRegistry();
  const parsed = (file: string, text: string): ParsedFile => {
    const result = parseFile(file, text, registry);
    if (!result.ok) throw new Error('YAML did not parse');
    return { file, documents: result.documents, diagnostics: result.diagnostics };
  };
  const frame = parsed('frame.yaml', frameText);
  const pods = parsed('pods.yaml', podsText);
  const cache = new ComputeCache();
  const input = assembleInput([frame, pods]);
  const first = nextSnapshot(EMPTY_SNAPSHOT, computeMesh(input, DEFAULT_MODEL_OPTIONS, cache))!;
  // a-2 gets a new IP: the same object everywhere else, so the model patches the round.
  const moved = parsed('pods.yaml', yamlDocs(podDoc('a-2', '10.0.0.9', 'a'))).documents[0]!;
  const documents = pods.documents.slice();
  documents[1] = { ...documents[1]!, object: moved.object! };
  const changed = assembleInput([frame, { ...pods, documents }], input);
  const content = computeMesh(changed, DEFAULT_MODEL_OPTIONS, cache);
  t.is(cache.stats.roundsPatched, 1);
  const second = nextSnapshot(first, content)!;
  t.is(second.waypoints!.endpoints.get(cluster('b')), first.waypoints!.endpoints.get(cluster('b')));
  t.deepEqual(second.waypoints!.endpoints, computeMesh(changed, DEFAULT_MODEL_OPTIONS).waypoints!.endpoints);
  t.deepEqual(
    second.waypoints!.endpoints.get(cluster('a'))!.endpoints[0]!.lb_endpoints.map((e) => e.endpoint.address.socket_address.address),
    ['10.0.0.1', '10.0.0.9'],
  );
});
