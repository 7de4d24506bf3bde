import test from 'ava';
// Through the package's own subpath export: this is how other packages will import it.
import { ExponentialBackoff, FakeClock, realClock, settle } from '@ambit/mesh-core/lifecycle';

test('FakeClock fires timers in due order with now() at each due time', (t) => {
  const clock = new FakeClock(1000);
  const seen: Array<[string, number]> = [];
  clock.setTimeout(() => seen.push(['b', clock.now()]), 20);
  clock.setTimeout(() => seen.push(['a', clock.now()]), 10);
  clock.setTimeout(() => seen.push(['c', clock.now()]), 20);
  t.is(clock.nextTimerDelay(), 10);
  t.is(clock.advance(15), 1);
  t.deepEqual(seen, [['a', 1010]]);
  t.is(clock.now(), 1015);
  t.is(clock.advance(100), 2);
  t.deepEqual(seen, [['a', 1010], ['b', 1020], ['c', 1020]]);
  t.is(clock.now(), 1115);
  t.is(clock.pendingTimers, 0);
  t.is(clock.nextTimerDelay(), undefined);
});

test('FakeClock: cancelled timers never fire, and timers set inside the window fire in it', (t) => {
  const clock = new FakeClock(0);
  let cancelledRan = false;
  const timer = clock.setTimeout(() => (cancelledRan = true), 5);
  timer.cancel();
  timer.cancel();
  const times: number[] = [];
  clock.setTimeout(() => {
    times.push(clock.now());
    clock.setTimeout(() => times.push(clock.now()), 10);
  }, 10);
  clock.advance(25);
  t.false(cancelledRan);
  t.deepEqual(times, [10, 20]);
  t.throws(() => clock.advance(-1), { instanceOf: RangeError });
});

test('FakeClock.advanceAsync lets async work set the next timer before time moves past it', async (t) => {
  const clock = new FakeClock(0);
  const times: number[] = [];
  const loop = (): void => {
    clock.setTimeout(() => {
      times.push(clock.now());
      // The next timer is set only after a promise turn, as a fetch-then-reschedule would.
      void Promise.resolve().then(loop);
    }, 100);
  };
  loop();
  t.is(await clock.advanceAsync(350), 3);
  t.deepEqual(times, [100, 200, 300]);
  t.is(clock.now(), 350);
  await t.throwsAsync(clock.advanceAsync(Number.NaN), { instanceOf: RangeError });
});

test('realClock runs short timers, and a 30-day timer does not overflow into an early fire', async (t) => {
  const fired = await new Promise<number>((resolve) => {
    const start = realClock.now();
    realClock.setTimeout(() => resolve(realClock.now() - start), 5);
  });
  t.true(fired >= 0);
  let longFired = false;
  // Above Node's 2^31-1 ms limit, which would otherwise overflow into a 1 ms timer.
  const long = realClock.setTimeout(() => (longFired = true), 30 * 24 * 3600 * 1000, { keepAlive: false });
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.false(longFired);
  long.cancel();
  let cancelledRan = false;
  realClock.setTimeout(() => (cancelledRan = true), 0).cancel();
  await settle();
  await new Promise((resolve) => setTimeout(resolve, 5));
  t.false(cancelledRan);
});

test('ExponentialBackoff doubles from 0.5 s to a 150 s cap and resets', (t) => {
  const b = new ExponentialBackoff({ initialMs: 500, maxMs: 150_000, random: () => 0 });
  const seq = Array.from({ length: 12 }, () => b.next());
  t.deepEqual(seq, [500, 1000, 2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 150_000, 150_000, 150_000]);
  t.is(b.attempts, 12);
  b.reset();
  t.is(b.attempts, 0);
  t.is(b.next(), 500);
});

test('ExponentialBackoff jitter only shortens delays, by at most the jitter fraction', (t) => {
  const b = new ExponentialBackoff({ initialMs: 1000, maxMs: 4000, jitter: 0.25, random: () => 0.999999 });
  t.deepEqual([b.next(), b.next(), b.next(), b.next()], [750, 1500, 3000, 3000]);
  const r = new ExponentialBackoff({ initialMs: 500, maxMs: 150_000 });
  for (let i = 0; i < 50; i++) {
    const base = Math.min(150_000, 500 * 2 ** i);
    const d = r.next();
    t.true(d <= base && d >= Math.floor(base * 0.8), `attempt ${i}: ${d} outside [${base * 0.8}, ${base}]`);
  }
});

test('ExponentialBackoff refuses nonsense options', (t) => {
  t.throws(() => new ExponentialBackoff({ initialMs: 0, maxMs: 1 }), { message: /initialMs must be > 0/ });
  t.throws(() => new ExponentialBackoff({ initialMs: 10, maxMs: 5 }), { message: /maxMs must be >= initialMs/ });
  t.throws(() => new ExponentialBackoff({ initialMs: 1, maxMs: 5, multiplier: 0.5 }), { message: /multiplier/ });
  t.throws(() => new ExponentialBackoff({ initialMs: 1, maxMs: 5, jitter: 1 }), { message: /jitter/ });
});
