import test from 'ava';
import { once } from 'node:events';
import { connect } from 'node:net';
import { FakeClock, realClock } from '@ambit/mesh-core/lifecycle';
import { ProxyClosedError } from '../src/proxy/errors.js';
import { LoopbackJoiner } from '../src/proxy/loopback.js';

test('pairs are connected both ways, the accepted end paused until read', async (t) => {
  const joiner = await LoopbackJoiner.open(realClock);
  t.teardown(() => joiner.destroy());
  const pairs = await Promise.all([joiner.pair(), joiner.pair(), joiner.pair()]);
  for (const [i, { client, server }] of pairs.entries()) {
    t.is(server.remotePort, client.localPort);
    client.write(`to server ${i}`);
    server.resume();
    const [fromClient] = (await once(server, 'data')) as [Buffer];
    t.is(fromClient.toString(), `to server ${i}`);
    server.write(`to client ${i}`);
    const [fromServer] = (await once(client, 'data')) as [Buffer];
    t.is(fromServer.toString(), `to client ${i}`);
    client.destroy();
    server.destroy();
  }
});

test('a connection nobody asked for is closed after the stranger timeout', async (t) => {
  const clock = new FakeClock();
  const joiner = await LoopbackJoiner.open(clock, 1_000);
  t.teardown(() => joiner.destroy());
  const stranger = connect(joiner.port, '127.0.0.1');
  await once(stranger, 'connect');
  const closed = once(stranger, 'close');
  // Wait until the joiner has accepted it (its timer is set), then let the timeout pass.
  while (clock.pendingTimers === 0) await new Promise((r) => setTimeout(r, 5));
  clock.advance(999);
  t.false(stranger.destroyed);
  clock.advance(1);
  await closed;
  // Pairs still work afterwards.
  const { client, server } = await joiner.pair();
  client.destroy();
  server.destroy();
});

test('a closed joiner makes no pairs, and closing again is harmless', async (t) => {
  const joiner = await LoopbackJoiner.open(realClock);
  await joiner.close();
  await t.throwsAsync(joiner.pair(), { instanceOf: ProxyClosedError, message: 'cannot join a loopback pair: the proxy is closed' });
  await joiner.close();
});
