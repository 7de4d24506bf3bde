/**
 * Just enough network-namespace plumbing for the sockopt tests (the testbed package depends on sockopt, so it
 * cannot be used here). Namespaces are named `ambit-<run>-<name>` and the run is registered in
 * /run/ambit-testbed like a testbed run, so `scripts/testbed.sh down` reaps it if this process dies.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';

const STATE_DIR = '/run/ambit-testbed';
const PEER = fileURLToPath(new URL('../fixtures/peer.js', import.meta.url));
/** A safety net against hangs, not a timed assertion: a healthy exchange takes milliseconds. */
const WAIT_MS = 20_000;

export type PeerEvent = Record<string, unknown> & { event: string };

/** Runs a command, resolving with stdout; rejects with the command line and stderr. */
export function run(cmd: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${String(code)}: ${err.trim()}`));
    });
    // A command that exits without reading its input must fail by its exit code, not by EPIPE.
    child.stdin?.on('error', () => undefined).end(input);
  });
}

/** A peer.js process in a namespace; `next()` yields its JSON events in order. */
export class Peer {
  readonly child: ChildProcess;
  readonly #events: PeerEvent[] = [];
  readonly #waiters: ((e: PeerEvent) => void)[] = [];
  #stderr = '';

  constructor(child: ChildProcess) {
    this.child = child;
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (this.#stderr += d));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const event = JSON.parse(line) as PeerEvent;
      const waiter = this.#waiters.shift();
      if (waiter) waiter(event);
      else this.#events.push(event);
    });
  }

  next(): Promise<PeerEvent> {
    const queued = this.#events.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`peer sent nothing in ${WAIT_MS} ms; stderr: ${this.#stderr}`)), WAIT_MS);
      this.#waiters.push((e) => {
        clearTimeout(timer);
        resolve(e);
      });
    });
  }
}

export class Lab {
  readonly run = `so${randomBytes(3).toString('hex')}`;
  readonly #namespaces: string[] = [];
  readonly #children = new Set<ChildProcess>();

  /** A lab torn down when the test ends, pass or fail. */
  static create(t: ExecutionContext): Lab {
    const lab = new Lab();
    mkdirSync(STATE_DIR, { recursive: true });
    // The testbed's run record (packages/testbed/src/state.ts); 'wx' so two runs never share a name.
    const record = { version: 1, prefix: lab.run, owner: { pid: process.pid }, createdAt: new Date().toISOString() };
    writeFileSync(lab.#stateFile, JSON.stringify(record), { flag: 'wx' });
    t.teardown(() => lab.destroy());
    return lab;
  }

  get #stateFile(): string {
    return `${STATE_DIR}/${this.run}.json`;
  }

  ns(name: string): string {
    return `ambit-${this.run}-${name}`;
  }

  async addNamespace(name: string): Promise<void> {
    await run('ip', ['netns', 'add', this.ns(name)]);
    this.#namespaces.push(this.ns(name));
    await this.ip(name, 'link', 'set', 'lo', 'up');
  }

  /** `ip -n <ns> args…` */
  ip(name: string, ...args: string[]): Promise<string> {
    return run('ip', ['-n', this.ns(name), ...args]);
  }

  /** Runs a command inside a namespace. */
  exec(name: string, cmd: string, args: readonly string[], input?: string): Promise<string> {
    return run('ip', ['netns', 'exec', this.ns(name), cmd, ...args], input);
  }

  /** A veth between two namespaces, each end with an address (CIDR notation) and up. */
  async link(a: string, ifA: string, addrA: string, b: string, ifB: string, addrB: string): Promise<void> {
    await this.ip(a, 'link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB, 'netns', this.ns(b));
    await this.ip(a, 'addr', 'add', addrA, 'dev', ifA);
    await this.ip(b, 'addr', 'add', addrB, 'dev', ifB);
    await this.ip(a, 'link', 'set', ifA, 'up');
    await this.ip(b, 'link', 'set', ifB, 'up');
  }

  /** Starts test/fixtures/peer.js in a namespace. */
  peer(name: string, args: readonly string[]): Peer {
    const child = spawn('ip', ['netns', 'exec', this.ns(name), process.execPath, PEER, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#children.add(child);
    child.on('exit', () => this.#children.delete(child));
    return new Peer(child);
  }

  async destroy(): Promise<void> {
    for (const child of this.#children) child.kill('SIGKILL');
    for (const ns of this.#namespaces.splice(0)) {
      // Processes still inside would keep the namespace alive after its name is gone.
      const pids = (await run('ip', ['netns', 'pids', ns]).catch(() => '')).split('\n').filter(Boolean);
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await run('ip', ['netns', 'del', ns]);
    }
    rmSync(this.#stateFile, { force: true });
  }
}
