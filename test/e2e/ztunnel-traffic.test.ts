/**
 * Traffic through real ztunnels in a two-node testbed (see helpers/ztunnel-mesh.ts): HBONE across nodes and
 * on one node, a service VIP balanced over both nodes, passthrough to a pod outside the mesh, plaintext into
 * the mesh under STRICT and PERMISSIVE, half-close, and the metrics and access log of one connection. One
 * cluster for the file: nothing here changes the mesh.
 */
import type { LocalMesh } from '@ambit/local-mesh';
import test from 'ava';
import { AppError } from '@ambit/testbed';
import { createMesh, POD_IP, WEB_VIP, type LogRecord } from './helpers/ztunnel-mesh.js';
import { rootOnly } from '@ambit/testbed/test-support';

let bed: LocalMesh | undefined;

test.before(async () => {
  if (rootOnly()) bed = await createMesh('zttr');
});
test.after.always(async () => {
  await bed?.destroy();
});

function mesh(): LocalMesh {
  if (bed === undefined) throw new Error('the mesh was not built');
  return bed;
}

const CLIENT_ID = 'spiffe://cluster.local/ns/shop/sa/client';
const WEB_ID = 'spiffe://cluster.local/ns/shop/sa/web';

/** The first access-log line of `node`'s ztunnel for a connection from `srcPort`, in `direction`. */
async function accessLine(node: 'node-a' | 'node-b', direction: string, srcIp: string, srcPort: number): Promise<LogRecord> {
  return await mesh()
    .ztunnel(node)
    .waitForLog((r) => r['component'] === 'access' && r['direction'] === direction && r['src.addr'] === `${srcIp}:${srcPort}`, `${direction} access line from ${srcIp}:${srcPort}`);
}

test.serial('pod → pod across nodes goes through HBONE: the server sees the client IP, both access logs name both identities', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const r = await m.cluster.tcpEcho('client-a', POD_IP['web-b'], 8080, 'across nodes');
  t.is(r.echoed, 'across nodes', 'the reply came back after the client half-closed');
  t.is(r.server.remoteAddress, POD_IP['client-a']);
  t.is(r.server.localAddress, POD_IP['web-b']);
  const out = await accessLine('node-a', 'outbound', POD_IP['client-a'], r.local.port);
  t.like(out, {
    msg: 'connection complete',
    'src.identity': CLIENT_ID,
    'src.workload': 'client-a',
    'src.namespace': 'shop',
    'dst.addr': `${POD_IP['web-b']}:8080`,
    'dst.hbone_addr': `${POD_IP['web-b']}:15008`,
    'dst.workload': 'web-b',
    'dst.identity': WEB_ID,
    bytes_sent: 'across nodes'.length,
  });
  const inbound = await accessLine('node-b', 'inbound', POD_IP['client-a'], r.local.port);
  t.like(inbound, { msg: 'connection complete', 'src.identity': CLIENT_ID, 'src.workload': 'client-a', 'dst.identity': WEB_ID, 'dst.workload': 'web-b', 'dst.hbone_addr': `${POD_IP['web-b']}:15008` });
});

test.serial('pod → pod on one node also goes through HBONE (joined over loopback): real client IP, both identities', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const r = await m.cluster.tcpEcho('client-a', POD_IP['web-a'], 8080, 'same node');
  t.is(r.echoed, 'same node');
  t.is(r.server.remoteAddress, POD_IP['client-a']);
  const inbound = await accessLine('node-a', 'inbound', POD_IP['client-a'], r.local.port);
  t.like(inbound, { 'src.identity': CLIENT_ID, 'dst.identity': WEB_ID, 'dst.workload': 'web-a', 'dst.hbone_addr': `${POD_IP['web-a']}:15008`, error: undefined });
  t.like(await accessLine('node-a', 'outbound', POD_IP['client-a'], r.local.port), { 'dst.hbone_addr': `${POD_IP['web-a']}:15008`, 'dst.identity': WEB_ID });
});

test.serial('a service VIP is balanced over its endpoints on both nodes', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const served = new Map<string, number>();
  for (let i = 0; i < 16; i++) {
    const r = await m.cluster.tcpEcho('client-a', WEB_VIP, 80, `vip ${i}`);
    t.is(r.echoed, `vip ${i}`);
    t.is(r.server.remoteAddress, POD_IP['client-a']);
    t.is(r.server.localPort, 8080, 'the service port 80 is delivered to the target port 8080');
    served.set(r.server.localAddress, (served.get(r.server.localAddress) ?? 0) + 1);
  }
  t.deepEqual([...served.keys()].sort(), [POD_IP['web-a'], POD_IP['web-b']], `served: ${JSON.stringify([...served])}`);
  const line = await mesh()
    .ztunnel('node-a')
    .waitForLog((r) => r['component'] === 'access' && r['dst.addr'] === `${WEB_VIP}:80`, 'a VIP access line');
  t.is(line['dst.service'], 'web.shop.svc.cluster.local');
});

test.serial('a mesh pod reaches a pod outside the mesh by plain passthrough, from its own IP', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const r = await m.cluster.tcpEcho('client-a', POD_IP.outsider, 8080, 'passthrough');
  t.is(r.echoed, 'passthrough');
  t.is(r.server.remoteAddress, POD_IP['client-a']);
  const out = await accessLine('node-a', 'outbound', POD_IP['client-a'], r.local.port);
  t.is(out['dst.hbone_addr'], undefined, 'no HBONE');
  t.is(out['dst.addr'], `${POD_IP.outsider}:8080`);
  // node-b's ztunnel never saw it: the outsider is not captured.
  t.false(m.ztunnel('node-b').access().some((l) => l['src.addr'] === `${POD_IP['client-a']}:${r.local.port}`));
});

test.serial('plaintext from outside the mesh: refused under STRICT, served under PERMISSIVE from the client IP', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const refused = await t.throwsAsync(m.cluster.tcpEcho('outsider', POD_IP['web-b'], 8080, 'strict'), { instanceOf: AppError });
  t.true(refused.errno === 'ECONNRESET' || refused.errno === 'EPROTO', `errno ${String(refused.errno)}`);
  const denied = await m.ztunnel('node-b').waitForLog((r) => r['component'] === 'access' && r['src.addr']?.toString().startsWith(`${POD_IP.outsider}:`) === true && r['response_flags'] === 'DENY', 'the STRICT deny');
  t.like(denied, { direction: 'inbound', 'dst.workload': 'web-b', level: 40 });
  t.regex(String(denied['error']), /istio_converted_static_strict/);

  const served = await m.cluster.tcpEcho('outsider', POD_IP.kiosk, 8080, 'permissive');
  t.is(served.echoed, 'permissive');
  t.is(served.server.remoteAddress, POD_IP.outsider);
  const line = await accessLine('node-a', 'inbound', POD_IP.outsider, served.local.port);
  t.like(line, { 'dst.workload': 'kiosk', 'src.identity': undefined, error: undefined });
});

test.serial('a destination that refuses: the client is reset and the failure logged, outbound and inbound', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  // Passthrough to a port nobody listens on.
  const passthrough = await t.throwsAsync(m.cluster.tcpEcho('client-a', POD_IP.outsider, 9999, 'x'), { instanceOf: AppError });
  t.true(['ECONNRESET', 'EPROTO'].includes(String(passthrough.errno)));
  const out = await m.ztunnel('node-a').waitForLog((l) => l['component'] === 'access' && l['dst.addr'] === `${POD_IP.outsider}:9999`, 'the passthrough failure');
  t.like(out, { response_flags: 'CONNECT', level: 50 });
  t.regex(String(out['error']), /ECONNREFUSED/);
  // Plaintext into a PERMISSIVE pod, on a port nobody listens on.
  await t.throwsAsync(m.cluster.tcpEcho('outsider', POD_IP.kiosk, 9999, 'x'), { instanceOf: AppError });
  const inbound = await m.ztunnel('node-a').waitForLog((l) => l['component'] === 'access' && l['dst.addr'] === `${POD_IP.kiosk}:9999`, 'the plaintext failure');
  t.like(inbound, { response_flags: 'CONNECT', direction: 'inbound' });
  // Over HBONE: the destination ztunnel answers 503, the source one records it.
  await t.throwsAsync(m.cluster.tcpEcho('client-a', POD_IP['web-b'], 9999, 'x'), { instanceOf: AppError });
  const hbone = await m.ztunnel('node-a').waitForLog((l) => l['component'] === 'access' && l['dst.addr'] === `${POD_IP['web-b']}:9999`, 'the HBONE failure');
  t.like(hbone, { response_flags: 'CONNECT' });
  t.regex(String(hbone['error']), /answered 503/);
});

test.serial('the metrics and the access log of one known connection', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const payload = 'metered payload';
  const r = await m.cluster.tcpEcho('client-a', POD_IP['web-b'], 8080, payload);
  const reply = JSON.stringify(r.server).length + 1 + payload.length;
  const out = await accessLine('node-a', 'outbound', POD_IP['client-a'], r.local.port);
  t.like(out, { bytes_sent: payload.length, bytes_recv: reply, direction: 'outbound' });
  t.true(typeof out['duration'] === 'number' && out['duration'] >= 0);
  const inbound = await accessLine('node-b', 'inbound', POD_IP['client-a'], r.local.port);
  t.like(inbound, { bytes_sent: payload.length, bytes_recv: reply });

  const metrics = await m.httpGet('node-b', 15020, '/metrics');
  t.is(metrics.status, 200);
  const toWebB = metricLines(metrics.body, 'istio_tcp_connections_opened_total').filter(
    (l) => l.includes('reporter="destination"') && l.includes('destination_workload="web-b"') && l.includes(`source_principal="${CLIENT_ID}"`),
  );
  // Tunnels to port 8080 (this one, at the pod; the VIP ones, named in forwarded host=) are counted under
  // Service web, which targets 8080; the earlier one to 9999, a port no service targets, under none.
  const series = toWebB.find((l) => l.includes('destination_service="web.shop.svc.cluster.local"'));
  t.truthy(series, metrics.body);
  t.true(toWebB.some((l) => l.includes('destination_service="unknown"') && l.includes('destination_service_name="unknown"')), toWebB.join('\n'));
  for (const label of [
    'source_workload="client-a"',
    'source_workload_namespace="shop"',
    'source_app="client"',
    'destination_workload_namespace="shop"',
    `destination_principal="${WEB_ID}"`,
    'destination_app="web"',
    'request_protocol="tcp"',
    'response_flags="-"',
    'connection_security_policy="mutual_tls"',
    'source_cluster="Kubernetes"',
    'destination_cluster="Kubernetes"',
    'destination_service_name="web"',
    'destination_service_namespace="shop"',
  ]) {
    t.true(series!.includes(label), `${label} in ${series!}`);
  }
  const prometheus = await m.httpGet('node-b', 15020, '/stats/prometheus');
  t.is(prometheus.status, 200);
  for (const name of ['istio_tcp_connections_closed_total', 'istio_tcp_sent_bytes_total', 'istio_tcp_received_bytes_total']) {
    t.true(metricLines(prometheus.body, name).some((l) => l.includes('destination_workload="web-b"')), name);
  }
  // The outbound side reports as the source, with the service label for VIP traffic from the earlier test.
  const source = await m.httpGet('node-a', 15020, '/metrics');
  t.true(metricLines(source.body, 'istio_tcp_connections_closed_total').some((l) => l.includes('reporter="source"') && l.includes('destination_service="web.shop.svc.cluster.local"')));
});

test.serial('a half-closed connection still delivers the other direction', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const { client, server } = await m.holdConnection('client-a', POD_IP['web-b'], 8080);
  t.is(server['remoteAddress'], POD_IP['client-a']);
  client.send('before the FIN');
  t.like(await client.app.waitFor('echo'), { data: 'before the FIN' });
  // Our FIN reaches the server through both ztunnels; the server's pending echo and its own FIN come back.
  client.send('last words');
  client.end();
  t.like(await client.app.waitFor('echo'), { data: 'last words' });
  await client.app.waitFor('end');
  t.like(await client.app.waitFor('closed'), { hadError: false });
});

test.serial('the admin endpoint dumps the state, the certificates with their expiry and the config', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const dump = await m.httpGet('node-a', 15000, '/config_dump');
  t.is(dump.status, 200);
  const body = JSON.parse(dump.body) as Record<string, unknown>;
  t.like(body, { xds: { synced: true, pending: [] }, ready: { ready: true }, capture: { state: 'running', inSync: true } });
  t.deepEqual((body['localWorkloads'] as string[]).sort(), ['Kubernetes//Pod/open/kiosk', 'Kubernetes//Pod/shop/client-a', 'Kubernetes//Pod/shop/web-a']);
  const certs = body['certificates'] as { identity: string; notAfter: string }[];
  t.deepEqual(certs.map((c) => c.identity).sort(), ['spiffe://cluster.local/ns/open/sa/kiosk', CLIENT_ID, WEB_ID]);
  t.true(certs.every((c) => Date.parse(c.notAfter) > Date.now()));
  t.like(body['config'], { nodeName: 'node-a', trustDomain: 'cluster.local' });
  t.true((body['workloads'] as unknown[]).length >= 7);
  t.is((await m.httpGet('node-a', 15000, '/nope')).status, 404);
  t.is((await m.httpGet('node-a', 15000, '/config_dump', 'POST')).status, 405);
});

function metricLines(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`));
}
