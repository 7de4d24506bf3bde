import test from 'ava';
import type { ClientHttp2Stream } from 'node:http2';
import { backend, clientId, readAll, serverId, startClient, startServer } from './helpers/mesh.js';

test('a tunnel carries bytes to the target and back (echo round trip)', async (t) => {
  const echo = await backend(t);
  const { addr } = await startServer(t);
  const client = await startClient(t);
  const tunnel = await client.connect({
    source: clientId,
    destination: addr,
    expectedIdentities: [serverId],
    authority: `127.0.0.1:${echo.port}`,
  });
  const payload = Buffer.alloc(256 * 1024, 7);
  tunnel.end(payload);
  const back = await readAll(tunnel);
  t.true(back.equals(payload));
});

test('HTTP/2 windows: both ends apply their stream and connection windows (defaults and overrides)', async (t) => {
  const MiB = 1024 * 1024;
  const echo = await backend(t);
  const cases = [
    // The defaults: 4 MiB per stream, 16 MiB per connection, on both ends.
    { server: {}, client: {}, want: { serverStream: 4, serverConn: 16, clientStream: 4, clientConn: 16 } },
    { server: { streamWindowSize: 2 * MiB, connectionWindowSize: 32 * MiB }, client: { streamWindowSize: 1 * MiB, connectionWindowSize: 8 * MiB }, want: { serverStream: 2, serverConn: 32, clientStream: 1, clientConn: 8 } },
  ];
  for (const { server, client, want } of cases) {
    const { addr } = await startServer(t, { http2: server });
    const c = await startClient(t, { http2: client });
    const tunnel = (await c.connect({ source: clientId, destination: addr, expectedIdentities: [serverId], authority: `127.0.0.1:${echo.port}` })) as ClientHttp2Stream;
    const session = tunnel.session!;
    // What the server announced (SETTINGS) and opened (WINDOW_UPDATE on the connection), as the client sees it.
    t.is(session.remoteSettings.initialWindowSize, want.serverStream * MiB);
    t.is(session.state.remoteWindowSize, want.serverConn * MiB);
    // What the client announced and opened.
    t.is(session.localSettings.initialWindowSize, want.clientStream * MiB);
    t.is(session.state.effectiveLocalWindowSize, want.clientConn * MiB);
    t.is(tunnel.state.localWindowSize, want.clientStream * MiB);
    tunnel.end();
    await readAll(tunnel);
  }
});

test('an open tunnel keeps nothing of its request: Node’s copy of the headers, the origin and the async resource are dropped', async (t) => {
  const echo = await backend(t);
  const { addr } = await startServer(t);
  const client = await startClient(t);
  const req = { source: clientId, destination: addr, expectedIdentities: [serverId], authority: `127.0.0.1:${echo.port}`, forwardedFor: '10.0.0.1:4000', traceparent: '00-0123456789abcdef0123456789abcdef-0123456789abcdef-00' };
  const tunnel = (await client.connect(req)) as ClientHttp2Stream;
  t.true(tunnel.sentHeaders === undefined, 'the sent headers are gone');
  const dropped = Object.getOwnPropertySymbols(tunnel).filter((s) => ['sent-headers', 'origin', 'requestAsyncResource'].includes(s.description ?? ''));
  t.is(dropped.length, 3, 'Node still names the three fields this way (if not, nothing is dropped: update forgetRequest)');
  for (const s of dropped) t.is((tunnel as unknown as Record<symbol, unknown>)[s], undefined, String(s.description));
  // The tunnel works as before, and a second one on the same connection too.
  const second = await client.connect(req);
  tunnel.end('one');
  second.end('two');
  t.is((await readAll(tunnel)).toString(), 'one');
  t.is((await readAll(second)).toString(), 'two');
});
