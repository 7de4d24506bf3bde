import test from 'ava';
import type { Socket } from 'node:net';
import { HboneError, connectTcp } from '../src/hbone/index.js';
import { backend, clientId, readAll, serverId, startClient, startServer, until } from './helpers/mesh.js';
import { ManualTimers } from './helpers/manual-timers.js';
import { freezableRelay } from './helpers/tcp-relay.js';

const KEEPALIVE = { intervalMs: 10_000, timeoutMs: 20_000 };
const FOREVER = { intervalMs: 1e12, timeoutMs: 1e12 };

async function setup(t: Parameters<typeof backend>[0], clientKeepalive: typeof KEEPALIVE, serverKeepalive: typeof KEEPALIVE) {
  const echo = await backend(t);
  const serverTimers = new ManualTimers();
  const upstreams: Socket[] = [];
  const { port, server } = await startServer(t, {
    keepalive: serverKeepalive,
    timers: serverTimers,
    connectUpstream: async (r) => {
      const s = await connectTcp(r.target, 5_000);
      upstreams.push(s);
      return s;
    },
  });
  const relay = await freezableRelay(t, port);
  const clientTimers = new ManualTimers();
  const client = await startClient(t, { keepalive: clientKeepalive, timers: clientTimers });
  const tunnel = await client.connect({ source: clientId, destination: `127.0.0.1:${relay.port}`, expectedIdentities: [serverId], authority: `127.0.0.1:${echo.port}` });
  const failure = new Promise<Error>((resolve) => tunnel.on('error', resolve));
  return { client, server, relay, tunnel, failure, clientTimers, serverTimers, upstreams };
}

test('client keepalive closes a connection whose peer stops answering PINGs', async (t) => {
  const { client, relay, failure, clientTimers } = await setup(t, KEEPALIVE, FOREVER);
  relay.freeze();
  clientTimers.advance(10_000); // PING sent into the frozen relay
  clientTimers.advance(9_999);
  t.is(client.stats().connections, 1, 'not yet: the timeout has not passed');
  clientTimers.advance(10_001);
  const err = await failure;
  t.true(err instanceof HboneError);
  t.is((err as HboneError).code, 'HBONE_ERR_KEEPALIVE');
  await until(() => client.stats().connections === 0, 5_000, 'connection removed from the pool');
});

test('server keepalive closes a connection whose client stops answering, and its upstream sockets', async (t) => {
  const { server, relay, serverTimers, upstreams } = await setup(t, FOREVER, KEEPALIVE);
  await until(() => upstreams.length === 1, 5_000, 'upstream');
  relay.freeze();
  serverTimers.advance(10_000); // PING at 10 s
  serverTimers.advance(19_999);
  t.is(server.stats().sessions, 1, 'not yet: unanswered for less than 20 s');
  serverTimers.advance(1); // 20 s without an answer
  await until(() => server.stats().sessions === 0 && upstreams[0]!.destroyed, 5_000, 'server session and upstream closed');
  t.is(server.stats().streams, 0);
});

test('keepalive keeps a healthy connection: answered PINGs never close it', async (t) => {
  const { client, relay, tunnel, clientTimers } = await setup(t, KEEPALIVE, FOREVER);
  for (let i = 0; i < 5; i++) {
    const before = relay.counts.toClient;
    clientTimers.advance(10_000); // PING
    await until(() => relay.counts.toClient > before, 5_000, 'PING answered');
    await new Promise((r) => setImmediate(r));
  }
  t.is(client.stats().connections, 1);
  tunnel.end('alive');
  t.is((await readAll(tunnel)).toString(), 'alive');
});
