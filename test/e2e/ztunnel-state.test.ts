/**
 * ztunnel's state core fed by the real control plane: the model over `deploy/examples/mesh.yaml`, the
 * control plane's delta xDS over TLS, the real `XdsClient`, and `XdsStateUpdater` → `StateStore`. Then
 * the YAML is edited and the store follows. A second control plane with a hand-made snapshot source
 * checks that invalid resources are NACKed with their reasons while the valid ones are applied.
 */
import { EventEmitter } from 'node:events';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { ControlPlane, MeshModel, parseConfig as parseControlPlaneConfig, type MeshSnapshot, type SnapshotSource } from '@ambit/control-plane';
import { Identity } from '@ambit/mesh-core/identity';
import { silentLogger } from '@ambit/mesh-core/telemetry';
import { ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL, type Address, type Authorization } from '@ambit/protos';
import { XdsClient, proxyNodeId, type NackEvent } from '@ambit/xds';
import { StateClosedError, StateStore, XdsStateUpdater, authorize, type AuthzRequest, type ProxySnapshot, type Workload } from '@ambit/ztunnel';

// Compiled to test/dist/e2e/: the repository root is three levels up.
const MESH_YAML = path.join(import.meta.dirname, '..', '..', '..', 'deploy', 'examples', 'mesh.yaml');
const SERVER_NAME = 'istiod.istio-system.svc';
const HTTPBIN = 'demo/httpbin.demo.svc.cluster.local';
const SLEEP_UID = 'Kubernetes//Pod/demo/sleep-6d68f49858-7xk2p';
const HTTPBIN_UID = 'Kubernetes//Pod/demo/httpbin-7f9c7b8d5c-q8w4n';
const HTTPBIN_STARTING_UID = 'Kubernetes//Pod/demo/httpbin-7f9c7b8d5c-zt6mv';

interface Plane {
  plane: ControlPlane;
  rootPem: string;
  dir: string;
}

async function startPlane(t: ExecutionContext, source: SnapshotSource, dir: string): Promise<Plane> {
  const stateDir = path.join(dir, 'state');
  const config = parseControlPlaneConfig(['--config', path.join(dir, 'mesh.yaml'), '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', stateDir]);
  const plane = await ControlPlane.start({ config, source, logger: silentLogger() });
  t.teardown(() => plane.destroy());
  return { plane, rootPem: await readFile(path.join(stateDir, 'root-cert.pem'), 'utf8'), dir };
}

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'zt-state-e2e-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A ztunnel's xDS client for node `node` with the state updater and store wired to it. */
function connect(t: ExecutionContext, p: Plane, node: string): { client: XdsClient; store: StateStore; updater: XdsStateUpdater } {
  const client = new XdsClient({
    target: p.plane.grpcAddress,
    node: {
      id: proxyNodeId('ztunnel', '10.244.1.2', `ztunnel-${node}`, 'istio-system'),
      metadata: { NAME: `ztunnel-${node}`, NAMESPACE: 'istio-system', INSTANCE_IPS: '10.244.1.2', NODE_NAME: node },
    },
    tls: { rootCa: p.rootPem, serverName: SERVER_NAME },
    headers: { clusterid: 'Kubernetes' },
  });
  const store = new StateStore();
  const updater = new XdsStateUpdater({ client, store });
  t.teardown(async () => {
    updater.destroy();
    await client.close();
    await store.close();
  });
  client.start();
  return { client, store, updater };
}

/** Resolves with the first snapshot (current or later) that satisfies `predicate`. */
function until(store: StateStore, predicate: (s: ProxySnapshot) => boolean): Promise<ProxySnapshot> {
  if (predicate(store.current)) return Promise.resolve(store.current);
  return new Promise((resolve) => {
    const off = store.subscribe((s) => {
      if (!predicate(s)) return;
      off();
      resolve(s);
    });
  });
}

function request(destination: Workload, port: number, source: { ip: string; identity?: Identity }): AuthzRequest {
  return { source, destination: { workload: destination, ip: destination.addresses[0]!, port } };
}

const SLEEP_ID = new Identity('cluster.local', 'demo', 'sleep');
const LEGACY_ID = new Identity('cluster.local', 'legacy', 'default');

test('the store mirrors the example mesh served by the real control plane, and follows edits of the YAML', async (t) => {
  const dir = await tempDir(t);
  const yamlPath = path.join(dir, 'mesh.yaml');
  await copyFile(MESH_YAML, yamlPath);
  const model = await MeshModel.load(yamlPath, { debounceMs: 20 });
  t.teardown(() => model.close());
  await model.watch();
  const p = await startPlane(t, model, dir);
  const { store, updater } = connect(t, p, 'node-a');
  t.false(updater.synced);
  await updater.whenSynced();
  t.true(updater.synced);
  t.deepEqual(updater.pending(), []);
  let s = store.current;

  // Workloads on node-a that this ztunnel proxies: the HBONE ones (the waypoint terminates HBONE itself).
  t.deepEqual(
    s.localWorkloads('node-a').map((w) => w.uid),
    [HTTPBIN_STARTING_UID, SLEEP_UID],
  );
  t.deepEqual(s.localWorkloads('node-b').map((w) => w.uid), [HTTPBIN_UID]);
  t.is(s.findWorkloadByIp('10.244.1.12')?.tunnelProtocol, 'NONE', 'the waypoint pod is known, as plaintext');
  t.is(s.findWorkloadByIp('10.244.2.30')?.namespace, 'legacy');
  t.is(s.findWorkloadByIp('fd00:10:244:2::20')?.uid, HTTPBIN_UID, 'dual-stack pod');
  t.is(s.workloadIdentity(SLEEP_UID)?.uri, 'spiffe://cluster.local/ns/demo/sa/sleep');

  // httpbin's service: VIPs, waypoint, endpoints with the named target port resolved per pod.
  const httpbinService = s.findServiceByVip('10.96.0.20');
  t.is(httpbinService?.key, HTTPBIN);
  t.is(s.findServiceByVip('fd00:10:96::20')?.key, HTTPBIN);
  t.is(httpbinService?.waypoint?.kind, 'address');
  const endpoints = s.serviceEndpoints(HTTPBIN);
  t.deepEqual([...endpoints.keys()].sort(), [HTTPBIN_UID, HTTPBIN_STARTING_UID]);
  t.deepEqual([...endpoints.get(HTTPBIN_UID)!.ports].sort(), [
    [8000, 8080],
    [9090, 9090],
  ]);
  t.is(endpoints.get(HTTPBIN_STARTING_UID)!.workload.status, 'UNHEALTHY');

  // Which policies apply to httpbin: the global DENY, demo's namespace DENY, its selector policies and the
  // converted PeerAuthentication (STRICT with a plaintext exception on 9090) instead of the static STRICT one.
  const httpbin = s.findWorkload(HTTPBIN_UID)!;
  t.deepEqual(
    s.policiesFor(httpbin).map((p) => `${p.key} ${p.scope} ${p.action}`),
    [
      'istio-system/deny-documentation-net GLOBAL DENY',
      'demo/deny-legacy NAMESPACE DENY',
      'demo/httpbin WORKLOAD_SELECTOR ALLOW',
      'demo/httpbin-get-only WORKLOAD_SELECTOR ALLOW',
      'demo/converted_peer_authentication_httpbin-metrics WORKLOAD_SELECTOR DENY',
    ],
  );
  t.deepEqual(s.missingPolicies(httpbin), []);
  t.deepEqual(s.findWorkload(SLEEP_UID)!.authorizationPolicies, ['istio-system/istio_converted_static_strict']);

  // Decisions for traffic into httpbin.
  const sleepIp = '10.244.1.10';
  let d = authorize(s, request(httpbin, 8080, { ip: sleepIp, identity: SLEEP_ID }));
  t.true(d.allowed);
  t.is(d.policy?.key, 'demo/httpbin');
  d = authorize(s, request(httpbin, 8080, { ip: sleepIp }));
  t.false(d.allowed, 'plaintext to 8080 is refused (STRICT)');
  t.is(d.policy?.key, 'demo/converted_peer_authentication_httpbin-metrics');
  d = authorize(s, request(httpbin, 9090, { ip: '10.244.2.30' }));
  t.true(d.allowed, 'plaintext metrics scrape from the pod network on 9090');
  t.is(d.policy?.key, 'demo/httpbin');
  d = authorize(s, request(httpbin, 8080, { ip: '10.244.2.30', identity: LEGACY_ID }));
  t.false(d.allowed);
  t.is(d.policy?.key, 'demo/deny-legacy');
  d = authorize(s, request(httpbin, 9090, { ip: '203.0.113.7', identity: SLEEP_ID }));
  t.is(d.policy?.key, 'istio-system/deny-documentation-net');
  d = authorize(s, request(httpbin, 8080, { ip: sleepIp, identity: new Identity('cluster.local', 'demo', 'httpbin') }));
  t.false(d.allowed);
  t.is(d.reason, 'no-allow-match');
  const sleep = s.findWorkload(SLEEP_UID)!;
  t.is(authorize(s, request(sleep, 80, { ip: '10.244.2.30' })).policy?.key, 'istio-system/istio_converted_static_strict');

  // Edit the mesh: a new pod on node-a, httpbin's port renamed to 8081, the namespace DENY removed.
  const generation = s.generation;
  const policyGeneration = s.generations.policy;
  let yaml = await readFile(yamlPath, 'utf8');
  yaml = yaml.replace(/containerPort: 8080/g, 'containerPort: 8081');
  yaml = yaml.replace(/---\napiVersion: security\.istio\.io\/v1\nkind: AuthorizationPolicy\nmetadata:\n {2}name: deny-legacy\n[\s\S]*?(?=---)/, '');
  yaml += `---
apiVersion: v1
kind: Pod
metadata:
  name: sleep-2
  namespace: demo
  labels: { app: sleep }
spec:
  nodeName: node-a
  serviceAccountName: sleep
  containers: [{ name: sleep, image: curlimages/curl }]
status:
  phase: Running
  podIP: 10.244.1.13
  conditions: [{ type: Ready, status: "True" }]
`;
  await writeFile(yamlPath, yaml);
  s = await until(
    store,
    (snap) =>
      snap.findWorkload('Kubernetes//Pod/demo/sleep-2') !== undefined &&
      !snap.policies.has('demo/deny-legacy') &&
      snap.serviceEndpoints(HTTPBIN).get(HTTPBIN_UID)?.ports.get(8000) === 8081,
  );
  t.true(s.generation > generation);
  t.true(s.generations.policy > policyGeneration);
  t.deepEqual(
    s.localWorkloads('node-a').map((w) => w.uid),
    [HTTPBIN_STARTING_UID, 'Kubernetes//Pod/demo/sleep-2', SLEEP_UID],
  );
  t.deepEqual([...s.serviceEndpoints('demo/sleep.demo.svc.cluster.local').keys()].sort(), ['Kubernetes//Pod/demo/sleep-2', SLEEP_UID]);
  const legacyNow = authorize(s, request(s.findWorkload(HTTPBIN_UID)!, 8080, { ip: '10.244.2.30', identity: LEGACY_ID }));
  t.false(legacyNow.allowed, 'still refused, now because no ALLOW matches');
  t.is(legacyNow.reason, 'no-allow-match');
  t.true(authorize(s, request(s.findWorkload(HTTPBIN_UID)!, 8080, { ip: '10.244.1.13', identity: SLEEP_ID })).allowed);
});

/** A snapshot source whose content the test sets. */
class HandSource extends EventEmitter<{ snapshot: [MeshSnapshot] }> implements SnapshotSource {
  current: MeshSnapshot;
  constructor(addresses: [string, Address][], authorizations: [string, Authorization][]) {
    super();
    this.current = this.#make(1, addresses, authorizations);
  }
  publish(addresses: [string, Address][], authorizations: [string, Authorization][]): void {
    this.current = this.#make(this.current.version + 1, addresses, authorizations);
    this.emit('snapshot', this.current);
  }
  #make(version: number, addresses: [string, Address][], authorizations: [string, Authorization][]): MeshSnapshot {
    return { version, addresses: new Map(addresses), authorizations: new Map(authorizations), identitiesByNode: new Map(), diagnostics: [] };
  }
}

function pod(name: string, ip: number[], extra: Partial<NonNullable<Address['workload']>> = {}): [string, Address] {
  const uid = `Kubernetes//Pod/default/${name}`;
  return [uid, { type: 'workload', workload: { uid, name, namespace: 'default', addresses: [Buffer.from(ip)], tunnel_protocol: 'HBONE', node: 'node-a', ...extra } }];
}

function nacks(client: XdsClient): NackEvent[] {
  const events: NackEvent[] = [];
  client.on('nack', (e) => events.push(e));
  return events;
}

function untilNack(events: NackEvent[], client: XdsClient, typeUrl: string): Promise<NackEvent> {
  const found = events.find((e) => e.typeUrl === typeUrl);
  if (found) return Promise.resolve(found);
  return new Promise((resolve) => {
    const on = (e: NackEvent): void => {
      if (e.typeUrl !== typeUrl) return;
      client.off('nack', on);
      resolve(e);
    };
    client.on('nack', on);
  });
}

test('invalid resources from a control plane are NACKed with their reasons; the rest is applied; sync waits for an ACK', async (t) => {
  const dir = await tempDir(t);
  const good = pod('good', [10, 0, 0, 1]);
  const source = new HandSource(
    [good, pod('legacy', [10, 0, 0, 2], { tunnel_protocol: 'LEGACY_ISTIO_MTLS' }), pod('badkey', [10, 0, 0, 3], { services: { 'no-slash': {} } })],
    [
      ['default/ok', { name: 'ok', namespace: 'default', scope: 'NAMESPACE', action: 'ALLOW' }],
      ['default/wide', { name: 'wide', namespace: 'default', scope: 'NAMESPACE', action: 'ALLOW', rules: [{ clauses: [{ matches: [{ source_ips: [{ address: Buffer.from([10, 0, 0, 0]), length: 40 }] }] }] }] }],
    ],
  );
  const p = await startPlane(t, source, dir);
  const { client, store, updater } = connect(t, p, 'node-a');
  const events = nacks(client);
  const addressNack = await untilNack(events, client, ADDRESS_TYPE_URL);
  const policyNack = await untilNack(events, client, AUTHORIZATION_TYPE_URL);
  t.deepEqual(
    addressNack.rejections.map((r) => `${r.name}: ${r.reason}`).sort(),
    [
      'Kubernetes//Pod/default/badkey: workload Kubernetes//Pod/default/badkey: services key "no-slash" is not namespace/hostname',
      'Kubernetes//Pod/default/legacy: workload Kubernetes//Pod/default/legacy: tunnel protocol LEGACY_ISTIO_MTLS is not supported (only NONE and HBONE)',
    ],
  );
  t.deepEqual(policyNack.rejections, [{ name: 'default/wide', reason: 'rules[0].clauses[0].matches[0].source_ips[0]: prefix length 40 is out of range 0-32' }]);
  t.is(store.current.findWorkloadByIp('10.0.0.1')?.uid, good[0], 'the valid workload is applied');
  t.is(store.current.findWorkloadByIp('10.0.0.2'), undefined);
  t.true(store.current.policies.has('default/ok'));
  t.false(updater.synced, 'NACKed types are not synced');
  t.deepEqual(updater.pending(), [ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL]);

  // The control plane fixes its resources: both types are ACKed, and the updater is synced.
  source.publish([good, pod('legacy', [10, 0, 0, 2])], [['default/ok', { name: 'ok', namespace: 'default', scope: 'NAMESPACE', action: 'ALLOW' }]]);
  await updater.whenSynced();
  t.is(store.current.findWorkloadByIp('10.0.0.2')?.name, 'legacy');
  t.false(store.current.policies.has('default/wide'));
  t.is(authorize(store.current, request(store.current.findWorkload(good[0])!, 80, { ip: '10.0.0.2' })).reason, 'no-allow-match');
});

test('a closed updater refuses further pushes (NACK) and fails pending waits', async (t) => {
  const dir = await tempDir(t);
  const source = new HandSource([pod('a', [10, 0, 0, 1])], []);
  const p = await startPlane(t, source, dir);
  const { client, store, updater } = connect(t, p, 'node-a');
  await updater.whenSynced();
  const generation = store.current.generation;

  const idle = new XdsClient({ target: p.plane.grpcAddress, node: { id: 'ztunnel~10.0.0.9~z.istio-system~istio-system.svc.cluster.local' } });
  t.teardown(() => idle.destroy());
  const second = new XdsStateUpdater({ client: idle, store });
  const waiting = second.whenSynced();
  second.destroy();
  await t.throwsAsync(waiting, { instanceOf: StateClosedError, message: 'cannot wait for sync: the xDS state updater is closed' });
  await t.throwsAsync(second.whenSynced(), { instanceOf: StateClosedError });

  updater.destroy();
  const events = nacks(client);
  source.publish([pod('a', [10, 0, 0, 1]), pod('b', [10, 0, 0, 2])], []);
  const nack = await untilNack(events, client, ADDRESS_TYPE_URL);
  t.deepEqual(nack.rejections, [{ name: 'Kubernetes//Pod/default/b', reason: 'handler failed: cannot apply Address resources: the xDS state updater is closed' }]);
  t.is(store.current.generation, generation, 'nothing applied after close');
  t.true(updater.synced, 'an updater that synced stays synced');
});
