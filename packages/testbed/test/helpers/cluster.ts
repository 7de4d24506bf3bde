import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { ExecutionContext } from 'ava';
import { DEFAULT_STATE_DIR, Testbed } from '../../src/index.js';
import type { TestbedOptions } from '../../src/index.js';

/** test/fixtures/two-nodes.yaml: client (10.244.0.10) and neighbour (10.244.0.11) on node-a, server (10.244.1.20) on node-b. */
export const TWO_NODES_FILE = new URL('../../../test/fixtures/two-nodes.yaml', import.meta.url).pathname;
export const TWO_NODES = readFileSync(TWO_NODES_FILE, 'utf8');

/** A cluster destroyed when the test ends, pass or fail. */
export async function cluster(t: ExecutionContext, input: string | readonly unknown[] = TWO_NODES, options: TestbedOptions = {}): Promise<Testbed> {
  const created = await Testbed.create(input, options);
  t.teardown(() => created.destroy());
  return created;
}

/** The run's entries in `ip netns list` (whose complaints about namespaces other runs delete meanwhile are dropped). */
export function runNamespaces(prefix: string): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((ns) => ns.startsWith(`ambit-${prefix}-`));
}

export function hasRecord(prefix: string): boolean {
  return existsSync(`${DEFAULT_STATE_DIR}/${prefix}.json`);
}

/** Interface names in the root namespace, which the testbed must leave alone. */
export function rootLinks(): string[] {
  return execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(': ')[1] ?? '')
    .sort();
}

/** A unique run prefix for a test, so leftovers name their test. */
export function prefixFor(tag: string): string {
  return `${tag}${Math.floor(Math.random() * 0xffffff).toString(36)}`;
}
