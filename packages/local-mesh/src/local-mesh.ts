/**
 * A whole local mesh on this machine: the testbed cluster described by a YAML directory (nodes and pods from
 * the pods' `nodeName` / `podIP`), the real control plane reading that YAML, and one real `ambit-ztunnel` per
 * node, each in its node's network namespace. Used by the end-to-end tests, the demo and the benchmark.
 *
 * Where the control plane runs: a node's network namespace cannot reach the root namespace's loopback, so the
 * control plane runs inside one node's namespace (the first Node by default), listening on that node's fabric
 * address (e.g. 10.244.255.1:15012), like a host-network istiod on that node. The other ztunnels reach it over
 * the fabric; traffic to a node's own address is never captured. Its serving certificate names
 * `istiod.istio-system.svc`, which the ztunnels verify through `ALT_XDS_HOSTNAME` / `ALT_CA_HOSTNAME`.
 *
 * More processes (a waypoint per waypoint Gateway, say) come in through `extensions`, which run once the
 * ztunnels are ready and use the generic `startProcess(target, …)`: the mesh registers, logs, stops and
 * cleans up whatever they start like its own processes.
 *
 * Everything is removed by `close()` (graceful: processes get SIGTERM and drain) or `destroy()` (at once):
 * processes, namespaces (and with them every nft table and ip rule inside) and the temporary directory. A
 * process that exits without either still loses its namespaces and processes (the testbed's exit hooks) and
 * its directory (an exit hook here).
 */
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { silentLogger } from '@ambit/mesh-core/telemetry';
import type { Logger } from '@ambit/mesh-core/telemetry';
import { AppProcess, HELD_CLIENT_APP, Testbed, parseTopology } from '@ambit/testbed';
import type { CommandResult, ExecOptions } from '@ambit/testbed';
import { checkConfigName, copyConfig, joinDocuments, listConfig, writeAtomically } from './config-files.js';
import { LocalMeshError } from './errors.js';
import { MeshProcess } from './mesh-process.js';
import { DEFAULT_WAIT_MS, until } from './wait.js';

/** `ambit-control-plane` and `ambit-ztunnel`: the packages' own command entry points (next to their index). */
export const CONTROL_PLANE_MAIN = path.join(path.dirname(fileURLToPath(import.meta.resolve('@ambit/control-plane'))), 'main.js');
export const ZTUNNEL_MAIN = path.join(path.dirname(fileURLToPath(import.meta.resolve('@ambit/ztunnel'))), 'main.js');

export const XDS_PORT = 15012;
/** The DNS name in the control plane's serving certificate. */
export const CONTROL_PLANE_HOSTNAME = 'istiod.istio-system.svc';

/** Started once the control plane and the ztunnels are ready, in order; a failure tears the mesh down. */
export interface MeshExtension {
  readonly name: string;
  start(mesh: LocalMesh): Promise<void>;
}

export interface LocalMeshOptions {
  /** A YAML file or a directory of them: the control plane's input and the cluster's topology. */
  readonly config: string;
  /** The run name in the namespace names (1–16 of [a-z0-9]); random by default. */
  readonly prefix?: string;
  readonly logger?: Logger;
  /** The node whose namespace hosts the control plane; the first Node by default. */
  readonly controlPlaneNode?: string;
  /** Nodes that get a ztunnel at start; every node by default. */
  readonly ztunnelNodes?: readonly string[];
  /** Extra environment for every ztunnel started at start. */
  readonly ztunnelEnv?: Readonly<Record<string, string>>;
  /** Node.js flags for every ztunnel started at start (e.g. `--cpu-prof`). */
  readonly ztunnelNodeArgs?: readonly string[];
  /** `LOG_LEVEL` of the control plane (default `info`; its lines are kept in `controlPlane.logs`). */
  readonly controlPlaneLogLevel?: string;
  readonly extensions?: readonly MeshExtension[];
  /** Safety net for each step of the start (default 30 s); never reached when healthy. */
  readonly waitMs?: number;
}

export interface StartZtunnelOptions {
  /** Environment on top of `ztunnelEnv(node)`. */
  readonly env?: Readonly<Record<string, string>>;
  /** Node.js flags before the script. */
  readonly nodeArgs?: readonly string[];
}

export interface StartProcessOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Polled until true (the process must not exit meanwhile); start resolves only then. */
  readonly ready?: (process: MeshProcess) => Promise<boolean> | boolean;
  readonly waitMs?: number;
}

export interface HttpResult {
  readonly status: number;
  readonly body: string;
}

/** A client holding one connection open (testbed's `HELD_CLIENT_APP`), driven line by line. */
export class HeldClient {
  readonly app: AppProcess;

  constructor(app: AppProcess) {
    this.app = app;
  }

  /** Writes `text` and a newline on the connection. */
  send(text: string): void {
    this.app.child.stdin!.write(`send ${text}\n`);
  }

  /** Half-closes: our FIN goes, the server's replies keep coming. */
  end(): void {
    this.app.child.stdin!.write('end\n');
  }
}

export class LocalMesh {
  readonly cluster: Testbed;
  /** The mesh's private directory: `config/`, `state/`, and room for callers' files. */
  readonly dir: string;
  /** The control plane's input (a copy of `options.config`); edit it with `editConfig` / `writeConfig`. */
  readonly configDir: string;
  /** The control plane's state: `root-cert.pem`, `node-tokens/<node>.token`. */
  readonly stateDir: string;
  /** `host:port` of the control plane's xDS and CA, on its node's fabric address. */
  readonly xdsAddress: string;
  readonly controlPlaneNode: string;
  readonly #logger: Logger;
  readonly #waitMs: number;
  readonly #ztunnels = new Map<string, MeshProcess>();
  readonly #processes = new Map<string, MeshProcess>();
  #controlPlane: MeshProcess | undefined;
  #closed = false;
  readonly #removeDirOnExit: () => void;

  private constructor(cluster: Testbed, dir: string, removeDirOnExit: () => void, controlPlaneNode: string, logger: Logger, waitMs: number) {
    this.cluster = cluster;
    this.dir = dir;
    this.configDir = path.join(dir, 'config');
    this.stateDir = path.join(dir, 'state');
    this.controlPlaneNode = controlPlaneNode;
    this.xdsAddress = `${cluster.nodes.get(controlPlaneNode)!.ip}:${XDS_PORT}`;
    this.#logger = logger;
    this.#waitMs = waitMs;
    this.#removeDirOnExit = removeDirOnExit;
  }

  /**
   * Builds the cluster from the config's Nodes and Pods, starts the control plane on it, a ztunnel per node
   * (each ready: xDS in, certificates in hand, capture installed), then the extensions. A failure at any step
   * removes everything already made and rethrows.
   */
  static async start(options: LocalMeshOptions): Promise<LocalMesh> {
    const logger = (options.logger ?? silentLogger()).child({ component: 'local-mesh' });
    const dir = await mkdtemp(path.join(tmpdir(), 'ambit-mesh-'));
    // From here on, however the process ends (a signal handler's process.exit included), the directory goes.
    const removeDirOnExit = (): void => rmSync(dir, { recursive: true, force: true });
    process.on('exit', removeDirOnExit);
    let mesh: LocalMesh | undefined;
    let cluster: Testbed | undefined;
    try {
      const configDir = path.join(dir, 'config');
      const files = await copyConfig(options.config, configDir);
      const topology = await joinDocuments(configDir, files);
      // Checked before anything is built: a bad option costs no namespace.
      const nodes = parseTopology(topology).nodes.map((n) => n.name);
      const cpNode = options.controlPlaneNode ?? nodes[0]!;
      for (const [option, node] of [['controlPlaneNode', cpNode] as const, ...(options.ztunnelNodes ?? []).map((n) => ['ztunnelNodes', n] as const)]) {
        if (!nodes.includes(node)) throw new LocalMeshError('LOCAL_MESH_ERR_UNKNOWN_NODE', `${option}: no node named ${node} (nodes: ${nodes.join(', ')})`);
      }
      cluster = await Testbed.create(topology, { ...(options.prefix === undefined ? {} : { prefix: options.prefix }), logger });
      mesh = new LocalMesh(cluster, dir, removeDirOnExit, cpNode, logger, options.waitMs ?? DEFAULT_WAIT_MS);
      await mesh.#startControlPlane(options.controlPlaneLogLevel ?? 'info');
      const ztunnelOptions = { env: options.ztunnelEnv ?? {}, nodeArgs: options.ztunnelNodeArgs ?? [] };
      await Promise.all((options.ztunnelNodes ?? nodes).map((node) => mesh!.startZtunnel(node, ztunnelOptions)));
      for (const extension of options.extensions ?? []) {
        try {
          await extension.start(mesh);
        } catch (cause) {
          throw new LocalMeshError('LOCAL_MESH_ERR_EXTENSION', `extension ${extension.name} failed to start: ${(cause as Error).message}`, { cause });
        }
      }
      logger.info({ run: cluster.prefix, nodes: nodes.length, pods: cluster.pods.size }, 'local mesh up');
      return mesh;
    } catch (err) {
      if (mesh) await mesh.destroy();
      else {
        await cluster?.destroy();
        process.off('exit', removeDirOnExit);
        await rm(dir, { recursive: true, force: true });
      }
      throw err;
    }
  }

  /** The control plane's process. */
  get controlPlane(): MeshProcess {
    if (!this.#controlPlane) throw new LocalMeshError('LOCAL_MESH_ERR_PROCESS', 'the control plane was not started');
    return this.#controlPlane;
  }

  /** The ztunnel of each node, by node name (the latest started). */
  get ztunnels(): ReadonlyMap<string, MeshProcess> {
    return this.#ztunnels;
  }

  /** Processes started with `startProcess`, by name. */
  get processes(): ReadonlyMap<string, MeshProcess> {
    return this.#processes;
  }

  /** The latest ztunnel started on `node`. */
  ztunnel(node: string): MeshProcess {
    const z = this.#ztunnels.get(node);
    if (z === undefined) throw new LocalMeshError('LOCAL_MESH_ERR_PROCESS', `no ztunnel was started on ${node} (ztunnels: ${[...this.#ztunnels.keys()].join(', ') || 'none'})`);
    return z;
  }

  /** A process started with `startProcess`. */
  process(name: string): MeshProcess {
    const p = this.#processes.get(name);
    if (p === undefined) throw new LocalMeshError('LOCAL_MESH_ERR_PROCESS', `no process named ${name} (processes: ${[...this.#processes.keys()].join(', ') || 'none'})`);
    return p;
  }

  /** A node's fabric address. */
  nodeIp(node: string): string {
    const n = this.cluster.nodes.get(node);
    if (n === undefined) throw new LocalMeshError('LOCAL_MESH_ERR_UNKNOWN_NODE', `no node named ${node} (nodes: ${[...this.cluster.nodes.keys()].join(', ')})`);
    return n.ip;
  }

  /** A pod's address. */
  podIp(pod: string): string {
    const p = this.cluster.pods.get(pod);
    if (p === undefined) throw new LocalMeshError('LOCAL_MESH_ERR_UNKNOWN_NODE', `no pod named ${pod} (pods: ${[...this.cluster.pods.keys()].join(', ')})`);
    return p.ip;
  }

  /**
   * What any proxy of this mesh needs to reach the control plane (xDS and CA on one address, verified
   * under its serving name, trusting the mesh root) with the token in `tokenPath`; and a PATH.
   */
  controlPlaneEnv(tokenPath: string): Record<string, string> {
    const root = path.join(this.stateDir, 'root-cert.pem');
    return {
      PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      XDS_ADDRESS: this.xdsAddress,
      CA_ADDRESS: this.xdsAddress,
      ALT_XDS_HOSTNAME: CONTROL_PLANE_HOSTNAME,
      ALT_CA_HOSTNAME: CONTROL_PLANE_HOSTNAME,
      XDS_ROOT_CA: root,
      CA_ROOT_CA: root,
      AUTH_TOKEN: tokenPath,
    };
  }

  /** The environment a ztunnel on `node` runs with (the control plane's address, root and the node's token). */
  ztunnelEnv(node: string, extra: Readonly<Record<string, string>> = {}): Record<string, string> {
    return {
      ...this.controlPlaneEnv(path.join(this.stateDir, 'node-tokens', `${node}.token`)),
      NODE_NAME: node,
      POD_NAME: `ztunnel-${node}`,
      POD_NAMESPACE: 'istio-system',
      INSTANCE_IP: this.nodeIp(node),
      LOG_LEVEL: 'info',
      ...extra,
    };
  }

  /**
   * Starts `ambit-ztunnel` in `node`'s namespace and resolves once `/healthz/ready` answers 200. The previous
   * ztunnel of the node must have exited (two would fight over the listeners).
   */
  async startZtunnel(node: string, options: StartZtunnelOptions = {}): Promise<MeshProcess> {
    this.#checkOpen();
    const previous = this.#ztunnels.get(node);
    if (previous?.running === true) throw new LocalMeshError('LOCAL_MESH_ERR_PROCESS', `the ztunnel on ${node} (pid ${previous.pid}) is still running: stop it first`);
    const env = this.ztunnelEnv(node, options.env ?? {});
    const child = this.cluster.spawn(node, process.execPath, [...(options.nodeArgs ?? []), ZTUNNEL_MAIN], { env });
    const z = new MeshProcess(`ztunnel-${node}`, node, child);
    this.#ztunnels.set(node, z);
    await this.#awaitReady(z, async () => (await this.readiness(node)).status === 200, `ztunnel on ${node} to be ready`, this.#waitMs);
    return z;
  }

  /**
   * Starts any long-running process in a pod's or node's namespace under a unique `name`, with its stdout
   * kept as log records; resolves once `options.ready` holds (at once without it). This is how extensions
   * add processes (a waypoint in its pod, say): they are stopped and cleaned up with the mesh.
   */
  async startProcess(target: string, name: string, command: string, args: readonly string[], options: StartProcessOptions = {}): Promise<MeshProcess> {
    this.#checkOpen();
    const previous = this.#processes.get(name);
    if (previous?.running === true) throw new LocalMeshError('LOCAL_MESH_ERR_PROCESS', `a process named ${name} is already running (pid ${previous.pid})`);
    this.cluster.namespaceOf(target); // fails with the testbed's own message on an unknown target
    const child = this.cluster.spawn(target, command, args, { env: options.env ?? process.env });
    const p = new MeshProcess(name, target, child);
    this.#processes.set(name, p);
    const ready = options.ready;
    if (ready) await this.#awaitReady(p, async () => await ready(p), `${name} to be ready`, options.waitMs ?? this.#waitMs);
    return p;
  }

  /** Runs a command to completion in a pod's or node's namespace (the testbed's `exec`). */
  async exec(target: string, command: string, args: readonly string[] = [], options: ExecOptions = {}): Promise<CommandResult> {
    this.#checkOpen();
    return await this.cluster.exec(target, command, args, options);
  }

  /** `method` `http://127.0.0.1:<port><urlPath>` from inside `target`'s namespace (curl), e.g. a ztunnel's admin. */
  async httpGet(target: string, port: number, urlPath: string, method = 'GET'): Promise<HttpResult> {
    const r = await this.exec(target, 'curl', ['-s', '--max-time', '10', '-X', method, '-o', '-', '-w', '\n%{http_code}', `http://127.0.0.1:${port}${urlPath}`], { timeoutMs: 15_000 });
    const cut = r.stdout.lastIndexOf('\n');
    return { status: Number(r.stdout.slice(cut + 1)), body: r.stdout.slice(0, cut) };
  }

  /** A ztunnel's `/healthz/ready`; status 0 when nothing answers. */
  async readiness(node: string): Promise<HttpResult> {
    try {
      return await this.httpGet(node, 15021, '/healthz/ready');
    } catch {
      return { status: 0, body: '' };
    }
  }

  /** The config's YAML files, relative to `configDir`, sorted. */
  async configFiles(): Promise<string[]> {
    return await listConfig(this.configDir);
  }

  /** Every object of the current config, in file order (for extensions: Gateways, Pods…). */
  async resources(): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    for (const file of await this.configFiles()) {
      for (const doc of parseAllDocuments(await readFile(path.join(this.configDir, file), 'utf8'))) {
        const value: unknown = doc.toJS();
        if (value !== null && typeof value === 'object' && !Array.isArray(value)) out.push(value as Record<string, unknown>);
      }
    }
    return out;
  }

  /**
   * Rewrites one config file through `edit` (atomically); the control plane notices and pushes. `file` may be
   * left out when the config has a single file. Throws LOCAL_MESH_ERR_EDIT when the file is unknown or
   * ambiguous, or the edit changed nothing (a test that meant to change the mesh would wait in vain).
   */
  async editConfig(edit: (yaml: string) => string, file?: string): Promise<void> {
    this.#checkOpen();
    const files = await this.configFiles();
    let name: string;
    if (file === undefined) {
      if (files.length !== 1) throw new LocalMeshError('LOCAL_MESH_ERR_EDIT', `the config has ${files.length} files (${files.join(', ')}): say which one to edit`);
      name = files[0]!;
    } else {
      name = checkConfigName(file);
      if (!files.includes(name)) throw new LocalMeshError('LOCAL_MESH_ERR_EDIT', `no config file ${name} (files: ${files.join(', ')})`);
    }
    const full = path.join(this.configDir, name);
    const before = await readFile(full, 'utf8');
    const after = edit(before);
    if (after === before) throw new LocalMeshError('LOCAL_MESH_ERR_EDIT', `the edit of ${name} changed nothing`);
    await writeAtomically(full, after);
  }

  /** Writes (adds or replaces) a config file, atomically. */
  async writeConfig(file: string, yaml: string): Promise<void> {
    this.#checkOpen();
    await writeAtomically(path.join(this.configDir, checkConfigName(file)), yaml);
  }

  /** Removes a config file; LOCAL_MESH_ERR_EDIT when there is none. */
  async removeConfig(file: string): Promise<void> {
    this.#checkOpen();
    const full = path.join(this.configDir, checkConfigName(file));
    try {
      await stat(full);
    } catch {
      throw new LocalMeshError('LOCAL_MESH_ERR_EDIT', `no config file ${file}`);
    }
    await rm(full);
  }

  /** A client in `pod` holding a connection to `host:port` open; resolves once connected, with what the server saw. */
  async holdConnection(pod: string, host: string, port: number): Promise<{ client: HeldClient; server: Record<string, unknown> }> {
    this.#checkOpen();
    const child = this.cluster.spawn(pod, process.execPath, [HELD_CLIENT_APP, host, String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const client = new HeldClient(new AppProcess(child, `held client ${pod} -> ${host}:${port}`));
    const connected = await client.app.waitFor('connected');
    return { client, server: connected['server'] as Record<string, unknown> };
  }

  /**
   * Graceful: SIGTERM to the extensions' processes, then the ztunnels (they drain and remove their rules),
   * then the control plane, each given up to 10 s before SIGKILL; then destroy().
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await Promise.all([...this.#processes.values()].reverse().map((p) => p.stop()));
      await Promise.all([...this.#ztunnels.values()].map((z) => z.stop()));
      await this.#controlPlane?.stop();
    } finally {
      await this.destroy();
    }
  }

  /** Immediate and idempotent: kills every process, removes the namespaces and the directory. */
  async destroy(): Promise<void> {
    this.#closed = true;
    try {
      await this.cluster.destroy();
    } finally {
      process.off('exit', this.#removeDirOnExit);
      await rm(this.dir, { recursive: true, force: true });
    }
    this.#logger.info({ run: this.cluster.prefix }, 'local mesh removed');
  }

  async #startControlPlane(logLevel: string): Promise<void> {
    const child = this.cluster.spawn(
      this.controlPlaneNode,
      process.execPath,
      [CONTROL_PLANE_MAIN, '--config', this.configDir, '--listen', this.xdsAddress, '--admin', '127.0.0.1:15014', '--state-dir', this.stateDir],
      { env: { ...process.env, LOG_LEVEL: logLevel } },
    );
    this.#controlPlane = new MeshProcess('control-plane', this.controlPlaneNode, child);
    // Ready once it has published the root and every node's token (written after it listens).
    const files = ['root-cert.pem', ...[...this.cluster.nodes.keys()].map((n) => path.join('node-tokens', `${n}.token`))].map((f) => path.join(this.stateDir, f));
    await this.#awaitReady(this.#controlPlane, async () => (await Promise.all(files.map(exists))).every(Boolean), 'the control plane to publish its root and node tokens (it writes a node\'s token once the node has a pod in the mesh: every node needs one)', this.#waitMs);
  }

  /** Waits for `ready`; on failure kills the process and throws LOCAL_MESH_ERR_START naming it and its output. */
  async #awaitReady(p: MeshProcess, ready: () => Promise<boolean>, what: string, waitMs: number): Promise<void> {
    try {
      await until(ready, () => what, { dead: () => !p.running, waitMs });
    } catch (cause) {
      await p.kill();
      throw new LocalMeshError('LOCAL_MESH_ERR_START', `${(cause as Error).message}; ${p.describe()}`, { cause });
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new LocalMeshError('LOCAL_MESH_ERR_DESTROYED', `the local mesh ${this.cluster.prefix} was closed`);
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}
