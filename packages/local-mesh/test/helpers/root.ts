/**
 * The ztunnel end-to-end tests need root (network namespaces, nftables, transparent sockets). A developer who
 * is not root sees them skipped with the reason; in CI (CI set), which runs as root, a skip would hide a
 * regression, so they fail instead.
 */
import type { ExecutionContext } from 'ava';

const isRoot = process.getuid?.() === 0;

/** True when the test can run; otherwise passes or fails `t` as above and returns false. */
export function rootOnly(t?: ExecutionContext): boolean {
  if (isRoot) return true;
  if (t !== undefined) {
    if (process.env['CI']) t.fail(`needs root, but CI runs as uid ${String(process.getuid?.())}`);
    else t.log(`skipped: needs root (uid ${String(process.getuid?.())})`);
    t.pass();
  }
  return false;
}
