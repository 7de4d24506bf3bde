import test from 'ava';
import { spawn } from 'node:child_process';
import { Cleanup } from '../src/lib/cleanup.js';

test('steps run once, last registered first, and every error is collected', async (t) => {
  const c = new Cleanup();
  const order: number[] = [];
  c.defer(() => {
    order.push(1);
  });
  c.defer(() => {
    throw new Error('two broke');
  });
  c.defer(async () => {
    await Promise.resolve();
    order.push(3);
  });
  const errors = await c.run();
  t.deepEqual(order, [3, 1]);
  t.deepEqual(
    errors.map((e) => e.message),
    ['two broke'],
  );
  t.is(await c.run(), errors, 'a second run returns the first result without re-running');
  t.deepEqual(order, [3, 1]);
});

test('a step registered after the run is undone straight away', async (t) => {
  const c = new Cleanup();
  await c.run();
  let undone = false;
  c.defer(() => {
    undone = true;
  });
  await new Promise((r) => setImmediate(r));
  t.true(undone);
});

test('killRemainingSync kills tracked processes that are still alive', async (t) => {
  const c = new Cleanup();
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.teardown(() => child.kill('SIGKILL'));
  await new Promise((r) => child.once('spawn', r));
  c.trackProcess(child.pid!, false);
  const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_code, signal) => r(signal)));
  c.killRemainingSync();
  t.is(await exited, 'SIGKILL');
});
