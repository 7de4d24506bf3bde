/**
 * Starts the benchmark's xDS client child (`client-main.ts`, with `--expose-gc`) and turns its IPC
 * messages into awaitable events.
 */
import path from 'node:path';
import { Child, raceChild } from '../lib/child.js';
import type { Cleanup } from '../lib/cleanup.js';
import { BenchError } from '../lib/errors.js';
import {
  isClientMessage,
  type ChurnAppliedMessage,
  type ClientCommand,
  type ClientMessage,
  type HeapReading,
  type SyncedMessage,
} from './messages.js';

const CLIENT_MAIN = path.join(import.meta.dirname, 'client-main.js');

/** The client's CPU profile under `--profile`. */
export const CLIENT_PROFILE = 'xds-client.cpuprofile';

export class BenchClient {
  readonly child: Child;
  /** Heap after loading the codecs, before connecting. */
  readonly baseline: HeapReading;
  readonly #signal: AbortSignal;
  readonly #timeoutMs: number;
  readonly #waiters: { match: (m: ClientMessage) => boolean; resolve: (m: ClientMessage) => void }[] = [];
  #failure: string | undefined;

  private constructor(child: Child, baseline: HeapReading, signal: AbortSignal, timeoutMs: number) {
    this.child = child;
    this.baseline = baseline;
    this.#signal = signal;
    this.#timeoutMs = timeoutMs;
    child.process.on('message', (m: unknown) => {
      if (!isClientMessage(m)) return;
      if (m.type === 'failed') this.#failure = m.reason;
      const i = this.#waiters.findIndex((w) => w.match(m));
      if (i >= 0) this.#waiters.splice(i, 1)[0]!.resolve(m);
    });
  }

  /** Starts the client child; with `profileDir`, it runs with `--cpu-prof`, its profile written there when it exits. */
  static async start(cleanup: Cleanup, signal: AbortSignal, timeoutMs: number, profileDir?: string): Promise<BenchClient> {
    const profile = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${CLIENT_PROFILE}`];
    const child = await Child.start('xds-client', process.execPath, [...profile, '--expose-gc', CLIENT_MAIN], { cleanup, ipc: true });
    const baseline = await raceChild(child, timeoutMs, signal, 'the xDS client did not start', () =>
      new Promise<HeapReading>((resolve) => {
        child.process.once('message', (m: unknown) => {
          if (isClientMessage(m) && m.type === 'baseline') resolve(m.heap);
        });
      }),
    );
    return new BenchClient(child, baseline, signal, timeoutMs);
  }

  send(command: ClientCommand): void {
    this.child.process.send(command);
  }

  synced(): Promise<SyncedMessage> {
    return this.#next((m): m is SyncedMessage => m.type === 'synced', 'the xDS client did not sync');
  }

  churn(ip: string, revision: string): Promise<ChurnAppliedMessage> {
    return this.#next(
      (m): m is ChurnAppliedMessage => m.type === 'churn' && m.ip === ip && m.revision === revision,
      `the xDS client did not apply the churn pod at ${ip} ${revision}`,
    );
  }

  async heap(): Promise<HeapReading> {
    const reply = this.#next((m): m is Extract<ClientMessage, { type: 'heap' }> => m.type === 'heap', 'the xDS client did not report its heap');
    this.send({ type: 'heap' });
    return (await reply).heap;
  }

  /** Registers the waiter before anything can arrive, and fails fast on a `failed` message. */
  #next<T extends ClientMessage>(match: (m: ClientMessage) => m is T, reason: string): Promise<T> {
    const arrived = new Promise<T>((resolve, reject) => {
      if (this.#failure !== undefined) reject(new BenchError('BENCH_ERR_PATH', this.#failure));
      this.#waiters.push({ match: (m) => match(m) || m.type === 'failed', resolve: (m) => (m.type === 'failed' ? reject(new BenchError('BENCH_ERR_PATH', m.reason)) : resolve(m as T)) });
    });
    return raceChild(this.child, this.#timeoutMs, this.#signal, reason, () => arrived);
  }
}
