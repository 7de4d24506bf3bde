/**
 * What the data path shares (`ProxyContext`, one per waypoint) and what it knows per tunnel
 * (`TunnelContext`, one per HBONE CONNECT: the client's identity, its address, where it was going).
 */
import type { Clock } from '@ambit/mesh-core/lifecycle';
import type { Logger } from 'pino';
import type { ConnectionAttributes, WaypointSnapshot } from '../config/types.js';
import type { AccessLog } from '../telemetry/access-log.js';
import type { HttpMetrics } from '../telemetry/metrics.js';
import type { ClusterManager } from '../upstream/cluster-manager.js';
import type { RandomSource } from '../upstream/load-balancer.js';

export interface ProxyLimits {
  /**
   * Request body bytes kept for replay (retries) and for mirrors that start late. A body larger than this
   * is streamed once: it is not retried, and a mirror that was not yet connected skips it. Default 1 MiB.
   */
  readonly retryBufferBytes: number;
  /** How long the first bytes of a tunnel may take before sniffing gives up and uses the TCP chain (5 s). */
  readonly sniffTimeoutMs: number;
}

export const DEFAULT_LIMITS: ProxyLimits = { retryBufferBytes: 1024 * 1024, sniffTimeoutMs: 5_000 };

export interface ProxyContext {
  /** The snapshot for a new request or tunnel (read once, then kept for its whole life). */
  snapshot(): WaypointSnapshot;
  readonly clusters: ClusterManager;
  readonly metrics: HttpMetrics;
  readonly accessLog: AccessLog;
  readonly logger: Logger;
  /** Time for timeouts, backoff and fault delays (injectable: tests use a fake). */
  readonly clock: Clock;
  /** Randomness for weighted clusters, fault percentages, mirrors and backoff jitter (injectable). */
  readonly random: RandomSource;
  readonly limits: ProxyLimits;
}

export interface TunnelContext {
  readonly connection: ConnectionAttributes;
  /**
   * The tunnel's destination as a binding key (`ip:port`, canonical IP): the binding is the one of that
   * key, else the one of `connection.destinationIp` on every port (`findBinding`).
   */
  readonly bindingKey: string;
  /** The client as `ip:port` (from `Forwarded: for=`, else the HBONE peer). */
  readonly sourceAddress: string;
  /** Source labels for telemetry, from the identity and ztunnel's `baggage`. */
  readonly source: { readonly workload: string; readonly namespace: string; readonly app: string; readonly version: string; readonly cluster: string };
}
