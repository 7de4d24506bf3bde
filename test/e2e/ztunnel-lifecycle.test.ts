/**
 * A ztunnel's life in a two-node testbed (see helpers/ztunnel-mesh.ts): readiness while xDS is missing, a
 * SIGKILL (pods fail closed, the next ztunnel finds exactly one copy of the rules and serves), and SIGTERM
 * drains — open connections finish, new ones are refused, the rules go, exit 0 — with and without reaching
 * the drain deadline — and a ztunnel configured from LOCAL_XDS_PATH. One cluster for the file; each test
 * leaves ready ztunnels behind.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { LocalMesh } from '@ambit/local-mesh';
import test, { type ExecutionContext } from 'ava';
import { AppError } from '@ambit/testbed';
import { createMesh, POD_IP, ZTUNNEL, until } from './helpers/ztunnel-mesh.js';
import { rootOnly } from '@ambit/testbed/test-support';

let bed: LocalMesh | undefined;

test.before(async () => {
  if (rootOnly()) bed = await createMesh('ztlife');
});
test.after.always(async () => {
  await bed?.destroy();
});

function mesh(): LocalMesh {
  if (bed === undefined) throw new Error('the mesh was not built');
  return bed;
}

interface KernelState {
  tables: string[];
  rules: string[];
  routes: string[];
}

/** What node-a's kernel holds that capture owns. */
async function kernel(): Promise<KernelState> {
  const c = mesh().cluster;
  const tables = (await c.exec('node-a', 'nft', ['list', 'tables'])).stdout.split('\n').filter((l) => l.includes('ambit-ztunnel'));
  const rules = (await c.exec('node-a', 'ip', ['rule', 'show'])).stdout.split('\n').filter((l) => l.includes('0x539'));
  const routes = (await c.exec('node-a', 'ip', ['route', 'show', 'table', 'all'])).stdout.split('\n').filter((l) => l.includes('table 133'));
  return { tables, rules, routes };
}

async function resetOrRefused(t: ExecutionContext, what: Promise<unknown>): Promise<void> {
  const err = await t.throwsAsync(what, { instanceOf: AppError });
  t.true(['ECONNRESET', 'EPROTO', 'ECONNREFUSED'].includes(String(err.errno)), String(err.errno));
}

test.serial('readiness lists what is missing: without xDS it answers 500 naming both types', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const ready = await m.readiness('node-b');
  t.is(ready.status, 200);
  t.is(ready.body.trim(), 'ready');
  // A second ztunnel for node-a would fight over the listeners: take the real one down first.
  const old = m.ztunnel('node-a');
  old.child.kill('SIGKILL');
  await old.exited;
  const child = m.cluster.spawn('node-a', process.execPath, [ZTUNNEL], {
    env: m.ztunnelEnv('node-a', { XDS_ADDRESS: '10.244.255.1:15999' }),
  });
  child.stdout!.resume();
  child.stderr!.resume();
  try {
    await until(async () => (await m.readiness('node-a')).status === 500, () => 'a 500 from the xDS-less ztunnel');
    const body = (await m.readiness('node-a')).body;
    t.regex(body, /^not ready:\n/);
    t.regex(body, /- xds: waiting for the first Address response/);
    t.regex(body, /- xds: waiting for the first Authorization response/);
  } finally {
    child.kill('SIGKILL');
  }
  await m.startZtunnel('node-a');
  t.is((await m.readiness('node-a')).status, 200);
});

test.serial('after a SIGKILL, enrolled pods fail closed; the next ztunnel leaves one copy of the rules and serves', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const installed = await kernel();
  t.is(installed.tables.length, 1);
  t.is(installed.rules.length, 2);
  t.is(installed.routes.length, 1);
  const old = m.ztunnel('node-a');
  old.child.kill('SIGKILL');
  t.like(await old.exited, { signal: 'SIGKILL' });
  // The rules stay, nothing listens: new connections are refused rather than bypassing the mesh.
  t.deepEqual(await kernel(), installed);
  await resetOrRefused(t, m.cluster.tcpEcho('client-a', POD_IP['web-b'], 8080, 'while down'));

  await m.startZtunnel('node-a');
  t.deepEqual(await kernel(), installed, 'exactly one copy of the table, the rules and the route');
  const r = await m.cluster.tcpEcho('client-a', POD_IP['web-b'], 8080, 'back');
  t.is(r.echoed, 'back');
  t.is(r.server.remoteAddress, POD_IP['client-a']);
  t.truthy(await m.ztunnel('node-a').waitForLog((l) => l['component'] === 'access' && l['src.addr'] === `${POD_IP['client-a']}:${r.local.port}`, 'the new access line'));
});

test.serial('SIGTERM drains: open connections finish, new ones are refused, then the rules go and it exits 0', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const held = await m.holdConnection('client-a', POD_IP['web-b'], 8080);
  const z = m.ztunnel('node-a');
  z.child.kill('SIGTERM');
  await z.waitForLog((l) => l['msg'] === 'draining', 'the drain');
  // Still open, still relaying; readiness reports the drain.
  held.client.send('during the drain');
  t.like(await held.client.app.waitFor('echo'), { data: 'during the drain' });
  const ready = await m.readiness('node-a');
  t.is(ready.status, 500);
  t.regex(ready.body, /drain: shutting down/);
  await resetOrRefused(t, m.cluster.tcpEcho('client-a', POD_IP['web-b'], 8080, 'new during the drain'));

  held.client.end();
  await held.client.app.waitFor('closed');
  t.like(await z.exited, { code: 0 });
  t.truthy(z.logs.find((l) => l['msg'] === 'every connection finished' && l['outcome'] === 'drained'));
  t.deepEqual(await kernel(), { tables: [], rules: [], routes: [] });
  // Without capture node-a's pods are no longer refused (as they are while the rules stay and nothing
  // listens): they talk directly.
  const direct = await m.cluster.tcpEcho('client-a', POD_IP.outsider, 8080, 'direct');
  t.is(direct.echoed, 'direct');
  t.is(direct.server.remoteAddress, POD_IP['client-a']);
  await m.startZtunnel('node-a');
});

test.serial('/quitquitquit with a connection that outlives the drain deadline: it is cut, and the exit is still 0', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const old = m.ztunnel('node-a');
  old.child.kill('SIGKILL');
  await old.exited;
  const z = await m.startZtunnel('node-a', { env: { CONNECTION_TERMINATION_DEADLINE: '1s' } });
  const held = await m.holdConnection('client-a', POD_IP['web-b'], 8080);
  // The admin endpoint's quitquitquit drains as SIGTERM does.
  t.is((await m.httpGet('node-a', 15000, '/quitquitquit', 'POST')).status, 200);
  const err = await t.throwsAsync(held.client.app.waitFor('closed'), { instanceOf: AppError });
  t.is(err.errno, 'ECONNRESET');
  t.like(await z.exited, { code: 0 });
  t.truthy(z.logs.find((l) => l['msg'] === 'shutting down' && l['cause'] === 'quitquitquit'));
  t.truthy(z.logs.find((l) => l['outcome'] === 'forced'));
  t.truthy(z.logs.find((l) => l['component'] === 'access' && l['error'] === 'closed at the drain deadline'));
  t.deepEqual(await kernel(), { tables: [], rules: [], routes: [] });
  await m.startZtunnel('node-a');
  t.is((await m.cluster.tcpEcho('client-a', POD_IP['web-b'], 8080, 'again')).echoed, 'again');
});

const LOCAL_CONFIG = `# node-b's view of the mesh without a control plane: two workloads, no policy at all.
workloads:
  - { uid: Kubernetes//Pod/shop/web-b, name: web-b, namespace: shop, addresses: [${POD_IP['web-b']}], tunnel_protocol: HBONE, node: node-b, service_account: web, trust_domain: cluster.local }
  - { uid: Kubernetes//Pod/shop/client-a, name: client-a, namespace: shop, addresses: [${POD_IP['client-a']}], tunnel_protocol: HBONE, node: node-a, service_account: client, trust_domain: cluster.local }
`;

test.serial('LOCAL_XDS_PATH: a ztunnel configured from a file (and the CA) serves what the file says', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const file = path.join(m.dir, 'local-node-b.yaml');
  await writeFile(file, LOCAL_CONFIG);
  const old = m.ztunnel('node-b');
  old.child.kill('SIGKILL');
  await old.exited;
  const z = await m.startZtunnel('node-b', { env: { XDS_ADDRESS: '', LOCAL_XDS_PATH: file } });
  try {
    t.truthy(z.logs.find((l) => l['msg'] === 'local config applied' && l['workloads'] === 2));
    // node-a still pools an HBONE connection to the killed ztunnel's pod address; the FIN its kernel sent
    // closed that connection, so this tunnel gets a fresh one.
    const r = await m.cluster.tcpEcho('client-a', POD_IP['web-b'], 8080, 'from a file');
    t.is(r.server.remoteAddress, POD_IP['client-a']);
    t.like(await z.waitForLog((l) => l['component'] === 'access' && l['direction'] === 'inbound' && l['src.addr'] === `${POD_IP['client-a']}:${r.local.port}`, 'the inbound line'), {
      'src.identity': 'spiffe://cluster.local/ns/shop/sa/client',
      'dst.identity': 'spiffe://cluster.local/ns/shop/sa/web',
    });
    // The file has no policy, not even the STRICT one: plaintext is admitted.
    const plain = await m.cluster.tcpEcho('outsider', POD_IP['web-b'], 8080, 'no strict here');
    t.is(plain.echoed, 'no strict here');
  } finally {
    z.child.kill('SIGKILL');
    await z.exited;
    await m.startZtunnel('node-b');
  }
});

test.serial('a second SIGTERM during the drain stops at once: connections cut, rules removed, exit 1', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const z = m.ztunnel('node-a');
  const held = await m.holdConnection('client-a', POD_IP['web-b'], 8080);
  z.child.kill('SIGTERM');
  await z.waitForLog((l) => l['msg'] === 'draining', 'the drain');
  z.child.kill('SIGTERM');
  t.like(await z.exited, { code: 1 });
  t.truthy(z.logs.find((l) => l['msg'] === 'second signal: stopping now'));
  await t.throwsAsync(held.client.app.waitFor('closed'), { instanceOf: AppError });
  t.deepEqual(await kernel(), { tables: [], rules: [], routes: [] });
  await m.startZtunnel('node-a');
  t.is((await m.cluster.tcpEcho('client-a', POD_IP['web-b'], 8080, 'after')).echoed, 'after');
});
