/**
 * One data-path worker thread (docs/ztunnel.md, "More cores"): a replica of the main thread's state, a
 * certificate source fed by the main thread's secret manager, and its own `Proxy` with its own listeners,
 * which join the main listeners' SO_REUSEPORT groups so that the kernel spreads captured connections across
 * the workers. It counts into its own metrics registry, which the main thread merges for `/metrics`, and
 * writes its access log lines itself (pino writes each line with one `write` to fd 1).
 *
 * The replica follows the main thread's updates in order; policy changes re-check this worker's live
 * connections as they do on the main thread. An update the replica cannot decode means the threads
 * disagree: the worker ends with an error and the pool starts a new one from the whole state.
 */
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import type { MessagePort } from 'node:worker_threads';
import { Registry } from 'prom-client';
import { Identity } from '@ambit/mesh-core/identity';
import { createLogger, type Logger } from '@ambit/mesh-core/telemetry';
import { CaptureListeners, dialTransparent } from '../capture/index.js';
import { createProxy } from '../data-path.js';
import type { UpstreamDialer } from '../proxy/context.js';
import type { Proxy } from '../proxy/proxy.js';
import { StateStore } from '../state/store.js';
import { WireDecoder } from '../state/wire.js';
import { fromCertificateMessage, type FromWorker, type ToWorker, type WorkerInit } from './protocol.js';
import { ReplicaCertificates } from './replica-certificates.js';

/** Dials from the source pod's address, as the main thread does; or plainly, for loopback tests. */
function dialerFor(init: WorkerInit): UpstreamDialer {
  if (init.listen.transparentDial) return { dial: (source, target) => dialTransparent(source, target, { mark: init.listen.mark }) };
  return {
    dial: async (source, target): Promise<Socket> => {
      const socket = connect({ host: target.host, port: target.port, localAddress: source, allowHalfOpen: true });
      await once(socket, 'connect');
      return socket;
    },
  };
}

export class DataPathWorker {
  readonly #port: MessagePort;
  readonly #logger: Logger;
  readonly #store: StateStore;
  readonly #decoder = new WireDecoder();
  readonly #certificates: ReplicaCertificates;
  readonly #registry = new Registry();
  #proxy: Proxy | undefined;
  #listeners: CaptureListeners | undefined;

  private constructor(port: MessagePort, init: WorkerInit) {
    this.#port = port;
    this.#logger = createLogger({ level: init.config.logLevel }).child({ worker: init.index });
    this.#store = new StateStore({ logger: this.#logger });
    this.#store.apply(this.#decoder.decode(init.state));
    this.#certificates = new ReplicaCertificates((identity) => this.#post({ kind: 'certificate-request', identity }));
    for (const c of init.certificates) this.#certificates.put(fromCertificateMessage(c));
  }

  /**
   * Builds the worker's data path and listens; posts `listening` (or `failed` with the reason, then
   * rethrows). Messages are handled from the start, so that no update posted meanwhile is lost.
   */
  static async run(port: MessagePort, init: WorkerInit): Promise<DataPathWorker> {
    const worker = new DataPathWorker(port, init);
    port.on('message', (message: ToWorker) => worker.#handle(message));
    try {
      const proxy = await createProxy(init.config, {
        state: worker.#store,
        certificates: worker.#certificates,
        dialer: dialerFor(init),
        registry: worker.#registry,
        logger: worker.#logger,
      });
      worker.#proxy = proxy;
      const { ports, mark } = init.listen;
      worker.#listeners = await CaptureListeners.open(proxy.servers, {
        ...(init.listen.host === undefined ? {} : { host: init.listen.host }),
        ports,
        mark,
        reusePort: true,
      });
      const bound = worker.#listeners.addresses();
      worker.#post({ kind: 'listening', ports: { outbound: bound.outbound.port, inboundPlain: bound.inboundPlain.port, inboundHbone: bound.inboundHbone.port } });
      worker.#logger.debug({ ports: init.listen.ports }, 'worker listening');
      return worker;
    } catch (err) {
      worker.#post({ kind: 'failed', reason: err instanceof Error ? err.message : String(err) });
      worker.#stop();
      throw err;
    }
  }

  #handle(message: ToWorker): void {
    switch (message.kind) {
      case 'state':
        // A throw here ends the worker (uncaught): the pool replaces it with one built from the whole state.
        this.#store.apply(this.#decoder.decode(message.update));
        return;
      case 'certificate':
        this.#certificates.put(fromCertificateMessage(message.certificate));
        return;
      case 'certificate-error':
        this.#certificates.fail(message.identity, message.reason);
        return;
      case 'forget':
        this.#certificates.forget(message.identity);
        this.#proxy?.forgetIdentity(Identity.parse(message.identity));
        return;
      case 'metrics':
        void this.#registry.getMetricsAsJSON().then((metrics) => this.#post({ kind: 'reply', id: message.id, request: 'metrics', metrics }));
        return;
      case 'stats':
        this.#post({ kind: 'reply', id: message.id, request: 'stats', stats: this.#proxy?.stats() ?? EMPTY_STATS });
        return;
      case 'drain':
        void this.#drain(message.id, message.deadlineMs);
        return;
    }
  }

  async #drain(id: number, deadlineMs: number): Promise<void> {
    const outcome = this.#proxy === undefined ? 'drained' : await this.#proxy.drain(deadlineMs);
    this.#listeners?.destroy();
    this.#post({ kind: 'reply', id, request: 'drain', outcome });
    this.#stop();
  }

  /** Lets the thread end: nothing left holds its event loop. */
  #stop(): void {
    this.#proxy?.destroy();
    this.#listeners?.destroy();
    this.#certificates.destroy();
    this.#store.destroy();
    this.#port.close();
  }

  #post(message: FromWorker): void {
    this.#port.postMessage(message);
  }
}

const EMPTY_STATS = Object.freeze({ connections: 0, hboneClient: { connections: 0, streams: 0 }, hboneServer: { sessions: 0, streams: 0 } });
