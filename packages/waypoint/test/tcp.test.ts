/**
 * TCP passthrough: a binding with only a TCP chain (relayed at once, L4 policy at CONNECT) and a sniffed
 * binding whose non-HTTP bytes fall to its TCP chain (L4 policy when the chain is chosen), against a real
 * TCP server behind a real HBONE server.
 */
import test from 'ava';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { HboneError } from '@ambit/mesh-core/hbone';
import type { ConnectionAttributes, NetworkRbacPolicySet, TcpChain } from '../src/config/types.js';
import { BINDING, backend, binding, capture, clientId, cluster, endpoint, forwardTo, get, httpChain, prefix, readAll, route, snapshot, startWaypoint, tcpBackend, vhost } from './helpers/fixtures.js';

const TCP_ONLY = '10.0.0.20:9000';
const TCP_DENIED = '10.0.0.21:9000';

/** Allows only `principal`; records what it was asked. */
function allowOnly(principal: string, seen: ConnectionAttributes[] = []): NetworkRbacPolicySet {
  return {
    empty: false,
    evaluate: (c) => {
      seen.push(c);
      return c.sourcePrincipal === principal ? { allowed: true, policy: 'ns/allow-client' } : { allowed: false, policy: undefined, reason: `${c.sourcePrincipal ?? 'nobody'} is not ${principal}` };
    },
  };
}

function tcpChain(rbac: NetworkRbacPolicySet): TcpChain {
  return { kind: 'tcp', statPrefix: 'tcp', cluster: 'tcp', rbac };
}

/** Server first: a banner, then every chunk echoed upper-cased; after the client's end, "bye" and our end. */
function echoServer(socket: Socket): void {
  socket.write('BANNER\n');
  socket.on('data', (c: Buffer) => socket.write(c.toString().toUpperCase()));
  socket.on('end', () => socket.end('bye'));
}

function collect(s: Duplex): Promise<string> {
  return readAll(s).then((b) => b.toString());
}

test('TCP-only binding: allowed by L4 policy, relayed at once (server speaks first), bytes both ways, half-close both ways', async (t) => {
  const b = await tcpBackend(t, echoServer);
  const seen: ConnectionAttributes[] = [];
  const snap = snapshot({ [TCP_ONLY]: binding(undefined, tcpChain(allowOnly(clientId.uri, seen))) }, [cluster('tcp', [b.endpoint])]);
  const w = await startWaypoint(t, snap);
  const s = await w.tunnel(TCP_ONLY);
  const all = collect(s);
  // The banner arrives before the client sends anything: nothing waits for a sniff.
  const banner = await new Promise<string>((resolve) => s.once('data', (c: Buffer) => resolve(c.toString())));
  t.is(banner, 'BANNER\n');
  s.write('hello ');
  s.end('world');
  t.is(await all, 'BANNER\nHELLO WORLDbye', 'the server wrote "bye" after the client had half-closed, and then ended too');
  t.like(seen[0], { sourcePrincipal: clientId.uri, sourceIp: '10.1.1.1', destinationIp: '10.0.0.20', destinationPort: 9000 });
  t.is(b.connections, 1);
});

test('TCP-only binding: denied by L4 policy, the CONNECT is answered 401 and the backend never sees a connection', async (t) => {
  const b = await tcpBackend(t, echoServer);
  const snap = snapshot({ [TCP_DENIED]: binding(undefined, tcpChain(allowOnly('spiffe://cluster.local/ns/other/sa/x'))) }, [cluster('tcp', [b.endpoint])]);
  const w = await startWaypoint(t, snap);
  const err = await t.throwsAsync(w.tunnel(TCP_DENIED), { instanceOf: HboneError });
  t.is(err.status, 401);
  t.is(b.connections, 0);
});

test('TCP-only binding: megabytes each way arrive whole (back-pressure through both tunnels)', async (t) => {
  const b = await tcpBackend(t, (socket) => {
    let n = 0;
    socket.on('data', (c: Buffer) => (n += c.length));
    socket.on('end', () => {
      // Answer with as many bytes as were received, then the count.
      const block = Buffer.alloc(64 * 1024, 0x61);
      let left = n;
      const pump = (): void => {
        while (left > 0) {
          const piece = block.subarray(0, Math.min(left, block.length));
          left -= piece.length;
          if (!socket.write(piece)) return void socket.once('drain', pump);
        }
        socket.end(`|${n}`);
      };
      pump();
    });
  });
  const snap = snapshot({ [TCP_ONLY]: binding(undefined, tcpChain(allowOnly(clientId.uri))) }, [cluster('tcp', [b.endpoint])]);
  const w = await startWaypoint(t, snap);
  const s = await w.tunnel(TCP_ONLY);
  const size = 3 * 1024 * 1024 + 17;
  const reply = readAll(s);
  s.end(Buffer.alloc(size, 0x7a));
  const got = await reply;
  t.is(got.length, size + `|${size}`.length);
  t.is(got.subarray(size).toString(), `|${size}`);
});

test('sniffed binding: bytes that are not HTTP go to the TCP chain, the sniffed bytes first; HTTP still goes to the HTTP chain', async (t) => {
  const tcp = await tcpBackend(t, (socket) => {
    socket.on('data', (c: Buffer) => socket.write(c.toString().toUpperCase()));
    socket.on('end', () => socket.end());
  });
  const http = await backend(t, (_q, res) => res.end('http'));
  const snap = snapshot(
    { [BINDING]: binding(httpChain([vhost('svc', ['*'], [route('r', prefix('/'), forwardTo('web'))])]), tcpChain(allowOnly(clientId.uri))) },
    [cluster('tcp', [tcp.endpoint]), cluster('web', [http.endpoint])],
  );
  const w = await startWaypoint(t, snap);
  const s = await w.tunnel();
  const all = collect(s);
  s.write('SSH-2.0-client_1.0\r\n');
  s.end('more');
  t.is(await all, 'SSH-2.0-CLIENT_1.0\r\nMORE');
  t.is((await get(w, '/')).body, 'http');
});

test('sniffed binding: the TCP chain denied by L4 policy resets the tunnel, nothing reaches the backend, and the denial is logged', async (t) => {
  const tcp = await tcpBackend(t, echoServer);
  const { logger, records } = capture();
  const snap = snapshot({ [BINDING]: binding(httpChain([vhost('svc', ['*'], [])]), tcpChain(allowOnly('spiffe://cluster.local/ns/other/sa/x'))) }, [cluster('tcp', [tcp.endpoint])]);
  const w = await startWaypoint(t, snap, { logger });
  const s = await w.tunnel();
  s.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc]));
  const got = await readAll(s).then(
    (b) => b.length,
    () => 'reset',
  );
  t.true(got === 'reset' || got === 0, `no bytes back (${String(got)})`);
  t.is(tcp.connections, 0);
  t.true(records.some((r) => r['msg'] === 'TCP connection denied by policy' && r['dst.addr'] === BINDING));
});

test('TCP chain: no endpoint to go to (an empty cluster) resets the tunnel; a connect failure too', async (t) => {
  const snap = snapshot(
    { [TCP_ONLY]: binding(undefined, tcpChain(allowOnly(clientId.uri))), [TCP_DENIED]: binding(undefined, { ...tcpChain(allowOnly(clientId.uri)), cluster: 'dead' }) },
    [cluster('tcp', []), cluster('dead', [endpoint(1, { kind: 'plain' })], { connectTimeoutMs: 2_000 })],
  );
  const { logger, records } = capture();
  const w = await startWaypoint(t, snap, { logger });
  for (const dest of [TCP_ONLY, TCP_DENIED]) {
    const s = await w.tunnel(dest);
    s.end('x');
    const outcome = await readAll(s).then(
      (b) => `ended with ${b.length} bytes`,
      () => 'reset',
    );
    t.true(outcome === 'reset' || outcome === 'ended with 0 bytes', outcome);
  }
  t.true(records.some((r) => r['response_flags'] === 'UH'));
  t.true(records.some((r) => r['response_flags'] === 'UF'));
});
