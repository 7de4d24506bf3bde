/**
 * Helpers for the tests that run on a testbed (local-mesh, the demo, the cross-package e2e tests): they
 * need root (network namespaces, nftables, transparent sockets), a run prefix of their own, and a way to
 * see which namespaces a run left behind that does not go through the code under test.
 */
import { execFileSync } from 'node:child_process';

/** The part of a test's context `rootOnly` uses (ava's `ExecutionContext` has it). */
export interface RootOnlyContext {
  log(...values: unknown[]): void;
  fail(message?: string): void;
  pass(message?: string): void;
}

const isRoot = process.getuid?.() === 0;

/**
 * True when the test can run. Otherwise, with `t`: a developer who is not root sees the test skipped with
 * the reason; in CI (`CI` set), which runs as root, a skip would hide a regression, so it fails instead.
 */
export function rootOnly(t?: RootOnlyContext): boolean {
  if (isRoot) return true;
  if (t !== undefined) {
    if (process.env['CI']) t.fail(`needs root, but CI runs as uid ${String(process.getuid?.())}`);
    else t.log(`skipped: needs root (uid ${String(process.getuid?.())})`);
    t.pass();
  }
  return false;
}

/** `base` and a random suffix: a run prefix that parallel test files do not share. */
export function uniquePrefix(base: string): string {
  return `${base}${Math.floor(Math.random() * 0xffff).toString(36)}`;
}

/** The network namespaces of run `run`, as `ip netns list` shows them. */
export function namespacesOf(run: string): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((ns) => ns.startsWith(`ambit-${run}-`));
}
