/**
 * Naming of everything a run creates. All of it lives in network namespaces named `ambit-<run>-<role>`, so that
 * one `ip netns list` finds a crashed run's leftovers and concurrent runs (CI and a developer) never collide.
 * Interface names are local to their namespace, so they repeat across runs.
 */
import { randomBytes } from 'node:crypto';
import { TestbedError } from './errors.js';

export const NS_PREFIX = 'ambit-';
const RUN_RE = /^[a-z0-9]{1,16}$/;
const NS_RE = /^ambit-([a-z0-9]{1,16})-/;

/** A fresh run name: `t` and 6 hex digits. */
export function newRunName(): string {
  return `t${randomBytes(3).toString('hex')}`;
}

/** Throws TESTBED_ERR_PREFIX unless `run` is 1–16 lowercase letters and digits. */
export function checkRunName(run: string): void {
  if (!RUN_RE.test(run)) {
    throw new TestbedError('TESTBED_ERR_PREFIX', `a run prefix is 1 to 16 lowercase letters or digits, got ${JSON.stringify(run)}`);
  }
}

/** The run a namespace name belongs to, or undefined for a name this package never makes. */
export function runOfNamespace(ns: string): string | undefined {
  return NS_RE.exec(ns)?.[1];
}

export const names = {
  fabric: (run: string): string => `${NS_PREFIX}${run}-fabric`,
  node: (run: string, index: number): string => `${NS_PREFIX}${run}-n${index}`,
  pod: (run: string, index: number): string => `${NS_PREFIX}${run}-p${index}`,
  /** The node's end of a pod's veth, in the node namespace. */
  podInterface: (index: number): string => `veth${index}`,
  /** The fabric's end of a node's veth, on the bridge. */
  fabricPort: (index: number): string => `n${index}`,
  /** Inside nodes and pods alike. */
  uplink: 'eth0',
  bridge: 'br0',
};
