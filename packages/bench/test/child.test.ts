import test from 'ava';
import { Child, LineWaiter, raceChild, runToExit } from '../src/lib/child.js';
import { Cleanup } from '../src/lib/cleanup.js';
import { BenchError } from '../src/lib/errors.js';

function cleanupFor(t: { teardown(fn: () => Promise<unknown>): void }): Cleanup {
  const c = new Cleanup();
  t.teardown(() => c.run());
  return c;
}

test('runToExit returns the exit and stdout', async (t) => {
  const r = await runToExit('sh', 'sh', ['-c', 'echo one; echo two; exit 3'], { cleanup: cleanupFor(t), timeoutMs: 10_000 });
  t.is(r.exit.code, 3);
  t.is(r.stdout, 'one\ntwo');
});

test('a child that exits before reporting ready is an error carrying its output', async (t) => {
  const cleanup = cleanupFor(t);
  const waiter = new LineWaiter((l) => (l === 'ready' ? true : undefined));
  const child = await Child.start('early', 'sh', ['-c', 'echo "bad config" >&2; exit 4'], { cleanup, onStdoutLine: waiter.onLine });
  const err = await t.throwsAsync(raceChild(child, 10_000, undefined, 'early did not report ready', () => waiter.value), {
    instanceOf: BenchError,
  });
  t.is(err.code, 'BENCH_ERR_CHILD');
  t.regex(err.message, /early did not report ready: early \(pid \d+\) exited with code 4; its last output:\nbad config/);
});

test('a child that hangs is timed out, and stop() ends it even if it ignores SIGTERM', async (t) => {
  const cleanup = cleanupFor(t);
  const child = await Child.start('stubborn', 'sh', ['-c', 'trap "" TERM; echo started; while :; do sleep 0.05; done'], { cleanup });
  const err = await t.throwsAsync(raceChild(child, 200, undefined, 'stubborn did not answer', () => new Promise(() => undefined)), {
    instanceOf: BenchError,
  });
  t.regex(err.message, /stubborn did not answer within 200 ms; stubborn \(pid \d+\) is still running/);
  await child.stop(200);
  t.is(child.exitInfo?.signal, 'SIGKILL');
});

test('a group child is stopped with everything it forked', async (t) => {
  const cleanup = cleanupFor(t);
  const waiter = new LineWaiter((l) => (/^\d+$/.test(l) ? Number(l) : undefined));
  // The shell forks a sleeper and prints its pid.
  const child = await Child.start('forker', 'sh', ['-c', 'sleep 30 & echo $!; wait'], { cleanup, group: true, onStdoutLine: waiter.onLine });
  const grandchild = await raceChild(child, 10_000, undefined, 'forker', () => waiter.value);
  await child.stop();
  const gone = await new Promise<boolean>((resolve) => {
    const deadline = Date.now() + 3000;
    const poll = (): void => {
      try {
        process.kill(grandchild, 0);
        if (Date.now() > deadline) resolve(false);
        else setTimeout(poll, 20);
      } catch {
        resolve(true);
      }
    };
    poll();
  });
  t.true(gone);
});

test('a program that cannot be run is a tool error', async (t) => {
  const err = await t.throwsAsync(Child.start('ghost', '/nonexistent/ghost', [], { cleanup: cleanupFor(t) }), { instanceOf: BenchError });
  t.is(err.code, 'BENCH_ERR_TOOL');
  t.regex(err.message, /cannot run ghost \(\/nonexistent\/ghost\): spawn \/nonexistent\/ghost ENOENT/);
});

test('Cleanup stops children that are still running', async (t) => {
  const cleanup = new Cleanup();
  const child = await Child.start('sleeper', 'sleep', ['30'], { cleanup });
  await cleanup.run();
  t.is(child.exitInfo?.signal, 'SIGTERM');
});
