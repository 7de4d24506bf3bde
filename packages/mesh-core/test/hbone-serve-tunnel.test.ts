import test from 'ava';
import type { Duplex } from 'node:stream';
import { HboneError, type InboundTunnelRequest } from '../src/hbone/index.js';
import { captureLogger, clientId, readAll, serverId, startClient, startServer, until } from './helpers/mesh.js';

test('serveTunnel gets the authorized tunnel in process: bytes both ways, half-close, no upstream dialled', async (t) => {
  const seen: InboundTunnelRequest[] = [];
  let dialled = 0;
  const { addr, server } = await startServer(t, {
    connectUpstream: () => {
      dialled++;
      return Promise.reject(new Error('must not dial'));
    },
    serveTunnel: (stream: Duplex, req) => {
      seen.push(req);
      // An upper-casing echo: proves the bytes reach the handler and its writes reach the client.
      stream.on('data', (d: Buffer) => stream.write(d.toString().toUpperCase()));
      stream.on('end', () => stream.end('!'));
    },
  });
  const client = await startClient(t);
  const s = await client.connect({ source: clientId, destination: addr, expectedIdentities: [serverId], authority: '10.9.8.7:80', forwardedFor: '10.1.1.1:5555' });
  s.end('hello');
  t.is((await readAll(s)).toString(), 'HELLO!');
  t.is(dialled, 0);
  t.is(seen.length, 1);
  t.is(seen[0]!.authority, '10.9.8.7:80');
  t.is(seen[0]!.peerIdentity.uri, clientId.uri);
  t.is(seen[0]!.forwarded, 'for="10.1.1.1:5555"');
  await until(() => server.stats().streams === 0, 10_000, 'the tunnel to be counted closed');
});

test('serveTunnel is not called for a refused tunnel, and a throwing handler resets only its tunnel', async (t) => {
  const { logger, records } = captureLogger();
  let calls = 0;
  const { addr } = await startServer(t, {
    logger,
    authorize: (req) => (req.target.port === 81 ? { status: 503, reason: 'no such destination' } : true),
    serveTunnel: (stream: Duplex, req) => {
      calls++;
      if (req.target.port === 82) throw new Error('handler bug');
      stream.end('ok');
    },
  });
  const client = await startClient(t);
  const base = { source: clientId, destination: addr, expectedIdentities: [serverId] };
  const refused = await t.throwsAsync(client.connect({ ...base, authority: '10.0.0.1:81' }), { instanceOf: HboneError });
  t.is(refused.status, 503);
  t.is(calls, 0);
  const broken = await client.connect({ ...base, authority: '10.0.0.1:82' });
  const errors: Error[] = [];
  broken.on('error', (e: Error) => errors.push(e));
  // Node ends a reset stream's readable side; the RST code tells it from a clean end.
  await readAll(broken).catch(() => Buffer.alloc(0));
  await until(() => broken.closed, 10_000, 'the reset to arrive');
  t.is((broken as unknown as { rstCode: number }).rstCode, 2 /* INTERNAL_ERROR */);
  t.regex(errors[0]?.message ?? '', /NGHTTP2_INTERNAL_ERROR/);
  t.truthy(records.find((r) => r['msg'] === 'serveTunnel threw; resetting the tunnel'));
  // The connection is still good for the next tunnel.
  const fine = await client.connect({ ...base, authority: '10.0.0.1:83' });
  fine.end();
  t.is((await readAll(fine)).toString(), 'ok');
  t.is(calls, 2);
  t.is(client.stats().connections, 1);
});
