/**
 * L4 policy through real ztunnels (see helpers/ztunnel-mesh.ts): ALLOW and DENY by principal, namespace and
 * port; policies added while connections are open close them (HBONE and plaintext); a namespace enrolled and
 * un-enrolled at run time by editing the control plane's YAML. One cluster for the file; every test puts the
 * YAML back as it found it before it ends.
 */
import type { LocalMesh } from '@ambit/local-mesh';
import test, { type ExecutionContext } from 'ava';
import { AppError, type AppProcess } from '@ambit/testbed';
import { createMesh, POD_IP, until, type PodName } from './helpers/ztunnel-mesh.js';
import { rootOnly } from '@ambit/testbed/test-support';

let bed: LocalMesh | undefined;

test.before(async () => {
  if (rootOnly()) bed = await createMesh('ztpol');
});
test.after.always(async () => {
  await bed?.destroy();
});

function mesh(): LocalMesh {
  if (bed === undefined) throw new Error('the mesh was not built');
  return bed;
}

/** Whether a connection from `from` to `to:port` is served (an echo comes back) or reset. */
async function reaches(from: PodName, to: string, port: number): Promise<boolean> {
  try {
    const r = await mesh().cluster.tcpEcho(from, to, port, 'probe');
    return r.echoed === 'probe';
  } catch (err) {
    if (err instanceof AppError && (err.errno === 'ECONNRESET' || err.errno === 'EPROTO')) return false;
    throw err;
  }
}

async function refused(t: ExecutionContext, from: PodName, to: string, port: number): Promise<void> {
  const err = await t.throwsAsync(mesh().cluster.tcpEcho(from, to, port, 'refused?'), { instanceOf: AppError });
  t.true(err.errno === 'ECONNRESET' || err.errno === 'EPROTO', `${from} → ${to}:${port}: ${String(err.errno)}`);
}

/** Waits until the mesh behaves as `expect` says for `from` → `to:port` (after a YAML edit reached the ztunnels). */
async function eventually(from: PodName, to: string, port: number, expect: boolean): Promise<void> {
  await until(() => reaches(from, to, port).then((r) => r === expect), () => `${from} → ${to}:${port} to be ${expect ? 'served' : 'refused'}`);
}

/** The held client's connection is reset: its pod sees ECONNRESET, not a clean end. */
async function resetSeen(t: ExecutionContext, app: AppProcess): Promise<void> {
  const err = await t.throwsAsync(app.waitFor('closed'), { instanceOf: AppError });
  t.is(err.errno, 'ECONNRESET');
}

const LATE_DENY = `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: late-deny
  namespace: shop
spec:
  selector:
    matchLabels: { app: web }
  action: DENY
  rules:
    - from: [{ source: { principals: [cluster.local/ns/shop/sa/client] } }]
`;

test.serial('ALLOW by principal and port, DENY by namespace; refusals are logged on both sides', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  // api-b admits shop/client on 8080 only.
  const ok = await m.cluster.tcpEcho('client-a', POD_IP['api-b'], 8080, 'allowed');
  t.is(ok.server.remoteAddress, POD_IP['client-a']);
  await refused(t, 'web-a', POD_IP['api-b'], 8080);
  await refused(t, 'client-a', POD_IP['api-b'], 9090);
  const denied = m.ztunnel('node-b').access().filter((l) => l['dst.workload'] === 'api-b' && l['response_flags'] === 'DENY');
  t.true(denied.some((l) => l['src.identity'] === 'spiffe://cluster.local/ns/shop/sa/web' && l['dst.addr'] === `${POD_IP['api-b']}:8080` && l['error'] === 'denied: no ALLOW policy matched'));
  t.true(denied.some((l) => l['src.identity'] === 'spiffe://cluster.local/ns/shop/sa/client' && l['dst.addr'] === `${POD_IP['api-b']}:9090`));
  // The client side learns of the 401 and reports it as DENY too.
  await m.ztunnel('node-a').waitForLog((l) => l['component'] === 'access' && l['direction'] === 'outbound' && l['src.workload'] === 'web-a' && l['response_flags'] === 'DENY', 'the outbound DENY');

  // shop denies namespace open, across nodes and on one node; open itself still reaches what it may.
  await refused(t, 'kiosk', POD_IP['web-b'], 8080);
  await refused(t, 'kiosk', POD_IP['web-a'], 8080);
  const line = await m.ztunnel('node-b').waitForLog((l) => l['component'] === 'access' && l['src.workload'] === 'kiosk' && l['response_flags'] === 'DENY', 'the namespace deny');
  t.is(line['error'], 'denied by policy shop/deny-open');
  t.true(await reaches('kiosk', POD_IP.outsider, 8080), 'passthrough out of the mesh is not subject to shop policy');
});

test.serial('a policy added while connections are open closes those it now denies, and only those', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const held = await m.holdConnection('client-a', POD_IP['web-b'], 8080);
  const other = await m.holdConnection('client-a', POD_IP['api-b'], 8080);
  held.client.send('still open');
  t.like(await held.client.app.waitFor('echo'), { data: 'still open' });

  await m.editConfig((y) => y + LATE_DENY);
  await resetSeen(t, held.client.app);
  const line = await m.ztunnel('node-b').waitForLog((l) => l['component'] === 'access' && typeof l['error'] === 'string' && l['error'].startsWith('closed after a policy change'), 'the policy close');
  t.like(line, { 'dst.workload': 'web-b', response_flags: 'DENY', error: 'closed after a policy change: denied by policy shop/late-deny' });
  await refused(t, 'client-a', POD_IP['web-b'], 8080);
  // The connection to api-b is not affected by a policy on web.
  other.client.send('unaffected');
  t.like(await other.client.app.waitFor('echo'), { data: 'unaffected' });
  other.client.end();
  await other.client.app.waitFor('closed');

  await m.editConfig((y) => y.replace(LATE_DENY, ''));
  await eventually('client-a', POD_IP['web-b'], 8080, true);
});

test.serial('a plaintext connection is closed when its namespace turns STRICT', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  const held = await m.holdConnection('outsider', POD_IP.kiosk, 8080);
  t.is(held.server['remoteAddress'], POD_IP.outsider);
  const permissive = 'namespace: open\nspec:\n  mtls: { mode: PERMISSIVE }';
  const strict = 'namespace: open\nspec:\n  mtls: { mode: STRICT }';
  await m.editConfig((y) => y.replace(permissive, strict));
  try {
    await resetSeen(t, held.client.app);
    const line = await m.ztunnel('node-a').waitForLog((l) => l['component'] === 'access' && l['dst.workload'] === 'kiosk' && String(l['error']).startsWith('closed after a policy change'), 'the plaintext policy close');
    t.regex(String(line['error']), /istio_converted_static_strict/);
    await refused(t, 'outsider', POD_IP.kiosk, 8080);
  } finally {
    await m.editConfig((y) => y.replace(strict, permissive));
  }
  await eventually('outsider', POD_IP.kiosk, 8080, true);
});

test.serial('a namespace enrolled at run time goes through the mesh, and leaves it when un-enrolled', async (t) => {
  if (!rootOnly(t)) return;
  const m = mesh();
  // legacy is outside the mesh: its plaintext is refused by STRICT shop.
  await refused(t, 'outsider', POD_IP['web-a'], 8080);
  const outside = 'name: legacy }';
  const inside = 'name: legacy, labels: { istio.io/dataplane-mode: ambient } }';
  await m.editConfig((y) => y.replace(outside, inside));
  try {
    await eventually('outsider', POD_IP['web-a'], 8080, true);
    const r = await m.cluster.tcpEcho('outsider', POD_IP['web-a'], 8080, 'enrolled');
    t.is(r.server.remoteAddress, POD_IP.outsider);
    const line = await m.ztunnel('node-b').waitForLog((l) => l['component'] === 'access' && l['direction'] === 'outbound' && l['src.addr'] === `${POD_IP.outsider}:${r.local.port}`, 'the enrolled outbound line');
    t.like(line, { 'src.identity': 'spiffe://cluster.local/ns/legacy/sa/default', 'dst.hbone_addr': `${POD_IP['web-a']}:15008` });
    const dump = JSON.parse((await m.httpGet('node-b', 15000, '/config_dump')).body) as { localWorkloads: string[]; capture: { workloads: { uid: string }[] } };
    t.true(dump.localWorkloads.includes('Kubernetes//Pod/legacy/outsider'));
    t.true(dump.capture.workloads.some((w) => w.uid === 'Kubernetes//Pod/legacy/outsider'));
  } finally {
    await m.editConfig((y) => y.replace(inside, outside));
  }
  await eventually('outsider', POD_IP['web-a'], 8080, false);
  const dump = JSON.parse((await m.httpGet('node-b', 15000, '/config_dump')).body) as { localWorkloads: string[]; certificates: { identity: string }[] };
  t.false(dump.localWorkloads.includes('Kubernetes//Pod/legacy/outsider'));
  t.false(dump.certificates.some((c) => c.identity === 'spiffe://cluster.local/ns/legacy/sa/default'), 'its certificate was forgotten');
});
