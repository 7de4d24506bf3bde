/**
 * The waypoints extension on a real local mesh (root only): a waypoint Gateway with its pod gets a ready
 * `ambit-waypoint` in that pod's namespace, found by `findWaypoints` and stopped with the mesh (it drains,
 * exit 0); a waypoint Gateway without a pod fails the start with the reason, leaving nothing behind.
 */
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { LocalMesh, LocalMeshError, findWaypoints, waypointEnv, waypointProcessName, waypointReadiness, waypointsExtension } from '../src/index.js';
import { namespacesOf, rootOnly, uniquePrefix } from '@ambit/testbed/test-support';

const FIXTURE = path.join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'two-nodes');

const GATEWAY = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: waypoint, namespace: app }
spec:
  gatewayClassName: istio-waypoint
  listeners: [{ name: mesh, port: 15008, protocol: HBONE }]
---
apiVersion: v1
kind: Service
metadata: { name: waypoint, namespace: app }
spec:
  clusterIP: 10.96.0.2
  selector: { gateway.networking.k8s.io/gateway-name: waypoint }
  ports: [{ name: mesh, port: 15008 }]
`;

const WAYPOINT_POD = `apiVersion: v1
kind: Pod
metadata:
  name: waypoint-0
  namespace: app
  labels: { gateway.networking.k8s.io/gateway-name: waypoint }
spec: { nodeName: node-b, serviceAccountName: waypoint }
status: { phase: Running, podIP: 10.244.1.2, conditions: [{ type: Ready, status: "True" }] }
`;

/** The two-node fixture plus `extra` files, in a temporary directory. */
async function config(t: ExecutionContext, extra: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ambit-lm-wp-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await cp(FIXTURE, dir, { recursive: true });
  for (const [file, text] of Object.entries(extra)) await writeFile(path.join(dir, file), text);
  return dir;
}

test.serial('a waypoint per waypoint Gateway, ready in its pod, stopped with the mesh', async (t) => {
  if (!rootOnly(t)) return;
  const run = uniquePrefix('lmwp');
  const m = await LocalMesh.start({ config: await config(t, { 'waypoint.yaml': `${GATEWAY}---\n${WAYPOINT_POD}` }), prefix: run, extensions: [waypointsExtension()] });
  t.teardown(() => m.destroy());
  const specs = await findWaypoints(m);
  t.deepEqual(specs, [{ namespace: 'app', gateway: 'waypoint', pod: 'waypoint-0', ip: '10.244.1.2' }]);
  const spec = specs[0]!;
  t.is(waypointProcessName(spec), 'waypoint-app-waypoint');
  t.like(waypointEnv(m, spec), { GATEWAY_NAME: 'waypoint', POD_NAMESPACE: 'app', POD_NAME: 'waypoint-0', INSTANCE_IP: '10.244.1.2', XDS_ADDRESS: m.xdsAddress });
  const w = m.process('waypoint-app-waypoint');
  t.is(w.target, 'waypoint-0');
  t.is((await waypointReadiness(m, spec)).status, 200);
  t.truthy(w.logs.find((r) => r['msg'] === 'snapshot applied'));
  await m.close();
  t.like(w.exitStatus, { code: 0 }, 'the waypoint drained and exited 0');
  t.truthy(w.logs.find((r) => r['msg'] === 'waypoint stopped'));
  t.deepEqual(namespacesOf(run), []);
});

test.serial('a waypoint Gateway without a pod fails the start with the reason, and nothing is left', async (t) => {
  if (!rootOnly(t)) return;
  const run = uniquePrefix('lmwpx');
  const err = await t.throwsAsync(LocalMesh.start({ config: await config(t, { 'waypoint.yaml': GATEWAY }), prefix: run, ztunnelNodes: ['node-b'], extensions: [waypointsExtension()] }), {
    instanceOf: LocalMeshError,
  });
  t.is(err.code, 'LOCAL_MESH_ERR_EXTENSION');
  t.is(
    err.message,
    'extension waypoints failed to start: waypoint Gateway app/waypoint has no pod in the mesh: add a Pod in app labelled gateway.networking.k8s.io/gateway-name: waypoint, with a nodeName and a podIP (the waypoint runs in its network namespace)',
  );
  t.deepEqual(namespacesOf(run), []);
});
