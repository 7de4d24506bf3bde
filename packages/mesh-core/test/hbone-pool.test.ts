import test from 'ava';
import { createServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { HboneError } from '../src/hbone/index.js';
import { Identity, StaticCertificateSource, issueWorkloadCertificate } from '../src/identity/index.js';
import { DAY, backend, clientId, pki, readAll, serverId, startClient, startServer, until } from './helpers/mesh.js';
import { ManualTimers } from './helpers/manual-timers.js';

const req = (addr: string, port: number) => ({ source: clientId, destination: addr, expectedIdentities: [serverId], authority: `127.0.0.1:${port}` });

/** Keepalive far beyond the times these tests advance the manual clock by. */
const NO_KEEPALIVE = { intervalMs: 1e12, timeoutMs: 1e12 };

async function closeAll(tunnels: Duplex[]): Promise<void> {
  await Promise.all(
    tunnels.map((s) => {
      s.end();
      return readAll(s);
    }),
  );
}

test('pool reuse: two tunnels to the same peer share one connection', async (t) => {
  const echo = await backend(t);
  const { addr, server } = await startServer(t);
  const client = await startClient(t);
  const a = await client.connect(req(addr, echo.port));
  const b = await client.connect(req(addr, echo.port));
  t.deepEqual(client.stats(), { connections: 1, streams: 2, draining: 0 });
  t.deepEqual(server.stats(), { sessions: 1, streams: 2 });
  await closeAll([a, b]);
  await until(() => client.stats().streams === 0, 5_000, 'streams closed');
  // A later tunnel still reuses it.
  const c = await client.connect(req(addr, echo.port));
  t.is(server.stats().sessions, 1);
  await closeAll([c]);
});

test('pool key: expected identities are compared as a set; a different set or source gets its own connection', async (t) => {
  const echo = await backend(t);
  const { addr, server } = await startServer(t);
  const { root, clientCert } = await pki();
  const alt = Identity.parse('spiffe://cluster.local/ns/default/sa/alt');
  const other = Identity.parse('spiffe://cluster.local/ns/default/sa/client2');
  const client = await startClient(t, {
    certificates: new StaticCertificateSource([clientCert, await issueWorkloadCertificate(root, other, DAY)]),
  });
  const tunnels = [
    await client.connect({ ...req(addr, echo.port), expectedIdentities: [serverId, alt] }),
    await client.connect({ ...req(addr, echo.port), expectedIdentities: [alt, serverId] }),
  ];
  t.is(client.stats().connections, 1, 'order of expected identities does not matter');
  tunnels.push(await client.connect(req(addr, echo.port)));
  t.is(client.stats().connections, 2, 'a different expected set is another key');
  tunnels.push(await client.connect({ ...req(addr, echo.port), source: other }));
  t.is(client.stats().connections, 3, 'a different source identity is another key');
  t.is(server.stats().sessions, 3);
  await closeAll(tunnels);
});

test('per-key dial lock: a burst of 100 new tunnels opens one connection', async (t) => {
  const echo = await backend(t);
  const { addr, server } = await startServer(t);
  const client = await startClient(t);
  const tunnels = await Promise.all(Array.from({ length: 100 }, () => client.connect(req(addr, echo.port))));
  t.deepEqual(client.stats(), { connections: 1, streams: 100, draining: 0 });
  t.is(server.stats().sessions, 1);
  await until(() => echo.sockets.length === 100, 5_000, '100 upstream connections');
  await closeAll(tunnels);
});

test('streams cap: the 101st concurrent tunnel opens a second connection', async (t) => {
  const echo = await backend(t);
  const { addr, server } = await startServer(t);
  const client = await startClient(t);
  const tunnels = await Promise.all(Array.from({ length: 101 }, () => client.connect(req(addr, echo.port))));
  t.deepEqual(client.stats(), { connections: 2, streams: 101, draining: 0 });
  t.is(server.stats().sessions, 2);
  await closeAll(tunnels);
});

test('streams cap: the server\'s SETTINGS_MAX_CONCURRENT_STREAMS wins when lower', async (t) => {
  const echo = await backend(t);
  const { addr, server } = await startServer(t, { http2: { maxConcurrentStreams: 3 } });
  const client = await startClient(t, { maxStreamsPerConnection: 100 });
  const tunnels = await Promise.all(Array.from({ length: 7 }, () => client.connect(req(addr, echo.port))));
  t.deepEqual(client.stats(), { connections: 3, streams: 7, draining: 0 });
  t.is(server.stats().sessions, 3);
  await closeAll(tunnels);
});

test('idle release: a connection without tunnels is closed after the idle time, not before', async (t) => {
  const echo = await backend(t);
  const { addr, server } = await startServer(t);
  const timers = new ManualTimers();
  const client = await startClient(t, { idleTimeoutMs: 60_000, timers, keepalive: NO_KEEPALIVE });
  const a = await client.connect(req(addr, echo.port));
  timers.advance(120_000);
  t.is(client.stats().connections, 1, 'a busy connection is never idle');
  await closeAll([a]);
  await until(() => client.stats().streams === 0, 5_000, 'stream closed');
  timers.advance(59_999);
  t.is(client.stats().connections, 1);
  timers.advance(1);
  await until(() => client.stats().connections === 0 && server.stats().sessions === 0, 5_000, 'connection released');
  // The next tunnel dials afresh.
  const b = await client.connect(req(addr, echo.port));
  t.is(client.stats().connections, 1);
  await closeAll([b]);
});

test('a tunnel opened during the idle wait cancels the release', async (t) => {
  const echo = await backend(t);
  const { addr, server } = await startServer(t);
  const timers = new ManualTimers();
  const client = await startClient(t, { idleTimeoutMs: 1_000, timers, keepalive: NO_KEEPALIVE });
  await closeAll([await client.connect(req(addr, echo.port))]);
  await until(() => client.stats().streams === 0, 5_000, 'stream closed');
  timers.advance(500);
  const b = await client.connect(req(addr, echo.port));
  timers.advance(5_000);
  t.is(client.stats().connections, 1);
  t.is(server.stats().sessions, 1);
  b.end('still open');
  t.is((await readAll(b)).toString(), 'still open');
});

test('GOAWAY: a connection the server drains takes no new tunnels; open ones finish', async (t) => {
  const echo = await backend(t);
  const first = await startServer(t);
  const client = await startClient(t);
  const open = await client.connect(req(first.addr, echo.port));
  const closing = first.server.close();
  await until(() => client.stats().draining === 1, 5_000, 'the GOAWAY to reach the client');
  t.is(first.server.stats().sessions, 1);
  // The open tunnel still works after the GOAWAY...
  open.write('after goaway');
  // ...but a new tunnel to the same address needs a new connection, which the closed listener refuses.
  const err = await t.throwsAsync(client.connect(req(first.addr, echo.port)), { instanceOf: HboneError });
  t.is(err.code, 'HBONE_ERR_CONNECT');
  open.end();
  t.is((await readAll(open)).toString(), 'after goaway');
  await closing;
  await until(() => client.stats().connections === 0, 5_000, 'drained connection closed');
});

test('a failed dial fails every tunnel that waited for it, with one connection attempt', async (t) => {
  const accepted: Socket[] = [];
  const slammer = createServer((s) => {
    accepted.push(s);
    s.destroy();
  });
  await new Promise<void>((resolve) => slammer.listen(0, '127.0.0.1', resolve));
  t.teardown(() => slammer.close());
  const port = (slammer.address() as { port: number }).port;
  const client = await startClient(t);
  const results = await Promise.allSettled(Array.from({ length: 5 }, () => client.connect(req(`127.0.0.1:${port}`, 80))));
  t.true(results.every((r) => r.status === 'rejected' && r.reason instanceof HboneError && r.reason.code === 'HBONE_ERR_TLS'));
  t.is(accepted.length, 1);
  t.deepEqual(client.stats(), { connections: 0, streams: 0, draining: 0 });
});

test('connect timeout: a peer that never completes the handshake fails with HBONE_ERR_CONNECT_TIMEOUT', async (t) => {
  const held: Socket[] = [];
  const silent = createServer((s) => held.push(s));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of held) s.destroy();
    silent.close();
  });
  const timers = new ManualTimers();
  const client = await startClient(t, { timers, connectTimeoutMs: 10_000, keepalive: NO_KEEPALIVE });
  const pending = client.connect(req(`127.0.0.1:${(silent.address() as { port: number }).port}`, 80));
  await until(() => held.length === 1 && timers.pending > 0, 5_000, 'dial under way');
  timers.advance(10_000);
  const err = await t.throwsAsync(pending, { instanceOf: HboneError });
  t.is(err.code, 'HBONE_ERR_CONNECT_TIMEOUT');
  t.regex(err.message, /at tls setup; a NetworkPolicy may block port 15008/);
});

test('close(): refuses new tunnels, lets open ones finish, then closes the connections', async (t) => {
  const echo = await backend(t);
  const { addr, server } = await startServer(t);
  const client = await startClient(t);
  const open = await client.connect(req(addr, echo.port));
  const closed = client.close();
  const err = await t.throwsAsync(client.connect(req(addr, echo.port)), { instanceOf: HboneError });
  t.is(err.code, 'HBONE_ERR_CLOSED');
  open.end('bye');
  t.is((await readAll(open)).toString(), 'bye');
  await closed;
  t.deepEqual(client.stats(), { connections: 0, streams: 0, draining: 0 });
  await until(() => server.stats().sessions === 0, 5_000, 'server side closed');
});
