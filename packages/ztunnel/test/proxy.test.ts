/**
 * The data path in process, on loopback, without kernel capture: two proxies (nodes `a` and `b`) share one
 * state store; pods are 127.0.0.x addresses (all local, so the test dialer can bind any of them as the source,
 * as the transparent dial does with pod IPs). A service VIP is where proxy a's outbound server listens, so
 * the accepted socket's local address is the original destination, as with TPROXY. Real TLS, HTTP/2, policy,
 * metrics and access logs; only the kernel's part (capture and foreign-address binds) is left out.
 */
import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Registry } from 'prom-client';
import { HboneClient, HboneError } from '@ambit/mesh-core/hbone';
import { FakeClock, type Clock } from '@ambit/mesh-core/lifecycle';
import { StaticCertificateSource, createRootCa, issueWorkloadCertificate, type CertificateSource, type Identity } from '@ambit/mesh-core/identity';
import { AccessLog } from '../src/access-log.js';
import { ProxyMetrics } from '../src/metrics.js';
import type { UpstreamDialer } from '../src/proxy/context.js';
import { Proxy } from '../src/proxy/proxy.js';
import { StateStore } from '../src/state/store.js';
import { capturingLogger, exact, policy, serviceKey, serviceResource, uidOf, workload, workloadResource } from './fixtures/resources.js';

const DAY = 86_400_000;
const IP = { client: '127.0.0.10', webB: '127.0.0.20', webA: '127.0.0.30', stranger: '127.0.0.99', remoteVip: '127.0.0.100', localVip: '127.0.0.101', emptyVip: '127.0.0.102' };
const CLIENT_ID = 'spiffe://cluster.local/ns/default/sa/client';
const WEB_ID = 'spiffe://cluster.local/ns/default/sa/web';

/** Binds the source address, as the transparent dial does (loopback addresses are all local). */
const loopbackDialer: UpstreamDialer = {
  dial: async (source, target) => {
    const s = connect({ host: target.host, port: target.port, localAddress: source, allowHalfOpen: true });
    await once(s, 'connect');
    return s;
  },
};

async function listen(t: ExecutionContext, server: Server, host: string, port = 0): Promise<number> {
  server.listen(port, host);
  await once(server, 'listening');
  t.teardown(() => server.close());
  return (server.address() as AddressInfo).port;
}

/** An echo app that first reports the peer it saw, as the testbed's echo server. */
async function app(t: ExecutionContext, host: string): Promise<{ port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer({ allowHalfOpen: true }, (s) => {
    sockets.push(s);
    s.on('error', () => {});
    s.write(`${s.remoteAddress}\n`);
    s.pipe(s);
  });
  const port = await listen(t, server, host);
  t.teardown(() => sockets.forEach((s) => s.destroy()));
  return { port, sockets };
}

interface Mesh {
  store: StateStore;
  a: Proxy;
  b: Proxy;
  registryA: Registry;
  registryB: Registry;
  logsA: Record<string, unknown>[];
  logsB: Record<string, unknown>[];
  remotePort: number;
  localPort: number;
  emptyPort: number;
  webB: { port: number; sockets: Socket[] };
  webA: { port: number; sockets: Socket[] };
  hbonePort: number;
  certificates: StaticCertificateSource;
}

let pki: Promise<StaticCertificateSource> | undefined;
function certificates(): Promise<StaticCertificateSource> {
  pki ??= (async () => {
    const root = await createRootCa('cluster.local', DAY);
    const ids = ['client', 'web', 'intruder'].map((sa) => workload(sa, { sa }).identity);
    return new StaticCertificateSource(await Promise.all(ids.map((id) => issueWorkloadCertificate(root, id, DAY))));
  })();
  return pki;
}

async function mesh(t: ExecutionContext, options: { clockA?: Clock; certificatesA?: CertificateSource } = {}): Promise<Mesh> {
  const certs = await certificates();
  const webB = await app(t, IP.webB);
  const webA = await app(t, IP.webA);
  const store = new StateStore();
  const a = capturingLogger('info');
  const b = capturingLogger('info');
  const registryA = new Registry();
  const registryB = new Registry();
  const common = { network: '', trustDomain: 'cluster.local', state: store, dialer: loopbackDialer };
  const proxyB = await Proxy.create({ ...common, nodeName: 'b', certificates: certs, metrics: new ProxyMetrics(registryB), accessLog: new AccessLog(b.logger), logger: b.logger });
  t.teardown(() => proxyB.destroy());
  const hbonePort = await listen(t, proxyB.servers.inboundHbone, IP.webB);
  const proxyA = await Proxy.create({
    ...common,
    nodeName: 'a',
    certificates: options.certificatesA ?? certs,
    metrics: new ProxyMetrics(registryA),
    accessLog: new AccessLog(a.logger),
    logger: a.logger,
    hbonePort,
    certificateWaitMs: 1_000,
    ...(options.clockA === undefined ? {} : { clock: options.clockA }),
  });
  t.teardown(() => proxyA.destroy());
  const outbound = proxyA.servers.outbound;
  const remotePort = await listen(t, outbound, IP.remoteVip);
  // One server, several VIPs: extra listeners feed the same handler, as TPROXY feeds one listener.
  const extra = (host: string): Promise<number> => {
    const server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (s) => outbound.emit('connection', s));
    return listen(t, server, host, remotePort);
  };
  const localPort = await extra(IP.localVip);
  const emptyPort = await extra(IP.emptyVip);
  // The VIPs' service port is the port their listener got.
  const svcPort = remotePort;
  store.apply({
    addresses: {
      upserts: [
        workloadResource('client', { ips: [IP.client], node: 'a', sa: 'client', extra: { canonical_name: 'client' } }),
        workloadResource('web-b', { ips: [IP.webB], node: 'b', sa: 'web', services: { [serviceKey('remote')]: [[svcPort, webB.port]] } }),
        workloadResource('web-a', { ips: [IP.webA], node: 'a', sa: 'web', services: { [serviceKey('local')]: [[svcPort, webA.port]] } }),
        serviceResource('remote', [IP.remoteVip], 'default', { ports: [{ service_port: svcPort, target_port: 0 }] }),
        serviceResource('local', [IP.localVip], 'default', { ports: [{ service_port: svcPort, target_port: 0 }] }),
        serviceResource('empty', [IP.emptyVip], 'default', { ports: [{ service_port: svcPort, target_port: 8080 }] }),
      ],
      removals: [],
    },
  });
  return { store, a: proxyA, b: proxyB, registryA, registryB, logsA: a.lines, logsB: b.lines, remotePort, localPort, emptyPort, webB, webA, hbonePort, certificates: certs };
}

/** Connects as `source` to `host:port`, sends `payload`, half-closes and reads everything back. */
async function exchange(source: string, host: string, port: number, payload: string): Promise<{ text: string; localPort: number }> {
  const s = connect({ host, port, localAddress: source, allowHalfOpen: true });
  await once(s, 'connect');
  const localPort = s.localPort!;
  s.end(payload);
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return { text: Buffer.concat(chunks).toString(), localPort };
}

/** Connects and expects a reset. */
async function reset(t: ExecutionContext, source: string, host: string, port: number): Promise<void> {
  const err = await t.throwsAsync(exchange(source, host, port, 'x'));
  t.is((err as NodeJS.ErrnoException).code, 'ECONNRESET');
}

function waitFor<T>(find: () => T | undefined, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 10_000;
    const tick = (): void => {
      const v = find();
      if (v !== undefined) resolve(v);
      else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

function access(lines: Record<string, unknown>[], match: Record<string, unknown>): Promise<Record<string, unknown>> {
  return waitFor(() => lines.find((l) => l['component'] === 'access' && Object.entries(match).every(([k, v]) => l[k] === v)), `access line ${JSON.stringify(match)}`);
}

test('a VIP on another node: HBONE from the client’s address, delivered from it, logged and counted on both sides', async (t) => {
  const m = await mesh(t);
  const r = await exchange(IP.client, IP.remoteVip, m.remotePort, 'hello');
  t.is(r.text, `${IP.client}\nhello`);
  const srcAddr = `${IP.client}:${r.localPort}`;
  const out = await access(m.logsA, { direction: 'outbound', 'src.addr': srcAddr });
  t.like(out, {
    msg: 'connection complete',
    'src.identity': CLIENT_ID,
    'dst.addr': `${IP.remoteVip}:${m.remotePort}`,
    'dst.hbone_addr': `${IP.webB}:${m.hbonePort}`,
    'dst.service': 'remote.default.svc.cluster.local',
    'dst.workload': 'web-b',
    'dst.identity': WEB_ID,
    bytes_sent: 5,
    bytes_recv: IP.client.length + 1 + 5,
  });
  // The inbound side takes the client's port from `forwarded`, whose IP is the HBONE peer's.
  const inbound = await access(m.logsB, { direction: 'inbound', 'src.addr': srcAddr });
  t.like(inbound, { 'src.identity': CLIENT_ID, 'src.workload': 'client', 'dst.addr': `${IP.webB}:${m.webB.port}`, 'dst.identity': WEB_ID, bytes_sent: 5 });
  const metricsA = await m.registryA.metrics();
  t.regex(metricsA, /istio_tcp_connections_closed_total\{reporter="source",source_workload="client",.*destination_workload="web-b".*response_flags="-",connection_security_policy="mutual_tls"\} 1/);
  t.regex(await m.registryB.metrics(), /istio_tcp_sent_bytes_total\{reporter="destination",.*source_principal="spiffe:\/\/cluster.local\/ns\/default\/sa\/client".*\} 5/);
  t.like(m.a.stats(), { hboneClient: { connections: 1 } });
});

test('a VIP on the same node goes through HBONE over a loopback pair, with the real client address', async (t) => {
  const m = await mesh(t);
  const r = await exchange(IP.client, IP.localVip, m.localPort, 'local');
  t.is(r.text, `${IP.client}\nlocal`);
  const inbound = await access(m.logsA, { direction: 'inbound', 'src.addr': `${IP.client}:${r.localPort}` });
  t.like(inbound, { 'src.identity': CLIENT_ID, 'dst.workload': 'web-a', 'dst.identity': WEB_ID, 'dst.hbone_addr': `${IP.webA}:${m.hbonePort}` });
  t.false(m.logsB.some((l) => l['component'] === 'access'), 'node b saw nothing');
  // The pooled connection carries the next tunnel: one TLS session for both.
  await exchange(IP.client, IP.localVip, m.localPort, 'again');
  t.like(m.a.stats(), { hboneClient: { connections: 1 } });
});

test('the inbound side counts a tunnel under the service the client dialled (forwarded host=), else the one targeting the port', async (t) => {
  const m = await mesh(t);
  // web-b is behind a second service on the same port, whose key sorts first: the port alone would name it.
  m.store.apply({
    addresses: {
      upserts: [
        workloadResource('web-b', { ips: [IP.webB], node: 'b', sa: 'web', services: { [serviceKey('remote')]: [[m.remotePort, m.webB.port]], [serviceKey('alias')]: [[m.remotePort, m.webB.port]] } }),
        serviceResource('alias', ['127.0.0.103'], 'default', { ports: [{ service_port: m.remotePort, target_port: 0 }] }),
      ],
      removals: [],
    },
  });
  const r = await exchange(IP.client, IP.remoteVip, m.remotePort, 'named');
  t.is(r.text, `${IP.client}\nnamed`);
  const named = await access(m.logsB, { direction: 'inbound', 'src.addr': `${IP.client}:${r.localPort}` });
  t.is(named['dst.service'], 'remote.default.svc.cluster.local');
  // A tunnel straight to the pod, without host=: the service whose (named) target port it came in on.
  const client = new HboneClient({ certificates: m.certificates });
  t.teardown(() => client.destroy());
  const s = await client.connect({ source: workload('client', { sa: 'client' }).identity, destination: `${IP.webB}:${m.hbonePort}`, expectedIdentities: [workload('web', { sa: 'web' }).identity], authority: `${IP.webB}:${m.webB.port}` });
  s.end('direct');
  for await (const _ of s) void _;
  const direct = await waitFor(() => m.logsB.find((l) => l['component'] === 'access' && l['direction'] === 'inbound' && String(l['src.addr']).startsWith('127.0.0.1:')), 'the direct tunnel\'s access line');
  t.is(direct['dst.service'], 'alias.default.svc.cluster.local');
  const metrics = await m.registryB.metrics();
  t.regex(metrics, /istio_tcp_connections_opened_total\{reporter="destination",[^}]*destination_service="remote.default.svc.cluster.local",destination_service_name="remote",destination_service_namespace="default",[^}]*\} 1/);
  t.regex(metrics, /istio_tcp_connections_opened_total\{reporter="destination",[^}]*destination_service="alias.default.svc.cluster.local",destination_service_name="alias",destination_service_namespace="default",[^}]*\} 1/);
});

test('an unknown source is reset; a service without endpoints is refused and counted', async (t) => {
  const m = await mesh(t);
  await reset(t, IP.stranger, IP.remoteVip, m.remotePort);
  await waitFor(() => m.logsA.find((l) => l['msg'] === 'outbound connection from an address that is no local mesh workload; reset'), 'the warning');
  await reset(t, IP.client, IP.emptyVip, m.emptyPort);
  const line = await access(m.logsA, { response_flags: 'CONNECT' });
  t.regex(String(line['error']), /^no healthy upstream: service default\/empty.default.svc.cluster.local/);
  t.regex(await m.registryA.metrics(), /istio_tcp_connections_closed_total\{[^}]*destination_service="empty.default.svc.cluster.local"[^}]*response_flags="CONNECT"[^}]*\} 1/);
});

test('a denied tunnel: 401 on the inbound side, DENY on both, the client reset', async (t) => {
  const m = await mesh(t);
  const deny = policy('deny-client', { action: 'DENY', rules: [[[{ principals: [exact('cluster.local/ns/default/sa/client')] }]]] });
  m.store.apply({ authorizations: { upserts: [deny], removals: [] } });
  await reset(t, IP.client, IP.remoteVip, m.remotePort);
  t.like(await access(m.logsB, { direction: 'inbound' }), { response_flags: 'DENY', error: 'denied by policy default/deny-client', level: 40 });
  const out = await access(m.logsA, { direction: 'outbound' });
  t.like(out, { response_flags: 'DENY' });
  t.regex(String(out['error']), /answered 401/);
});

test('a policy change closes an open tunnel it now denies; the client sees a reset', async (t) => {
  const m = await mesh(t);
  const s = connect({ host: IP.remoteVip, port: m.remotePort, localAddress: IP.client, allowHalfOpen: true });
  await once(s, 'connect');
  await once(s, 'data');
  const failed = new Promise<NodeJS.ErrnoException>((resolve) => s.once('error', resolve));
  const deny = policy('late', { action: 'DENY', rules: [[[{ principals: [exact('cluster.local/ns/default/sa/client')] }]]] });
  m.store.apply({ authorizations: { upserts: [deny], removals: [] } });
  t.is((await failed).code, 'ECONNRESET');
  t.like(await access(m.logsB, { direction: 'inbound' }), { response_flags: 'DENY', error: 'closed after a policy change: denied by policy default/late' });
  t.truthy(m.logsB.find((l) => l['msg'] === 'policy change: closed connections that are now denied' && l['closed'] === 1));
  await waitFor(() => (m.b.connections.size === 0 ? true : undefined), 'the tunnel to be gone');
});

test('an unreachable pod is a 503: the client is reset and CONNECT recorded on both sides', async (t) => {
  const m = await mesh(t);
  m.webB.sockets.forEach((s) => s.destroy());
  // web-b's port map now points where nothing listens.
  m.store.apply({ addresses: { upserts: [workloadResource('web-b', { ips: [IP.webB], node: 'b', sa: 'web', services: { [serviceKey('remote')]: [[m.remotePort, 9]] } })], removals: [] } });
  await reset(t, IP.client, IP.remoteVip, m.remotePort);
  t.like(await access(m.logsB, { direction: 'inbound' }), { response_flags: 'CONNECT', 'dst.addr': `${IP.webB}:9` });
  const out = await access(m.logsA, { direction: 'outbound' });
  t.regex(String(out['error']), /answered 503/);
});

test('the inbound side answers 400 for an authority that is not the address dialled, 503 for one that is no local workload', async (t) => {
  const m = await mesh(t);
  const client = new HboneClient({ certificates: m.certificates });
  t.teardown(() => client.destroy());
  const base = { source: workload('client', { sa: 'client' }).identity, destination: `${IP.webB}:${m.hbonePort}`, expectedIdentities: [workload('web', { sa: 'web' }).identity] };
  const wrong = await t.throwsAsync(client.connect({ ...base, authority: `${IP.webA}:${m.webA.port}` }), { instanceOf: HboneError });
  t.is(wrong.status, 400);
  // The connection is up (pooled); the pod leaves node b's state before the next CONNECT.
  m.store.apply({ addresses: { upserts: [workloadResource('web-b', { ips: [IP.webB], node: 'elsewhere', sa: 'web' })], removals: [] } });
  const gone = await t.throwsAsync(client.connect({ ...base, authority: `${IP.webB}:${m.webB.port}` }), { instanceOf: HboneError });
  t.is(gone.status, 503);
  t.truthy(m.logsB.find((l) => l['status'] === 503 && l['reason'] === `${IP.webB} is not a workload on this node`));
});

test('a client whose certificate does not come within the wait fails with IDENTITY_ERROR', async (t) => {
  const clock = new FakeClock();
  const never: CertificateSource = { getCertificate: (_id: Identity) => new Promise(() => {}) };
  const m = await mesh(t, { clockA: clock, certificatesA: never });
  const s = connect({ host: IP.remoteVip, port: m.remotePort, localAddress: IP.client });
  const failed = new Promise<NodeJS.ErrnoException>((resolve) => s.once('error', resolve));
  await once(s, 'connect');
  await waitFor(() => (clock.pendingTimers > 0 ? true : undefined), 'the certificate wait');
  clock.advance(1_000);
  t.is((await failed).code, 'ECONNRESET');
  const line = await access(m.logsA, { direction: 'outbound' });
  t.like(line, { response_flags: 'IDENTITY_ERROR', error: `no certificate for ${CLIENT_ID}: not fetched within 1000 ms` });
});

test('drain: nothing open is drained at once; an open connection is cut at the deadline', async (t) => {
  const idle = await mesh(t);
  t.is(await idle.a.drain(5_000), 'drained');
  t.false(idle.a.servers.outbound.listening);

  const clock = new FakeClock();
  const m = await mesh(t, { clockA: clock });
  const s = connect({ host: IP.remoteVip, port: m.remotePort, localAddress: IP.client, allowHalfOpen: true });
  await once(s, 'connect');
  await once(s, 'data');
  // Not events.once: that rejects on the 'error' the reset brings first.
  const closed = new Promise((resolve) => s.once('close', resolve));
  s.on('error', () => {});
  const outcome = m.a.drain(2_000);
  await waitFor(() => (clock.pendingTimers > 0 ? true : undefined), 'the drain timer');
  t.is(m.a.connections.size, 1, 'still open during the drain');
  clock.advance(2_000);
  t.is(await outcome, 'forced');
  await closed;
  t.like(await access(m.logsA, { direction: 'outbound' }), { error: 'closed at the drain deadline' });
  t.true(m.a.closed);
});

test('the inbound side delivers from the HBONE peer’s address and authorizes with it', async (t) => {
  const m = await mesh(t);
  // Only 127.0.0.10 may reach web-b: the peer's TCP address is what policy sees.
  const allow = policy('from-client-ip', { rules: [[[{ source_ips: [{ address: Buffer.from([127, 0, 0, 10]), length: 32 }] }]]] });
  m.store.apply({ authorizations: { upserts: [allow], removals: [] } });
  const r = await exchange(IP.client, IP.remoteVip, m.remotePort, 'by ip');
  t.is(r.text, `${IP.client}\nby ip`);
  m.store.apply({ addresses: { upserts: [], removals: [uidOf('web-b')] } });
  await reset(t, IP.client, IP.remoteVip, m.remotePort);
});

test('a certificate source failure fails the connection at once with its reason', async (t) => {
  const failing: CertificateSource = { getCertificate: () => Promise.reject(new Error('CA unreachable')) };
  const m = await mesh(t, { certificatesA: failing });
  await reset(t, IP.client, IP.remoteVip, m.remotePort);
  t.like(await access(m.logsA, { direction: 'outbound' }), { response_flags: 'IDENTITY_ERROR', error: `no certificate for ${CLIENT_ID}: CA unreachable` });
});

test('a connection closed by the drain while its tunnel is being set up is logged as closed by the drain', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const certs = await certificates();
  const gated: CertificateSource = { getCertificate: async (id) => (await gate, await certs.getCertificate(id)) };
  const m = await mesh(t, { certificatesA: gated });
  const s = connect({ host: IP.remoteVip, port: m.remotePort, localAddress: IP.client });
  s.on('error', () => {});
  await once(s, 'connect');
  await waitFor(() => (m.a.connections.size === 1 ? true : undefined), 'the connection to be tracked');
  t.is(await m.a.drain(1), 'forced');
  release();
  t.like(await access(m.logsA, { direction: 'outbound' }), { error: 'closed at the drain deadline', bytes_sent: 0 });
  await waitFor(() => (m.b.connections.size === 0 ? true : undefined), 'nothing left open on the other side');
});

test('a connection closed while its tunnel is being set up drops the tunnel once it is up', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const certs = await certificates();
  const gated: CertificateSource = { getCertificate: async (id) => (await gate, await certs.getCertificate(id)) };
  const m = await mesh(t, { certificatesA: gated });
  const s = connect({ host: IP.remoteVip, port: m.remotePort, localAddress: IP.client });
  s.on('error', () => {});
  await once(s, 'connect');
  await waitFor(() => (m.a.connections.size === 1 ? true : undefined), 'the connection to be tracked');
  // What the drain does at its deadline, without closing the HBONE client: the tunnel still comes up.
  t.is(m.a.connections.closeAll(), 1);
  release();
  t.like(await access(m.logsA, { direction: 'outbound' }), { error: 'closed at the drain deadline', bytes_sent: 0, 'dst.hbone_addr': `${IP.webB}:${m.hbonePort}` });
  // The tunnel that came up was reset at once: node b logs it broken, with nothing from the client.
  const inbound = await access(m.logsB, { direction: 'inbound' });
  t.is(inbound['bytes_sent'], 0);
  t.regex(String(inbound['error']), /reset|closed before finishing/);
});

test('plaintext inbound: denied without an identity under a STRICT-style policy, reset for an address that is not local', async (t) => {
  const m = await mesh(t);
  const plain = m.b.servers.inboundPlain;
  const port = await listen(t, plain, IP.webB);
  const strict = policy('strict', { ns: 'istio-system', scope: 'GLOBAL', action: 'DENY', rules: [[[{ not_principals: [{ presence: {}, match_type: 'presence' }] }]]] });
  m.store.apply({
    addresses: {
      upserts: [
        workloadResource('web-b', { ips: [IP.webB], node: 'b', sa: 'web', services: { [serviceKey('remote')]: [[m.remotePort, m.webB.port]], [serviceKey('plain')]: [[81, port]] } }),
        serviceResource('plain', ['127.0.0.104'], 'default', { ports: [{ service_port: 81, target_port: port }] }),
      ],
      removals: [],
    },
    authorizations: { upserts: [strict], removals: [] },
  });
  await reset(t, IP.client, IP.webB, port);
  const line = await access(m.logsB, { direction: 'inbound' });
  t.like(line, { response_flags: 'DENY', error: 'denied by policy istio-system/strict', 'src.workload': 'client', 'dst.workload': 'web-b', level: 40 });
  t.is(line['src.identity'], undefined);
  // No HBONE headers to name a service: the one targeting the port the connection came in on.
  t.is(line['dst.service'], 'plain.default.svc.cluster.local');
  t.regex(await m.registryB.metrics(), /istio_tcp_connections_closed_total\{[^}]*response_flags="DENY",connection_security_policy="none"\} 1/);
  // Node a's plaintext listener at web-b's address: not a workload of node a.
  const other = await listen(t, m.a.servers.inboundPlain, IP.webB);
  await reset(t, IP.client, IP.webB, other);
  await waitFor(() => m.logsA.find((l) => l['msg'] === 'plaintext inbound connection to an address that is no local mesh workload; reset'), 'the warning');
});
