// SecretManager behaviour over time, driven by a FakeClock and a fetcher answered by hand.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { Identity, SecretManager, SecretManagerError, type CertificateUpdate } from '../src/identity/index.js';
import { FakeClock, settle } from '../src/lifecycle/index.js';
import { silentLogger } from '../src/telemetry/index.js';
import { capturingLogger } from './fixtures/ca-harness.js';
import { ScriptedFetcher } from './fixtures/scripted-fetcher.js';

const HOUR = 3600_000;
const id = (sa: string) => Identity.parse(`spiffe://cluster.local/ns/default/sa/${sa}`);
const sleep = id('sleep');

function setup(t: ExecutionContext, extra: { maxConcurrentFetches?: number; logger?: ReturnType<typeof silentLogger> } = {}) {
  const clock = new FakeClock(Date.UTC(2025, 0, 1));
  const fetcher = new ScriptedFetcher(clock);
  const manager = new SecretManager({
    fetch: fetcher.fetch,
    logger: extra.logger ?? silentLogger(),
    clock,
    backoff: { random: () => 0 }, // exact delays; jitter itself is tested with ExponentialBackoff
    ...(extra.maxConcurrentFetches ? { maxConcurrentFetches: extra.maxConcurrentFetches } : {}),
  });
  t.teardown(() => manager.destroy());
  return { clock, fetcher, manager };
}

test('concurrent callers for one identity share one fetch; later callers get the cached certificate', async (t) => {
  const { fetcher, manager } = setup(t);
  const waiting = Array.from({ length: 5 }, () => manager.getCertificate(sleep));
  await settle();
  t.is(fetcher.calls.length, 1);
  const cert = fetcher.pending(sleep).succeed();
  for (const got of await Promise.all(waiting)) t.is(got, cert);
  t.is(await manager.getCertificate(sleep), cert);
  t.is(fetcher.calls.length, 1);
  t.deepEqual(manager.identities(), [sleep]);
});

test('a certificate is refreshed at 50% of its lifetime and the new one is served', async (t) => {
  const { clock, fetcher, manager } = setup(t);
  const first = manager.getCertificate(sleep);
  await settle();
  const c1 = fetcher.pending(sleep).succeed({ lifetimeMs: 24 * HOUR, notBeforeOffsetMs: -60_000 });
  t.is(await first, c1);
  // Half the lifetime, counted from notBefore (backdated a minute, as the CA does).
  const half = c1.notBefore.getTime() + (c1.notAfter.getTime() - c1.notBefore.getTime()) / 2 - clock.now();
  t.is(half, 12 * HOUR - 60_000);
  await clock.advanceAsync(half - 1);
  t.is(fetcher.calls.length, 1);
  await clock.advanceAsync(1);
  t.is(fetcher.calls.length, 2);
  t.is(await manager.getCertificate(sleep), c1, 'the old certificate serves while the refresh runs');
  const c2 = fetcher.pending(sleep).succeed();
  await settle();
  t.is(await manager.getCertificate(sleep), c2);
  t.is(clock.nextTimerDelay(), 12 * HOUR);
});

test('failed refreshes back off 0.5 s, 1 s, 2 s ... 150 s per identity, serving the old certificate, and reset after success', async (t) => {
  const { clock, fetcher, manager } = setup(t);
  const first = manager.getCertificate(sleep);
  await settle();
  const c1 = fetcher.pending(sleep).succeed({ lifetimeMs: 24 * HOUR });
  await first;
  await clock.advanceAsync(12 * HOUR);
  const delays: number[] = [];
  for (let i = 0; i < 12; i++) {
    fetcher.pending(sleep).fail(new Error(`CA down #${i}`));
    await settle();
    delays.push(clock.nextTimerDelay()!);
    t.is(await manager.getCertificate(sleep), c1);
    await clock.advanceAsync(delays[i]!);
  }
  t.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 150_000, 150_000, 150_000]);
  const c2 = fetcher.pending(sleep).succeed({ lifetimeMs: 24 * HOUR });
  await settle();
  t.is(await manager.getCertificate(sleep), c2);
  await clock.advanceAsync(12 * HOUR);
  fetcher.pending(sleep).fail();
  await settle();
  t.is(clock.nextTimerDelay(), 500, 'backoff starts over after a success');
});

test('after expiry without a successful refresh callers get UNAVAILABLE, then the next success serves again', async (t) => {
  const { logger, records } = capturingLogger();
  const { clock, fetcher, manager } = setup(t, { logger });
  const first = manager.getCertificate(sleep);
  await settle();
  const c1 = fetcher.pending(sleep).succeed({ lifetimeMs: 2 * HOUR });
  await first;
  await clock.advanceAsync(HOUR);
  while (clock.now() < c1.notAfter.getTime()) {
    fetcher.pending(sleep).fail(new Error('CA down'));
    await settle();
    await clock.advanceAsync(clock.nextTimerDelay()!);
  }
  // The retry at or after expiry is running; answer it with a failure too.
  fetcher.pending(sleep).fail(new Error('CA still down'));
  await settle();
  const err = await t.throwsAsync(manager.getCertificate(sleep), { instanceOf: SecretManagerError });
  t.is(err?.code, 'SECRET_ERR_UNAVAILABLE');
  t.regex(err?.message ?? '', /^no valid certificate for spiffe:\/\/cluster.local\/ns\/default\/sa\/sleep: its certificate expired at 2025-01-01T02:00:00.000Z and the last fetch failed: CA still down; next attempt in \d+ ms$/);
  t.is((err?.cause as Error).message, 'CA still down');
  const fetchesBefore = fetcher.calls.length;
  await t.throwsAsync(manager.getCertificate(sleep), { message: /CA still down/ });
  t.is(fetcher.calls.length, fetchesBefore, 'a caller does not cut the backoff short');
  await clock.advanceAsync(clock.nextTimerDelay()!);
  const c2 = fetcher.pending(sleep).succeed();
  await settle();
  t.is(await manager.getCertificate(sleep), c2);
  const warn = records.find((r) => r.msg === 'certificate fetch failed');
  t.like(warn, { level: 40, identity: sleep.uri, reason: 'CA down', attempt: 1, retryInMs: 500, serving: true });
});

test('a first fetch that fails rejects its waiters at once; the retry after backoff serves again', async (t) => {
  const { clock, fetcher, manager } = setup(t);
  const a = manager.getCertificate(sleep);
  const b = manager.getCertificate(sleep);
  await settle();
  fetcher.pending(sleep).fail(new Error('token rejected'));
  for (const p of [a, b]) {
    const err = await t.throwsAsync(p, { instanceOf: SecretManagerError });
    t.regex(err?.message ?? '', /^no valid certificate for .*sleep: the last fetch failed: token rejected; next attempt in 500 ms$/);
  }
  await clock.advanceAsync(500);
  const c = fetcher.pending(sleep).succeed();
  await settle();
  t.is(await manager.getCertificate(sleep), c);
});

test('the fetched certificate must be for the identity and unexpired, or it counts as a failure', async (t) => {
  const { fetcher, manager } = setup(t);
  const wrong = manager.getCertificate(sleep);
  await settle();
  fetcher.pending(sleep).succeed({ identity: id('other') });
  await t.throwsAsync(wrong, { message: /the last fetch failed: fetch returned a certificate for spiffe:\/\/cluster.local\/ns\/default\/sa\/other;/ });
  const stale = id('stale');
  const p = manager.getCertificate(stale);
  await settle();
  fetcher.pending(stale).succeed({ lifetimeMs: 1000, notBeforeOffsetMs: -5000 });
  await t.throwsAsync(p, { message: /the last fetch failed: fetch returned a certificate that expired at 2024-12-31T23:59:56.000Z;/ });
  const thrower = new SecretManager({ fetch: () => { throw new Error('sync boom'); }, logger: silentLogger(), clock: new FakeClock() });
  t.teardown(() => thrower.destroy());
  await t.throwsAsync(thrower.getCertificate(sleep), { message: /the last fetch failed: sync boom/ });
});

test('at most 8 fetches run at once across 20 identities, and all complete', async (t) => {
  const { fetcher, manager } = setup(t);
  const ids = Array.from({ length: 20 }, (_, i) => id(`w${i}`));
  for (const i of ids) manager.prefetch(i);
  await settle();
  t.is(fetcher.inFlight().length, 8);
  while (fetcher.inFlight().length > 0) {
    fetcher.inFlight()[0]!.succeed();
    await settle();
    t.true(fetcher.inFlight().length <= 8);
  }
  t.is(fetcher.calls.length, 20);
  t.is(fetcher.maxInFlight, 8);
  const all = await Promise.all(ids.map((i) => manager.getCertificate(i)));
  t.deepEqual(all.map((c) => c.identity), ids);
  t.is(fetcher.calls.length, 20);
});

test('queued fetches start RealTime first, then Warmup, then Background; a waiting caller raises a prefetch', async (t) => {
  const { clock, fetcher, manager } = setup(t);
  const refresh = id('refresh');
  const p = manager.getCertificate(refresh);
  await settle();
  fetcher.pending(refresh).succeed({ lifetimeMs: 2 * HOUR });
  await p;
  const retrying = id('retrying');
  void manager.getCertificate(retrying).catch(() => undefined);
  await settle();
  fetcher.pending(retrying).fail(); // retried in 500 ms with nothing valid to serve: Warmup
  await settle();
  const blockers = Array.from({ length: 8 }, (_, i) => id(`block${i}`));
  for (const b of blockers) manager.prefetch(b);
  await settle();
  await clock.advanceAsync(HOUR); // retry, then refresh fall due while every slot is busy
  manager.prefetch(id('warm1'));
  const rt1 = manager.getCertificate(id('rt1'));
  manager.prefetch(id('warm2'));
  manager.prefetch(id('raised'));
  const raised = manager.getCertificate(id('raised')); // was Warmup, now RealTime behind rt1
  void rt1.catch(() => undefined);
  void raised.catch(() => undefined);
  await settle();
  t.is(fetcher.inFlight().length, 8);
  const order: string[] = [];
  for (let i = 0; i < 6; i++) {
    fetcher.inFlight()[0]!.succeed();
    await settle();
    const started = fetcher.calls[fetcher.calls.length - 1]!;
    order.push(started.identity.serviceAccount);
  }
  t.deepEqual(order, ['rt1', 'raised', 'retrying', 'warm1', 'warm2', 'refresh']);
});

test('forget cancels timers, withdraws queued fetches, drops in-flight results and rejects waiters', async (t) => {
  const { clock, fetcher, manager } = setup(t, { maxConcurrentFetches: 1 });
  const updates: CertificateUpdate[] = [];
  manager.onCertificate((u) => updates.push(u));
  const inflight = manager.getCertificate(sleep);
  const queued = id('queued');
  const queuedWait = manager.getCertificate(queued);
  await settle();
  manager.forget(sleep);
  manager.forget(queued);
  for (const [p, who] of [[inflight, 'sleep'], [queuedWait, 'queued']] as const) {
    const err = await t.throwsAsync(p, { instanceOf: SecretManagerError });
    t.is(err?.code, 'SECRET_ERR_FORGOTTEN');
    t.regex(err?.message ?? '', new RegExp(`sa/${who} was forgotten while waiting for its certificate$`));
  }
  fetcher.pending(sleep).succeed();
  await settle();
  t.deepEqual(updates, [], 'the result of a forgotten fetch is dropped');
  t.is(fetcher.callsFor(queued).length, 0, 'the queued fetch never started');
  t.deepEqual(manager.identities(), []);
  // Forgetting during a backoff cancels its timer; asking again starts afresh.
  const retry = id('retry');
  void manager.getCertificate(retry).catch(() => undefined);
  await settle();
  fetcher.pending(retry).fail();
  await settle();
  t.is(clock.pendingTimers, 1);
  manager.forget(retry);
  t.is(clock.pendingTimers, 0);
  manager.forget(retry); // unknown identity: no-op
  const again = manager.getCertificate(retry);
  await settle();
  t.is(fetcher.callsFor(retry).length, 2);
  fetcher.pending(retry).succeed();
  t.truthy(await again);
});

test('onCertificate reports first and rotated certificates, whether roots changed, and survives a throwing listener', async (t) => {
  const { logger, records } = capturingLogger();
  const { clock, fetcher, manager } = setup(t, { logger });
  const updates: CertificateUpdate[] = [];
  manager.onCertificate(() => {
    throw new Error('listener bug');
  });
  const off = manager.onCertificate((u) => updates.push(u));
  const p = manager.getCertificate(sleep);
  await settle();
  const c1 = fetcher.pending(sleep).succeed({ roots: ['root-A'] });
  await p;
  await clock.advanceAsync(12 * HOUR);
  const c2 = fetcher.pending(sleep).succeed({ roots: ['root-A'] });
  await clock.advanceAsync(12 * HOUR);
  const c3 = fetcher.pending(sleep).succeed({ roots: ['root-A', 'root-B'] });
  await settle();
  t.deepEqual(
    updates.map((u) => [u.certificate, u.previous, u.rootsChanged]),
    [[c1, undefined, true], [c2, c1, false], [c3, c2, true]],
  );
  t.true(updates.every((u) => u.identity === sleep));
  t.is(records.filter((r) => r.msg === 'certificate listener threw').length, 3);
  t.is(records.filter((r) => r.msg === 'certificate rotated').length, 2);
  off();
  await clock.advanceAsync(12 * HOUR);
  fetcher.pending(sleep).succeed();
  await settle();
  t.is(updates.length, 3);
});

test('close() rejects waiters, waits for running fetches, and refuses later calls', async (t) => {
  const { fetcher, manager } = setup(t);
  const waiting = manager.getCertificate(sleep);
  await settle();
  let closed = false;
  const closing = manager.close().then(() => (closed = true));
  const err = await t.throwsAsync(waiting, { instanceOf: SecretManagerError });
  t.is(err?.code, 'SECRET_ERR_CLOSED');
  await settle();
  t.false(closed, 'close waits for the fetch under way');
  fetcher.pending(sleep).succeed();
  await closing;
  t.true(closed);
  await t.throwsAsync(manager.getCertificate(sleep), { message: /^secret manager is closed; no certificate for .*sleep$/ });
  manager.prefetch(id('late'));
  t.is(fetcher.calls.length, 1);
  manager.destroy();
});

test('options are validated', (t) => {
  const base = { fetch: () => Promise.reject(new Error('unused')), logger: silentLogger() };
  t.throws(() => new SecretManager({ ...base, maxConcurrentFetches: 0 }), { instanceOf: RangeError, message: /positive integer/ });
  t.throws(() => new SecretManager({ ...base, backoff: { initialMs: 10, maxMs: 1 } }), { instanceOf: RangeError, message: /maxMs/ });
});
