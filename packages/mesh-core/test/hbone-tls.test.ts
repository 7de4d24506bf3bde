import test from 'ava';
import { createRootCa, issueWorkloadCertificate, StaticCertificateSource } from '../src/identity/index.js';
import { HboneClient, HboneError } from '../src/hbone/index.js';
import { PeerIdentityError } from '../src/tls/index.js';
import { DAY, TRUST_DOMAIN, backend, captureLogger, clientId, customLeaf, pki, serverId, startClient, startServer } from './helpers/mesh.js';
import { h2Request, meshClientTls, tlsAttempt } from './helpers/raw.js';
import { Identity } from '../src/identity/index.js';

const connectReq = (addr: string, port: number) => ({ source: clientId, destination: addr, expectedIdentities: [serverId], authority: `127.0.0.1:${port}` });

test('the client refuses a server whose SPIFFE ID is not an expected one', async (t) => {
  const echo = await backend(t);
  const { addr, server } = await startServer(t);
  const client = await startClient(t);
  const expected = [Identity.parse('spiffe://cluster.local/ns/default/sa/someone-else')];
  const err = await t.throwsAsync(client.connect({ ...connectReq(addr, echo.port), expectedIdentities: expected }), { instanceOf: HboneError });
  t.is(err.code, 'HBONE_ERR_TLS');
  t.is(err.responseFlag, 'TLS_FAILURE');
  t.true(err.cause instanceof PeerIdentityError);
  t.regex(err.message, /peer identity spiffe:\/\/cluster.local\/ns\/default\/sa\/server is not one of the expected identities/);
  t.is(echo.sockets.length, 0);
  t.is(server.stats().streams, 0);
  t.deepEqual(client.stats(), { connections: 0, streams: 0, draining: 0 });
});

test('the server refuses a client without a certificate at the TLS handshake', async (t) => {
  const { logger, records } = captureLogger();
  const { port, server } = await startServer(t, { logger });
  const { clientCert } = await pki();
  const { key: _k, cert: _c, ...noCert } = meshClientTls(clientCert);
  const out = await tlsAttempt(port, noCert);
  t.is(out.received, 0, 'no HTTP/2 byte reached a client without a certificate');
  t.regex(out.error?.code ?? '', /CERTIFICATE_REQUIRED/);
  t.is(server.stats().sessions, 0);
  const rec = records.find((r) => r['msg'] === 'HBONE TLS handshake failed');
  t.regex(String(rec?.['code']), /PEER_DID_NOT_RETURN_A_CERTIFICATE/);
});

test('the server refuses a client certificate from another CA', async (t) => {
  const echo = await backend(t);
  const { addr, port, server } = await startServer(t);
  const { root } = await pki();
  const otherRoot = await createRootCa(TRUST_DOMAIN, DAY);
  const foreign = await issueWorkloadCertificate(otherRoot, clientId, DAY);
  // The client trusts the real mesh roots (so the server passes its checks) but presents a foreign chain.
  const client = new HboneClient({ certificates: new StaticCertificateSource([{ ...foreign, rootsPem: root.rootsPem }]) });
  t.teardown(() => client.destroy());
  const err = await t.throwsAsync(client.connect(connectReq(addr, echo.port)), { instanceOf: HboneError });
  // TLS 1.3: the client's handshake is done before the server has checked the client's chain.
  t.is(err.code, 'HBONE_ERR_H2');
  const raw = await tlsAttempt(port, meshClientTls({ ...foreign, rootsPem: root.rootsPem }));
  t.is(raw.received, 0, 'the server sent no HTTP/2 byte to an untrusted client');
  t.is(server.stats().sessions, 0);
  t.is(echo.sockets.length, 0);
});

test('the server refuses a client of another trust domain, and says why', async (t) => {
  const echo = await backend(t);
  const { logger, records } = captureLogger();
  const { addr, server } = await startServer(t, { logger });
  const { root } = await pki();
  const foreignId = Identity.parse('spiffe://evil.example/ns/default/sa/client');
  const foreign = await issueWorkloadCertificate(root, foreignId, DAY);
  const client = new HboneClient({ certificates: new StaticCertificateSource([foreign]) });
  t.teardown(() => client.destroy());
  const err = await t.throwsAsync(client.connect({ ...connectReq(addr, echo.port), source: foreignId }), { instanceOf: HboneError });
    t.is(err.code, 'HBONE_ERR_H2');
  t.is(echo.sockets.length, 0);
  t.is(server.stats().sessions, 0);
  const rec = records.find((r) => r['msg'] === 'HBONE client identity refused');
  t.regex(JSON.stringify(rec?.['err']), /not in trust domain \\"cluster.local\\"/);
});

test('the server refuses TLS 1.2', async (t) => {
  const { logger, records } = captureLogger();
  const { port, server } = await startServer(t, { logger });
  const { clientCert } = await pki();
  const out = await tlsAttempt(port, { ...meshClientTls(clientCert), maxVersion: 'TLSv1.2' });
  t.false(out.secure);
  t.regex(out.error?.code ?? '', /PROTOCOL_VERSION/);
  t.is(server.stats().sessions, 0);
  t.regex(String(records.find((r) => r['msg'] === 'HBONE TLS handshake failed')?.['code']), /UNSUPPORTED_PROTOCOL/);
});

test('the server refuses ALPN other than h2, and no ALPN at all', async (t) => {
  const { logger, records } = captureLogger();
  const { port, server } = await startServer(t, { logger });
  const { clientCert } = await pki();
  const http1 = await tlsAttempt(port, { ...meshClientTls(clientCert), ALPNProtocols: ['http/1.1'] });
  t.is(http1.received, 0);
  t.truthy(http1.error, 'the handshake failed');
  t.regex(http1.error?.code ?? '', /NO_APPLICATION_PROTOCOL/);
  const { ALPNProtocols: _a, ...noAlpnOpts } = meshClientTls(clientCert);
  const none = await tlsAttempt(port, noAlpnOpts);
  t.is(none.received, 0, 'no HTTP/2 byte without ALPN h2');
  t.is(server.stats().sessions, 0);
  t.truthy(records.find((r) => r['msg'] === 'HBONE client did not negotiate h2; closing'));
});

test('a well-behaved raw HTTP/2 client gets through (control for the refusals above)', async (t) => {
  const echo = await backend(t);
  const { port } = await startServer(t);
  const { clientCert } = await pki();
  const out = await h2Request(port, meshClientTls(clientCert), { ':method': 'CONNECT', ':authority': `127.0.0.1:${echo.port}` });
  t.is(out.status, 200);
});

test('a client certificate with only DNS SANs is refused by the server', async (t) => {
  const { logger, records } = captureLogger();
  const { port, server } = await startServer(t, { logger });
  const { root } = await pki();
  const dnsOnly = await customLeaf(root, [{ type: 'dns', value: 'client.default.svc.cluster.local' }]);
  const out = await h2Request(port, meshClientTls(dnsOnly), { ':method': 'CONNECT', ':authority': '127.0.0.1:9' });
  t.is(out.status, undefined);
  t.is(server.stats().sessions, 0);
  t.regex(JSON.stringify(records.find((r) => r['msg'] === 'HBONE client identity refused')?.['err']), /no SPIFFE URI SAN/);
});
