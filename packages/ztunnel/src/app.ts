/**
 * Wires one ztunnel together from its parts (ztunnel's `app.rs`): the state store and its sync status, the
 * secret manager, the data path (`Proxy`), the listeners and capture it is given, the local-workload
 * follower (certificate prefetch, capture set), readiness, metrics, the access log and the three HTTP
 * endpoints. `main.ts` builds the production parts (xDS, CA, transparent listeners, nftables); tests pass
 * loopback ones.
 *
 * Start order: the endpoints first (readiness answers 500 while the rest starts), then the proxy, its
 * listeners, the follower, and capture — after the listeners, so that nothing captured is refused, and
 * after the first xDS responses, so that it never installs an empty capture set over a crashed run's.
 * Drain order (`drain()`): readiness goes false, the proxy stops accepting and lets connections finish
 * until the deadline, then the rest is closed, the capture rules removed, the endpoints closed.
 */
import { Registry } from 'prom-client';
import { HttpEndpoint, statsRoutes } from '@ambit/mesh-core/admin';
import type { CertificateSource } from '@ambit/mesh-core/identity';
import type { Clock } from '@ambit/mesh-core/lifecycle';
import type { Logger } from '@ambit/mesh-core/telemetry';
import { adminRoutes, readinessRoutes } from './admin/endpoints.js';
import type { Config } from './config.js';
import type { DrainOutcome } from './drain.js';
import { LocalWorkloads, type CaptureControl, type WorkloadSecrets } from './local-workloads.js';
import type { UpstreamDialer } from './proxy/context.js';
import type { Proxy, ProxyServers } from './proxy/proxy.js';
import { createProxy, ThreadDataPath, type DataPath } from './data-path.js';
import { Readiness } from './readiness.js';
import { snapshotDump } from './state/dump.js';
import type { StateStore } from './state/store.js';
import type { WorkerPool } from './workers/worker-pool.js';

/** Whether the control plane's state has arrived (`XdsStateUpdater`; always synced for local config). */
export interface SyncStatus {
  readonly synced: boolean;
  pending(): readonly string[];
  /** Resolves once synced (rejects if that will never happen); needed when `synced` starts false. */
  whenSynced?(): Promise<void>;
}

/** Listening servers, closed together (`CaptureListeners` satisfies it). */
export interface Listeners {
  close(): Promise<void>;
  destroy(): void;
}

/** The capture rules' lifecycle (`CaptureManager` satisfies it). */
export interface CaptureLifecycle extends CaptureControl {
  start(initial: readonly { uid: string; ip: string }[]): Promise<void>;
  close(): Promise<void>;
  destroy(): void;
  status(): { readonly state: string; readonly inSync: boolean; readonly lastError: string | undefined };
}

export interface EndpointAddress {
  readonly host: string;
  readonly port: number;
}

export interface ZtunnelCommonOptions {
  readonly config: Config;
  readonly logger: Logger;
  readonly store: StateStore;
  readonly sync: SyncStatus;
  readonly secrets: CertificateSource & WorkloadSecrets;
  readonly capture?: CaptureLifecycle;
  readonly registry?: Registry;
  readonly clock?: Clock;
  /** Where the endpoints listen; defaults: admin 127.0.0.1:15000, stats 0.0.0.0:15020, readiness 0.0.0.0:15021. */
  readonly endpoints?: { readonly admin?: EndpointAddress; readonly stats?: EndpointAddress; readonly readiness?: EndpointAddress };
  /** `/quitquitquit` was asked for: the owner drains and exits. */
  readonly onQuit?: () => void;
}

/**
 * Where the data path runs: on this thread (a `Proxy`, dialling with `dialer`, its servers listened by
 * `listen`: on transparent sockets in production), or on worker threads, which listen and dial themselves
 * (docs/ztunnel.md, "More cores").
 */
export type DataPathPlan =
  | { readonly dialer: UpstreamDialer; readonly listen: (servers: ProxyServers) => Promise<Listeners>; readonly workers?: undefined }
  | { readonly workers: WorkerPool; readonly dialer?: undefined; readonly listen?: undefined };

export type ZtunnelOptions = ZtunnelCommonOptions & DataPathPlan;

export class Ztunnel {
  readonly config: Config;
  readonly registry: Registry;
  readonly readiness: Readiness;
  readonly dataPath: DataPath;
  readonly localWorkloads: LocalWorkloads;
  readonly #options: ZtunnelOptions;
  readonly #logger: Logger;
  readonly #endpoints: HttpEndpoint[];
  readonly #addresses: Record<string, EndpointAddress>;
  readonly #lifecycle: { stopped: boolean };
  #draining: Promise<DrainOutcome> | undefined;

  private constructor(
    options: ZtunnelOptions,
    registry: Registry,
    readiness: Readiness,
    dataPath: DataPath,
    local: LocalWorkloads,
    endpoints: HttpEndpoint[],
    addresses: Record<string, EndpointAddress>,
    lifecycle: { stopped: boolean },
  ) {
    this.#lifecycle = lifecycle;
    this.#options = options;
    this.config = options.config;
    this.#logger = options.logger;
    this.registry = registry;
    this.readiness = readiness;
    this.dataPath = dataPath;
    this.localWorkloads = local;
    this.#endpoints = endpoints;
    this.#addresses = addresses;
  }

  /** Starts everything in order; a failure undoes what was started and rethrows. */
  static async start(options: ZtunnelOptions): Promise<Ztunnel> {
    const { config, logger } = options;
    const registry = options.registry ?? new Registry();
    const readiness = new Readiness();
    const endpoints: HttpEndpoint[] = [];
    const addresses: Record<string, EndpointAddress> = {};
    let proxy: Proxy | undefined;
    let dataPath: DataPath | undefined;
    let local: LocalWorkloads | undefined;
    let listeners: Listeners | undefined;
    let captureStarted = false;
    // Set when the start fails or the app stops, so that a deferred capture start does not run after.
    const lifecycle = { stopped: false };
    // Filled in once built; the admin endpoint is up before, answering from what exists.
    let app: Ztunnel | undefined;
    try {
      const ports = config.ports;
      const plan: [string, EndpointAddress, HttpEndpoint][] = [
        ['readiness', options.endpoints?.readiness ?? { host: '0.0.0.0', port: ports.readiness }, new HttpEndpoint('readiness', readinessRoutes(readiness), logger)],
        [
          'stats',
          options.endpoints?.stats ?? { host: '0.0.0.0', port: ports.stats },
          new HttpEndpoint('stats', statsRoutes(options.workers === undefined ? registry : options.workers.metricsOf(registry)), logger),
        ],
        [
          'admin',
          options.endpoints?.admin ?? { host: '127.0.0.1', port: ports.admin },
          new HttpEndpoint(
            'admin',
            adminRoutes({
              configDump: async () => (app === undefined ? { starting: true, config } : await app.configDump()),
              quit: () => options.onQuit?.(),
            }),
            logger,
          ),
        ],
      ];
      readiness.add({ name: 'xds', pending: () => options.sync.pending().map((t) => `waiting for the first ${t.slice(t.lastIndexOf('.') + 1)} response`) });
      for (const [name, where, endpoint] of plan) {
        endpoints.push(endpoint);
        const bound = await endpoint.listen(where.host, where.port);
        addresses[name] = { host: bound.address, port: bound.port };
      }

      const workers = options.workers;
      if (workers === undefined) {
        proxy = await createProxy(config, {
          state: options.store,
          certificates: options.secrets,
          dialer: options.dialer,
          registry,
          logger,
          ...(options.clock === undefined ? {} : { clock: options.clock }),
        });
        listeners = await options.listen(proxy.servers);
        dataPath = new ThreadDataPath(proxy, listeners);
      } else {
        readiness.add({ name: 'workers', pending: () => workers.pending() });
        await workers.start();
        dataPath = workers;
      }
      const built = dataPath;
      local = new LocalWorkloads({
        nodeName: config.nodeName,
        state: options.store,
        secrets: options.secrets,
        logger,
        onIdentityGone: (identity) => built.forgetIdentity(identity),
      });
      const follower = local;
      readiness.add({ name: 'certificates', pending: () => follower.pendingCertificates().map((uri) => `no certificate yet for ${uri}`) });
      local.start();
      const capture = options.capture;
      if (capture !== undefined) {
        readiness.add({
          name: 'capture',
          pending: () => {
            const s = capture.status();
            if (s.state !== 'running') return [`rules not installed (${s.state}${s.lastError === undefined ? '' : `: ${s.lastError}`})`];
            return s.inSync ? [] : [`rules out of step with the local workloads (${s.lastError ?? 'last change failed'})`];
          },
        });
        const startCapture = async (): Promise<void> => {
          const initial = options.store.current.localWorkloads(config.nodeName).flatMap((w) => {
            const ip = w.addresses.find((a) => !a.includes(':'));
            return ip === undefined ? [] : [{ uid: w.uid, ip }];
          });
          await capture.start(initial);
          captureStarted = true;
          follower.attachCapture(capture);
        };
        if (options.sync.synced || options.sync.whenSynced === undefined) {
          await startCapture();
        } else {
          // Not before the mesh is known: installed from an empty state, the rules would replace those of a
          // ztunnel that crashed (which refuse enrolled pods' connections: fail closed) with empty sets,
          // letting the pods' traffic bypass the mesh until xDS arrives.
          logger.info('capture waits for the first xDS responses');
          options.sync.whenSynced().then(
            () => (lifecycle.stopped ? undefined : startCapture().catch((err: unknown) => logger.error({ err }, 'capture could not start; readiness stays false'))),
            (err: unknown) => logger.debug({ err }, 'no xDS sync: capture not started'),
          );
        }
      }
      app = new Ztunnel(options, registry, readiness, dataPath, local, endpoints, addresses, lifecycle);
      logger.info({ node: config.nodeName, endpoints: addresses }, 'ztunnel started');
      return app;
    } catch (err) {
      lifecycle.stopped = true;
      local?.stop();
      proxy?.destroy();
      listeners?.destroy();
      options.workers?.destroy();
      if (captureStarted) await options.capture?.close().catch((closeErr: unknown) => logger.error({ err: closeErr }, 'could not remove the capture rules'));
      for (const e of endpoints) e.destroy();
      throw err;
    }
  }

  /** Where each endpoint listens (the port chosen when 0 was asked for). */
  addresses(): Readonly<Record<'admin' | 'stats' | 'readiness', EndpointAddress>> {
    return this.#addresses as Record<'admin' | 'stats' | 'readiness', EndpointAddress>;
  }

  /** `/config_dump`. */
  async configDump(): Promise<Record<string, unknown>> {
    const store = this.#options.store;
    return {
      config: this.config,
      xds: { synced: this.#options.sync.synced, pending: this.#options.sync.pending() },
      ready: this.readiness.status(),
      ...snapshotDump(store.current),
      localWorkloads: this.localWorkloads.workloads.map((w) => w.uid),
      certificates: this.localWorkloads.certificates(),
      capture: this.#options.capture?.status(),
      proxy: await this.dataPath.stats(),
    };
  }

  /**
   * The SIGTERM path: readiness goes false, the proxy drains until the configured deadline, then the
   * listeners, the capture rules and the endpoints go. Idempotent (every call gets the same outcome).
   */
  drain(): Promise<DrainOutcome> {
    this.#draining ??= this.#drain();
    return this.#draining;
  }

  async #drain(): Promise<DrainOutcome> {
    this.#lifecycle.stopped = true;
    this.readiness.add({ name: 'drain', pending: () => ['shutting down'] });
    this.#logger.info({ deadlineMs: this.config.drainDeadlineMs }, 'draining');
    const outcome = await this.dataPath.drain(this.config.drainDeadlineMs);
    this.#logger.info({ outcome }, outcome === 'drained' ? 'every connection finished' : 'drain deadline passed; closed the remaining connections');
    this.localWorkloads.stop();
    try {
      await this.#options.capture?.close();
    } catch (err) {
      this.#logger.error({ err }, 'could not remove the capture rules');
    }
    await Promise.all(this.#endpoints.map((e) => e.close()));
    return outcome;
  }

  /** Stops everything now (the second signal); capture rules are removed synchronously. */
  destroy(): void {
    this.#lifecycle.stopped = true;
    this.localWorkloads.stop();
    this.dataPath.destroy();
    this.#options.capture?.destroy();
    for (const e of this.#endpoints) e.destroy();
  }
}
