/**
 * ztunnels with two data-path worker threads each (`ZTUNNEL_WORKER_THREADS=2`, docs/ztunnel.md "More
 * cores") in the two-node testbed (helpers/ztunnel-mesh.ts): captured connections spread over both workers
 * of the client's node, every path still works (across nodes, on one node, a service VIP), a policy pushed through the
 * main thread's xDS closes a live connection in whichever worker holds it, `/metrics` and `/config_dump`
 * cover both workers, and SIGTERM drains the workers and removes the rules. One cluster for the file.
 */
import type { LocalMesh } from '@ambit/local-mesh';
import test, { type ExecutionContext } from 'ava';
import { AppError } from '@ambit/testbed';
import { rootOnly } from '@ambit/testbed/test-support';
import { createMesh, POD_IP, until, WEB_VIP, type LogRecord } from './helpers/ztunnel-mesh.js';

let bed: LocalMesh | undefined;

test.before(async () => {
  if (rootOnly()) bed = await createMesh('ztwk', { ztunnelEnv: { ZTUNNEL_WORKER_THREADS: '2' } });
});
test.after.always(async () => {
  await bed?.destroy();
});

function mesh(): LocalMesh {
  if (bed === undefined) throw new Error('the mesh was not built');
  return bed;
}

const CLIENT_ID = 'spiffe://cluster.local/ns/shop/sa/client';

async function accessLine(node: 'node-a' | 'node-b', direction: string, srcPort: number): Promise<LogRecord> {
  return await mesh()
    .ztunnel(node)
    .waitForLog((r) => r['component'] === 'access' && r['direction'] === direction && r['src.addr'] === `${POD_IP['client-a']}:${srcPort}`, `${direction} access line from port ${srcPort}`);
}

function sumOf(metrics: string, name: string, ...labels: string[]): number {
  return metrics
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) && labels.every((label) => l.includes(label)))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

test.serial('captured connections spread over both workers of the client node; /metrics sums them and /config_dump shows each worker', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const workers = { 'node-a': new Set<unknown>(), 'node-b': new Set<unknown>() };
  // The kernel picks a worker's listener by each connection's hash: 24 captured connections reach both of
  // node-a's workers unless the listeners do not share the port (odds of all on one of two: 2^-23).
  const COUNT = 24;
  for (let i = 0; i < COUNT; i++) {
    const r = await m.cluster.tcpEcho('client-a', POD_IP['web-b'], 8080, `spread ${i}`);
    t.is(r.echoed, `spread ${i}`);
    t.is(r.server.remoteAddress, POD_IP['client-a'], 'delivered from the client pod address');
    const out = await accessLine('node-a', 'outbound', r.local.port);
    const inbound = await accessLine('node-b', 'inbound', r.local.port);
    t.like(out, { 'src.identity': CLIENT_ID, 'dst.workload': 'web-b', bytes_sent: `spread ${i}`.length });
    t.like(inbound, { 'src.identity': CLIENT_ID, 'dst.workload': 'web-b' });
    workers['node-a'].add(out['worker']);
    workers['node-b'].add(inbound['worker']);
  }
  t.deepEqual([...workers['node-a']].sort(), [0, 1], 'node-a: the access lines name the worker that carried each connection');
  // node-b's side is spread per HBONE connection, not per tunnel: each node-a worker pools one connection to
  // web-b, and every tunnel rides one of those two, so both may land on the same node-b worker.
  t.true([...workers['node-b']].every((w) => w === 0 || w === 1), `node-b workers: ${[...workers['node-b']].join(', ')}`);

  const source = (await m.httpGet('node-a', 15020, '/metrics')).body;
  t.is(sumOf(source, 'istio_tcp_connections_opened_total', 'reporter="source"', 'destination_workload="web-b"'), COUNT, source);
  t.is(sumOf(source, 'istio_tcp_connections_closed_total', 'reporter="source"', 'destination_workload="web-b"'), COUNT);
  const destination = (await m.httpGet('node-b', 15020, '/metrics')).body;
  t.is(sumOf(destination, 'istio_tcp_connections_opened_total', 'reporter="destination"', 'destination_workload="web-b"'), COUNT);
  t.true(destination.includes('xds_'), 'the main thread’s own metrics (xDS client) are in the same scrape');

  const dump = JSON.parse((await m.httpGet('node-a', 15000, '/config_dump')).body) as { config: { workerThreads: number }; proxy: { connections: number; workers: { connections: number }[] } };
  t.is(dump.config.workerThreads, 2);
  t.is(dump.proxy.workers.length, 2);
  t.is(dump.proxy.connections, 0, 'every connection has ended');
});

test.serial('on one node, through a VIP, and a policy pushed while a connection is open closes it in its worker', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const local = await m.cluster.tcpEcho('client-a', POD_IP['web-a'], 8080, 'same node');
  t.is(local.echoed, 'same node');
  t.is(local.server.remoteAddress, POD_IP['client-a']);
  const vip = await m.cluster.tcpEcho('client-a', WEB_VIP, 80, 'vip');
  t.is(vip.echoed, 'vip');
  t.is(vip.server.localPort, 8080);

  const held = await m.holdConnection('client-a', POD_IP['web-b'], 8080);
  held.client.send('before');
  t.like(await held.client.app.waitFor('echo'), { data: 'before' });
  const deny = `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: workers-deny, namespace: shop }
spec:
  selector: { matchLabels: { app: web } }
  action: DENY
  rules: [{ from: [{ source: { principals: [cluster.local/ns/shop/sa/client] } }] }]
`;
  await m.editConfig((y) => y + deny);
  try {
    const err = await t.throwsAsync(held.client.app.waitFor('closed'), { instanceOf: AppError });
    t.is(err.errno, 'ECONNRESET');
    const line = await m.ztunnel('node-b').waitForLog((l) => l['component'] === 'access' && String(l['error']).startsWith('closed after a policy change'), 'the policy close');
    t.like(line, { 'dst.workload': 'web-b', response_flags: 'DENY', error: 'closed after a policy change: denied by policy shop/workers-deny' });
    t.true(line['worker'] === 0 || line['worker'] === 1);
  } finally {
    await m.editConfig((y) => y.replace(deny, ''));
  }
  // The next test must not race the removal: wait until both ztunnels serve client → web-b again.
  await until(
    () => m.cluster.tcpEcho('client-a', POD_IP['web-b'], 8080, 'again').then((r) => r.echoed === 'again', () => false),
    () => 'client-a → web-b to be served again after the policy is removed',
  );
});

async function capturedTables(t: ExecutionContext): Promise<string[]> {
  const { stdout } = await mesh().cluster.exec('node-a', 'nft', ['list', 'tables']);
  t.pass();
  return stdout.split('\n').filter((l) => l.includes('ambit-ztunnel'));
}

test.serial('SIGTERM: both workers drain (an open connection finishes), the rules go, exit 0; a new ztunnel serves', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const held = await m.holdConnection('client-a', POD_IP['web-b'], 8080);
  const z = m.ztunnel('node-a');
  t.is((await capturedTables(t)).length, 1);
  z.child.kill('SIGTERM');
  await z.waitForLog((l) => l['msg'] === 'draining', 'the drain');
  held.client.send('during the drain');
  t.like(await held.client.app.waitFor('echo'), { data: 'during the drain' });
  held.client.end();
  await held.client.app.waitFor('closed');
  t.like(await z.exited, { code: 0 });
  t.truthy(z.logs.find((l) => l['msg'] === 'every connection finished' && l['outcome'] === 'drained'));
  t.deepEqual(await capturedTables(t), []);
  await m.startZtunnel('node-a');
  const after = await m.cluster.tcpEcho('client-a', POD_IP['web-b'], 8080, 'after');
  t.is(after.echoed, 'after');
});
