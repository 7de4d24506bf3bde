/**
 * The data path as the app drives it, whether it runs on the main thread (`ThreadDataPath`: one `Proxy`
 * and its listeners) or on worker threads (`WorkerPool`, docs/ztunnel.md "More cores"). Either way the app
 * keeps the control-plane side (xDS, the state store, the secret manager, capture, readiness, endpoints)
 * and asks the data path only for these few things.
 */
import type { Registry } from 'prom-client';
import type { CertificateSource, Identity } from '@ambit/mesh-core/identity';
import type { Clock } from '@ambit/mesh-core/lifecycle';
import type { Logger } from '@ambit/mesh-core/telemetry';
import { AccessLog } from './access-log.js';
import type { Listeners } from './app.js';
import type { Config } from './config.js';
import type { DrainOutcome } from './drain.js';
import { ProxyMetrics } from './metrics.js';
import type { UpstreamDialer } from './proxy/context.js';
import { Proxy, type ProxyState } from './proxy/proxy.js';
import type { DataPathStats } from './workers/protocol.js';

export type { DataPathStats } from './workers/protocol.js';

export interface DataPath {
  /** Open connections and tunnels (summed over workers, with each worker's own figures). */
  stats(): Promise<DataPathStats & { readonly workers?: readonly unknown[] }>;
  /** Drops what is kept for an identity no local workload has any more. */
  forgetIdentity(identity: Identity): void;
  /** Stops accepting, lets connections finish until the deadline, closes the rest; then the listeners go. */
  drain(deadlineMs: number): Promise<DrainOutcome>;
  /** Closes everything now. */
  destroy(): void;
}

/** What a proxy is built from besides the configuration. */
export interface ProxyParts {
  readonly state: ProxyState;
  readonly certificates: CertificateSource;
  readonly dialer: UpstreamDialer;
  /** Where its TCP metrics are counted. */
  readonly registry: Registry;
  /** Its logger; the access log is its child. */
  readonly logger: Logger;
  readonly clock?: Clock;
}

/** One `Proxy` as the configuration asks for it: the same on the main thread and in each worker. */
export function createProxy(config: Config, parts: ProxyParts): Promise<Proxy> {
  return Proxy.create({
    nodeName: config.nodeName,
    network: config.network,
    trustDomain: config.trustDomain,
    state: parts.state,
    certificates: parts.certificates,
    dialer: parts.dialer,
    metrics: new ProxyMetrics(parts.registry),
    accessLog: new AccessLog(parts.logger),
    logger: parts.logger,
    ...(parts.clock === undefined ? {} : { clock: parts.clock }),
    hbonePort: config.ports.inbound,
    http2: config.http2,
    pool: { maxStreamsPerConnection: config.poolMaxStreamsPerConnection, idleTimeoutMs: config.poolUnusedReleaseTimeoutMs },
  });
}

/** The data path on the main thread: one proxy and the listeners feeding it. */
export class ThreadDataPath implements DataPath {
  readonly proxy: Proxy;
  readonly #listeners: Listeners;

  constructor(proxy: Proxy, listeners: Listeners) {
    this.proxy = proxy;
    this.#listeners = listeners;
  }

  stats(): Promise<DataPathStats> {
    return Promise.resolve(this.proxy.stats());
  }

  forgetIdentity(identity: Identity): void {
    this.proxy.forgetIdentity(identity);
  }

  async drain(deadlineMs: number): Promise<DrainOutcome> {
    const outcome = await this.proxy.drain(deadlineMs);
    this.#listeners.destroy();
    return outcome;
  }

  destroy(): void {
    this.proxy.destroy();
    this.#listeners.destroy();
  }
}
