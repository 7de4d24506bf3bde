/**
 * Wires one waypoint: the snapshot source (xDS in production, a fixed snapshot in tests), the certificate
 * source (mesh-core's SecretManager), the cluster manager with its HBONE client, the data path
 * (`Downstream`), telemetry, and three HTTP endpoints:
 *
 * - admin (127.0.0.1:15000): `/config_dump`, the current snapshot as JSON plus the upstream state;
 * - stats (:15020): `/metrics` and `/stats/prometheus`;
 * - readiness (:15021): `/healthz/ready`, 200 once a snapshot and the waypoint's certificate are in hand.
 *
 * The seam for `main.ts`: build a `SnapshotSource` over the xDS client and the snapshot builder, a
 * SecretManager, and call `Waypoint.start`.
 */
import { HboneClient } from '@ambit/mesh-core/hbone';
import type { CertificateSource, CertificateUpdate, Identity } from '@ambit/mesh-core/identity';
import { ExponentialBackoff, realClock, type Clock, type Timer } from '@ambit/mesh-core/lifecycle';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { ImmutableMap } from './config/immutable-map.js';
import type { WaypointSnapshot } from './config/types.js';
import { HttpEndpoint, json, statsRoutes, text } from '@ambit/mesh-core/admin';
import { DEFAULT_LIMITS, type ProxyContext, type ProxyLimits } from './proxy/context.js';
import { Downstream } from './proxy/downstream.js';
import { AccessLog } from './telemetry/access-log.js';
import { HttpMetrics } from './telemetry/metrics.js';
import { ClusterManager } from './upstream/cluster-manager.js';
import { Connector } from './upstream/connector.js';
import type { RandomSource } from './upstream/load-balancer.js';

/** Where snapshots come from: the current one (undefined before the first) and a `change` event. */
export interface SnapshotSource {
  current(): WaypointSnapshot | undefined;
  on(event: 'change', listener: (snapshot: WaypointSnapshot) => void): unknown;
  off(event: 'change', listener: (snapshot: WaypointSnapshot) => void): unknown;
}

export interface Address {
  readonly host: string;
  readonly port: number;
}

/**
 * A certificate source that may also announce new certificates (mesh-core's SecretManager does): then a
 * first fetch that failed (the CA not reachable yet, the token not accepted yet) does not leave the
 * waypoint unready for good; readiness follows the source's background retries.
 */
export type WaypointCertificateSource = CertificateSource & {
  onCertificate?(listener: (update: CertificateUpdate) => void): () => void;
};

export interface WaypointOptions {
  /** The waypoint's SPIFFE identity (its certificate is asked for this one). */
  readonly identity: Identity;
  readonly trustDomain: string;
  readonly certificates: WaypointCertificateSource;
  readonly snapshots: SnapshotSource;
  readonly logger: Logger;
  readonly registry?: Registry;
  readonly clock?: Clock;
  readonly random?: RandomSource;
  readonly limits?: Partial<ProxyLimits>;
  /** Defaults: HBONE 0.0.0.0:15008, admin 127.0.0.1:15000, stats 0.0.0.0:15020, readiness 0.0.0.0:15021. */
  readonly listen?: { readonly hbone?: Address; readonly admin?: Address; readonly stats?: Address; readonly readiness?: Address };
}

const EMPTY: WaypointSnapshot = { version: '', identity: '', bindings: new Map(), clusters: new Map() };

export class Waypoint {
  readonly registry: Registry;
  readonly clusters: ClusterManager;
  readonly downstream: Downstream;
  readonly #o: WaypointOptions;
  readonly #hbone: HboneClient;
  readonly #endpoints: HttpEndpoint[];
  readonly #addresses: Record<string, Address>;
  readonly #onChange: (s: WaypointSnapshot) => void;
  readonly #clock: Clock;
  #stopWatchingCertificates: (() => void) | undefined;
  #certificate = false;
  #certificateRetry: Timer | undefined;
  #closing = false;

  private constructor(o: WaypointOptions, registry: Registry, clusters: ClusterManager, downstream: Downstream, hbone: HboneClient, endpoints: HttpEndpoint[], addresses: Record<string, Address>, onChange: (s: WaypointSnapshot) => void) {
    this.#o = o;
    this.registry = registry;
    this.clusters = clusters;
    this.downstream = downstream;
    this.#hbone = hbone;
    this.#endpoints = endpoints;
    this.#addresses = addresses;
    this.#onChange = onChange;
    this.#clock = o.clock ?? realClock;
  }

  static async start(o: WaypointOptions): Promise<Waypoint> {
    const clock = o.clock ?? realClock;
    const registry = o.registry ?? new Registry();
    const logger = o.logger;
    const hbone = new HboneClient({ certificates: o.certificates, logger });
    const clusters = new ClusterManager({ connector: new Connector({ hbone, clock }), clock, ...(o.random === undefined ? {} : { random: o.random }) });
    const onChange = (s: WaypointSnapshot): void => {
      clusters.update(s);
      logger.info({ version: s.version, bindings: s.bindings.size, clusters: s.clusters.size }, 'snapshot applied');
    };
    const first = o.snapshots.current();
    if (first !== undefined) clusters.update(first);
    o.snapshots.on('change', onChange);
    const ctx: ProxyContext = {
      snapshot: () => o.snapshots.current() ?? EMPTY,
      clusters,
      metrics: new HttpMetrics(registry),
      accessLog: new AccessLog(logger),
      logger: logger.child({ component: 'waypoint' }),
      clock,
      random: clusters.random,
      limits: { ...DEFAULT_LIMITS, ...o.limits },
    };
    const downstream = new Downstream(ctx, { identity: o.identity, certificates: o.certificates, trustDomain: o.trustDomain });
    const endpoints: HttpEndpoint[] = [];
    const addresses: Record<string, Address> = {};
    // Filled in once built; the endpoints are up before and answer from what exists.
    const built: { app?: Waypoint } = {};
    try {
      const plan: [string, Address, HttpEndpoint][] = [
        [
          'readiness',
          o.listen?.readiness ?? { host: '0.0.0.0', port: 15021 },
          new HttpEndpoint('readiness', { '/healthz/ready': { GET: () => (built.app?.ready() ? text(200, 'ready') : text(503, `not ready: ${built.app?.pending().join('; ') ?? 'starting'}`)) } }, logger),
        ],
        ['stats', o.listen?.stats ?? { host: '0.0.0.0', port: 15020 }, new HttpEndpoint('stats', statsRoutes(registry), logger)],
        ['admin', o.listen?.admin ?? { host: '127.0.0.1', port: 15000 }, new HttpEndpoint('admin', { '/config_dump': { GET: () => json(200, built.app?.configDump() ?? { starting: true }) } }, logger)],
      ];
      for (const [name, where, endpoint] of plan) {
        endpoints.push(endpoint);
        const bound = await endpoint.listen(where.host, where.port);
        addresses[name] = { host: bound.address, port: bound.port };
      }
      const hb = o.listen?.hbone ?? { host: '0.0.0.0', port: 15008 };
      const bound = await downstream.listen(hb.port, hb.host);
      addresses['hbone'] = { host: bound.address, port: bound.port };
    } catch (err) {
      o.snapshots.off('change', onChange);
      downstream.destroy();
      for (const e of endpoints) e.destroy();
      hbone.destroy();
      throw err;
    }
    const started = new Waypoint(o, registry, clusters, downstream, hbone, endpoints, addresses, onChange);
    built.app = started;
    started.#stopWatchingCertificates = o.certificates.onCertificate?.((update) => {
      if (update.identity.uri === o.identity.uri && !started.#certificate) {
        started.#certificate = true;
        logger.info({ identity: o.identity.uri }, 'waypoint certificate obtained');
      }
    });
    started.#awaitCertificate(new ExponentialBackoff({ initialMs: 500, maxMs: 30_000 }));
    logger.info({ addresses, identity: o.identity.uri }, 'waypoint started');
    return started;
  }

  /**
   * Readiness waits for the waypoint's own certificate. A source that fails (a CA not reachable yet: the
   * SecretManager answers at once with its last error while it retries) is asked again with backoff, on
   * the injectable clock, until it answers or the waypoint closes.
   */
  #awaitCertificate(backoff: ExponentialBackoff): void {
    const { certificates, identity, logger } = this.#o;
    certificates.getCertificate(identity).then(
      () => {
        this.#certificate = true;
      },
      (err: unknown) => {
        // Closing, or the source announced the certificate meanwhile (onCertificate): nothing left to wait for.
        if (this.#closing || this.#certificate) return;
        const delayMs = backoff.next();
        logger.warn({ err, identity: identity.uri, retry_in_ms: delayMs }, 'no certificate for the waypoint yet; not ready');
        this.#certificateRetry = this.#clock.setTimeout(() => this.#awaitCertificate(backoff), delayMs, { keepAlive: false });
      },
    );
  }

  /** Where each server listens (ports chosen when 0 was asked for). */
  addresses(): Readonly<Record<'hbone' | 'admin' | 'stats' | 'readiness', Address>> {
    return this.#addresses as Record<'hbone' | 'admin' | 'stats' | 'readiness', Address>;
  }

  ready(): boolean {
    return this.pending().length === 0;
  }

  /** What readiness still waits for. */
  pending(): string[] {
    const p: string[] = [];
    if (this.#closing) p.push('shutting down');
    if (this.#o.snapshots.current() === undefined) p.push('no configuration snapshot yet');
    if (!this.#certificate) p.push(`no certificate yet for ${this.#o.identity.uri}`);
    return p;
  }

  configDump(): Record<string, unknown> {
    const s = this.#o.snapshots.current();
    return {
      identity: this.#o.identity.uri,
      ready: this.ready(),
      snapshot: s === undefined ? null : JSON.parse(JSON.stringify(s, snapshotReplacer)) as unknown,
      upstream: this.clusters.stats(),
      downstream: this.downstream.stats(),
    };
  }

  /**
   * Drains: readiness goes false, no new tunnels, GOAWAY on every HBONE and inner HTTP/2 connection,
   * in-flight requests finish until `deadlineMs`, then whatever is left is closed.
   */
  async close(deadlineMs = 5_000): Promise<void> {
    this.#closing = true;
    this.#certificateRetry?.cancel();
    this.#stopWatchingCertificates?.();
    this.#o.snapshots.off('change', this.#onChange);
    let timer: Timer | undefined;
    const deadline = new Promise<'forced'>((resolve) => {
      timer = this.#clock.setTimeout(() => resolve('forced'), deadlineMs);
    });
    const outcome = await Promise.race([this.downstream.close().then(() => 'drained' as const), deadline]);
    timer?.cancel();
    if (outcome === 'forced') {
      this.#o.logger.warn({ deadline_ms: deadlineMs, ...this.downstream.stats() }, 'drain deadline passed; closing what is left');
      this.downstream.destroy();
    }
    this.clusters.close();
    await Promise.race([this.#hbone.close(), new Promise((r) => setTimeout(r, 1000).unref())]);
    this.#hbone.destroy();
    this.clusters.destroy();
    await Promise.all(this.#endpoints.map((e) => e.close()));
  }

  destroy(): void {
    this.#closing = true;
    this.#certificateRetry?.cancel();
    this.#stopWatchingCertificates?.();
    this.#o.snapshots.off('change', this.#onChange);
    this.downstream.destroy();
    this.clusters.destroy();
    this.#hbone.destroy();
    for (const e of this.#endpoints) e.destroy();
  }
}

/** Maps become objects, sets arrays, matchers their description, functions nothing: the compiled snapshot as data. */
function snapshotReplacer(this: unknown, _key: string, value: unknown): unknown {
  // Snapshots built from xDS hold ImmutableMaps (not Map instances): both become objects.
  if (value instanceof Map || value instanceof ImmutableMap) return Object.fromEntries(value.entries());
  if (value instanceof Set) return [...(value as Set<unknown>)];
  if (value instanceof RegExp) return value.source;
  if (typeof value === 'function') return undefined;
  return value;
}
