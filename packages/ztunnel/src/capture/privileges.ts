/**
 * Whether this process may change nftables and routing. Checking up front turns a failure deep inside the
 * first `nft` run into one clear sentence.
 */
import { readFileSync } from 'node:fs';

/** CAP_NET_ADMIN's bit in the capability sets (linux/capability.h). */
const CAP_NET_ADMIN = 12n;

/**
 * True/false from the effective capability set in /proc/self/status, or undefined when that cannot be read
 * (no procfs): the caller then lets the commands themselves fail.
 */
export function hasNetAdmin(statusText?: string): boolean | undefined {
  let text = statusText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/status', 'utf8');
    } catch {
      return undefined;
    }
  }
  const hex = /^CapEff:\s*([0-9a-f]+)\s*$/im.exec(text)?.[1];
  if (hex === undefined) return undefined;
  return ((BigInt(`0x${hex}`) >> CAP_NET_ADMIN) & 1n) === 1n;
}
