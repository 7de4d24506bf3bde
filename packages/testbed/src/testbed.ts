/**
 * A small Kubernetes-shaped cluster on this machine, made of network namespaces: one per node, one per pod and
 * a fabric one holding the bridge that joins the nodes (see network.ts). Tests build one from the same YAML the
 * control plane reads, run processes in its pods and nodes, and destroy it; a forgotten cluster is removed when
 * the process exits, is signalled or throws, and a killed process's cluster by `scripts/testbed.sh down`.
 *
 * Needs root (CAP_SYS_ADMIN for namespaces, CAP_NET_ADMIN for links and routes).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '@ambit/mesh-core/telemetry';
import type { Logger } from '@ambit/mesh-core/telemetry';
import { AppProcess } from './app-process.js';
import type { PeerReport } from './apps/echo.js';
import { TestbedError } from './errors.js';
import { registerCleanup, unregisterCleanup } from './exit-hooks.js';
import { checkRunName, names, newRunName, runOfNamespace } from './names.js';
import { buildNetwork } from './network.js';
import { listNamespaces, removeRun } from './reaper.js';
import { run } from './shell.js';
import type { CommandResult } from './shell.js';
import { DEFAULT_STATE_DIR, createRecord, currentOwner } from './state.js';
import type { RunRecord } from './state.js';
import { parseTopology } from './topology.js';
import type { Topology } from './topology.js';

const ECHO_APP = fileURLToPath(new URL('./apps/echo.js', import.meta.url));
/**
 * The held-connection client (apps/held-client.ts), for tests about connections that outlive something:
 * run it in a pod with `spawn(pod, process.execPath, [HELD_CLIENT_APP, host, port])` and drive it through
 * stdin (`send <text>`, `end`); it reports `connected`, `echo`, `end`, `closed` and `error` events.
 */
export const HELD_CLIENT_APP = fileURLToPath(new URL('./apps/held-client.js', import.meta.url));
/** How long close() lets processes exit on SIGTERM before destroy() kills them. */
const CLOSE_GRACE_MS = 3_000;

export interface TestbedNode {
  readonly name: string;
  /** Its network namespace, `ambit-<run>-n<index>`. */
  readonly ns: string;
  readonly ip: string;
  readonly podCidr: string;
  readonly index: number;
}

export interface TestbedPod {
  readonly name: string;
  /** The Kubernetes namespace (metadata.namespace, default `default`). */
  readonly namespace: string;
  /** Its network namespace, `ambit-<run>-p<index>`; its node's for a host-network pod. */
  readonly ns: string;
  readonly ip: string;
  /** The node's name. */
  readonly node: string;
  /** The node's end of the pod's veth (in the node namespace), e.g. `veth0`; undefined for host-network pods. */
  readonly nodeInterface: string | undefined;
  readonly hostNetwork: boolean;
}

export interface TestbedOptions {
  /** The run name in every namespace name (`ambit-<prefix>-…`): 1–16 of [a-z0-9]; random by default. */
  readonly prefix?: string;
  readonly logger?: Logger;
  /** Where run records go; /run/ambit-testbed by default. */
  readonly stateDir?: string;
  /** Outlive this process (`testbed.sh up`): no exit hooks; removed only by `down`. */
  readonly detached?: boolean;
}

export interface ExecOptions {
  readonly input?: string;
  readonly timeoutMs?: number;
}

export interface EchoServerOptions {
  readonly protocol: 'tcp' | 'http';
  readonly port: number;
  /** Address to bind, 0.0.0.0 by default. */
  readonly host?: string;
}

/** A running src/apps/echo.ts server; `app.next()` yields its `connection` / `request` events. */
export interface EchoServer {
  readonly app: AppProcess;
  readonly port: number;
}

export interface TcpEchoResult {
  /** The client's own address and port. */
  readonly local: { readonly address: string; readonly port: number };
  /** What the server saw: `remoteAddress` is the source address that reached it. */
  readonly server: PeerReport;
  readonly echoed: string;
}

export interface HttpEchoResult {
  readonly status: number;
  readonly body: PeerReport & { readonly method: string; readonly url: string; readonly headers: Readonly<Record<string, string>> };
}

export class Testbed {
  readonly prefix: string;
  readonly fabricNs: string;
  readonly nodes: ReadonlyMap<string, TestbedNode>;
  readonly pods: ReadonlyMap<string, TestbedPod>;
  readonly #stateDir: string;
  readonly #logger: Logger;
  readonly #children = new Set<ChildProcess>();
  #destroyed = false;
  readonly #cleanup = { cleanupNow: (): void => this.#teardown() };

  private constructor(prefix: string, topology: Topology, stateDir: string, logger: Logger) {
    this.prefix = prefix;
    this.fabricNs = names.fabric(prefix);
    this.#stateDir = stateDir;
    this.#logger = logger;
    this.nodes = new Map(
      topology.nodes.map((n) => [n.name, { name: n.name, ns: names.node(prefix, n.index), ip: n.ip, podCidr: n.podCidr, index: n.index }]),
    );
    this.pods = new Map(
      topology.pods.map((p) => {
        const node = this.nodes.get(p.node)!;
        const pod: TestbedPod = {
          name: p.name,
          namespace: p.namespace,
          ns: p.hostNetwork ? node.ns : names.pod(prefix, p.index),
          ip: p.ip,
          node: p.node,
          nodeInterface: p.hostNetwork ? undefined : names.podInterface(p.index),
          hostNetwork: p.hostNetwork,
        };
        return [p.name, pod];
      }),
    );
  }

  /**
   * Builds the cluster described by Kubernetes YAML text or parsed objects (`Node`s and `Pod`s; other kinds are
   * ignored). Nothing is created when the topology is invalid; a failure halfway removes what was built.
   */
  static async create(input: string | readonly unknown[], options: TestbedOptions = {}): Promise<Testbed> {
    if (process.getuid?.() !== 0) {
      throw new TestbedError('TESTBED_ERR_NOT_ROOT', 'the testbed needs root: network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN');
    }
    const topology = parseTopology(input);
    const prefix = options.prefix ?? newRunName();
    checkRunName(prefix);
    const stateDir = options.stateDir ?? DEFAULT_STATE_DIR;
    const logger = (options.logger ?? silentLogger()).child({ component: 'testbed', run: prefix });
    const leftovers = listNamespaces().filter((ns) => runOfNamespace(ns) === prefix);
    if (leftovers.length > 0) {
      throw new TestbedError('TESTBED_ERR_PREFIX', `namespaces of run ${prefix} already exist (${leftovers.join(', ')}): run scripts/testbed.sh down ${prefix}`);
    }
    const cluster = new Testbed(prefix, topology, stateDir, logger);
    // The record comes first: from here on, a crash leaves a run that `down` recognises.
    createRecord(stateDir, cluster.#record(options.detached === true ? null : currentOwner()));
    if (options.detached !== true) registerCleanup(cluster.#cleanup);
    try {
      await buildNetwork(prefix, topology, logger);
    } catch (err) {
      cluster.#teardown();
      throw err;
    }
    logger.info({ nodes: topology.nodes.length, pods: topology.pods.length }, 'cluster up');
    return cluster;
  }

  /** The network namespace of a pod name, a node name, or one of this cluster's namespace names. */
  namespaceOf(target: string): string {
    const pod = this.pods.get(target);
    const node = this.nodes.get(target);
    if (pod && node) {
      throw new TestbedError('TESTBED_ERR_UNKNOWN_TARGET', `${target} names both a pod and a node: pass the namespace name (${pod.ns} or ${node.ns})`);
    }
    const ns = pod?.ns ?? node?.ns ?? (runOfNamespace(target) === this.prefix ? target : undefined);
    if (ns === undefined) {
      throw new TestbedError(
        'TESTBED_ERR_UNKNOWN_TARGET',
        `no pod, node or namespace named ${target} in run ${this.prefix} (pods: ${[...this.pods.keys()].join(', ')}; nodes: ${[...this.nodes.keys()].join(', ')})`,
      );
    }
    return ns;
  }

  /** Runs a command to completion inside a pod's, node's or namespace's network namespace. */
  async exec(target: string, cmd: string, args: readonly string[] = [], options: ExecOptions = {}): Promise<CommandResult> {
    this.#checkAlive();
    return await run('ip', ['netns', 'exec', this.namespaceOf(target), cmd, ...args], options);
  }

  /**
   * Starts a process inside a pod's, node's or namespace's network namespace (stdout and stderr piped unless
   * `options.stdio` says otherwise). It is killed when the cluster is destroyed.
   */
  spawn(target: string, cmd: string, args: readonly string[] = [], options: SpawnOptions = {}): ChildProcess {
    this.#checkAlive();
    const child = spawn('ip', ['netns', 'exec', this.namespaceOf(target), cmd, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...options,
    });
    this.#children.add(child);
    child.on('exit', () => this.#children.delete(child));
    // A missing binary is reported by `ip` itself; a spawn failure must not become an uncaught 'error'.
    child.on('error', (err) => this.#logger.warn({ err, cmd }, 'spawn failed'));
    return child;
  }

  /** Starts src/apps/echo.ts as a TCP or HTTP server in `target`; resolves once it listens. */
  async startEchoServer(target: string, options: EchoServerOptions): Promise<EchoServer> {
    const mode = options.protocol === 'tcp' ? 'tcp-server' : 'http-server';
    const app = this.#app(target, [mode, options.host ?? '0.0.0.0', String(options.port)]);
    const listening = await app.waitFor('listening');
    return { app, port: listening['port'] as number };
  }

  /** From `target`, connects to an echo server, sends `payload` and returns what the server saw and echoed. */
  async tcpEcho(target: string, host: string, port: number, payload = 'ping'): Promise<TcpEchoResult> {
    const { event: _event, ...result } = await this.#app(target, ['tcp-client', host, String(port), payload]).waitFor('result');
    return result as unknown as TcpEchoResult;
  }

  /** From `target`, GETs `url` from an echo HTTP server; the body says what the server saw. */
  async httpGet(target: string, url: string, headers: Readonly<Record<string, string>> = {}): Promise<HttpEchoResult> {
    const { event: _event, ...result } = await this.#app(target, ['http-client', url, JSON.stringify(headers)]).waitFor('result');
    return result as unknown as HttpEchoResult;
  }

  /** Graceful: SIGTERM to the processes started here, a short wait for them, then destroy(). */
  async close(): Promise<void> {
    const alive = [...this.#children].filter((c) => c.exitCode === null && c.signalCode === null);
    for (const child of alive) child.kill('SIGTERM');
    const timer = new Promise((resolve) => setTimeout(resolve, CLOSE_GRACE_MS).unref());
    await Promise.race([Promise.all(alive.map((c) => once(c, 'exit'))), timer]);
    await this.destroy();
  }

  /** Immediate and idempotent: kills every process in the cluster's namespaces and removes them and the record. */
  async destroy(): Promise<void> {
    const alive = [...this.#children].filter((c) => c.exitCode === null && c.signalCode === null);
    const exited = alive.map((c) => once(c, 'exit'));
    this.#teardown();
    await Promise.all(exited);
  }

  /** True once destroy() (or an exit hook) ran. */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  #teardown(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    unregisterCleanup(this.#cleanup);
    for (const child of this.#children) child.kill('SIGKILL');
    removeRun(this.#stateDir, this.prefix);
    this.#logger.info('cluster destroyed');
  }

  #app(target: string, args: readonly string[]): AppProcess {
    const child = this.spawn(target, process.execPath, [ECHO_APP, ...args]);
    return new AppProcess(child, `echo ${args.join(' ')} in ${target}`);
  }

  #checkAlive(): void {
    if (this.#destroyed) throw new TestbedError('TESTBED_ERR_DESTROYED', `run ${this.prefix} was destroyed`);
  }

  #record(owner: RunRecord['owner']): RunRecord {
    return {
      version: 1,
      prefix: this.prefix,
      owner,
      createdAt: new Date().toISOString(),
      nodes: [...this.nodes.values()].map(({ name, ns, ip, podCidr }) => ({ name, ns, ip, podCidr })),
      pods: [...this.pods.values()].map(({ name, namespace, ns, ip, node }) => ({ name, namespace, ns, ip, node })),
    };
  }
}
