/**
 * The real xDS client and the real control plane over TLS on loopback, fed by YAML files on disk: the
 * initial sync of the worked example, and edits on disk reaching the subscribed client as upserts and
 * removals.
 */
import test from 'ava';
import type { Address, Authorization } from '@ambit/protos';
import { MeshDir, podYaml } from './support/mesh-dir.js';
import { startPlane } from './support/plane.js';
import { ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL, recordingClient } from './support/recording-client.js';

const SLEEP = 'Kubernetes//Pod/demo/sleep-6d68f49858-7xk2p';
const HTTPBIN = 'Kubernetes//Pod/demo/httpbin-7f9c7b8d5c-q8w4n';
const CLIENT = 'Kubernetes//Pod/legacy/client';
const ip = (bytes: Uint8Array | undefined): string => (bytes && bytes.length === 4 ? bytes.join('.') : Buffer.from(bytes ?? []).toString('hex'));

function bothAcked(acks: readonly { typeUrl: string }[]): boolean {
  return acks.some((a) => a.typeUrl === ADDRESS_TYPE_URL) && acks.some((a) => a.typeUrl === AUTHORIZATION_TYPE_URL);
}

test('initial sync of deploy/examples/mesh.yaml: every workload, service and policy, decoded by the Istio codecs', async (t) => {
  const dir = await MeshDir.create(t);
  await dir.copyExample();
  const h = await startPlane(t, dir);
  const c = recordingClient(t, h.plane.grpcAddress, h.rootPem);
  await c.until(() => bothAcked(c.acks), 'both types ACKed');

  t.deepEqual(c.addresses.names(), [
    'Kubernetes//Pod/demo/httpbin-7f9c7b8d5c-q8w4n',
    'Kubernetes//Pod/demo/httpbin-7f9c7b8d5c-zt6mv',
    SLEEP,
    'Kubernetes//Pod/demo/waypoint-5c8d9f7b6-hw9zl',
    CLIENT,
    'demo/httpbin.demo.svc.cluster.local',
    'demo/sleep.demo.svc.cluster.local',
    'demo/waypoint.demo.svc.cluster.local',
  ].sort());
  // One response per type: everything arrives as one batch each.
  t.is(c.addresses.batches.length, 1);
  t.is(c.policies.batches.length, 1);
  t.deepEqual(c.nacks, []);

  const sleep = c.addresses.state.get(SLEEP)!.workload!;
  t.is(sleep.tunnel_protocol, 'HBONE');
  t.is(sleep.service_account, 'sleep');
  t.is(sleep.node, 'node-a');
  t.deepEqual(sleep.addresses?.map(ip), ['10.244.1.10']);
  t.deepEqual(sleep.services, { 'demo/sleep.demo.svc.cluster.local': { ports: [{ service_port: 80, target_port: 80 }] } });
  t.deepEqual(sleep.locality, { region: 'us-east1', zone: 'us-east1-b' });
  const httpbin = c.addresses.state.get(HTTPBIN)!.workload!;
  t.deepEqual(httpbin.addresses?.map(ip), ['10.244.2.20', 'fd000010024400020000000000000020']);
  t.deepEqual(httpbin.authorization_policies, ['demo/httpbin', 'demo/httpbin-get-only', 'demo/converted_peer_authentication_httpbin-metrics']);
  t.deepEqual(httpbin.services?.['demo/httpbin.demo.svc.cluster.local']?.ports, [
    { service_port: 8000, target_port: 8080 },
    { service_port: 9090, target_port: 9090 },
  ]);
  // Outside the mesh: sent, as a plaintext workload.
  t.is(c.addresses.state.get(CLIENT)!.workload!.tunnel_protocol, 'NONE');

  const service = c.addresses.state.get('demo/httpbin.demo.svc.cluster.local')!.service!;
  t.deepEqual(service.addresses?.map((a) => ip(a.address)), ['10.96.0.20', 'fd000010009600000000000000000020']);
  t.is(service.ip_families, 'DUAL');
  t.deepEqual(ip(service.waypoint?.address?.address), '10.96.0.30');
  t.is(service.waypoint?.hbone_mtls_port, 15008);

  t.deepEqual(c.policies.names(), [
    'demo/converted_peer_authentication_httpbin-metrics',
    'demo/deny-legacy',
    'demo/httpbin',
    'demo/httpbin-get-only',
    'istio-system/deny-documentation-net',
    'istio-system/istio_converted_static_strict',
  ]);
  const denyLegacy = c.policies.state.get('demo/deny-legacy')!;
  t.is(denyLegacy.action, 'DENY');
  t.is(denyLegacy.scope, 'NAMESPACE');
  t.deepEqual(denyLegacy.rules, [{ clauses: [{ matches: [{ namespaces: [{ exact: 'legacy', match_type: 'exact' }] }] }] }]);
  t.is(c.policies.state.get('istio-system/deny-documentation-net')!.scope, 'GLOBAL');
  // The HTTP-only rule was dropped: an ALLOW without rules, which allows nothing.
  t.is(c.policies.state.get('demo/httpbin-get-only')!.rules, undefined);

  // The server's view agrees: the same names, and this client's ACKs.
  const dump = await h.configDump();
  t.deepEqual(dump.addresses.map((a) => a.name).sort(), c.addresses.names());
  t.is(dump.clients.length, 1);
  t.true(dump.clients[0]!.types.every((x) => x.lastAck !== undefined && x.lastNack === undefined));
  t.deepEqual(dump.nodes, {
    'node-a': ['spiffe://cluster.local/ns/demo/sa/httpbin', 'spiffe://cluster.local/ns/demo/sa/sleep'],
    'node-b': ['spiffe://cluster.local/ns/demo/sa/httpbin'],
  });
});

test('edits on disk reach the client as upserts and removals: labels and IP, a new pod, a deleted service, a DENY policy', async (t) => {
  const dir = await MeshDir.create(t);
  await dir.copyExample();
  await dir.write('extra/web.yaml', podYaml('web-1', 'demo', '10.244.1.40', { labels: { app: 'web', version: 'v1' } }));
  const h = await startPlane(t, dir);
  const c = recordingClient(t, h.plane.grpcAddress, h.rootPem);
  await c.until(() => bothAcked(c.acks), 'initial sync');
  const WEB = 'Kubernetes//Pod/demo/web-1';
  const batchesAfter = (n: number): { upserts: string[]; removals: string[] }[] =>
    c.addresses.batches.slice(n).map((b) => ({ upserts: b.upserts.map((u) => u.name), removals: [...b.removals] }));

  // 1. A pod's labels and IP change: one upsert of that workload, nothing else.
  let mark = c.addresses.batches.length;
  await dir.write('extra/web.yaml', podYaml('web-1', 'demo', '10.244.1.41', { labels: { app: 'web', version: 'v2' } }));
  await c.until(() => c.addresses.state.get(WEB)?.workload?.canonical_revision === 'v2', 'web-1 at v2');
  t.deepEqual(batchesAfter(mark), [{ upserts: [WEB], removals: [] }]);
  t.deepEqual(c.addresses.state.get(WEB)!.workload!.addresses?.map(ip), ['10.244.1.41']);

  // 2. A pod is added.
  mark = c.addresses.batches.length;
  await dir.write('extra/web-2.yaml', podYaml('web-2', 'demo', '10.244.2.42', { node: 'node-b', labels: { app: 'web' } }));
  await c.until(() => c.addresses.state.has('Kubernetes//Pod/demo/web-2'), 'web-2 added');
  t.deepEqual(batchesAfter(mark), [{ upserts: ['Kubernetes//Pod/demo/web-2'], removals: [] }]);
  t.is(c.addresses.state.get('Kubernetes//Pod/demo/web-2')!.workload!.node, 'node-b');

  // 3. A service is deleted: the service is removed, and its pod no longer lists it.
  mark = c.addresses.batches.length;
  await dir.edit('mesh.yaml', /---\n# sleep's Service opts out[\s\S]*?port: 80\n/, '');
  await c.until(() => !c.addresses.state.has('demo/sleep.demo.svc.cluster.local'), 'sleep service removed');
  t.deepEqual(batchesAfter(mark), [{ upserts: [SLEEP], removals: ['demo/sleep.demo.svc.cluster.local'] }]);
  t.is(c.addresses.state.get(SLEEP)!.workload!.services, undefined);

  // 4. A DENY policy selecting web pods: the policy arrives, and the web workloads name it.
  const policyBatches = c.policies.batches.length;
  mark = c.addresses.batches.length;
  await dir.write(
    'extra/deny.yaml',
    `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-legacy-web, namespace: demo }
spec:
  selector: { matchLabels: { app: web } }
  action: DENY
  rules: [{ from: [{ source: { namespaces: [legacy] } }], to: [{ operation: { ports: ["8080"] } }] }]
`,
  );
  await c.until(
    () => c.policies.state.has('demo/deny-legacy-web') && c.addresses.state.get(WEB)?.workload?.authorization_policies?.includes('demo/deny-legacy-web') === true,
    'the DENY policy and its workloads',
  );
  const deny: Authorization = c.policies.state.get('demo/deny-legacy-web')!;
  t.is(deny.action, 'DENY');
  t.is(deny.scope, 'WORKLOAD_SELECTOR');
  t.deepEqual(
    c.policies.batches.slice(policyBatches).map((b) => [b.upserts.map((u) => u.name), b.removals]),
    [[['demo/deny-legacy-web'], []]],
  );
  await c.until(() => c.addresses.state.get('Kubernetes//Pod/demo/web-2')?.workload?.authorization_policies?.includes('demo/deny-legacy-web') === true, 'web-2 names it');
  t.deepEqual(batchesAfter(mark).flatMap((b) => b.upserts).sort(), [WEB, 'Kubernetes//Pod/demo/web-2']);
  const web: Address = c.addresses.state.get(WEB)!;
  t.deepEqual(web.workload!.authorization_policies, ['demo/deny-legacy-web', 'istio-system/istio_converted_static_strict']);

  // Nothing was ever refused, and the only removal was the deleted service.
  t.deepEqual(c.nacks, []);
  t.deepEqual(c.addresses.removals, ['demo/sleep.demo.svc.cluster.local']);
  t.deepEqual(c.policies.removals, []);
});
