/**
 * What a node proxy needs from HBONE beyond one workload's client and server: a server presenting the
 * identity of whichever pod was dialled (by the accepted socket's local address), sockets served as if
 * accepted at other addresses, refusals with their own status, the bytes of each tunnel when it closes,
 * and a client that dials through a caller's dialer from a given source address.
 */
import test from 'ava';
import { connect as netConnect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import type { ExecutionContext } from 'ava';
import { HboneError, HboneServer, type InboundTunnelRequest } from '../src/hbone/index.js';
import type { RelayResult } from '../src/hbone/index.js';
import { Identity, StaticCertificateSource, issueWorkloadCertificate } from '../src/identity/index.js';
import { DAY, TRUST_DOMAIN, backend, captureLogger, clientId, pki, readAll, serverId, startClient } from './helpers/mesh.js';
import { freezableRelay } from './helpers/tcp-relay.js';

const otherId = Identity.parse('spiffe://cluster.local/ns/other/sa/backend');

async function sources(): Promise<StaticCertificateSource> {
  const { root, serverCert } = await pki();
  return new StaticCertificateSource([serverCert, await issueWorkloadCertificate(root, otherId, DAY)]);
}

/** A plain TCP listener on `host` whose connections are handed to `server.accept()`. */
async function handOver(t: ExecutionContext, host: string, server: HboneServer): Promise<number> {
  const tcp: Server = createServer({ pauseOnConnect: true }, (socket) => server.accept(socket));
  tcp.listen(0, host);
  await once(tcp, 'listening');
  t.teardown(() => tcp.close());
  return (tcp.address() as AddressInfo).port;
}

/** Two connected loopback sockets (client end, server end), the server end paused. */
async function loopbackPair(t: ExecutionContext): Promise<[Socket, Socket]> {
  const tcp = createServer({ pauseOnConnect: true });
  tcp.listen(0, '127.0.0.1');
  await once(tcp, 'listening');
  const accepted = once(tcp, 'connection') as Promise<[Socket]>;
  const client = netConnect((tcp.address() as AddressInfo).port, '127.0.0.1');
  await once(client, 'connect');
  const [server] = await accepted;
  tcp.close();
  t.teardown(() => {
    client.destroy();
    server.destroy();
  });
  return [client, server];
}

test('identityFor presents the identity of the address dialled; an address without one is closed before TLS', async (t) => {
  const echo = await backend(t);
  const asked: string[] = [];
  const certificates = await sources();
  let gets = 0;
  const server = new HboneServer({
    identityFor: (local) => {
      asked.push(local);
      return local === '127.0.0.1' ? serverId : local === '127.0.0.2' ? otherId : undefined;
    },
    certificates: { getCertificate: (id) => (gets++, certificates.getCertificate(id)) },
    trustDomain: TRUST_DOMAIN,
  });
  const { port } = await server.listen(0, '127.0.0.1');
  t.teardown(() => server.destroy());
  const port2 = await handOver(t, '127.0.0.2', server);
  const port3 = await handOver(t, '127.0.0.3', server);
  const client = await startClient(t);
  const base = { source: clientId, authority: `127.0.0.1:${echo.port}` };

  const a = await client.connect({ ...base, destination: `127.0.0.1:${port}`, expectedIdentities: [serverId] });
  a.end('one');
  t.is((await readAll(a)).toString(), 'one');
  const b = await client.connect({ ...base, destination: `127.0.0.2:${port2}`, expectedIdentities: [otherId] });
  b.end('two');
  t.is((await readAll(b)).toString(), 'two');

  const wrong = await t.throwsAsync(client.connect({ ...base, destination: `127.0.0.2:${port2}`, expectedIdentities: [serverId] }), { instanceOf: HboneError });
  t.is(wrong.code, 'HBONE_ERR_TLS');
  t.regex(wrong.message, /peer identity spiffe:\/\/cluster.local\/ns\/other\/sa\/backend is not one of the expected identities/);

  const before = gets;
  const none = await t.throwsAsync(client.connect({ ...base, destination: `127.0.0.3:${port3}`, expectedIdentities: [serverId] }), { instanceOf: HboneError });
  t.is(none.code, 'HBONE_ERR_TLS');
  t.is(gets, before, 'no certificate is fetched for an address without an identity');
  t.true(asked.includes('127.0.0.3'));
});

test('a server needs an identity or identityFor', (t) => {
  t.throws(() => new HboneServer({ certificates: new StaticCertificateSource(), trustDomain: TRUST_DOMAIN }), {
    instanceOf: TypeError,
    message: /give identity or identityFor/,
  });
});

test('the request carries the local address, the presented identity, and accept() addresses stand in for the socket’s', async (t) => {
  const echo = await backend(t);
  const seen: InboundTunnelRequest[] = [];
  const asked: string[] = [];
  const server = new HboneServer({
    identityFor: (local) => (asked.push(local), local === '10.0.0.2' || local === '127.0.0.1' ? serverId : undefined),
    certificates: await sources(),
    trustDomain: TRUST_DOMAIN,
    authorize: (r) => (seen.push(r), true),
  });
  const { port } = await server.listen(0, '127.0.0.1');
  t.teardown(() => server.destroy());
  const client = await startClient(t);

  const direct = await client.connect({ source: clientId, destination: `127.0.0.1:${port}`, expectedIdentities: [serverId], authority: `127.0.0.1:${echo.port}` });
  direct.end();
  await readAll(direct);
  t.like(seen[0], { localAddress: '127.0.0.1', localPort: port, remoteAddress: '127.0.0.1', identity: serverId });

  // A pair joined over loopback, served as a connection from 10.0.0.1:4444 to 10.0.0.2:15008.
  const [clientEnd, serverEnd] = await loopbackPair(t);
  server.accept(serverEnd, { localAddress: '10.0.0.2', localPort: 15008, remoteAddress: '10.0.0.1', remotePort: 4444 });
  const viaPair = await startClient(t, { dial: () => Promise.resolve(clientEnd) });
  const tunnel = await viaPair.connect({ source: clientId, destination: '10.0.0.2:15008', expectedIdentities: [serverId], authority: `127.0.0.1:${echo.port}` });
  tunnel.end('paired');
  t.is((await readAll(tunnel)).toString(), 'paired');
  t.like(seen[1], { localAddress: '10.0.0.2', localPort: 15008, remoteAddress: '10.0.0.1', remotePort: 4444, identity: serverId });
  t.true(asked.includes('10.0.0.2'));
});

test('authorize may refuse with 400 or 503 and its reason; false is 401', async (t) => {
  const { logger, records } = captureLogger();
  const verdicts = [{ status: 400 as const, reason: 'authority is not the address dialled' }, { status: 503 as const, reason: 'no such workload' }, false];
  let i = 0;
  const server = new HboneServer({ identity: serverId, certificates: await sources(), trustDomain: TRUST_DOMAIN, logger, authorize: () => verdicts[i++]! });
  const { port } = await server.listen(0, '127.0.0.1');
  t.teardown(() => server.destroy());
  const client = await startClient(t);
  const req = { source: clientId, destination: `127.0.0.1:${port}`, expectedIdentities: [serverId], authority: '127.0.0.1:9' };
  for (const status of [400, 503, 401]) {
    const err = await t.throwsAsync(client.connect(req), { instanceOf: HboneError });
    t.is(err.status, status);
  }
  t.like(records.find((r) => r['status'] === 400), { reason: 'authority is not the address dialled' });
  t.like(records.find((r) => r['status'] === 503), { reason: 'no such workload' });
  t.like(records.find((r) => r['status'] === 401), { reason: 'denied by authorization policy' });
});

test('onTunnelClosed gets each relayed tunnel once, with its bytes and its break; a throw is logged', async (t) => {
  const { logger, records } = captureLogger();
  const echo = await backend(t);
  const closed: Array<[InboundTunnelRequest, RelayResult]> = [];
  let throwNext = false;
  const server = new HboneServer({
    identity: serverId,
    certificates: await sources(),
    trustDomain: TRUST_DOMAIN,
    logger,
    onTunnelClosed: (r, result) => {
      closed.push([r, result]);
      if (throwNext) throw new Error('accounting failed');
    },
  });
  const { port } = await server.listen(0, '127.0.0.1');
  t.teardown(() => server.destroy());
  const client = await startClient(t);
  const req = { source: clientId, destination: `127.0.0.1:${port}`, expectedIdentities: [serverId], authority: `127.0.0.1:${echo.port}` };

  const s = await client.connect(req);
  s.end('hello');
  t.is((await readAll(s)).toString(), 'hello');
  await waitFor(() => closed.length === 1);
  t.deepEqual(closed[0]![1], { aToB: 5, bToA: 5 });
  t.is(closed[0]![0].authority, `127.0.0.1:${echo.port}`);

  // The upstream breaks: the result says why; the callback throwing is logged and changes nothing else.
  throwNext = true;
  const broken = await client.connect(req);
  broken.on('error', () => {});
  broken.write('x');
  await waitFor(() => echo.sockets.length === 2);
  echo.sockets[1]!.resetAndDestroy();
  await waitFor(() => closed.length === 2);
  t.regex(String(closed[1]![1].error?.message), /ECONNRESET|closed before finishing/);
  await waitFor(() => records.some((r) => r['msg'] === 'onTunnelClosed threw'));
  const after = await client.connect(req);
  after.end('still');
  t.is((await readAll(after)).toString(), 'still');
});

test('a client gone while the upstream was connecting is reported closed, and the upstream is dropped', async (t) => {
  const echo = await backend(t);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let connecting!: () => void;
  const started = new Promise<void>((resolve) => (connecting = resolve));
  const upstreams: Socket[] = [];
  const closed: RelayResult[] = [];
  const server = new HboneServer({
    identity: serverId,
    certificates: await sources(),
    trustDomain: TRUST_DOMAIN,
    connectUpstream: async (r) => {
      connecting();
      await gate;
      const s = netConnect(r.target.port, r.target.host);
      await once(s, 'connect');
      upstreams.push(s);
      return s;
    },
    onTunnelClosed: (_r, result) => closed.push(result),
  });
  const { port } = await server.listen(0, '127.0.0.1');
  t.teardown(() => server.destroy());
  const client = await startClient(t);
  const pending = client.connect({ source: clientId, destination: `127.0.0.1:${port}`, expectedIdentities: [serverId], authority: `127.0.0.1:${echo.port}` });
  pending.catch(() => {});
  await started;
  client.destroy();
  await t.throwsAsync(pending, { instanceOf: HboneError });
  await waitFor(() => server.stats().streams === 0);
  release();
  await waitFor(() => closed.length === 1);
  t.like(closed[0], { aToB: 0, bToA: 0 });
  t.regex(closed[0]!.error!.message, /closed the tunnel before the upstream connected/);
  t.true(upstreams[0]!.destroyed);
});

test('connectUpstream may name the tunnel’s owner: told once with the bytes, and onTunnelClosed is not called', async (t) => {
  const echo = await backend(t);
  const told: RelayResult[] = [];
  const viaCallback: RelayResult[] = [];
  const server = new HboneServer({
    identity: serverId,
    certificates: await sources(),
    trustDomain: TRUST_DOMAIN,
    connectUpstream: async (r) => {
      const socket = netConnect(r.target.port, r.target.host);
      await once(socket, 'connect');
      return { socket, owner: { relayDone: (result: RelayResult) => told.push(result) } };
    },
    onTunnelClosed: (_r, result) => viaCallback.push(result),
  });
  const { port } = await server.listen(0, '127.0.0.1');
  t.teardown(() => server.destroy());
  const client = await startClient(t);
  const s = await client.connect({ source: clientId, destination: `127.0.0.1:${port}`, expectedIdentities: [serverId], authority: `127.0.0.1:${echo.port}` });
  s.end('owned');
  t.is((await readAll(s)).toString(), 'owned');
  await waitFor(() => told.length === 1);
  t.deepEqual(told, [{ aToB: 5, bToA: 5 }]);
  t.deepEqual(viaCallback, []);
});

test('an owner named by connectUpstream is told when the client left while the upstream was connecting', async (t) => {
  const echo = await backend(t);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let connecting!: () => void;
  const started = new Promise<void>((resolve) => (connecting = resolve));
  const told: RelayResult[] = [];
  let upstream: Socket | undefined;
  const server = new HboneServer({
    identity: serverId,
    certificates: await sources(),
    trustDomain: TRUST_DOMAIN,
    connectUpstream: async (r) => {
      connecting();
      await gate;
      upstream = netConnect(r.target.port, r.target.host);
      await once(upstream, 'connect');
      return { socket: upstream, owner: { relayDone: (result: RelayResult) => told.push(result) } };
    },
  });
  const { port } = await server.listen(0, '127.0.0.1');
  t.teardown(() => server.destroy());
  const client = await startClient(t);
  const pending = client.connect({ source: clientId, destination: `127.0.0.1:${port}`, expectedIdentities: [serverId], authority: `127.0.0.1:${echo.port}` });
  pending.catch(() => {});
  await started;
  client.destroy();
  await t.throwsAsync(pending, { instanceOf: HboneError });
  await waitFor(() => server.stats().streams === 0);
  release();
  await waitFor(() => told.length === 1);
  t.like(told[0], { aToB: 0, bToA: 0 });
  t.regex(told[0]!.error!.message, /closed the tunnel before the upstream connected/);
  t.true(upstream!.destroyed);
});

test('netServer can be listened by the caller; close() closes it', async (t) => {
  const echo = await backend(t);
  const server = new HboneServer({ identity: serverId, certificates: await sources(), trustDomain: TRUST_DOMAIN });
  t.teardown(() => server.destroy());
  server.netServer.listen(0, '127.0.0.1');
  await once(server.netServer, 'listening');
  const { port } = server.netServer.address() as AddressInfo;
  const client = await startClient(t);
  const s = await client.connect({ source: clientId, destination: `127.0.0.1:${port}`, expectedIdentities: [serverId], authority: `127.0.0.1:${echo.port}` });
  s.end('own listener');
  t.is((await readAll(s)).toString(), 'own listener');
  await client.close();
  server.forgetIdentity(serverId);
  await server.close();
  t.false(server.netServer.listening);
});

test('the client dials through its dialer, from the source address it is given, pooled per source address', async (t) => {
  const echo = await backend(t);
  const peers: string[] = [];
  const server = new HboneServer({ identity: serverId, certificates: await sources(), trustDomain: TRUST_DOMAIN, authorize: (r) => (peers.push(r.remoteAddress), true) });
  const { port } = await server.listen(0, '127.0.0.1');
  t.teardown(() => server.destroy());
  const dialled: Array<[string | undefined, string]> = [];
  const client = await startClient(t, {
    dial: async (req, dest) => {
      dialled.push([req.sourceAddress, `${dest.host}:${dest.port}`]);
      const s = netConnect({ host: '127.0.0.1', port, localAddress: req.sourceAddress });
      await once(s, 'connect');
      return s;
    },
  });
  // The destination is what the dialer is told; where it really connects is its business.
  const base = { source: clientId, destination: '10.9.9.9:15008', expectedIdentities: [serverId], authority: `127.0.0.1:${echo.port}` };
  for (const sourceAddress of ['127.0.0.5', '127.0.0.5', '127.0.0.6']) {
    const s = await client.connect({ ...base, sourceAddress });
    s.end(sourceAddress);
    t.is((await readAll(s)).toString(), sourceAddress);
  }
  t.deepEqual(dialled, [
    ['127.0.0.5', '10.9.9.9:15008'],
    ['127.0.0.6', '10.9.9.9:15008'],
  ]);
  t.deepEqual(peers, ['127.0.0.5', '127.0.0.5', '127.0.0.6']);
  t.is(client.stats().connections, 2);
});

test('a dialer failure fails the tunnel: an HboneError as it is, anything else as HBONE_ERR_CONNECT; a bad source address is refused first', async (t) => {
  const failures: Error[] = [new HboneError('HBONE_ERR_CONNECT_TIMEOUT', 'dial timed out'), Object.assign(new Error('connect EHOSTUNREACH'), { code: 'EHOSTUNREACH' })];
  let dials = 0;
  const client = await startClient(t, { dial: () => Promise.reject(failures[dials++]!) });
  const req = { source: clientId, destination: '10.9.9.9:15008', expectedIdentities: [serverId], authority: '10.9.9.9:80' };
  const first = await t.throwsAsync(client.connect(req), { instanceOf: HboneError });
  t.is(first.code, 'HBONE_ERR_CONNECT_TIMEOUT');
  const second = await t.throwsAsync(client.connect(req), { instanceOf: HboneError });
  t.is(second.code, 'HBONE_ERR_CONNECT');
  t.is(second.message, 'cannot connect to 10.9.9.9:15008: connect EHOSTUNREACH');
  t.is(second.responseFlag, 'CONNECT');
  const bad = await t.throwsAsync(client.connect({ ...req, sourceAddress: 'pod-a' }), { instanceOf: HboneError });
  t.is(bad.code, 'HBONE_ERR_BAD_REQUEST');
  t.is(dials, 2);
});

async function waitFor(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('a dialer’s half-open socket does not keep a connection whose server sent its FIN', async (t) => {
  const echo = await backend(t);
  const server = new HboneServer({ identity: serverId, certificates: await sources(), trustDomain: TRUST_DOMAIN });
  const { port } = await server.listen(0, '127.0.0.1');
  t.teardown(() => server.destroy());
  // The relay lets the test end the connection at the TCP level only, as a peer's kernel does when the
  // peer process dies: a FIN, without a TLS close_notify or an HTTP/2 GOAWAY.
  const relay = await freezableRelay(t, port);
  const client = await startClient(t, {
    dial: async () => {
      const s = netConnect({ host: '127.0.0.1', port: relay.port, allowHalfOpen: true });
      await once(s, 'connect');
      return s;
    },
  });
  const s = await client.connect({ source: clientId, destination: `127.0.0.1:${port}`, expectedIdentities: [serverId], authority: `127.0.0.1:${echo.port}` });
  s.end('x');
  await readAll(s);
  t.is(client.stats().connections, 1);
  relay.pairs[0]![0].end();
  await waitFor(() => client.stats().connections === 0);
  t.pass();
});
