/**
 * One cluster as the data path sees it: its configuration (replaced on each snapshot), its hosts (kept
 * across snapshots by `ip:port`), its load balancer (rebuilt when the endpoints or the policy change) and
 * its circuit-breaker counters, which are cluster-wide as in Envoy. An ORIGINAL_DST cluster has no
 * balancer: its hosts are the requests' destinations (`original-dst.ts`).
 */
import type { Duplex } from 'node:stream';
import type { Cluster } from '../config/types.js';
import { UpstreamError } from './errors.js';
import { Host, hostKey } from './host.js';
import { HostPool, type OpenStream } from './host-pool.js';
import { createLoadBalancer, type LoadBalancer, type RandomSource } from './load-balancer.js';
import { OriginalDstHosts, type Destination } from './original-dst.js';

export interface ClusterCounters {
  connections: number;
  pending: number;
  requests: number;
  retries: number;
}

export class ClusterState {
  config: Cluster;
  hosts: Host[] = [];
  readonly counters: ClusterCounters = { connections: 0, pending: 0, requests: 0, retries: 0 };
  readonly #pools = new Map<Host, HostPool>();
  readonly #open: OpenStream;
  readonly #random: RandomSource;
  #lb!: LoadBalancer;
  /** The endpoint list and policy the balancer was built from. */
  #lbKey = '';
  readonly #waiters: (() => void)[] = [];
  /** Set while the cluster is an ORIGINAL_DST one. */
  #originalDst: OriginalDstHosts | undefined;

  constructor(config: Cluster, open: OpenStream, random: RandomSource) {
    this.config = config;
    this.#open = open;
    this.#random = random;
    this.update(config);
  }

  /** Applies a new configuration of the same cluster; hosts that stay keep their state. */
  update(config: Cluster): void {
    this.config = config;
    if (config.originalDestination !== undefined) {
      if (this.#originalDst === undefined) {
        // It was an EDS cluster: its endpoints' hosts go.
        for (const p of this.#pools.values()) p.close();
        this.#pools.clear();
        this.#originalDst = new OriginalDstHosts(config.originalDestination, (host) => this.#forget(host));
        this.hosts = this.#originalDst.hosts;
        this.#lbKey = '';
      } else {
        this.#originalDst.update(config.originalDestination);
      }
      this.wakePending();
      return;
    }
    // An ORIGINAL_DST cluster that became an EDS one: its hosts are compared with the endpoints below.
    this.#originalDst = undefined;
    const byKey = new Map(this.hosts.map((h) => [h.key, h]));
    const next: Host[] = [];
    for (const ep of config.endpoints) {
      const key = hostKey(ep.ip, ep.port);
      const existing = byKey.get(key);
      if (existing !== undefined) {
        existing.endpoint = ep;
        byKey.delete(key);
        next.push(existing);
      } else {
        next.push(new Host(key, ep));
      }
    }
    for (const gone of byKey.values()) {
      this.#pools.get(gone)?.close();
      this.#pools.delete(gone);
    }
    this.hosts = next;
    const lbKey = `${config.lbPolicy}|${next.map((h) => `${h.key}*${h.endpoint.weight}`).join(',')}`;
    if (lbKey !== this.#lbKey) {
      this.#lbKey = lbKey;
      this.#lb = createLoadBalancer(config.lbPolicy, next, this.#random);
    }
    // A raised limit may let waiters through.
    this.wakePending();
  }

  /**
   * A host for a request: the balancer's pick (`hash` for ring hash and Maglev), or for an ORIGINAL_DST
   * cluster the host of the request's `destination` (undefined without one).
   */
  pick(now: number, hash: number | undefined, destination?: Destination): Host | undefined {
    const od = this.#originalDst;
    if (od !== undefined) return destination === undefined ? undefined : od.pick(now, destination);
    return this.#lb.pick(now, hash);
  }

  #forget(host: Host): void {
    this.#pools.get(host)?.close();
    this.#pools.delete(host);
  }

  pool(host: Host): HostPool {
    let p = this.#pools.get(host);
    if (p === undefined) {
      p = new HostPool(this, host, this.#open);
      this.#pools.set(host, p);
    }
    return p;
  }

  /**
   * A raw stream to `host` for TCP proxying, counted as a connection of the cluster (`UO` past
   * `maxConnections`).
   */
  async openTcp(host: Host): Promise<Duplex> {
    if (this.counters.connections >= this.config.circuitBreaker.maxConnections) {
      throw new UpstreamError('WP_ERR_OVERFLOW', `cluster ${this.config.name}: ${this.counters.connections} connections (circuit breaker)`);
    }
    this.counters.connections++;
    let stream: Duplex;
    try {
      stream = await this.#open(host);
    } catch (err) {
      this.connectionClosed();
      throw err;
    }
    stream.once('close', () => this.connectionClosed());
    return stream;
  }

  /** Takes a connection slot for `pool` if the cluster has one (closing an idle connection elsewhere if that makes one). */
  reserveConnection(pool: HostPool): boolean {
    const max = this.config.circuitBreaker.maxConnections;
    if (this.counters.connections >= max) {
      let evicted = false;
      for (const other of this.#pools.values()) {
        if (other !== pool && other.evictIdle()) {
          evicted = true;
          break;
        }
      }
      // The evicted connection's close frees its slot asynchronously; take it now and let the close not count twice.
      if (!evicted) return false;
      this.counters.connections--;
      this.#evictedPendingClose++;
    }
    this.counters.connections++;
    return true;
  }

  #evictedPendingClose = 0;

  /** A connection of this cluster closed (or failed to open). */
  connectionClosed(): void {
    if (this.#evictedPendingClose > 0) this.#evictedPendingClose--;
    else this.counters.connections--;
    this.wakePending();
  }

  /** Waits as a pending request for a connection to free up; fails with `UO` when too many wait already. */
  waitPending(signal: AbortSignal): Promise<void> {
    if (this.counters.pending >= this.config.circuitBreaker.maxPendingRequests) {
      return Promise.reject(
        new UpstreamError('WP_ERR_OVERFLOW', `cluster ${this.config.name}: ${this.counters.connections} connections and ${this.counters.pending} pending requests (circuit breaker)`),
      );
    }
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    this.counters.pending++;
    return new Promise<void>((resolve, reject) => {
      const wake = (): void => {
        signal.removeEventListener('abort', onAbort);
        this.counters.pending--;
        resolve();
      };
      const onAbort = (): void => {
        const i = this.#waiters.indexOf(wake);
        if (i >= 0) this.#waiters.splice(i, 1);
        this.counters.pending--;
        reject(signal.reason as Error);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(wake);
    });
  }

  wakePending(): void {
    const w = this.#waiters.shift();
    if (w !== undefined) w();
  }

  /** Closes every pool gracefully (idle connections now, busy ones after their request). */
  close(): void {
    for (const p of this.#pools.values()) p.close();
  }

  destroy(): void {
    for (const p of this.#pools.values()) p.destroy();
  }
}
