/**
 * Workload (pod) waypoints on the full path, client pod → ztunnel → waypoint → ztunnel → server pod, the
 * client addressing the `api` pod by its IP (helpers/waypoint-mesh.ts). An L7 AuthorizationPolicy bound to
 * the waypoint (targetRefs Gateway) denies `/denied/*`; whether a pod-addressed request meets it shows which
 * way it went (a 200 for such a path cannot have come through the waypoint):
 *
 * 1. `istio.io/waypoint-for` unset (service): service traffic is denied at the waypoint, but the pod's own
 *    address goes straight to the pod (ztunnel is told of no waypoint for it);
 * 2. `all`, with the pod labelled `istio.io/use-waypoint`: the pod's address goes through the waypoint, on
 *    every port — 403 `RBAC: access denied` for `/denied/*`, the rest forwarded to the port asked for, as the
 *    waypoint's access log and `istio_requests_total` show;
 * 3. `none`: the waypoint takes neither, so nothing is denied any more.
 *
 * One mesh for the file; the steps build on each other.
 */
import test, { type ExecutionContext } from 'ava';
import { CLIENT_ID, createWaypointMesh, POD_IP, until, VIP, WAYPOINT_POD, type Outcome, type WaypointMesh } from './helpers/waypoint-mesh.js';
import { rootOnly } from '@ambit/testbed/test-support';

const SECOND_PORT = 9090;
const DENY_RULE = 'rbac_access_denied_matched_policy[ns[shop]-policy[waypoint-deny]-rule[0]]';
const POLICY = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: waypoint-deny, namespace: shop }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: waypoint }]
  action: DENY
  rules:
    - to: [{ operation: { paths: [/denied/*] } }]
`;

let bed: WaypointMesh | undefined;

test.before(async () => {
  if (!rootOnly()) return;
  bed = await createWaypointMesh('wpwl');
  await bed.startExtraServer('api', SECOND_PORT);
});
test.after.always(async () => {
  await bed?.destroy();
});

function mesh(): WaypointMesh {
  if (bed === undefined) throw new Error('the mesh was not built');
  return bed;
}

/** A request from the client pod to the api pod's own address. */
function toPod(path: string, port = 8080): Promise<Outcome> {
  return mesh().one({ host: POD_IP.api, port, path });
}

/** Sets the waypoint Gateway's `istio.io/waypoint-for` (cluster.yaml's Gateway has no labels to begin with). */
async function waypointFor(value: string): Promise<void> {
  await mesh().mesh.editConfig((yaml) => {
    const plain = 'metadata: { name: waypoint, namespace: shop }\n';
    const labelled = /metadata: \{ name: waypoint, namespace: shop, labels: \{ istio\.io\/waypoint-for: [a-z]+ \} \}\n/;
    const next = `metadata: { name: waypoint, namespace: shop, labels: { istio.io/waypoint-for: ${value} } }\n`;
    return yaml.includes(plain) ? yaml.replace(plain, next) : yaml.replace(labelled, next);
  }, 'cluster.yaml');
}

function servedByApi(t: ExecutionContext, o: Outcome, what: string): void {
  t.like(o, { status: 200, pod: 'api' }, `${what}: ${JSON.stringify(o)}`);
}

test.serial('waypoint-for service (the default): a pod-addressed request goes straight to the pod', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const version = await m.snapshotVersion();
  await m.mesh.writeConfig('policy.yaml', POLICY);
  // The policy is bound to the whole waypoint: service traffic meets it.
  await m.waitForConfig(version, async () => (await m.one({ host: VIP.api, path: '/denied/probe' })).status === 403, 'the waypoint-wide policy');
  const viaService = await m.one({ host: VIP.api, path: '/denied/service' });
  t.like(viaService, { status: 403, body: 'RBAC: access denied' });
  // The pod's own address: not through the waypoint, so not denied.
  servedByApi(t, await toPod('/denied/direct'), 'the pod address, direct');
  t.is(m.hits('api', (r) => r['url'] === '/denied/direct'), 1);
  t.is(m.hits('api', (r) => r['url'] === '/denied/service'), 0);
});

test.serial('waypoint-for all, the pod labelled use-waypoint: its address goes through the waypoint on every port', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  await m.mesh.editConfig((yaml) => {
    const before = 'name: api\n  namespace: shop\n  labels: { app: api }\n';
    if (!yaml.includes(before)) throw new Error('cluster.yaml no longer has the api pod as expected');
    return yaml.replace(before, 'name: api\n  namespace: shop\n  labels: { app: api, istio.io/use-waypoint: waypoint }\n');
  }, 'cluster.yaml');
  await waypointFor('all');
  await until(async () => (await toPod('/denied/probe')).status === 403, () => 'pod-addressed requests to go through the waypoint');

  // Denied by the waypoint's policy: the pod never sees it.
  const denied = await toPod('/denied/x');
  t.like(denied, { status: 403, body: 'RBAC: access denied' }, JSON.stringify(denied));
  t.is(m.hits('api', (r) => r['url'] === '/denied/x'), 0);
  const deniedLine = await m.waypoint.waitForLog((r) => r['component'] === 'access' && r['path'] === '/denied/x', 'the denial at the waypoint');
  t.like(deniedLine, { status: 403, details: DENY_RULE, 'dst.addr': `${POD_IP.api}:8080`, 'src.identity': CLIENT_ID });

  // Allowed: forwarded to the pod, on the port asked for, with the client's address in x-forwarded-for.
  servedByApi(t, await toPod('/ok'), 'port 8080 through the waypoint');
  servedByApi(t, await toPod('/ok-second-port', SECOND_PORT), `port ${SECOND_PORT} through the waypoint`);
  for (const [path, port] of [['/ok', 8080], ['/ok-second-port', SECOND_PORT]] as const) {
    const line = await m.waypoint.waitForLog((r) => r['component'] === 'access' && r['path'] === path, `the access line of ${path}`);
    t.like(line, { status: 200, 'dst.addr': `${POD_IP.api}:${port}`, upstream: `${POD_IP.api}:${port}`, cluster: 'inbound-pod|*||shop/waypoint', 'src.identity': CLIENT_ID });
  }
  const seen = m.servers.get('api')!.logs.find((r) => r['event'] === 'request' && r['url'] === '/ok');
  t.is((seen?.['headers'] as Record<string, string> | undefined)?.['x-forwarded-for'], POD_IP.client);

  // The waypoint's metrics count the workload's requests, denied (no endpoint answered: no destination
  // workload) and served, under the address the client asked for.
  const metrics = await m.mesh.httpGet(WAYPOINT_POD, 15020, '/metrics');
  const series = metrics.body
    .split('\n')
    .filter((l) => l.startsWith('istio_requests_total{') && l.includes(`destination_service="${POD_IP.api}"`) && l.includes(`source_principal="${CLIENT_ID}"`));
  t.true(series.some((l) => l.includes('response_code="403"')), series.join('\n'));
  t.true(series.some((l) => l.includes('response_code="200"') && l.includes('destination_workload="api"') && l.includes('destination_principal="spiffe://cluster.local/ns/shop/sa/api"')), series.join('\n'));
});

test.serial('waypoint-for none: the waypoint takes neither pod nor service traffic', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  await waypointFor('none');
  await until(async () => (await toPod('/denied/probe-none')).status === 200, () => 'pod-addressed requests to go direct again');
  await until(async () => (await m.one({ host: VIP.api, path: '/denied/probe-none' })).status === 200, () => 'service requests to go direct too');
  servedByApi(t, await toPod('/denied/none-pod'), 'the pod address');
  servedByApi(t, await m.one({ host: VIP.api, path: '/denied/none-service' }), 'the service address');
});
