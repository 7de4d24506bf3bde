/**
 * A two-node mesh in network namespaces for the ztunnel end-to-end tests: the testbed cluster of
 * `fixtures/ztunnel-mesh.yaml`, the real control plane (its CLI) and one real ztunnel per node (its CLI,
 * `ambit-ztunnel`), each in its node's network namespace, and echo servers in the pods.
 *
 * Where the control plane runs: a node's network namespace cannot reach the root namespace's loopback, so
 * the control plane runs inside node-a's namespace, listening on node-a's fabric address (10.244.255.1:15012),
 * like a host-network istiod on that node. node-b's ztunnel reaches it over the fabric; traffic to a node's
 * own address is never captured (`fib daddr type local`). Its serving certificate names
 * `istiod.istio-system.svc`, which the ztunnels verify through `ALT_XDS_HOSTNAME` / `ALT_CA_HOSTNAME`.
 *
 * Everything is removed by `destroy()`: processes (the testbed kills what it spawned), namespaces (with them
 * every nft table and ip rule inside), and the temporary directory.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { AppProcess, Testbed, type EchoServer } from '@ambit/testbed';

const ROOT = path.join(import.meta.dirname, '..', '..', '..', '..');
export const MESH_YAML = path.join(ROOT, 'test', 'e2e', 'fixtures', 'ztunnel-mesh.yaml');
const CONTROL_PLANE = path.join(ROOT, 'packages', 'control-plane', 'dist', 'src', 'main.js');
export const ZTUNNEL = path.join(ROOT, 'packages', 'ztunnel', 'dist', 'src', 'main.js');
const HELD_CLIENT = path.join(import.meta.dirname, '..', 'fixtures', 'held-client.js');

export const NODE_IP = { 'node-a': '10.244.255.1', 'node-b': '10.244.255.2' } as const;
export type NodeName = keyof typeof NODE_IP;
export const POD_IP = {
  'client-a': '10.244.0.10',
  'web-a': '10.244.0.11',
  kiosk: '10.244.0.12',
  'plain-a': '10.244.0.13',
  'web-b': '10.244.1.20',
  'api-b': '10.244.1.21',
  outsider: '10.244.1.30',
} as const;
export type PodName = keyof typeof POD_IP;
export const WEB_VIP = '10.96.0.10';
const XDS_PORT = 15012;
/** A safety net against hangs; healthy steps take far less. Not a timed assertion. */
const WAIT_MS = 30_000;

export type LogRecord = Readonly<Record<string, unknown>>;

/** One `ambit-ztunnel` process and the JSON lines it logged. */
export class ZtunnelProcess {
  readonly node: NodeName;
  readonly child: ChildProcess;
  readonly logs: LogRecord[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #waiters = new Set<() => void>();
  #stderr = '';

  constructor(node: NodeName, child: ChildProcess) {
    this.node = node;
    this.child = child;
    this.exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        this.logs.push(JSON.parse(line) as LogRecord);
      } catch {
        this.logs.push({ msg: line });
      }
      for (const w of [...this.#waiters]) w();
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.#stderr = (this.#stderr + d).slice(-4000)));
    void this.exited.then(() => {
      for (const w of [...this.#waiters]) w();
    });
  }

  /** Access-log lines (component `access`). */
  access(): LogRecord[] {
    return this.logs.filter((r) => r['component'] === 'access');
  }

  /** Resolves with the first log record (already logged or later) that matches. */
  async waitForLog(match: (r: LogRecord) => boolean, what: string, waitMs = WAIT_MS): Promise<LogRecord> {
    const found = this.logs.find(match);
    if (found !== undefined) return found;
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`ztunnel on ${this.node}: no log line for ${what} in ${waitMs} ms; stderr: ${this.#stderr}; last lines: ${JSON.stringify(this.logs.slice(-5))}`));
      }, waitMs);
      const check = (): void => {
        const hit = this.logs.find(match);
        if (hit === undefined) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(hit);
      };
      this.#waiters.add(check);
    });
  }

  get stderr(): string {
    return this.#stderr;
  }
}

/** A client that keeps its connection open (fixtures/held-client.ts), driven line by line. */
export class HeldClient {
  readonly app: AppProcess;

  constructor(app: AppProcess) {
    this.app = app;
  }

  send(text: string): void {
    this.app.child.stdin!.write(`send ${text}\n`);
  }

  /** Half-closes: our FIN goes, the server's replies keep coming. */
  end(): void {
    this.app.child.stdin!.write('end\n');
  }
}

export class MeshBed {
  readonly cluster: Testbed;
  readonly dir: string;
  readonly yamlPath: string;
  readonly stateDir: string;
  readonly ztunnels = new Map<NodeName, ZtunnelProcess>();
  readonly servers = new Map<string, EchoServer>();

  private constructor(cluster: Testbed, dir: string) {
    this.cluster = cluster;
    this.dir = dir;
    this.yamlPath = path.join(dir, 'mesh.yaml');
    this.stateDir = path.join(dir, 'state');
  }

  /**
   * Builds the cluster, starts the control plane, a ztunnel per node (waiting until each is ready) and an
   * echo server on 8080 in every pod (and 9090 in api-b). `edit` changes the YAML before anything reads it.
   */
  static async create(prefix: string, options: { edit?: (yaml: string) => string; ztunnelEnv?: Readonly<Record<string, string>> } = {}): Promise<MeshBed> {
    const dir = await mkdtemp(path.join(tmpdir(), `ambit-${prefix}-`));
    let cluster: Testbed | undefined;
    try {
      const yaml = await readFile(MESH_YAML, 'utf8');
      cluster = await Testbed.create(yaml, { prefix: `${prefix}${Math.floor(Math.random() * 0xffff).toString(36)}` });
      const bed = new MeshBed(cluster, dir);
      if (options.edit === undefined) await copyFile(MESH_YAML, bed.yamlPath);
      else await writeFile(bed.yamlPath, options.edit(yaml));
      await bed.#startControlPlane();
      await Promise.all([bed.startZtunnel('node-a', options.ztunnelEnv), bed.startZtunnel('node-b', options.ztunnelEnv)]);
      for (const pod of Object.keys(POD_IP) as PodName[]) {
        bed.servers.set(`${pod}:8080`, await cluster.startEchoServer(pod, { protocol: 'tcp', port: 8080 }));
      }
      bed.servers.set('api-b:9090', await cluster.startEchoServer('api-b', { protocol: 'tcp', port: 9090 }));
      return bed;
    } catch (err) {
      await cluster?.destroy();
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  async #startControlPlane(): Promise<void> {
    const listen = `${NODE_IP['node-a']}:${XDS_PORT}`;
    const child = this.cluster.spawn('node-a', process.execPath, [CONTROL_PLANE, '--config', this.yamlPath, '--listen', listen, '--admin', '127.0.0.1:15014', '--state-dir', this.stateDir], {
      env: { ...process.env, LOG_LEVEL: 'warn' },
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdout!.resume();
    // Ready once it has published the root and both nodes' tokens.
    const files = ['root-cert.pem', 'node-tokens/node-a.token', 'node-tokens/node-b.token'].map((f) => path.join(this.stateDir, f));
    await until(async () => (await Promise.all(files.map(exists))).every(Boolean), () => `control plane state files (stderr: ${stderr})`, () => child.exitCode !== null);
  }

  /** The environment a ztunnel on `node` runs with. */
  ztunnelEnv(node: NodeName, extra: Readonly<Record<string, string>> = {}): Record<string, string> {
    const address = `${NODE_IP['node-a']}:${XDS_PORT}`;
    return {
      PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      XDS_ADDRESS: address,
      CA_ADDRESS: address,
      ALT_XDS_HOSTNAME: 'istiod.istio-system.svc',
      ALT_CA_HOSTNAME: 'istiod.istio-system.svc',
      XDS_ROOT_CA: path.join(this.stateDir, 'root-cert.pem'),
      CA_ROOT_CA: path.join(this.stateDir, 'root-cert.pem'),
      AUTH_TOKEN: path.join(this.stateDir, 'node-tokens', `${node}.token`),
      NODE_NAME: node,
      POD_NAME: `ztunnel-${node}`,
      POD_NAMESPACE: 'istio-system',
      INSTANCE_IP: NODE_IP[node],
      LOG_LEVEL: 'info',
      ...extra,
    };
  }

  /** Starts `ambit-ztunnel` in `node`'s namespace and waits until `/healthz/ready` answers 200. */
  async startZtunnel(node: NodeName, extraEnv: Readonly<Record<string, string>> = {}): Promise<ZtunnelProcess> {
    const child = this.cluster.spawn(node, process.execPath, [ZTUNNEL], { env: this.ztunnelEnv(node, extraEnv) });
    const z = new ZtunnelProcess(node, child);
    this.ztunnels.set(node, z);
    await until(
      async () => (await this.readiness(node)).status === 200,
      () => `ztunnel on ${node} to be ready (stderr: ${z.stderr}; logs: ${JSON.stringify(z.logs.slice(-5))})`,
      () => child.exitCode !== null,
    );
    return z;
  }

  ztunnel(node: NodeName): ZtunnelProcess {
    const z = this.ztunnels.get(node);
    if (z === undefined) throw new Error(`no ztunnel on ${node}`);
    return z;
  }

  /** GET `http://127.0.0.1:<port><path>` from inside `node`'s namespace. */
  async httpGet(node: NodeName, port: number, urlPath: string, method = 'GET'): Promise<{ status: number; body: string }> {
    const r = await this.cluster.exec(node, 'curl', ['-s', '-X', method, '-o', '-', '-w', '\n%{http_code}', `http://127.0.0.1:${port}${urlPath}`], { timeoutMs: 10_000 });
    const out = r.stdout;
    const cut = out.lastIndexOf('\n');
    return { status: Number(out.slice(cut + 1)), body: out.slice(0, cut) };
  }

  readiness(node: NodeName): Promise<{ status: number; body: string }> {
    return this.httpGet(node, 15021, '/healthz/ready').catch(() => ({ status: 0, body: '' }));
  }

  /** Rewrites the control plane's YAML; the control plane notices and pushes. */
  async editYaml(edit: (yaml: string) => string): Promise<void> {
    const before = await readFile(this.yamlPath, 'utf8');
    const after = edit(before);
    if (after === before) throw new Error('the YAML edit changed nothing');
    await writeFile(this.yamlPath, after);
  }

  /** A client in `pod` holding a connection to `host:port` open; resolves once connected (with what the server saw). */
  async holdConnection(pod: PodName, host: string, port: number): Promise<{ client: HeldClient; server: Record<string, unknown> }> {
    const child = this.cluster.spawn(pod, process.execPath, [HELD_CLIENT, host, String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const client = new HeldClient(new AppProcess(child, `held client ${pod} -> ${host}:${port}`));
    const connected = await client.app.waitFor('connected');
    return { client, server: connected['server'] as Record<string, unknown> };
  }

  async destroy(): Promise<void> {
    try {
      await this.cluster.destroy();
    } finally {
      await rm(this.dir, { recursive: true, force: true });
    }
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

/** Polls `cond` until it holds; fails when `dead()` says the process it waits on is gone, or after WAIT_MS. */
export async function until(cond: () => Promise<boolean> | boolean, what: () => string, dead: () => boolean = () => false, waitMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    if (await cond()) return;
    if (dead()) throw new Error(`gave up waiting for ${what()}: the process exited`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
