import test from 'ava';
import { once } from 'node:events';
import { connect as netConnect, createServer, type AddressInfo, type Socket } from 'node:net';
import type { Duplex, Writable } from 'node:stream';
import { connectTcp, relay } from '../src/hbone/index.js';
import { backend, clientId, readAll, serverId, startClient, startServer, until } from './helpers/mesh.js';

const MiB = 1024 * 1024;

async function tunnelTo(t: Parameters<typeof backend>[0], onSocket: (s: Socket) => void) {
  const be = await backend(t, onSocket);
  const upstreams: Socket[] = [];
  const { addr, server } = await startServer(t, {
    connectUpstream: async (r) => {
      const s = await connectTcp(r.target, 5_000);
      upstreams.push(s);
      return s;
    },
  });
  const client = await startClient(t);
  const tunnel = await client.connect({ source: clientId, destination: addr, expectedIdentities: [serverId], authority: `127.0.0.1:${be.port}` });
  tunnel.on('error', () => {});
  return { be, tunnel, client, server, upstreams, addr };
}

/**
 * Writes `chunk` repeatedly, honouring back-pressure, until the stream stops draining for `quietMs` (stalled)
 * or `cap` bytes were accepted. Returns the bytes accepted. Stalling early only lowers the count, so the
 * bound checked on it does not depend on the machine's speed.
 */
async function writeUntilStalled(w: Writable, chunk: Buffer, cap: number, quietMs = 400): Promise<{ written: number; maxBuffered: number }> {
  let written = 0;
  let maxBuffered = 0;
  while (written < cap) {
    const ok = w.write(chunk);
    written += chunk.length;
    maxBuffered = Math.max(maxBuffered, w.writableLength);
    if (!ok) {
      const drained = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          w.off('drain', onDrain);
          resolve(false);
        }, quietMs);
        const onDrain = (): void => {
          clearTimeout(timer);
          resolve(true);
        };
        w.once('drain', onDrain);
      });
      if (!drained) break;
    }
  }
  return { written, maxBuffered };
}

test('half-close: the client ends its side, the target still answers afterwards', async (t) => {
  let received = '';
  const { tunnel } = await tunnelTo(t, (s) => {
    s.setEncoding('utf8');
    s.on('data', (d: string) => (received += d));
    s.on('end', () => {
      // Our input is done; our output is not.
      setTimeout(() => s.end(`got ${received.length} bytes after your FIN`), 20);
    });
  });
  tunnel.end('x'.repeat(100_000));
  const reply = (await readAll(tunnel)).toString();
  t.is(reply, 'got 100000 bytes after your FIN');
});

test('half-close: the target ends its side, the client still sends afterwards', async (t) => {
  let received = '';
  let targetDone!: () => void;
  const done = new Promise<void>((resolve) => (targetDone = resolve));
  const { tunnel } = await tunnelTo(t, (s) => {
    s.end('hello, I am done talking');
    s.setEncoding('utf8');
    s.on('data', (d: string) => (received += d));
    s.on('end', targetDone);
  });
  const greeting = (await readAll(tunnel)).toString();
  t.is(greeting, 'hello, I am done talking');
  // The client's direction is still open after the target's FIN arrived.
  t.false(tunnel.writableEnded);
  tunnel.end('late data '.repeat(10_000));
  await done;
  t.is(received, 'late data '.repeat(10_000));
});

test('back-pressure client → target: a target that stops reading stalls the client; memory stays bounded', async (t) => {
  const paused: Socket[] = [];
  const { tunnel, upstreams } = await tunnelTo(t, (s) => {
    s.pause();
    paused.push(s);
  });
  const chunk = Buffer.alloc(64 * 1024, 1);
  // Without back-pressure this would accept all 256 MiB; with it, only what the windows and socket buffers hold.
  const { written, maxBuffered } = await writeUntilStalled(tunnel, chunk, 256 * MiB);
  t.log(`accepted ${(written / MiB).toFixed(1)} MiB before stalling`);
  // 4 MiB stream window + loopback socket buffers (tcp_rmem max 32 MiB + tcp_wmem max 4 MiB) + slack.
  t.true(written < 48 * MiB, `accepted ${written} bytes`);
  t.true(maxBuffered <= 16 * 1024 + chunk.length, `client stream buffered ${maxBuffered}`);
  const up = upstreams[0]!;
  t.true(up.writableLength < 2 * MiB, `server's upstream socket buffered ${up.writableLength}`);
  // Resume: everything accepted arrives, nothing was lost.
  let got = 0;
  paused[0]!.on('data', (d: Buffer) => (got += d.length));
  paused[0]!.resume();
  await until(() => got === written, 20_000, 'all bytes to arrive');
  t.is(got, written);
});

test('back-pressure target → client: a client that stops reading stalls the target; memory stays bounded', async (t) => {
  let result: Promise<{ written: number; maxBuffered: number }> | undefined;
  const { tunnel } = await tunnelTo(t, (s) => {
    result = writeUntilStalled(s, Buffer.alloc(64 * 1024, 2), 256 * MiB);
  });
  tunnel.pause();
  await until(() => result !== undefined, 5_000, 'the target connection');
  const { written } = await result!;
  t.log(`target wrote ${(written / MiB).toFixed(1)} MiB before stalling`);
  t.true(written < 48 * MiB, `target wrote ${written} bytes`);
  t.true(tunnel.readableLength <= 4 * MiB + 1024 * 1024, `client stream holds ${tunnel.readableLength}`);
  let got = 0;
  tunnel.on('data', (d: Buffer) => (got += d.length));
  tunnel.resume();
  await until(() => got === written, 20_000, 'all bytes to arrive');
  t.is(got, written);
});

test('error propagation: the target resets its connection → the client stream errors', async (t) => {
  const { tunnel } = await tunnelTo(t, (s) => {
    s.once('data', () => s.resetAndDestroy());
  });
  const failed = new Promise<Error & { code?: string }>((resolve) => tunnel.on('error', resolve));
  tunnel.write('trigger');
  const err = await failed;
  t.is(err.code, 'ERR_HTTP2_STREAM_ERROR');
  t.regex(err.message, /NGHTTP2_INTERNAL_ERROR/);
});

test('error propagation: the client destroys its stream → the upstream socket is closed', async (t) => {
  let target: Socket | undefined;
  let outcome: Promise<string> | undefined;
  const { tunnel, server, client, upstreams } = await tunnelTo(t, (s) => {
    target = s;
    outcome = new Promise((resolve) => {
      s.on('error', (e: Error & { code?: string }) => resolve(`error ${e.code}`));
      s.on('end', () => resolve('end'));
    });
    s.resume();
  });
  tunnel.write('hello');
  await until(() => target !== undefined && upstreams.length === 1, 5_000, 'target connection');
  tunnel.destroy();
  // An RST when the kernel allows it; Node turns a reset right after a write into a FIN, so accept either.
  t.regex(await outcome!, /^(error ECONNRESET|end)$/);
  await until(() => upstreams[0]!.destroyed, 5_000, 'server upstream socket destroyed');
  await until(() => server.stats().streams === 0, 5_000, 'server stream closed');
  t.is(client.stats().streams, 0);
  t.is(server.stats().sessions, 1, 'only the stream died, not the connection');
});

test('error propagation: an idle tunnel reset by the client resets the target connection (RST)', async (t) => {
  let outcome: Promise<string> | undefined;
  let gotHello = false;
  const { tunnel } = await tunnelTo(t, (s) => {
    outcome = new Promise((resolve) => {
      s.on('error', (e: Error & { code?: string }) => resolve(`error ${e.code}`));
      s.on('end', () => resolve('end'));
    });
    s.on('data', () => (gotHello = true));
  });
  tunnel.write('hello');
  await until(() => gotHello, 5_000, 'data through');
  // Let the upstream's write settle so that the reset is not folded into a FIN (see above).
  await new Promise((r) => setTimeout(r, 250));
  tunnel.destroy();
  t.is(await outcome!, 'error ECONNRESET');
});

test('a peer that vanishes (TCP reset under HTTP/2) takes down its own tunnels only', async (t) => {
  const targets: Socket[] = [];
  const be = await backend(t, (s) => {
    targets.push(s);
    s.pipe(s);
  });
  const { addr, server, port } = await startServer(t);
  const a = await startClient(t);
  const b = await startClient(t);
  const req = { source: clientId, destination: addr, expectedIdentities: [serverId], authority: `127.0.0.1:${be.port}` };
  const ta = await a.connect(req);
  const tb = await b.connect(req);
  ta.on('error', () => {});
  await until(() => targets.length === 2, 5_000, 'both targets');
  t.is(server.stats().sessions, 2);
  // Kill client A's connection abruptly from its side.
  a.destroy();
  await until(() => targets[0]!.destroyed && server.stats().sessions === 1, 5_000, 'A cleaned up');
  tb.end('still here');
  t.is((await readAll(tb)).toString(), 'still here');
  // And garbage bytes on a fresh TCP connection: refused, nothing else disturbed.
  const garbage = netConnect(port, '127.0.0.1');
  garbage.on('error', () => {});
  garbage.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n\x16\x03\x01garbage'));
  await new Promise((resolve) => garbage.on('close', resolve));
  const tc = await b.connect(req);
  tc.end('after garbage');
  t.is((await readAll(tc)).toString(), 'after garbage');
});

test('relay counts bytes both ways and reports a clean end without error', async (t) => {
  const { relay } = await import('../src/hbone/index.js');
  const be = await backend(t);
  const { createServer } = await import('node:net');
  const results: Array<Awaited<ReturnType<typeof relay>>> = [];
  const front = createServer({ allowHalfOpen: true }, (inbound) => {
    const out = netConnect({ port: be.port, host: '127.0.0.1', allowHalfOpen: true });
    out.once('connect', () => void relay(inbound, out).then((r) => results.push(r)));
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  t.teardown(() => front.close());
  const c: Duplex = netConnect({ port: (front.address() as { port: number }).port, host: '127.0.0.1', allowHalfOpen: true });
  c.end(Buffer.alloc(12345, 3));
  t.is((await readAll(c)).length, 12345);
  await until(() => results.length === 1, 5_000, 'relay result');
  t.deepEqual(results[0], { aToB: 12345, bToA: 12345 });
});

test('relay starts a socket that was accepted paused (pauseOnConnect)', async (t) => {
  // Echo backend.
  const echo = createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  // A relay in front of it whose accepted sockets start paused.
  const front = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (s) => {
    const port = (echo.address() as AddressInfo).port;
    const up = netConnect({ port, host: '127.0.0.1', allowHalfOpen: true });
    void relay(s, up);
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    front.close();
    echo.close();
  });
  const c = netConnect({ port: (front.address() as AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  c.end('ping');
  let got = '';
  c.setEncoding('utf8');
  c.on('data', (d: string) => (got += d));
  await once(c, 'end');
  t.is(got, 'ping');
});
