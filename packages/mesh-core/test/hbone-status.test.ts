import test from 'ava';
import { HboneError, type InboundTunnelRequest } from '../src/hbone/index.js';
import { backend, captureLogger, clientId, pki, readAll, serverId, startClient, startServer } from './helpers/mesh.js';
import { h2Request, meshClientTls } from './helpers/raw.js';
import { FRAME, RawH2 } from './helpers/h2-frames.js';

const req = (addr: string, authority: string) => ({ source: clientId, destination: addr, expectedIdentities: [serverId], authority });

test('200: CONNECT to a reachable target answers 200 and relays', async (t) => {
  const echo = await backend(t);
  const { port } = await startServer(t);
  const { clientCert } = await pki();
  const out = await h2Request(port, meshClientTls(clientCert), { ':method': 'CONNECT', ':authority': `127.0.0.1:${echo.port}` });
  t.is(out.status, 200);
});

test('400: a request that is not CONNECT', async (t) => {
  const { port, server } = await startServer(t);
  const { clientCert } = await pki();
  for (const method of ['GET', 'POST']) {
    const out = await h2Request(port, meshClientTls(clientCert), { ':method': method, ':path': '/', ':authority': '127.0.0.1:80' });
    t.is(out.status, 400, method);
  }
  t.is(server.stats().streams, 0);
});

const badAuthorities: Array<[string, string]> = [
  ['127.0.0.1', 'has no port'],
  ['example.com:80', 'does not hold an IP address'],
  ['127.0.0.1:http', 'non-numeric port'],
  ['127.0.0.1:-1', 'non-numeric port'],
  ['127.0.0.1:0', 'out of range'],
  ['127.0.0.1:65536', 'out of range'],
  ['127.0.0.1:123456', 'out of range'],
  ['[::1:80', 'is not [ipv6]:port'],
  ['[example]:80', 'does not hold an IPv6 address'],
];

for (const [authority, reason] of badAuthorities) {
  test(`400: CONNECT with :authority ${JSON.stringify(authority)} (${reason})`, async (t) => {
    const { logger, records } = captureLogger();
    const { port } = await startServer(t, { logger });
    const { clientCert } = await pki();
    const out = await h2Request(port, meshClientTls(clientCert), { ':method': 'CONNECT', ':authority': authority });
    t.is(out.status, 400);
    const rec = records.find((r) => r['msg'] === 'HBONE CONNECT refused');
    t.is(rec?.['status'], 400);
    t.true(String(rec?.['reason']).includes(reason), String(rec?.['reason']));
  });
}

const malformedH2: Array<[string, Array<[string, string]>]> = [
  ['CONNECT with :path and :scheme', [[':method', 'CONNECT'], [':scheme', 'https'], [':path', '/x'], [':authority', '127.0.0.1:9']]],
  ['CONNECT without :authority', [[':method', 'CONNECT']]],
  ['CONNECT with an empty :authority', [[':method', 'CONNECT'], [':authority', '']]],
];

for (const [name, headers] of malformedH2) {
  test(`malformed at the HTTP/2 layer (${name}): stream reset with PROTOCOL_ERROR, the connection survives`, async (t) => {
    // RFC 9113 8.1.1: nghttp2 resets these before our handler sees them, so they get RST_STREAM, not 400.
    const echo = await backend(t);
    const { port, server } = await startServer(t);
    const { clientCert } = await pki();
    const h2 = await RawH2.connect(port, meshClientTls(clientCert));
    t.teardown(() => h2.destroy());
    h2.headers(1, headers);
    const rst = await h2.next((f) => f.type === FRAME.RST_STREAM && f.streamId === 1);
    t.truthy(rst, 'stream 1 was reset');
    t.is(rst!.payload.readUInt32BE(0), 1, 'PROTOCOL_ERROR');
    h2.headers(3, [[':method', 'CONNECT'], [':authority', `127.0.0.1:${echo.port}`]]);
    const ok = await h2.next((f) => f.type === FRAME.HEADERS && f.streamId === 3);
    t.truthy(ok, 'a good CONNECT on the same connection is answered');
    t.is(ok!.payload[0], 0x88, ':status 200 (HPACK static index 8)');
    t.is(server.stats().sessions, 1);
  });
}

test('401: authorize denies (sync false, async false, or throws: fail closed)', async (t) => {
  const echo = await backend(t);
  const { logger, records } = captureLogger();
  const verdicts: Array<() => boolean | Promise<boolean>> = [
    () => false,
    () => Promise.resolve(false),
    () => {
      throw new Error('policy engine broke');
    },
    () => Promise.reject(new Error('async policy failure')),
  ];
  let i = 0;
  const { addr } = await startServer(t, { logger, authorize: () => verdicts[i]!() });
  const client = await startClient(t);
  for (i = 0; i < verdicts.length; i++) {
    const err = await t.throwsAsync(client.connect(req(addr, `127.0.0.1:${echo.port}`)), { instanceOf: HboneError });
    t.is(err.code, 'HBONE_ERR_STATUS');
    t.is(err.status, 401);
    t.is(err.responseFlag, 'DENY');
  }
  t.is(echo.sockets.length, 0, 'no upstream connection for a denied tunnel');
  t.is(records.filter((r) => r['msg'] === 'authorize threw; denying').length, 2);
  // The connection stays usable: denials are per stream.
  t.is(client.stats().connections, 1);
});

test('authorize may be async and allow', async (t) => {
  const echo = await backend(t);
  const { addr } = await startServer(t, { authorize: async () => Promise.resolve(true) });
  const client = await startClient(t);
  const s = await client.connect(req(addr, `127.0.0.1:${echo.port}`));
  s.end('ok');
  t.is((await readAll(s)).toString(), 'ok');
});

test('503: the upstream refuses the connection, or connectUpstream rejects', async (t) => {
  const closed = await backend(t);
  const deadPort = closed.port;
  await new Promise<void>((resolve) => closed.server.close(() => resolve()));
  const { logger, records } = captureLogger();
  const { addr } = await startServer(t, { logger });
  const client = await startClient(t);
  const err = await t.throwsAsync(client.connect(req(addr, `127.0.0.1:${deadPort}`)), { instanceOf: HboneError });
  t.is(err.status, 503);
  t.is(err.responseFlag, 'CONNECT');
  t.regex(String(records.find((r) => r['status'] === 503)?.['reason']), /upstream unreachable: cannot connect to 127.0.0.1:\d+: connect ECONNREFUSED/);

  const { addr: addr2 } = await startServer(t, { connectUpstream: () => Promise.reject(new Error('no route')) });
  const err2 = await t.throwsAsync(client.connect(req(addr2, '127.0.0.1:9')), { instanceOf: HboneError });
  t.is(err2.status, 503);
});

test('the server hands the caller the peer identity and the forwarded, baggage and traceparent headers', async (t) => {
  const echo = await backend(t);
  let seen: InboundTunnelRequest | undefined;
  const { addr } = await startServer(t, {
    authorize: (r) => {
      seen = r;
      return true;
    },
  });
  const client = await startClient(t);
  const baggage = 'k8s.cluster.name=Kubernetes,k8s.namespace.name=default,service.name=client';
  const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const s = await client.connect({ ...req(addr, `127.0.0.1:${echo.port}`), forwardedFor: '10.1.2.3:45678', forwardedHost: 'web.shop.svc.cluster.local', baggage, traceparent });
  s.end();
  await readAll(s);
  t.truthy(seen);
  t.is(seen!.peerIdentity.uri, clientId.uri);
  t.is(seen!.authority, `127.0.0.1:${echo.port}`);
  t.deepEqual(seen!.target, { host: '127.0.0.1', port: echo.port });
  t.is(seen!.forwarded, 'for="10.1.2.3:45678";host=web.shop.svc.cluster.local');
  t.is(seen!.baggage, baggage);
  t.is(seen!.traceparent, traceparent);
  t.is(seen!.remoteAddress, '127.0.0.1');
  t.true(seen!.remotePort > 0);
});

test('headers the client was not given are not sent', async (t) => {
  const echo = await backend(t);
  let seen: InboundTunnelRequest | undefined;
  const { addr } = await startServer(t, { authorize: (r) => ((seen = r), true) });
  const client = await startClient(t);
  const s = await client.connect(req(addr, `127.0.0.1:${echo.port}`));
  s.end();
  await readAll(s);
  t.false('forwarded' in seen!);
  t.false('baggage' in seen!);
  t.false('traceparent' in seen!);
});

test('the client refuses a malformed tunnel request before dialling', async (t) => {
  const client = await startClient(t);
  const base = req('127.0.0.1:15008', '10.0.0.1:80');
  const cases: Array<[Partial<typeof base> & Record<string, unknown>, RegExp]> = [
    [{ destination: 'hbone.example:15008' }, /^destination: authority "hbone.example:15008" does not hold an IP address/],
    [{ authority: '10.0.0.1' }, /^tunnel target: authority "10.0.0.1" has no port/],
    [{ expectedIdentities: [] }, /no expected server identity/],
    [{ traceparent: 'a\r\nb' }, /traceparent "a\\r\\nb" is not a valid header value/],
    [{ forwardedFor: '1.2.3.4:5"' }, /forwardedFor/],
    [{ forwardedHost: 'web\nx' }, /forwardedHost "web\\nx" is not a valid header value/],
    [{ forwardedHost: '' }, /forwardedHost is empty/],
  ];
  for (const [patch, re] of cases) {
    const err = await t.throwsAsync(client.connect({ ...base, ...patch }), { instanceOf: HboneError });
    t.is(err.code, 'HBONE_ERR_BAD_REQUEST');
    t.regex(err.message, re);
  }
  t.deepEqual(client.stats(), { connections: 0, streams: 0, draining: 0 });
});

test('the client reports an unreachable HBONE endpoint as HBONE_ERR_CONNECT', async (t) => {
  const closed = await backend(t);
  await new Promise<void>((resolve) => closed.server.close(() => resolve()));
  const client = await startClient(t);
  const err = await t.throwsAsync(client.connect(req(`127.0.0.1:${closed.port}`, '10.0.0.1:80')), { instanceOf: HboneError });
  t.is(err.code, 'HBONE_ERR_CONNECT');
  t.regex(err.message, /ECONNREFUSED/);
  t.deepEqual(client.stats(), { connections: 0, streams: 0, draining: 0 });
});
