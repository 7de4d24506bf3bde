import test from 'ava';
import { connect as netConnect } from 'node:net';
import { HboneError, HboneServer, formatAuthority, forwardedFor, parseAuthority, parseForwardedFor, parseForwardedHost } from '../src/hbone/index.js';
import { Identity, StaticCertificateSource, createRootCa, issueWorkloadCertificate, type WorkloadCertificate } from '../src/identity/index.js';
import { DAY, TRUST_DOMAIN, backend, captureLogger, clientId, pki, readAll, serverId, startClient, startServer, until } from './helpers/mesh.js';
import { tlsAttempt, meshClientTls } from './helpers/raw.js';

test('parseAuthority accepts IPv4 and bracketed IPv6 with a port, and formatAuthority round-trips', (t) => {
  t.deepEqual(parseAuthority('10.0.0.2:8080'), { host: '10.0.0.2', port: 8080 });
  t.deepEqual(parseAuthority('[fd00::2]:15008'), { host: 'fd00::2', port: 15008 });
  t.deepEqual(parseAuthority('127.0.0.1:65535'), { host: '127.0.0.1', port: 65535 });
  t.is(formatAuthority({ host: 'fd00::2', port: 80 }), '[fd00::2]:80');
  t.is(formatAuthority({ host: '10.0.0.2', port: 80 }), '10.0.0.2:80');
  t.is(parseAuthority(undefined), 'missing :authority');
  t.is(parseAuthority('fd00::2:80'), 'authority "fd00::2:80" does not hold an IP address (host names are not accepted)');
  t.is(parseAuthority('10.0.0.2:'), 'authority "10.0.0.2:" has a non-numeric port');
});

test('parseForwardedFor reads the for= node of the first element', (t) => {
  t.is(parseForwardedFor('for="10.1.2.3:4567"'), '10.1.2.3:4567');
  t.is(parseForwardedFor('proto=https;for="[fd00::1]:99";host=svc'), '[fd00::1]:99');
  t.is(parseForwardedFor('for=10.0.0.1, for=10.0.0.2'), '10.0.0.1');
  t.is(parseForwardedFor('host=svc'), undefined);
  t.is(parseForwardedFor(undefined), undefined);
  t.is(parseForwardedFor('host="a;for=x, y";for="10.0.0.9:1"'), '10.0.0.9:1', 'a quoted value may hold ; and ,');
  t.is(parseForwardedFor('For = 10.0.0.1'), '10.0.0.1', 'names are case-insensitive');
});

test('parseForwardedHost reads host= of the first element, quoted or not; forwardedFor writes what it reads', (t) => {
  t.is(parseForwardedHost('for="10.1.2.3:4567";host=web.shop.svc.cluster.local'), 'web.shop.svc.cluster.local');
  t.is(parseForwardedHost('host="web.shop.svc.cluster.local";for="10.1.2.3:4567"'), 'web.shop.svc.cluster.local');
  t.is(parseForwardedHost('for="10.1.2.3:4567"'), undefined);
  t.is(parseForwardedHost('for="10.1.2.3:4567", host=second-hop'), undefined, 'only the first element counts');
  t.is(parseForwardedHost('host="a\\"b\\\\c"'), 'a"b\\c', 'quoted-pair escapes');
  t.is(parseForwardedHost('host'), undefined, 'a name without a value');
  t.is(parseForwardedHost(''), undefined);
  t.is(forwardedFor('10.1.2.3:4567'), 'for="10.1.2.3:4567"');
  t.is(forwardedFor('10.1.2.3:4567', 'web.shop.svc.cluster.local'), 'for="10.1.2.3:4567";host=web.shop.svc.cluster.local');
  t.is(forwardedFor(undefined, 'web'), 'host=web');
  // Not a token: quoted, and read back as written.
  const odd = 'a b"c\\d';
  t.is(forwardedFor('10.0.0.1:1', odd), 'for="10.0.0.1:1";host="a b\\"c\\\\d"');
  t.is(parseForwardedHost(forwardedFor('10.0.0.1:1', odd)), odd);
  t.is(parseForwardedFor(forwardedFor('10.0.0.1:1', odd)), '10.0.0.1:1');
});

test('certificate rotation: new handshakes get the new certificate, open connections keep theirs', async (t) => {
  const echo = await backend(t);
  const { root, serverCert } = await pki();
  const source = new StaticCertificateSource([serverCert]);
  const { addr } = await startServer(t, { certificates: source });
  const before = await startClient(t);
  const req = { source: clientId, destination: addr, expectedIdentities: [serverId], authority: `127.0.0.1:${echo.port}` };
  const open = await before.connect(req);

  // Rotate to a certificate from a new root: clients that only trust the old root can no longer connect...
  const newRoot = await createRootCa(TRUST_DOMAIN, DAY);
  const rotated = await issueWorkloadCertificate(newRoot, serverId, DAY);
  source.set({ ...rotated, rootsPem: [...newRoot.rootsPem, ...root.rootsPem] });
  const stale = await startClient(t);
  const err = await t.throwsAsync(stale.connect(req), { instanceOf: HboneError });
  t.is(err.code, 'HBONE_ERR_TLS');
  t.regex(err.message, /self-signed certificate in certificate chain|unable to verify|UNABLE/i);
  // ...clients that trust the new root can, and the server still accepts old-root client certificates.
  const { clientCert } = await pki();
  const fresh = await startClient(t, { certificates: new StaticCertificateSource([{ ...clientCert, rootsPem: newRoot.rootsPem }]) });
  const ok = await fresh.connect(req);
  ok.end('new');
  t.is((await readAll(ok)).toString(), 'new');
  // The connection made before the rotation still carries new tunnels.
  const again = await before.connect(req);
  t.is(before.stats().connections, 1);
  again.end('old connection');
  t.is((await readAll(again)).toString(), 'old connection');
  open.end();
  await readAll(open);
});

test('a CertificateSource failure refuses that connection only, and is logged', async (t) => {
  const { logger, records } = captureLogger();
  const { serverCert } = await pki();
  let fail = true;
  const server = new HboneServer({
    identity: serverId,
    certificates: { getCertificate: () => (fail ? Promise.reject(new Error('CA unreachable')) : Promise.resolve(serverCert)) },
    trustDomain: TRUST_DOMAIN,
    logger,
  });
  const { port } = await server.listen(0, '127.0.0.1');
  t.teardown(() => server.destroy());
  const { clientCert } = await pki();
  const out = await tlsAttempt(port, meshClientTls(clientCert));
  t.false(out.secure);
  t.truthy(records.find((r) => r['msg'] === 'no certificate for the HBONE listener; refusing connection'));
  fail = false;
  const echo = await backend(t);
  const client = await startClient(t);
  const s = await client.connect({ source: clientId, destination: `127.0.0.1:${port}`, expectedIdentities: [serverId], authority: `127.0.0.1:${echo.port}` });
  s.end('recovered');
  t.is((await readAll(s)).toString(), 'recovered');
});

test('server close() sends GOAWAY, waits for open tunnels, then stops listening', async (t) => {
  const echo = await backend(t);
  const { server, addr, port } = await startServer(t);
  const client = await startClient(t);
  const s = await client.connect({ source: clientId, destination: addr, expectedIdentities: [serverId], authority: `127.0.0.1:${echo.port}` });
  let closed = false;
  const closing = server.close().then(() => (closed = true));
  await until(() => client.stats().draining === 1, 5_000, 'GOAWAY at the client');
  t.false(closed, 'close() waits while a tunnel is open');
  s.end('finishing');
  t.is((await readAll(s)).toString(), 'finishing');
  await closing;
  t.deepEqual(server.stats(), { sessions: 0, streams: 0 });
  const refused = await new Promise<string | undefined>((resolve) => {
    const c = netConnect(port, '127.0.0.1');
    c.on('error', (e: Error & { code?: string }) => resolve(e.code));
    c.on('connect', () => {
      c.destroy();
      resolve(undefined);
    });
  });
  t.is(refused, 'ECONNREFUSED', 'the listener is closed');
});

test('server destroy() resets open tunnels and half-done handshakes', async (t) => {
  const echo = await backend(t);
  const { server, addr, port } = await startServer(t);
  const client = await startClient(t);
  const s = await client.connect({ source: clientId, destination: addr, expectedIdentities: [serverId], authority: `127.0.0.1:${echo.port}` });
  const failed = new Promise<Error | undefined>((resolve) => {
    s.on('error', resolve);
    s.on('close', () => resolve(undefined));
  });
  // A TCP connection that never starts TLS sits in the handshake.
  const idle = netConnect(port, '127.0.0.1');
  idle.on('error', () => {});
  const idleClosed = new Promise((resolve) => idle.on('close', resolve));
  await new Promise((resolve) => idle.on('connect', resolve));
  server.destroy();
  await idleClosed;
  await failed;
  await until(() => client.stats().connections === 0, 5_000, 'client connection gone');
  await until(() => echo.sockets.every((x) => x.destroyed), 5_000, 'upstream closed');
  t.deepEqual(server.stats(), { sessions: 0, streams: 0 });
});

test('the server presents the identity it was given, even with other certificates in the source', async (t) => {
  const { root, serverCert } = await pki();
  const other = Identity.parse('spiffe://cluster.local/ns/default/sa/other');
  const otherCert: WorkloadCertificate = await issueWorkloadCertificate(root, other, DAY);
  const echo = await backend(t);
  const { addr } = await startServer(t, { identity: other, certificates: new StaticCertificateSource([serverCert, otherCert]) });
  const client = await startClient(t);
  const req = { source: clientId, destination: addr, expectedIdentities: [other], authority: `127.0.0.1:${echo.port}` };
  const s = await client.connect(req);
  s.end();
  await readAll(s);
  const err = await t.throwsAsync(client.connect({ ...req, expectedIdentities: [serverId] }), { instanceOf: HboneError });
  t.is(err.code, 'HBONE_ERR_TLS');
});
