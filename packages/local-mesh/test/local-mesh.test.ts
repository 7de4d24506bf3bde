/**
 * A real local mesh (root only): the two-node fixture directory, the control plane, a ztunnel per node; what
 * the library offers on it and every way it refuses. One mesh for the serial tests; the start failures build
 * their own and check that nothing is left.
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { LocalMesh, LocalMeshError, type MeshExtension } from '../src/index.js';
import { namespacesOf, rootOnly, uniquePrefix } from '@ambit/testbed/test-support';

const FIXTURE = path.join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'two-nodes');
const CLIENT_ID = 'spiffe://cluster.local/ns/app/sa/client';
const SERVER_ID = 'spiffe://cluster.local/ns/app/sa/server';

let shared: LocalMesh | undefined;

async function gone(file: string): Promise<boolean> {
  try {
    await access(file);
    return false;
  } catch {
    return true;
  }
}

test.before(async () => {
  if (rootOnly()) shared = await LocalMesh.start({ config: FIXTURE, prefix: uniquePrefix('lm') });
});
test.after.always(async () => {
  await shared?.destroy();
});

function mesh(): LocalMesh {
  if (shared === undefined) throw new Error('the mesh was not built');
  return shared;
}

test.serial('a mesh from a directory: control plane on node-a, ready ztunnels, HBONE across nodes with both identities', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  t.deepEqual(await m.configFiles(), ['apps/pods.yaml', 'cluster.yaml']);
  t.is(m.xdsAddress, `${m.nodeIp('node-a')}:15012`);
  t.true(m.controlPlane.running);
  t.deepEqual([...m.ztunnels.keys()].sort(), ['node-a', 'node-b']);
  t.is((await m.readiness('node-b')).status, 200);
  await m.cluster.startEchoServer('server', { protocol: 'tcp', port: 8080 });
  const r = await m.cluster.tcpEcho('client', m.podIp('server'), 8080, 'hello');
  t.is(r.echoed, 'hello');
  t.is(r.server.remoteAddress, m.podIp('client'));
  const inbound = await m.ztunnel('node-b').waitForLog((l) => l['component'] === 'access' && l['src.addr'] === `${m.podIp('client')}:${r.local.port}`, 'the inbound line');
  t.like(inbound, { direction: 'inbound', 'src.identity': CLIENT_ID, 'dst.identity': SERVER_ID });
  t.true((await m.resources()).some((o) => o['kind'] === 'Pod' && (o['metadata'] as Record<string, unknown>)['name'] === 'server'));
});

test.serial('editConfig: one file must be named when there are several; unknown files and no-op edits are refused', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const codes = async (p: Promise<unknown>): Promise<string> => (await t.throwsAsync(p, { instanceOf: LocalMeshError })).code;
  t.is(await codes(m.editConfig((y) => `${y}\n`)), 'LOCAL_MESH_ERR_EDIT');
  t.is(await codes(m.editConfig((y) => `${y}\n`, 'missing.yaml')), 'LOCAL_MESH_ERR_EDIT');
  t.is(await codes(m.editConfig((y) => y, 'cluster.yaml')), 'LOCAL_MESH_ERR_EDIT');
  t.is(await codes(m.editConfig((y) => `${y}\n`, '../escape.yaml')), 'LOCAL_MESH_ERR_CONFIG');
  t.is(await codes(m.removeConfig('missing.yaml')), 'LOCAL_MESH_ERR_EDIT');
});

const DENY_CLIENT = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-client, namespace: app }
spec:
  action: DENY
  rules: [{ from: [{ source: { principals: [cluster.local/ns/app/sa/client] } }] }]
`;

async function served(m: LocalMesh): Promise<boolean> {
  try {
    return (await m.cluster.tcpEcho('client', m.podIp('server'), 8080, 'probe')).echoed === 'probe';
  } catch {
    return false;
  }
}

test.serial('writeConfig adds a policy the ztunnels enforce; removeConfig takes it away again', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  await m.writeConfig('policy/deny.yaml', DENY_CLIENT);
  t.deepEqual(await m.configFiles(), ['apps/pods.yaml', 'cluster.yaml', 'policy/deny.yaml']);
  // The push takes a moment (file watch, debounce, xDS): probe until the mesh refuses.
  let denied = false;
  for (let i = 0; i < 100 && !denied; i++) {
    denied = !(await served(m));
    if (!denied) await new Promise((r) => setTimeout(r, 100));
  }
  t.true(denied, 'the policy reached node-b');
  t.truthy(await m.ztunnel('node-b').waitForLog((l) => l['error'] === 'denied by policy app/deny-client', 'the deny line'));
  await m.removeConfig('policy/deny.yaml');
  let back = false;
  for (let i = 0; i < 100 && !back; i++) {
    back = await served(m);
    if (!back) await new Promise((r) => setTimeout(r, 100));
  }
  t.true(back, 'served again once the policy file is gone');
});

test.serial('startProcess: runs in a pod with its logs, refuses a duplicate name and an unknown target, fails when never ready', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const p = await m.startProcess('server', 'greeter', process.execPath, ['-e', `console.log(JSON.stringify({ msg: 'hi' })); setInterval(() => {}, 1000);`], {
    ready: (proc) => proc.logs.length > 0,
  });
  t.is(m.process('greeter'), p);
  t.like(p.logs[0], { msg: 'hi' });
  const dup = await t.throwsAsync(m.startProcess('server', 'greeter', process.execPath, ['-e', '']), { instanceOf: LocalMeshError });
  t.is(dup.code, 'LOCAL_MESH_ERR_PROCESS');
  await t.throwsAsync(m.startProcess('no-such-pod', 'x', process.execPath, ['-e', '']), { code: 'TESTBED_ERR_UNKNOWN_TARGET' });
  const never = await t.throwsAsync(m.startProcess('server', 'quitter', process.execPath, ['-e', 'process.exit(4)'], { ready: () => false }), { instanceOf: LocalMeshError });
  t.is(never.code, 'LOCAL_MESH_ERR_START');
  t.regex(never.message, /quitter to be ready: the process exited/);
  const unready = await t.throwsAsync(m.startProcess('server', 'sleeper', process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { ready: () => false, waitMs: 300 }), {
    instanceOf: LocalMeshError,
  });
  t.is(unready.code, 'LOCAL_MESH_ERR_START');
  t.false(m.process('sleeper').running, 'a process that never got ready is killed');
  t.like(await p.stop(), { signal: 'SIGTERM' });
  t.is(t.throws(() => m.process('nobody'), { instanceOf: LocalMeshError }).code, 'LOCAL_MESH_ERR_PROCESS');
  t.is(t.throws(() => m.ztunnel('node-z'), { instanceOf: LocalMeshError }).code, 'LOCAL_MESH_ERR_PROCESS');
  t.is(t.throws(() => m.nodeIp('node-z'), { instanceOf: LocalMeshError }).code, 'LOCAL_MESH_ERR_UNKNOWN_NODE');
  t.is(t.throws(() => m.podIp('nobody'), { instanceOf: LocalMeshError }).code, 'LOCAL_MESH_ERR_UNKNOWN_NODE');
});

test.serial('startZtunnel refuses a second ztunnel on a node while the first runs; a restarted one serves', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const err = await t.throwsAsync(m.startZtunnel('node-a'), { instanceOf: LocalMeshError });
  t.is(err.code, 'LOCAL_MESH_ERR_PROCESS');
  const old = m.ztunnel('node-a');
  await old.kill();
  const fresh = await m.startZtunnel('node-a');
  t.not(fresh, old);
  t.is(m.ztunnel('node-a'), fresh);
  t.true(await served(m));
});

test('an unknown control-plane or ztunnel node is refused before anything is built', async (t) => {
  if (!rootOnly(t)) return;
  const run = uniquePrefix('lmbad');
  const err = await t.throwsAsync(LocalMesh.start({ config: FIXTURE, prefix: run, controlPlaneNode: 'node-z' }), { instanceOf: LocalMeshError });
  t.is(err.code, 'LOCAL_MESH_ERR_UNKNOWN_NODE');
  t.regex(err.message, /controlPlaneNode: no node named node-z \(nodes: node-a, node-b\)/);
  const err2 = await t.throwsAsync(LocalMesh.start({ config: FIXTURE, prefix: run, ztunnelNodes: ['node-a', 'node-q'] }), { instanceOf: LocalMeshError });
  t.regex(err2.message, /ztunnelNodes: no node named node-q/);
  t.deepEqual(namespacesOf(run), []);
  const missing = await t.throwsAsync(LocalMesh.start({ config: path.join(FIXTURE, 'nope') }), { instanceOf: LocalMeshError });
  t.is(missing.code, 'LOCAL_MESH_ERR_CONFIG');
});

test('an extension that fails tears the whole mesh down; one that succeeds adds its process, and close() drains everything', async (t) => {
  if (!rootOnly(t)) return;
  const run = uniquePrefix('lmext');
  let seen: LocalMesh | undefined;
  const failing: MeshExtension = {
    name: 'broken',
    start: (m) => {
      seen = m;
      return Promise.reject(new Error('no waypoint binary'));
    },
  };
  const err = await t.throwsAsync(LocalMesh.start({ config: FIXTURE, prefix: run, ztunnelNodes: ['node-b'], extensions: [failing] }), { instanceOf: LocalMeshError });
  t.is(err.code, 'LOCAL_MESH_ERR_EXTENSION');
  t.regex(err.message, /extension broken failed to start: no waypoint binary/);
  t.deepEqual(namespacesOf(run), []);
  t.true(await gone(seen!.dir));

  const run2 = uniquePrefix('lmext');
  const adding: MeshExtension = {
    name: 'sidekick',
    start: async (m) => {
      await m.startProcess('client', 'sidekick', process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    },
  };
  const m = await LocalMesh.start({ config: FIXTURE, prefix: run2, ztunnelNodes: ['node-b'], extensions: [adding] });
  t.teardown(() => m.destroy());
  t.deepEqual([...m.ztunnels.keys()], ['node-b']);
  const sidekick = m.process('sidekick');
  const ztunnel = m.ztunnel('node-b');
  await m.close();
  t.like(sidekick.exitStatus, { signal: 'SIGTERM' });
  t.like(ztunnel.exitStatus, { code: 0 }, 'the ztunnel drained and exited 0');
  t.truthy(ztunnel.logs.find((l) => l['msg'] === 'draining'));
  t.false(m.controlPlane.running);
  t.deepEqual(namespacesOf(run2), []);
  t.true(await gone(m.dir));
  const closed = await t.throwsAsync(m.writeConfig('x.yaml', 'kind: X'), { instanceOf: LocalMeshError });
  t.is(closed.code, 'LOCAL_MESH_ERR_DESTROYED');
  await m.close();
  await m.destroy();
});
