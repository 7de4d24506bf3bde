/**
 * `ambit-waypoint` as deployed, on loopback: the real control plane (its command, with a state directory)
 * serves the waypoint mesh of fixtures/waypoint-mesh; the real waypoint binary, configured by environment
 * only, authenticates with the token the control plane wrote for its Gateway, gets its Listener chain over
 * delta ADS and its certificate from the CA, turns ready, serves HBONE (a client with a CA-issued
 * certificate reaches its HTTP handler), and drains on SIGTERM with exit 0. Bad configuration exits 2
 * naming every problem; a token the control plane does not accept leaves it unready, saying why.
 * Nothing leaves loopback: no request is routed to an upstream.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { request as h1request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { HboneClient } from '@ambit/mesh-core/hbone';
import { CaClient, Identity, StaticCertificateSource, readTokenFile } from '@ambit/mesh-core/identity';
import { silentLogger } from '@ambit/mesh-core/telemetry';
import { startCli } from './support/cli.js';
import { getJson } from './support/plane.js';
import { WAYPOINT_MESH } from './helpers/waypoint-mesh.js';

const WAYPOINT_MAIN = path.join(path.dirname(fileURLToPath(import.meta.resolve('@ambit/local-mesh'))), '..', '..', '..', 'waypoint', 'dist', 'src', 'main.js');
const WAYPOINT_ID = Identity.parse('spiffe://cluster.local/ns/shop/sa/waypoint');
const CLIENT_ID = Identity.parse('spiffe://cluster.local/ns/shop/sa/client');

interface Proc {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[];
  stderr: string;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The first log line `match` accepts (polls; a safety net of 30 s). */
  line(match: (l: Record<string, unknown>) => boolean, what: string): Promise<Record<string, unknown>>;
}

function runWaypoint(t: ExecutionContext, env: Record<string, string>): Proc {
  const child = spawn(process.execPath, [WAYPOINT_MAIN], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env['PATH'] ?? '', ...env } });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const proc: Proc = {
    child,
    lines: [],
    stderr: '',
    exit: new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal }))),
    async line(match, what) {
      for (let waited = 0; waited < 30_000; waited += 50) {
        const found = proc.lines.find(match);
        if (found) return found;
        if (child.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`no waypoint log line for ${what}; stderr: ${proc.stderr}; lines: ${JSON.stringify(proc.lines.slice(-5))}`);
    },
  };
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    pending += d;
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      const text = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      try {
        proc.lines.push(JSON.parse(text) as Record<string, unknown>);
      } catch {
        proc.lines.push({ raw: text });
      }
    }
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (proc.stderr += d));
  return proc;
}

interface Plane {
  readonly grpc: string;
  readonly admin: string;
  readonly state: string;
}

async function startControlPlane(t: ExecutionContext): Promise<Plane> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ambit-wpmain-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await cp(WAYPOINT_MESH, path.join(dir, 'config'), { recursive: true });
  const state = path.join(dir, 'state');
  const cli = startCli(t, ['--config', path.join(dir, 'config'), '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state]);
  const { grpc, admin } = await cli.serving();
  await cli.waitFor((l) => l['msg'] === 'generated waypoint token');
  return { grpc, admin, state };
}

function waypointEnv(plane: Plane, extra: Record<string, string> = {}): Record<string, string> {
  const root = path.join(plane.state, 'root-cert.pem');
  return {
    XDS_ADDRESS: plane.grpc,
    CA_ADDRESS: plane.grpc,
    ALT_XDS_HOSTNAME: 'istiod.istio-system.svc',
    ALT_CA_HOSTNAME: 'istiod.istio-system.svc',
    XDS_ROOT_CA: root,
    CA_ROOT_CA: root,
    AUTH_TOKEN: path.join(plane.state, 'waypoint-tokens', 'shop', 'waypoint.token'),
    GATEWAY_NAME: 'waypoint',
    POD_NAME: 'waypoint-0',
    POD_NAMESPACE: 'shop',
    INSTANCE_IP: '127.0.0.1',
    HBONE_PORT: '0',
    ADMIN_PORT: '0',
    STATS_PORT: '0',
    READINESS_PORT: '0',
    ...extra,
  };
}

type Addresses = Record<'hbone' | 'admin' | 'stats' | 'readiness', { port: number }>;

async function httpGet(port: number, urlPath: string): Promise<{ status: number; body: string }> {
  return await new Promise((resolve, reject) => {
    const req = h1request({ host: '127.0.0.1', port, path: urlPath, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function waitReady(port: number): Promise<void> {
  for (let waited = 0; waited < 30_000; waited += 100) {
    if ((await httpGet(port, '/healthz/ready')).status === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not ready: ${(await httpGet(port, '/healthz/ready')).body}`);
}

/** One HTTP/1.1 request through an HBONE tunnel to `authority`, as the client workload (certificate from the CA). */
async function throughTunnel(plane: Plane, hbonePort: number, authority: string, target: string): Promise<{ status: number; body: string }> {
  const ca = new CaClient({
    address: plane.grpc,
    rootCertPem: await readFile(path.join(plane.state, 'root-cert.pem'), 'utf8'),
    serverName: 'istiod.istio-system.svc',
    token: readTokenFile(path.join(plane.state, 'node-tokens', 'node-a.token')),
    logger: silentLogger(),
  });
  const certificate = await ca.createCertificate(CLIENT_ID, { impersonate: true });
  await ca.close();
  const client = new HboneClient({ certificates: new StaticCertificateSource([certificate]) });
  try {
    const tunnel = await client.connect({ source: CLIENT_ID, destination: `127.0.0.1:${hbonePort}`, expectedIdentities: [WAYPOINT_ID], authority });
    return await new Promise((resolve, reject) => {
      // Node's HTTP/1.1 client writes its head as a string: make the tunnel take strings as bytes.
      (tunnel as unknown as { _writableState: { decodeStrings: boolean } })._writableState.decodeStrings = true;
      const req = h1request({ method: 'GET', path: target, headers: { host: authority }, createConnection: () => tunnel }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
  } finally {
    client.destroy();
  }
}

test('the binary: ready with its Listener chain and certificate, serves HBONE, drains on SIGTERM and exits 0', async (t) => {
  const plane = await startControlPlane(t);
  const w = runWaypoint(t, waypointEnv(plane, { TERMINATION_GRACE_PERIOD_SECONDS: '3' }));
  const started = await w.line((l) => l['msg'] === 'waypoint started', 'the start');
  const addresses = started['addresses'] as Addresses;
  t.is(started['identity'], WAYPOINT_ID.uri);
  await waitReady(addresses.readiness.port);
  t.like(await w.line((l) => l['msg'] === 'waypoint running', 'the running line'), { listener: 'waypoint/shop/waypoint', drainDeadlineMs: 2000 });

  // The configuration came over xDS: every Service of the namespace is bound, every backend a cluster.
  const dump = JSON.parse((await httpGet(addresses.admin.port, '/config_dump')).body) as { identity: string; ready: boolean; snapshot: { bindings: Record<string, unknown>; clusters: Record<string, unknown> } };
  t.is(dump.identity, WAYPOINT_ID.uri);
  t.true(dump.ready);
  t.deepEqual(Object.keys(dump.snapshot.bindings).sort(), ['10.96.0.10:80', '10.96.0.11:80', '10.96.0.12:80', '10.96.0.20:80', '10.96.0.21:80', '10.96.0.30:80', '10.96.0.40:80', '10.96.0.50:80']);
  t.true(Object.keys(dump.snapshot.clusters).includes('outbound|80||web-v1.shop.svc.cluster.local'));
  // The control plane counts one waypoint stream and one issued certificate.
  const cpDump = (await getJson(plane.admin, '/debug/config_dump')) as Record<string, unknown>;
  t.true(JSON.stringify(cpDump).includes('shop/waypoint'));
  const metrics = await httpGet(addresses.stats.port, '/metrics');
  t.true(metrics.body.includes('istio_xds'), 'the xDS client counts into the same registry');

  // HBONE with a mesh certificate reaches the waypoint's HTTP handler; nothing is sent upstream.
  const unbound = await throughTunnel(plane, addresses.hbone.port, '10.96.9.9:80', '/').catch((err: unknown) => ({ status: -1, body: String(err) }));
  t.true(unbound.status === -1 && unbound.body.includes('503'), `an authority not bound here is refused at CONNECT: ${unbound.body}`);
  const malformed = await throughTunnel(plane, addresses.hbone.port, '10.96.0.50:80', '/a/%zz');
  t.is(malformed.status, 400);

  w.child.kill('SIGTERM');
  t.deepEqual(await w.exit, { code: 0, signal: null });
  t.truthy(w.lines.find((l) => l['msg'] === 'draining' && l['deadlineMs'] === 2000));
  t.truthy(w.lines.find((l) => l['msg'] === 'waypoint stopped'));
});

test('bad configuration exits 2 and names every problem', async (t) => {
  const w = runWaypoint(t, { GATEWAY_NAME: 'Bad_Name', POD_NAMESPACE: 'shop', POD_NAME: 'w', INSTANCE_IP: 'nope', HBONE_PORT: 'x' });
  t.deepEqual(await w.exit, { code: 2, signal: null });
  t.is(
    w.stderr,
    'ambit-waypoint: 3 configuration problems:\n  GATEWAY_NAME=Bad_Name: not a Gateway name usable as a service account (a DNS-1123 label)\n  INSTANCE_IP=nope: not an IP address\n  HBONE_PORT=x: not a whole number\n',
  );
  t.is(w.lines.length, 0);
});

test('a missing root file fails the start with exit 1, saying which file', async (t) => {
  const w = runWaypoint(t, { GATEWAY_NAME: 'waypoint', POD_NAMESPACE: 'shop', POD_NAME: 'w', INSTANCE_IP: '127.0.0.1', XDS_ROOT_CA: '/nonexistent/root.pem', HBONE_PORT: '0', ADMIN_PORT: '0', STATS_PORT: '0', READINESS_PORT: '0' });
  t.deepEqual(await w.exit, { code: 1, signal: null });
  const fatal = w.lines.find((l) => l['level'] === 60);
  t.true(String(fatal?.['msg']).includes('/nonexistent/root.pem'), JSON.stringify(fatal));
});

test('a token the control plane does not accept: not ready, and readiness says what is missing', async (t) => {
  const plane = await startControlPlane(t);
  // The Gateway exists, but this is another waypoint's name: its token does not obtain shop/other.
  const w = runWaypoint(t, waypointEnv(plane, { GATEWAY_NAME: 'other' }));
  const started = await w.line((l) => l['msg'] === 'waypoint started', 'the start');
  const addresses = started['addresses'] as Addresses;
  await w.line((l) => typeof l['msg'] === 'string' && l['msg'].includes('no certificate for the waypoint yet'), 'the certificate failure');
  const ready = await httpGet(addresses.readiness.port, '/healthz/ready');
  t.is(ready.status, 503);
  t.true(ready.body.includes('no certificate yet for spiffe://cluster.local/ns/shop/sa/other'), ready.body);
  w.child.kill('SIGTERM');
  t.deepEqual(await w.exit, { code: 0, signal: null });
});
