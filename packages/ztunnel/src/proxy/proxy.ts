/**
 * The data path of one ztunnel (or of one worker, see docs/ztunnel.md): the three servers the capture
 * listeners feed (outbound 15001, inbound plaintext 15006, inbound HBONE 15008), the HBONE client with its
 * pool, the loopback joiner for pod-to-pod tunnels on this node, the live connections, and the policy
 * watcher that re-checks them.
 *
 * Listeners and upstream dials are injected: the app listens `servers` on transparent sockets and dials
 * with `dialTransparent`; tests listen them on loopback and dial plainly. The proxy never binds a port of
 * its own except the loopback joiner's.
 */
import type { Server } from 'node:net';
import { performance } from 'node:perf_hooks';
import { HboneClient, type HboneDialer } from '@ambit/mesh-core/hbone';
import type { CertificateSource, Identity } from '@ambit/mesh-core/identity';
import { realClock, type Clock } from '@ambit/mesh-core/lifecycle';
import type { Logger } from '@ambit/mesh-core/telemetry';
import type { AccessLog } from '../access-log.js';
import { Authorizer } from '../authz/index.js';
import { drain, type DrainOutcome } from '../drain.js';
import type { ProxyMetrics } from '../metrics.js';
import type { ProxySnapshot } from '../state/snapshot.js';
import { ConnectionManager } from './connection-manager.js';
import { localWorkload, type ProxyContext, type SnapshotSource, type UpstreamDialer } from './context.js';
import { Inbound } from './inbound.js';
import { InboundPlain } from './inbound-plain.js';
import type { Random } from './load-balance.js';
import { LoopbackJoiner } from './loopback.js';
import { Outbound } from './outbound.js';

/** The servers to listen, one per capture port. */
export interface ProxyServers {
  readonly outbound: Server;
  readonly inboundPlain: Server;
  readonly inboundHbone: Server;
}

/** The store side the proxy needs: the current snapshot and policy-change notifications. */
export interface ProxyState extends SnapshotSource {
  onPolicyChange(listener: (current: ProxySnapshot, previous: ProxySnapshot) => void): () => void;
}

export interface ProxyOptions {
  readonly nodeName: string;
  readonly network: string;
  readonly trustDomain: string;
  readonly state: ProxyState;
  readonly certificates: CertificateSource;
  readonly dialer: UpstreamDialer;
  readonly metrics: ProxyMetrics;
  readonly accessLog: AccessLog;
  readonly logger: Logger;
  readonly clock?: Clock;
  readonly random?: Random;
  /** Default 15008. */
  readonly hbonePort?: number;
  /** Default 5 s (ztunnel waits as long for a workload). */
  readonly certificateWaitMs?: number;
  readonly http2?: { readonly streamWindowSize: number; readonly connectionWindowSize: number; readonly frameSize: number };
  readonly pool?: { readonly maxStreamsPerConnection: number; readonly idleTimeoutMs: number };
}

export const DEFAULT_HBONE_PORT = 15008;
export const DEFAULT_CERTIFICATE_WAIT_MS = 5_000;

export class Proxy {
  readonly servers: ProxyServers;
  readonly connections: ConnectionManager;
  readonly #ctx: ProxyContext;
  readonly #outbound: Outbound;
  readonly #inbound: Inbound;
  readonly #inboundPlain: InboundPlain;
  readonly #client: HboneClient;
  readonly #joiner: LoopbackJoiner;
  readonly #unsubscribe: () => void;
  #closed = false;

  private constructor(ctx: ProxyContext, options: ProxyOptions, joiner: LoopbackJoiner) {
    this.#ctx = ctx;
    this.connections = ctx.connections;
    this.#joiner = joiner;
    const http2 = options.http2 === undefined ? undefined : { streamWindowSize: options.http2.streamWindowSize, connectionWindowSize: options.http2.connectionWindowSize, maxFrameSize: options.http2.frameSize };
    this.#inbound = new Inbound(ctx, { trustDomain: options.trustDomain, ...(http2 === undefined ? {} : { http2 }) });
    this.#client = new HboneClient({
      certificates: ctx.certificates,
      dial: this.#dialHbone,
      logger: ctx.logger,
      ...(options.pool === undefined ? {} : { maxStreamsPerConnection: options.pool.maxStreamsPerConnection, idleTimeoutMs: options.pool.idleTimeoutMs }),
      ...(http2 === undefined ? {} : { http2 }),
    });
    this.#outbound = new Outbound(ctx, this.#client);
    this.#inboundPlain = new InboundPlain(ctx);
    this.servers = Object.freeze({ outbound: this.#outbound.server, inboundPlain: this.#inboundPlain.server, inboundHbone: this.#inbound.server.netServer });
    this.#unsubscribe = options.state.onPolicyChange((current) => {
      const closed = this.connections.recheck(current, ctx.authorizer);
      if (closed > 0) ctx.logger.info({ closed, generation: current.generation }, 'policy change: closed connections that are now denied');
    });
  }

  /** Builds the data path (it opens the loopback joiner; nothing listens until the caller listens `servers`). */
  static async create(options: ProxyOptions): Promise<Proxy> {
    const logger = options.logger.child({ component: 'proxy' });
    const clock = options.clock ?? realClock;
    const ctx: ProxyContext = {
      nodeName: options.nodeName,
      network: options.network,
      state: options.state,
      authorizer: new Authorizer({ logger }),
      certificates: options.certificates,
      dialer: options.dialer,
      connections: new ConnectionManager(),
      metrics: options.metrics,
      accessLog: options.accessLog,
      logger,
      clock,
      monotonicNow: () => performance.now(),
      random: options.random ?? Math.random,
      hbonePort: options.hbonePort ?? DEFAULT_HBONE_PORT,
      certificateWaitMs: options.certificateWaitMs ?? DEFAULT_CERTIFICATE_WAIT_MS,
    };
    const joiner = await LoopbackJoiner.open(clock);
    return new Proxy(ctx, options, joiner);
  }

  /** Open HBONE connections and tunnels, both ways, and relayed connections. */
  stats(): { connections: number; hboneClient: { connections: number; streams: number }; hboneServer: { sessions: number; streams: number } } {
    const client = this.#client.stats();
    return { connections: this.connections.size, hboneClient: { connections: client.connections, streams: client.streams }, hboneServer: this.#inbound.server.stats() };
  }

  /** Drops what the HBONE server keeps for an identity no local workload has any more. */
  forgetIdentity(identity: Identity): void {
    this.#inbound.server.forgetIdentity(identity);
  }

  /**
   * Stops accepting (the servers stop listening, HBONE sessions get GOAWAY), lets open connections finish
   * for up to `deadlineMs`, then closes the rest. Resolves with which of the two happened.
   */
  async drain(deadlineMs: number): Promise<DrainOutcome> {
    this.#closed = true;
    this.#unsubscribe();
    return await drain(
      {
        graceful: async () => {
          for (const server of [this.servers.outbound, this.servers.inboundPlain]) if (server.listening) server.close();
          await Promise.all([this.#inbound.server.close(), this.#client.close(), this.#joiner.close(), this.connections.idle()]);
        },
        force: () => this.destroy(),
      },
      deadlineMs,
      this.#ctx.clock,
    );
  }

  /** Closes everything now: listeners, connections, tunnels. */
  destroy(): void {
    this.#closed = true;
    this.#unsubscribe();
    for (const server of [this.servers.outbound, this.servers.inboundPlain]) if (server.listening) server.close();
    this.connections.closeAll();
    this.#inbound.server.destroy();
    this.#client.destroy();
    this.#joiner.destroy();
  }

  /** The HBONE client's dialer: a pod of this node is joined over loopback, anything else dialled as the source pod. */
  readonly #dialHbone: HboneDialer = async (req, destination) => {
    const source = req.sourceAddress;
    if (source === undefined) throw new TypeError('outbound HBONE requests carry the source pod address');
    const ctx = this.#ctx;
    if (destination.port === ctx.hbonePort && localWorkload(ctx, ctx.state.current, destination.host) !== undefined) {
      const pair = await this.#joiner.pair();
      this.#inbound.server.accept(pair.server, { localAddress: destination.host, localPort: destination.port, remoteAddress: source, remotePort: pair.client.localPort ?? 0 });
      return pair.client;
    }
    return await ctx.dialer.dial(source, destination);
  };

  /** Whether drain() or destroy() was called. */
  get closed(): boolean {
    return this.#closed;
  }
}
