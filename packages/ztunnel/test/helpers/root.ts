import test from 'ava';
import type { ImplementationFn } from 'ava';

export const isRoot = process.getuid?.() === 0;
let warned = false;

/**
 * A test that needs root (network namespaces, CAP_NET_ADMIN), run serially. Skipped with a logged reason for a
 * developer who is not root; in CI (CI set), which runs as root, a skip would hide a regression, so it fails.
 */
export function rootTest(title: string, fn: ImplementationFn<[]>): void {
  if (isRoot) {
    test.serial(title, fn);
  } else if (process.env['CI']) {
    test(title, (t) => t.fail(`needs root, but CI runs as uid ${String(process.getuid?.())}`));
  } else {
    if (!warned) console.log(`capture: skipping root-only tests (uid ${String(process.getuid?.())} is not root)`);
    warned = true;
    test.skip(title, fn);
  }
}
