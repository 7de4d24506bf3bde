/**
 * The main thread's side of the data-path workers (docs/ztunnel.md, "More cores"): it starts
 * `ZTUNNEL_WORKER_THREADS` worker threads, each with its own proxy and its own listeners on the same ports
 * (SO_REUSEPORT: the kernel spreads captured connections across them), and feeds them from the one xDS
 * stream and the one secret manager the main thread owns:
 *
 * - state: every update the main store applies, in wire form (`WireMirror`), in order; a worker starts
 *   from the whole state at the moment it is spawned, then follows;
 * - certificates: each one the secret manager issues or rotates is posted to every worker; a worker asking
 *   for one it lacks is answered from the secret manager (which fetches it if need be);
 * - identities that leave the node are forgotten everywhere.
 *
 * A worker that dies is started again after a delay, from the whole state; until it listens again,
 * readiness lists it, and the other workers take every connection. Its counters are lost with it, as a
 * restarted process's would be. `/metrics` merges the workers' registries with the main thread's
 * (`AggregatorRegistry.aggregate`: counters and histograms summed per label set).
 */
import { Worker } from 'node:worker_threads';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { Identity, type CertificateSource, type CertificateUpdate } from '@ambit/mesh-core/identity';
import type { Logger } from '@ambit/mesh-core/telemetry';
import type { Config } from '../config.js';
import type { DataPath } from '../data-path.js';
import type { DrainOutcome } from '../drain.js';
import { WorkerError } from '../errors.js';
import type { WireMirror } from '../state/wire.js';
import { toCertificateMessage, type CertificateMessage, type DataPathStats, type FromWorker, type MetricsJson, type ToWorker, type WorkerInit, type WorkerListen, type WorkerReply, type WorkerRequest } from './protocol.js';

export const DEFAULT_RESTART_DELAY_MS = 1_000;
/** How long `/metrics` and `/config_dump` wait for a worker's answer. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
/** How long after the drain deadline a worker may take to answer before it is terminated. */
const DRAIN_MARGIN_MS = 2_000;

export interface WorkerPoolOptions {
  /** Worker threads, at least 1. */
  readonly count: number;
  readonly config: Config;
  /** The main store's state in wire form; the pool follows it from construction on. */
  readonly mirror: WireMirror;
  /** The main thread's secret manager. */
  readonly secrets: CertificateSource & { onCertificate(listener: (update: CertificateUpdate) => void): () => void };
  readonly logger: Logger;
  /** The listeners; port 0 lets the first worker pick and the others follow it (tests). */
  readonly listen: WorkerListen;
  readonly restartDelayMs?: number;
  readonly requestTimeoutMs?: number;
  /** The worker script; default `worker-main.js` beside this module. */
  readonly script?: URL;
}

type Reply<K extends WorkerRequest['kind']> = Extract<WorkerReply, { request: K }>;

interface Pending {
  resolve(reply: WorkerReply): void;
  reject(err: Error): void;
}

/** One worker's place in the pool: the thread now running in it, if any, and its requests in flight. */
class Slot {
  readonly index: number;
  worker: Worker | undefined;
  listening = false;
  /** Why the last thread ended, while a new one is awaited (readiness). */
  down: string | undefined;
  readonly pending = new Map<number, Pending>();
  restartTimer: NodeJS.Timeout | undefined;

  constructor(index: number) {
    this.index = index;
  }

  post(message: ToWorker): void {
    this.worker?.postMessage(message);
  }

  failPending(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

export class WorkerPool implements DataPath {
  readonly #options: WorkerPoolOptions;
  readonly #logger: Logger;
  readonly #slots: Slot[];
  readonly #script: URL;
  /** The latest certificate per identity URI, for workers started later. */
  readonly #certificates = new Map<string, CertificateMessage>();
  readonly #unsubscribe: (() => void)[];
  #listen: WorkerListen;
  #nextId = 1;
  #stopping = false;

  constructor(options: WorkerPoolOptions) {
    if (!Number.isInteger(options.count) || options.count < 1) throw new WorkerError(`a worker pool needs at least one worker, got ${String(options.count)}`);
    this.#options = options;
    this.#logger = options.logger.child({ component: 'workers' });
    this.#listen = options.listen;
    this.#script = options.script ?? new URL('./worker-main.js', import.meta.url);
    this.#slots = Array.from({ length: options.count }, (_, i) => new Slot(i));
    this.#unsubscribe = [
      options.mirror.onUpdate((update) => this.#broadcast({ kind: 'state', update })),
      options.secrets.onCertificate((update) => {
        const message = toCertificateMessage(update.certificate);
        this.#certificates.set(message.identity, message);
        this.#broadcast({ kind: 'certificate', certificate: message });
      }),
    ];
  }

  /**
   * Starts every worker and resolves once all listen: the first alone (it binds the ports, choosing them
   * when 0 was asked for), then the others on its ports. Rejects with `ZT_ERR_WORKER` naming the worker
   * and its reason (the started ones are stopped again).
   */
  async start(): Promise<void> {
    try {
      const [first, ...rest] = this.#slots;
      this.#listen = { ...this.#listen, ports: await this.#spawn(first!) };
      await Promise.all(rest.map((slot) => this.#spawn(slot)));
    } catch (err) {
      this.destroy();
      throw err;
    }
    this.#logger.info({ workers: this.#slots.length, ports: this.#listen.ports }, 'data-path workers listening');
  }

  /** The ports every worker listens on (known once `start()` resolved). */
  get ports(): WorkerListen['ports'] {
    return this.#listen.ports;
  }

  /** Readiness: a line per worker that is not listening. */
  pending(): string[] {
    return this.#slots.filter((s) => !s.listening).map((s) => `data-path worker ${s.index} not listening${s.down === undefined ? '' : ` (restarting: ${s.down})`}`);
  }

  /** Each worker's open connections and tunnels, and their sum. */
  async stats(): Promise<DataPathStats & { readonly workers: readonly (DataPathStats | { readonly error: string })[] }> {
    const answers = await Promise.all(
      this.#slots.map((slot) =>
        this.#ask(slot, { kind: 'stats' }).then(
          (reply) => reply.stats,
          (err: unknown) => ({ error: (err as Error).message }),
        ),
      ),
    );
    const sum = { connections: 0, hboneClient: { connections: 0, streams: 0 }, hboneServer: { sessions: 0, streams: 0 } };
    for (const s of answers) {
      if ('error' in s) continue;
      sum.connections += s.connections;
      sum.hboneClient.connections += s.hboneClient.connections;
      sum.hboneClient.streams += s.hboneClient.streams;
      sum.hboneServer.sessions += s.hboneServer.sessions;
      sum.hboneServer.streams += s.hboneServer.streams;
    }
    return { ...sum, workers: answers };
  }

  /**
   * The main registry's metrics merged with every worker's, for `/metrics` (mesh-core's `statsRoutes` takes
   * it in place of a registry). A worker that does not answer is left out and logged.
   */
  metricsOf(main: Registry): { metrics(): Promise<string>; readonly contentType: string } {
    return {
      contentType: main.contentType,
      metrics: async () => {
        const parts: MetricsJson[] = [await main.getMetricsAsJSON()];
        for (const slot of this.#slots) {
          try {
            parts.push((await this.#ask(slot, { kind: 'metrics' })).metrics);
          } catch (err) {
            this.#logger.warn({ err, worker: slot.index }, 'a worker gave no metrics; /metrics leaves it out');
          }
        }
        return await AggregatorRegistry.aggregate(parts).metrics();
      },
    };
  }

  forgetIdentity(identity: Identity): void {
    this.#certificates.delete(identity.uri);
    this.#broadcast({ kind: 'forget', identity: identity.uri });
  }

  /**
   * Every worker drains at once (stops accepting, lets connections finish until `deadlineMs`, closes the
   * rest); `forced` if any had to close connections or did not answer in time. The threads then end.
   */
  async drain(deadlineMs: number): Promise<DrainOutcome> {
    this.#stopping = true;
    this.#stopFollowing();
    const outcomes = await Promise.all(
      this.#slots.map((slot) =>
        this.#ask(slot, { kind: 'drain', deadlineMs }, deadlineMs + DRAIN_MARGIN_MS).then(
          (reply) => reply.outcome,
          (err: unknown) => {
            this.#logger.warn({ err, worker: slot.index }, 'a worker did not finish its drain; terminating it');
            return 'forced' as const;
          },
        ),
      ),
    );
    await Promise.all(this.#slots.map((slot) => this.#terminate(slot)));
    return outcomes.includes('forced') ? 'forced' : 'drained';
  }

  /** Terminates every worker now (their listeners and connections close with their threads). */
  destroy(): void {
    this.#stopping = true;
    this.#stopFollowing();
    for (const slot of this.#slots) void this.#terminate(slot);
  }

  #stopFollowing(): void {
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
  }

  async #terminate(slot: Slot): Promise<void> {
    clearTimeout(slot.restartTimer);
    const worker = slot.worker;
    slot.worker = undefined;
    slot.listening = false;
    slot.failPending(new WorkerError(`data-path worker ${slot.index} stopped`));
    if (worker !== undefined) await worker.terminate();
  }

  /** Starts a thread in `slot`; resolves with its ports once it listens, rejects if it fails first. */
  #spawn(slot: Slot): Promise<WorkerListen['ports']> {
    const init: WorkerInit = {
      index: slot.index,
      config: this.#options.config,
      listen: this.#listen,
      // Taken in the same turn as the spawn: every later update reaches the new thread as a message.
      state: this.#options.mirror.full(),
      certificates: [...this.#certificates.values()],
    };
    const worker = new Worker(this.#script, { workerData: init });
    slot.worker = worker;
    return new Promise((resolve, reject) => {
      let started = false;
      worker.on('message', (message: FromWorker) => {
        if (message.kind === 'listening') {
          started = true;
          slot.listening = true;
          slot.down = undefined;
          resolve(message.ports);
        } else if (message.kind === 'failed') {
          reject(new WorkerError(`data-path worker ${slot.index} could not start: ${message.reason}`));
        } else {
          this.#received(slot, message);
        }
      });
      worker.on('error', (err) => {
        if (!started) reject(new WorkerError(`data-path worker ${slot.index} could not start: ${err.message}`, { cause: err }));
        else this.#logger.error({ err, worker: slot.index }, 'data-path worker failed');
      });
      worker.on('exit', (code) => {
        if (!started) reject(new WorkerError(`data-path worker ${slot.index} exited with code ${code} before it listened`));
        if (slot.worker === worker) this.#lost(slot, `exited with code ${code}`);
      });
    });
  }

  /** A running thread ended on its own: its slot is restarted after the delay, unless the pool is stopping. */
  #lost(slot: Slot, reason: string): void {
    slot.worker = undefined;
    slot.listening = false;
    slot.failPending(new WorkerError(`data-path worker ${slot.index} ${reason}`));
    if (this.#stopping) return;
    slot.down = reason;
    const delayMs = this.#options.restartDelayMs ?? DEFAULT_RESTART_DELAY_MS;
    this.#logger.error({ worker: slot.index, reason, restartInMs: delayMs }, 'data-path worker lost; the others take its connections until it is back');
    slot.restartTimer = setTimeout(() => {
      if (this.#stopping) return;
      this.#spawn(slot).then(
        () => this.#logger.info({ worker: slot.index }, 'data-path worker back'),
        (err: unknown) => this.#logger.error({ err, worker: slot.index }, 'data-path worker could not be restarted'),
      );
    }, delayMs);
  }

  #received(slot: Slot, message: FromWorker): void {
    if (message.kind === 'reply') {
      const pending = slot.pending.get(message.id);
      slot.pending.delete(message.id);
      pending?.resolve(message);
    } else if (message.kind === 'certificate-request') {
      this.#answerCertificate(slot, message.identity);
    }
  }

  #answerCertificate(slot: Slot, uri: string): void {
    let identity: Identity;
    try {
      identity = Identity.parse(uri);
    } catch (err) {
      slot.post({ kind: 'certificate-error', identity: uri, reason: (err as Error).message });
      return;
    }
    this.#options.secrets.getCertificate(identity).then(
      (certificate) => slot.post({ kind: 'certificate', certificate: toCertificateMessage(certificate) }),
      (err: unknown) => slot.post({ kind: 'certificate-error', identity: uri, reason: err instanceof Error ? err.message : String(err) }),
    );
  }

  #broadcast(message: ToWorker): void {
    for (const slot of this.#slots) slot.post(message);
  }

  #ask<K extends WorkerRequest['kind']>(slot: Slot, request: { readonly kind: K } & Omit<Extract<WorkerRequest, { kind: K }>, 'id' | 'kind'>, timeoutMs?: number): Promise<Reply<K>> {
    const worker = slot.worker;
    if (worker === undefined || !slot.listening) return Promise.reject(new WorkerError(`data-path worker ${slot.index} is not running`));
    const id = this.#nextId++;
    const wait = timeoutMs ?? this.#options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    return new Promise<Reply<K>>((resolve, reject) => {
      const timer = setTimeout(() => {
        slot.pending.delete(id);
        reject(new WorkerError(`data-path worker ${slot.index} did not answer ${request.kind} within ${wait} ms`));
      }, wait);
      slot.pending.set(id, {
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply as Reply<K>);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      worker.postMessage({ ...request, id });
    });
  }
}
