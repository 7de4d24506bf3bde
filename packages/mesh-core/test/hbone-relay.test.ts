/**
 * relay(): how it writes (bulk chunks gathered per loop turn into one writev on a socket, small ones at once)
 * and how far it lets a destination fill before pausing the source. Real loopback sockets as destinations.
 */
import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import { connect as netConnect, createServer, type AddressInfo, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { BATCH_MIN_CHUNK, RELAY_BUFFER_LIMIT, relay, startRelay, type RelayResult } from '../src/hbone/relay.js';

/** A duplex whose readable side the test feeds with push() and whose writable side swallows everything. */
function source(): Duplex {
  return new Duplex({
    allowHalfOpen: true,
    read() {},
    write(_chunk, _enc, cb) {
      cb();
    },
  });
}

interface Sink {
  /** Our end of the connection: the relay's destination. */
  socket: Socket;
  /** Everything the far end has received so far. */
  received: () => Buffer;
  /** Resolves once the far end saw our FIN. */
  ended: Promise<void>;
}

/** A loopback connection whose far end collects what arrives (and ends its side when ours ends). */
async function sink(t: ExecutionContext): Promise<Sink> {
  const chunks: Buffer[] = [];
  const server = createServer({ allowHalfOpen: true });
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const socket = netConnect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  const connected = once(socket, 'connect');
  const [far] = await accepted;
  t.teardown(() => {
    socket.destroy();
    far.destroy();
    server.close();
  });
  await connected;
  far.on('data', (d: Buffer) => chunks.push(d));
  const ended = new Promise<void>((resolve) => far.once('end', () => resolve()));
  far.on('end', () => far.end());
  return { socket, received: () => Buffer.concat(chunks), ended };
}

/** Lets relay() start its pumps (resume() takes effect on the next tick). */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Counts the writes that reach a socket's handle: one `_write` per chunk, or one `_writev` per batch. */
function countWrites(s: Socket): { write: number; writev: number; chunksInWritev: number } {
  const counts = { write: 0, writev: 0, chunksInWritev: 0 };
  const write = s._write.bind(s);
  const writev = s._writev!.bind(s);
  s._write = (chunk, enc, cb) => {
    counts.write++;
    write(chunk, enc, cb);
  };
  s._writev = (chunks, cb) => {
    counts.writev++;
    counts.chunksInWritev += chunks.length;
    writev(chunks, cb);
  };
  return counts;
}

test('bulk chunks arriving in one loop turn reach the socket as one writev, in order, before the FIN', async (t) => {
  const { socket, received, ended } = await sink(t);
  const src = source();
  const counts = countWrites(socket);
  const done = relay(src, socket);
  await turn();
  const chunks = [16_375, 9, 16_366, 18, 16_357, 27].map((n, i) => Buffer.alloc(n, i + 1));
  // The pattern an HTTP/2 receiver produces from one socket read: record-sized pieces and small remainders.
  for (const c of chunks) src.push(c);
  t.is(socket.writableCorked, 1, 'the socket is corked until the end of the loop turn');
  t.is(counts.write + counts.writev, 0, 'nothing was written yet');
  src.push(null);
  await ended;
  t.true(received().equals(Buffer.concat(chunks)));
  t.is(counts.writev, 1);
  t.is(counts.chunksInWritev, chunks.length);
  t.is(counts.write, 0);
  src.destroy();
  const result = await done;
  t.is(result.aToB, Buffer.concat(chunks).length);
});

test('small chunks (interactive traffic) are written at once, without corking', async (t) => {
  const { socket, received } = await sink(t);
  const src = source();
  const counts = countWrites(socket);
  void relay(src, socket);
  await turn();
  src.push(Buffer.alloc(1024, 7));
  t.is(counts.write, 1, 'written synchronously from the data event');
  t.is(socket.writableCorked, 0);
  src.push(Buffer.alloc(BATCH_MIN_CHUNK - 1, 8));
  t.is(counts.write, 2);
  await new Promise<void>((resolve) => {
    const check = (): void => (received().length === 1024 + BATCH_MIN_CHUNK - 1 ? resolve() : void setTimeout(check, 5));
    check();
  });
  t.is(counts.writev, 0);
});

test('a gathered batch is flushed when the source ends in the same loop turn (end flushes the cork)', async (t) => {
  const { socket, received, ended } = await sink(t);
  const src = source();
  void relay(src, socket);
  await turn();
  const payload = Buffer.alloc(5 * BATCH_MIN_CHUNK, 9);
  src.push(payload);
  src.push(null);
  await ended;
  t.true(received().equals(payload));
});

test('the source is paused only once the destination holds RELAY_BUFFER_LIMIT bytes, and resumed on drain', async (t) => {
  // A destination that accepts writes but completes none until released: its buffer only grows.
  const held: Array<() => void> = [];
  const dst = new Duplex({
    allowHalfOpen: true,
    read() {},
    write(_chunk, _enc, cb) {
      held.push(cb);
    },
    writev(_chunks, cb) {
      held.push(cb);
    },
  });
  const src = source();
  void relay(src, dst);
  await turn();
  t.teardown(() => {
    src.destroy();
    dst.destroy();
  });
  const chunk = Buffer.alloc(16 * 1024, 1);
  let pushed = 0;
  // Past the destination's own 16 KiB high-water mark, but below our limit: still flowing.
  while (pushed + chunk.length < RELAY_BUFFER_LIMIT) {
    src.push(chunk);
    pushed += chunk.length;
  }
  t.true(dst.writableNeedDrain);
  t.false(src.isPaused(), `paused after ${pushed} bytes`);
  src.push(chunk);
  pushed += chunk.length;
  t.true(src.isPaused(), `still flowing after ${pushed} bytes`);
  t.is(dst.writableLength, pushed);
  // While paused, what the source reads stays with the source.
  src.push(chunk);
  await turn();
  t.is(dst.writableLength, pushed);
  // Complete every write: the destination drains and the source flows again.
  while (held.length > 0) {
    held.shift()!();
    await turn();
  }
  t.false(src.isPaused());
  t.true(dst.writableLength <= chunk.length, `${dst.writableLength} bytes still queued`);
});

test('a destination with a high-water mark above the limit pauses its source at that mark (drain still comes)', async (t) => {
  const held: Array<() => void> = [];
  const mark = 2 * RELAY_BUFFER_LIMIT;
  const dst = new Duplex({
    allowHalfOpen: true,
    writableHighWaterMark: mark,
    read() {},
    write(_chunk, _enc, cb) {
      held.push(cb);
    },
  });
  const src = source();
  void relay(src, dst);
  await turn();
  t.teardown(() => {
    src.destroy();
    dst.destroy();
  });
  const chunk = Buffer.alloc(64 * 1024, 1);
  for (let n = 0; n + chunk.length < mark; n += chunk.length) src.push(chunk);
  t.false(src.isPaused(), 'not paused below the destination’s own mark');
  src.push(chunk);
  t.true(src.isPaused());
  while (held.length > 0) {
    held.shift()!();
    await turn();
  }
  t.false(src.isPaused());
});

test('startRelay tells its owner once, after both sides closed, with the bytes each way', async (t) => {
  const { socket, received, ended } = await sink(t);
  const src = source();
  const results: RelayResult[] = [];
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  startRelay(src, socket, {
    relayDone(result) {
      results.push(result);
      done();
    },
  });
  await turn();
  src.push(Buffer.alloc(3000, 1));
  src.push(null);
  await ended;
  t.is(received().length, 3000);
  // The far end answers our FIN with its own; the relay ends the source's writable side and both close.
  await finished;
  await turn();
  t.deepEqual(results, [{ aToB: 3000, bToA: 0 }]);
});

test('an error on one side resets the other and is the result’s error', async (t) => {
  const { socket } = await sink(t);
  const src = source();
  const done = relay(src, socket);
  await turn();
  src.destroy(new Error('boom'));
  const result = await done;
  t.is(result.error?.message, 'boom');
  t.true(socket.destroyed);
});

test('a stream that closed before the relay started is noticed (and the relay still finishes)', async (t) => {
  const { socket } = await sink(t);
  const src = source();
  src.destroy();
  await once(src, 'close');
  const result = await relay(src, socket);
  t.is(result.error?.message, 'the first side of the tunnel closed before finishing');
  t.true(socket.destroyed);
});

test('relays share their listeners: nothing but the relay object is made per relay', async (t) => {
  const one = await sink(t);
  const two = await sink(t);
  const [srcOne, srcTwo] = [source(), source()];
  startRelay(srcOne, one.socket, { relayDone() {} });
  startRelay(srcTwo, two.socket, { relayDone() {} });
  t.teardown(() => {
    srcOne.destroy();
    srcTwo.destroy();
  });
  for (const event of ['data', 'end', 'error', 'close']) {
    const a = srcOne.listeners(event);
    const b = srcTwo.listeners(event);
    t.is(a.length, 1, event);
    t.is(a[0], b[0], `the same ${event} listener on both relays' sources`);
  }
  t.is(one.socket.listeners('drain').at(-1), two.socket.listeners('drain').at(-1));
  t.is(srcOne.listeners('drain')[0], one.socket.listeners('drain').at(-1), 'one drain listener for both directions');
});

test('bulk chunks of several relays in one loop turn: each socket is uncorked at the end of the turn, one writev each', async (t) => {
  const sinks = [await sink(t), await sink(t), await sink(t)];
  const srcs = sinks.map(() => source());
  const counts = sinks.map((s) => countWrites(s.socket));
  for (const [i, s] of sinks.entries()) void relay(srcs[i]!, s.socket);
  await turn();
  const payload = Buffer.alloc(3 * BATCH_MIN_CHUNK, 5);
  for (const src of srcs) {
    src.push(payload.subarray(0, BATCH_MIN_CHUNK));
    src.push(payload.subarray(BATCH_MIN_CHUNK));
  }
  for (const s of sinks) t.is(s.socket.writableCorked, 1);
  await turn();
  for (const [i, s] of sinks.entries()) {
    t.is(s.socket.writableCorked, 0, `sink ${i} uncorked`);
    t.deepEqual(counts[i], { write: 0, writev: 1, chunksInWritev: 2 });
  }
  for (const src of srcs) src.push(null);
  await Promise.all(sinks.map((s) => s.ended));
  for (const s of sinks) t.true(s.received().equals(payload));
  for (const src of srcs) src.destroy();
});
