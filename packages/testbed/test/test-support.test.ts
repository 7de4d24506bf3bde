/**
 * The helpers testbed-based tests share: root detection, run prefixes, and the run's namespaces as
 * `ip netns list` shows them.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { namespacesOf, rootOnly, uniquePrefix, type RootOnlyContext } from '../src/test-support.js';
import { rootTest } from './helpers/root.js';

test('uniquePrefix: the base and a short base-36 suffix, different across calls', (t) => {
  const seen = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const p = uniquePrefix('lm');
    t.regex(p, /^lm[0-9a-z]{1,4}$/);
    seen.add(p);
  }
  t.true(seen.size > 1);
});

test('rootOnly: as root it says so and leaves the test alone; otherwise it passes (or in CI fails) the test with the reason', (t) => {
  const calls: string[] = [];
  const context: RootOnlyContext = {
    log: (...values) => calls.push(`log ${values.join(' ')}`),
    fail: (message) => calls.push(`fail ${String(message)}`),
    pass: () => calls.push('pass'),
  };
  const root = process.getuid?.() === 0;
  t.is(rootOnly(context), root);
  t.is(rootOnly(), root);
  if (root) t.deepEqual(calls, []);
  else t.deepEqual(calls.slice(-1), ['pass']);
});

rootTest('namespacesOf: only the run’s own namespaces', (t) => {
  const run = uniquePrefix('tsup');
  const mine = `ambit-${run}-n0`;
  const other = `ambit-${run}x-n0`;
  t.teardown(() => {
    for (const ns of [mine, other]) {
      try {
        execFileSync('ip', ['netns', 'delete', ns]);
      } catch {
        // already gone
      }
    }
  });
  t.deepEqual(namespacesOf(run), []);
  execFileSync('ip', ['netns', 'add', mine]);
  execFileSync('ip', ['netns', 'add', other]);
  t.deepEqual(namespacesOf(run), [mine]);
});
