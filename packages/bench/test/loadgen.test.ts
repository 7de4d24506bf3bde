/**
 * The C load generator and backend against the real backend and against deliberately broken servers:
 * a broken path must fail the workload with the reason, never pass with wrong numbers.
 */
import test from 'ava';
import net from 'node:net';
import { Cleanup } from '../src/lib/cleanup.js';
import { BenchError } from '../src/lib/errors.js';
import { Backend, buildLoadgen, runBulk, runPingPong } from '../src/lib/loadgen.js';
import type { Address } from '../src/lib/loadgen.js';

let loadgen: string;
const buildCleanup = new Cleanup();

test.before(async () => {
  loadgen = await buildLoadgen(buildCleanup);
});
test.after.always(() => buildCleanup.run());

function options(cleanup: Cleanup): { cleanup: Cleanup; timeoutMs: number } {
  return { cleanup, timeoutMs: 60_000 };
}

async function backend(t: { teardown(fn: () => Promise<unknown>): void }): Promise<Backend> {
  const cleanup = new Cleanup();
  t.teardown(() => cleanup.run());
  return await Backend.start(loadgen, '127.0.0.1', options(cleanup));
}

/** A Node server on port 0, closed at teardown. */
async function server(
  t: { teardown(fn: () => Promise<unknown>): void },
  onConnection: (s: net.Socket) => void,
): Promise<Address> {
  const srv = net.createServer({ allowHalfOpen: true }, onConnection);
  const sockets = new Set<net.Socket>();
  srv.on('connection', (s) => {
    sockets.add(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => srv.close(r));
  });
  return { host: '127.0.0.1', port: (srv.address() as net.AddressInfo).port };
}

test('bulk through the backend: every byte is acknowledged', async (t) => {
  const be = await backend(t);
  const cleanup = new Cleanup();
  t.teardown(() => cleanup.run());
  const r = await runBulk(loadgen, be.address, 3 * 1024 * 1024 + 17, options(cleanup));
  t.is(r.bytes, 3 * 1024 * 1024 + 17);
  t.true(r.seconds > 0);
});

test('ping-pong through the backend: percentiles are ordered and the byte count is right', async (t) => {
  const be = await backend(t);
  const cleanup = new Cleanup();
  t.teardown(() => cleanup.run());
  const r = await runPingPong(loadgen, be.address, 500, 1024, 50, options(cleanup));
  t.is(r.roundTrips, 500);
  t.is(r.bytes, 2 * 500 * 1024);
  t.true(r.p50Us > 0 && r.p50Us <= r.p90Us && r.p90Us <= r.p99Us && r.p99Us <= r.maxUs);
});

test('bulk fails when the far end acknowledges fewer bytes than were sent', async (t) => {
  // Speaks the protocol but claims one byte less.
  const addr = await server(t, (s) => {
    let got = -16;
    s.on('data', (d: Buffer) => {
      got += d.length;
      if (got === 4096) {
        const ack = Buffer.alloc(8);
        ack.writeBigUInt64BE(4095n);
        s.write(ack);
      }
    });
    s.on('end', () => s.end());
  });
  const cleanup = new Cleanup();
  t.teardown(() => cleanup.run());
  const err = await t.throwsAsync(runBulk(loadgen, addr, 4096, options(cleanup)), { instanceOf: BenchError });
  t.is(err.code, 'BENCH_ERR_PATH');
  t.regex(err.message, /backend received 4095 of 4096 bytes/);
});

test('bulk fails when the path closes before the acknowledgement', async (t) => {
  const addr = await server(t, (s) => {
    s.once('data', () => s.end());
    s.resume();
  });
  const cleanup = new Cleanup();
  t.teardown(() => cleanup.run());
  const err = await t.throwsAsync(runBulk(loadgen, addr, 1024, options(cleanup)), { instanceOf: BenchError });
  t.is(err.code, 'BENCH_ERR_PATH');
  t.regex(err.message, /connection closed before the backend acknowledged|Connection reset|Broken pipe/);
});

test('ping-pong fails when the echo comes back altered', async (t) => {
  const addr = await server(t, (s) => {
    let header = 16;
    let echoed = 0;
    s.on('data', (chunk: Buffer) => {
      const skip = Math.min(header, chunk.length);
      header -= skip;
      const d = Buffer.from(chunk.subarray(skip));
      // After a few good rounds, flip the last byte of what comes back.
      echoed += d.length;
      if (echoed > 4 * 64 && d.length > 0) d[d.length - 1] = d[d.length - 1]! ^ 0xff;
      s.write(d);
    });
  });
  const cleanup = new Cleanup();
  t.teardown(() => cleanup.run());
  const err = await t.throwsAsync(runPingPong(loadgen, addr, 100, 64, 0, options(cleanup)), { instanceOf: BenchError });
  t.is(err.code, 'BENCH_ERR_PATH');
  t.regex(err.message, /echo differs from what was sent/);
});

test('a refused connection fails the workload with the address', async (t) => {
  // A port that was just free: bind, note it, close.
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const cleanup = new Cleanup();
  t.teardown(() => cleanup.run());
  const err = await t.throwsAsync(runBulk(loadgen, { host: '127.0.0.1', port }, 1024, options(cleanup)), { instanceOf: BenchError });
  t.is(err.code, 'BENCH_ERR_PATH');
  t.regex(err.message, new RegExp(`connect 127\\.0\\.0\\.1:${port}: Connection refused`));
});

test('a workload that outlives its timeout is stopped and reported', async (t) => {
  // Accepts and never answers.
  const addr = await server(t, (s) => s.resume());
  const cleanup = new Cleanup();
  t.teardown(() => cleanup.run());
  const err = await t.throwsAsync(runBulk(loadgen, addr, 1024, { cleanup, timeoutMs: 300 }), { instanceOf: BenchError });
  t.is(err.code, 'BENCH_ERR_CHILD');
  t.regex(err.message, /bulk-client did not finish within 300 ms/);
});

test('an aborted workload stops at once', async (t) => {
  const addr = await server(t, (s) => s.resume());
  const cleanup = new Cleanup();
  t.teardown(() => cleanup.run());
  const abort = new AbortController();
  setTimeout(() => abort.abort(), 100);
  const err = await t.throwsAsync(runBulk(loadgen, addr, 1024, { cleanup, timeoutMs: 60_000, signal: abort.signal }), {
    instanceOf: BenchError,
  });
  t.is(err.code, 'BENCH_ERR_ABORTED');
});

test('a compiler that fails is reported as a tool error', async (t) => {
  const cleanup = new Cleanup();
  t.teardown(() => cleanup.run());
  const missing = await t.throwsAsync(buildLoadgen(cleanup, '/nonexistent/cc'), { instanceOf: BenchError });
  t.is(missing.code, 'BENCH_ERR_TOOL');
  t.regex(missing.message, /cannot run cc \(\/nonexistent\/cc\)/);
  // `false` runs and exits 1, as a compiler rejecting the source would.
  const failing = await t.throwsAsync(buildLoadgen(cleanup, 'false'), { instanceOf: BenchError });
  t.is(failing.code, 'BENCH_ERR_TOOL');
  t.regex(failing.message, /compiling .*loadgen\.c failed: cc \(pid \d+\) exited with code 1/);
});
