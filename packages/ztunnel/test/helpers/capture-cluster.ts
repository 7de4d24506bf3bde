/**
 * The capture tests' testbed: a cluster (fixtures/capture-cluster.yaml), the stand-in ztunnel
 * (fixtures/capture-node.ts) run in a node's namespace and driven over stdin/stdout, and readers of what the
 * node's kernel holds.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { AppProcess, HELD_CLIENT_APP, Testbed } from '@ambit/testbed';
import type { AppEvent } from '@ambit/testbed';
import type { CaptureWorkload } from '../../src/capture/index.js';

const CLUSTER = readFileSync(new URL('../../../test/fixtures/capture-cluster.yaml', import.meta.url), 'utf8');
const NODE_FIXTURE = fileURLToPath(new URL('../fixtures/capture-node.js', import.meta.url));

/** client 10.244.0.10 (veth0), neighbour 10.244.0.11 (veth1), third 10.244.0.12 (veth2) on node-a; server 10.244.1.20 on node-b. */
export const IP = { client: '10.244.0.10', neighbour: '10.244.0.11', third: '10.244.0.12', server: '10.244.1.20' } as const;

/** A cluster destroyed when the test ends, pass or fail. */
export async function cluster(t: ExecutionContext): Promise<Testbed> {
  const created = await Testbed.create(CLUSTER);
  t.teardown(() => created.destroy());
  return created;
}

/** The enrolled workload record for a pod: with its node-side interface unless `withInterface` is false. */
export function workload(c: Testbed, pod: string, withInterface = true): CaptureWorkload {
  const p = c.pods.get(pod)!;
  return withInterface ? { uid: `Kubernetes//Pod/${p.namespace}/${pod}`, ip: p.ip, interface: p.nodeInterface! } : { uid: `Kubernetes//Pod/${p.namespace}/${pod}`, ip: p.ip };
}

export interface Accepted {
  readonly listener: 'outbound' | 'inboundPlain' | 'inboundHbone';
  readonly local: string;
  readonly remote: string;
  readonly mark: number;
  readonly upstreamLocal?: string;
  readonly upstreamError?: string;
}

export interface FixtureOptions {
  readonly initial?: readonly CaptureWorkload[];
  readonly routingTable?: number;
  readonly rulePriority?: number;
  readonly nft?: string;
  readonly ip?: string;
  readonly listeners?: boolean;
  /** Run under `setpriv` with these capabilities dropped, e.g. ['net_admin', 'net_raw']. */
  readonly dropCaps?: readonly string[];
}

/** The stand-in ztunnel in a node's namespace. */
export class CaptureNode {
  readonly app: AppProcess;

  private constructor(app: AppProcess) {
    this.app = app;
  }

  /** Starts the fixture; resolves with the status once capture is installed, rejects with its AppError if not. */
  static async start(c: Testbed, node: string, options: FixtureOptions = {}): Promise<CaptureNode> {
    const { dropCaps, ...config } = options;
    const args = [NODE_FIXTURE, JSON.stringify(config)];
    const child =
      dropCaps === undefined
        ? c.spawn(node, process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] })
        : c.spawn(
            node,
            'setpriv',
            [`--bounding-set=${dropCaps.map((cap) => `-${cap}`).join(',')}`, `--inh-caps=${dropCaps.map((cap) => `-${cap}`).join(',')}`, process.execPath, ...args],
            { stdio: ['pipe', 'pipe', 'pipe'] },
          );
    const fixture = new CaptureNode(new AppProcess(child, `capture fixture in ${node}`));
    await fixture.app.waitFor('started');
    return fixture;
  }

  /** Sends a command and resolves with its reply; an `error` reply rejects with an AppError (errno = its code). */
  async request(cmd: string, fields: Record<string, unknown> = {}): Promise<AppEvent> {
    this.app.child.stdin!.write(`${JSON.stringify({ cmd, ...fields })}\n`);
    return await this.app.waitFor(`${cmd}-done`);
  }

  async accepted(): Promise<Accepted[]> {
    return (await this.request('stats'))['accepted'] as Accepted[];
  }

  /** SIGKILL, as a crash would, and waits for the exit. */
  async kill(): Promise<void> {
    const exited = new Promise((resolve) => this.app.child.once('exit', resolve));
    this.app.child.kill('SIGKILL');
    await exited;
  }
}

/** A client in `pod` holding a connection open to an echo server; `send` round-trips one line. */
export class HeldClient {
  readonly app: AppProcess;
  readonly server: Record<string, unknown>;

  private constructor(app: AppProcess, server: Record<string, unknown>) {
    this.app = app;
    this.server = server;
  }

  static async connect(c: Testbed, pod: string, host: string, port: number): Promise<HeldClient> {
    const app = new AppProcess(c.spawn(pod, process.execPath, [HELD_CLIENT_APP, host, String(port)], { stdio: ['pipe', 'pipe', 'pipe'] }), `held client in ${pod}`);
    const connected = await app.waitFor('connected');
    return new HeldClient(app, connected['server'] as Record<string, unknown>);
  }

  async send(line: string): Promise<string> {
    this.app.child.stdin!.write(`send ${line}\n`);
    return (await this.app.waitFor('echo'))['data'] as string;
  }
}

/** What the node's kernel holds of ours, read with the system tools (not with the code under test). */
export interface KernelState {
  /** How many `table inet ambit-ztunnel` exist (nftables allows only one; 0 or 1). */
  readonly tables: number;
  /** Our ip rules (protocol 133), as `ip rule` prints them. */
  readonly rules: readonly string[];
  /** Every route in table `table` and every route anywhere with protocol 133. */
  readonly routes: readonly string[];
}

export async function kernelState(c: Testbed, node: string, table = 133): Promise<KernelState> {
  const tables = (await c.exec(node, 'nft', ['list', 'tables'])).stdout.split('\n').filter((l) => l.trim() === 'table inet ambit-ztunnel').length;
  const rules = (await c.exec(node, 'ip', ['-4', 'rule', 'show'])).stdout
    .split('\n')
    .filter((l) => / proto 133\b/.test(l))
    .map((l) => l.replace(/\s+/g, ' ').trim());
  const routes = (await c.exec(node, 'ip', ['-4', 'route', 'show', 'table', 'all'])).stdout
    .split('\n')
    .filter((l) => / proto 133\b/.test(l) || l.includes(` table ${table} `))
    .map((l) => l.trim());
  return { tables, rules, routes };
}

/** The table's chains and rules with their handles (`nft -a`), set elements left out. */
export async function ruleHandles(c: Testbed, node: string): Promise<string[]> {
  const listed = (await c.exec(node, 'nft', ['-a', 'list', 'table', 'inet', 'ambit-ztunnel'])).stdout;
  return listed
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /# handle \d+$/.test(l) && !l.startsWith('set '));
}

/** One set's elements, as nft lists them. */
export async function setElements(c: Testbed, node: string, set: string): Promise<string[]> {
  const listed = (await c.exec(node, 'nft', ['-j', 'list', 'set', 'inet', 'ambit-ztunnel', set])).stdout;
  const parsed = JSON.parse(listed) as { nftables: { set?: { elem?: unknown[] } }[] };
  const elems = parsed.nftables.find((e) => e.set)?.set?.elem ?? [];
  return elems.map((e) => (typeof e === 'string' ? e : JSON.stringify(e))).sort();
}
