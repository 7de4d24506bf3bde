/**
 * The clusters of the current snapshot, by name, and everything the waypoint keeps about their hosts
 * across snapshots (`ClusterState`). `update(snapshot)` is called on every snapshot swap: clusters that
 * stay are updated in place (hosts keep their outlier state and connections), new ones are created, and
 * removed ones have their connections closed once idle.
 */
import type { Clock } from '@ambit/mesh-core/lifecycle';
import type { WaypointSnapshot } from '../config/types.js';
import { ClusterState } from './cluster-state.js';
import type { Connector } from './connector.js';
import type { RandomSource } from './load-balancer.js';
import { decayBackoff } from './outlier.js';

/** One host as `/config_dump` shows it. */
export interface HostStats {
  readonly key: string;
  /** Requests in flight. */
  readonly active: number;
  readonly ejected: boolean;
  /** How long the current ejection still lasts (0 when in service). */
  readonly ejectedForMs: number;
  /** Times ejected in all. */
  readonly ejections: number;
  /** The ejection-time multiplier now (decays while in service). */
  readonly backoff: number;
}

export interface ClusterManagerOptions {
  readonly connector: Connector;
  readonly clock: Clock;
  readonly random?: RandomSource;
}

export class ClusterManager {
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly #connector: Connector;
  readonly #clusters = new Map<string, ClusterState>();
  #identity = '';
  #snapshot: WaypointSnapshot | undefined;

  constructor(o: ClusterManagerOptions) {
    this.#connector = o.connector;
    this.clock = o.clock;
    this.random = o.random ?? Math.random;
  }

  /** Applies a snapshot (idempotent for the same snapshot object). */
  update(snapshot: WaypointSnapshot): void {
    if (snapshot === this.#snapshot) return;
    this.#snapshot = snapshot;
    this.#identity = snapshot.identity;
    for (const [name, cluster] of snapshot.clusters) {
      const state = this.#clusters.get(name);
      if (state === undefined) {
        this.#clusters.set(
          name,
          new ClusterState(cluster, (host) => this.#connector.open(host, this.#identity, this.#clusters.get(name)?.config.connectTimeoutMs ?? cluster.connectTimeoutMs), this.random),
        );
      } else if (state.config !== cluster) {
        state.update(cluster);
      }
    }
    for (const [name, state] of this.#clusters) {
      if (!snapshot.clusters.has(name)) {
        state.close();
        this.#clusters.delete(name);
      }
    }
  }

  get(name: string): ClusterState | undefined {
    return this.#clusters.get(name);
  }

  /** Per cluster: counters and hosts with their ejection state (for `/config_dump` and tests). */
  stats(): Record<string, { counters: ClusterState['counters']; hosts: HostStats[] }> {
    const out: ReturnType<ClusterManager['stats']> = {};
    const now = this.clock.now();
    for (const [name, s] of this.#clusters) {
      const od = s.config.outlierDetection;
      out[name] = {
        counters: { ...s.counters },
        hosts: s.hosts.map((h) => {
          if (od !== undefined) decayBackoff(od, h, now);
          const ejected = h.isEjected(now);
          return { key: h.key, active: h.active, ejected, ejectedForMs: ejected ? h.ejectedUntil - now : 0, ejections: h.ejections, backoff: h.backoff };
        }),
      };
    }
    return out;
  }

  close(): void {
    for (const s of this.#clusters.values()) s.close();
  }

  destroy(): void {
    for (const s of this.#clusters.values()) s.destroy();
  }
}
