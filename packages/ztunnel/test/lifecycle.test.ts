/** Readiness and the drain with a deadline (on a fake clock). */
import test from 'ava';
import { FakeClock } from '@ambit/mesh-core/lifecycle';
import { drain } from '../src/drain.js';
import { Readiness } from '../src/readiness.js';

test('readiness is ready only when no check has anything pending, and lists what is, in check order', (t) => {
  let xds = ['waiting for the first Address response'];
  let certs: string[] = [];
  const readiness = new Readiness([
    { name: 'xds', pending: () => xds },
    { name: 'certificates', pending: () => certs },
  ]);
  t.deepEqual(readiness.status(), { ready: false, pending: ['xds: waiting for the first Address response'] });
  certs = ['no certificate yet for spiffe://cluster.local/ns/a/sa/b'];
  t.deepEqual(readiness.status().pending, ['xds: waiting for the first Address response', 'certificates: no certificate yet for spiffe://cluster.local/ns/a/sa/b']);
  xds = [];
  certs = [];
  t.deepEqual(readiness.status(), { ready: true, pending: [] });
  readiness.add({
    name: 'capture',
    pending: () => {
      throw new Error('nft not found');
    },
  });
  t.deepEqual(readiness.status(), { ready: false, pending: ['capture: check failed: nft not found'] });
  t.throws(() => readiness.add({ name: 'xds', pending: () => [] }), { instanceOf: TypeError, message: 'readiness check "xds" is already registered' });
});

test('a drain that finishes before the deadline is not forced, and its timer is gone', async (t) => {
  const clock = new FakeClock();
  let release!: () => void;
  let forced = 0;
  const outcome = drain({ graceful: () => new Promise<void>((resolve) => (release = resolve)), force: () => forced++ }, 5_000, clock);
  await clock.advanceAsync(4_999);
  release();
  t.is(await outcome, 'drained');
  t.is(forced, 0);
  t.is(clock.pendingTimers, 0);
});

test('at the deadline the rest is forced, once', async (t) => {
  const clock = new FakeClock();
  let forced = 0;
  const outcome = drain({ graceful: () => new Promise<void>(() => {}), force: () => forced++ }, 5_000, clock);
  await clock.advanceAsync(4_999);
  t.is(forced, 0);
  await clock.advanceAsync(1);
  t.is(await outcome, 'forced');
  t.is(forced, 1);
});

test('a graceful close that fails is forced at once and its error passed on', async (t) => {
  const clock = new FakeClock();
  let forced = 0;
  await t.throwsAsync(drain({ graceful: () => Promise.reject(new Error('close failed')), force: () => forced++ }, 5_000, clock), { message: 'close failed' });
  t.is(forced, 1);
  t.is(clock.pendingTimers, 0);
  const sync = drain(
    {
      graceful: () => {
        throw new Error('sync failure');
      },
      force: () => forced++,
    },
    5_000,
    clock,
  );
  await t.throwsAsync(sync, { message: 'sync failure' });
  t.is(forced, 2);
  t.is(clock.pendingTimers, 0);
});

test('a graceful close that fails after the deadline is not an unhandled rejection', async (t) => {
  const clock = new FakeClock();
  let fail!: (err: Error) => void;
  const outcome = drain({ graceful: () => new Promise<void>((_resolve, reject) => (fail = reject)), force: () => fail(new Error('reset by force')) }, 10, clock);
  await clock.advanceAsync(10);
  t.is(await outcome, 'forced');
});
