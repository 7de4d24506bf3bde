/**
 * What every part of the data path shares: the state to read, the policy to apply, the certificates, how
 * to reach upstreams, and where telemetry goes. One context per proxy instance (a worker would have its
 * own); nothing in the data path is a module-level singleton.
 */
import type { Socket } from 'node:net';
import type { Clock } from '@ambit/mesh-core/lifecycle';
import type { CertificateSource } from '@ambit/mesh-core/identity';
import type { Logger } from '@ambit/mesh-core/telemetry';
import type { AccessLog } from '../access-log.js';
import type { Authorizer } from '../authz/index.js';
import type { ProxyMetrics } from '../metrics.js';
import type { Workload } from '../state/model.js';
import type { ProxySnapshot } from '../state/snapshot.js';
import type { ConnectionManager } from './connection-manager.js';
import type { Random } from './load-balance.js';

/** An `ip` and port. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/**
 * Opens the TCP connections the data path relays to: deliveries to pods, plain passthrough, and the TCP
 * under HBONE connections to other nodes. `source` is the IP the connection must come from (the client's,
 * or the source pod's for HBONE); with node-level capture that is a transparent, marked dial
 * (`dialTransparent`). Rejects when the connection cannot be made (with its own deadline).
 */
export interface UpstreamDialer {
  dial(source: string, target: HostPort): Promise<Socket>;
}

/** Where the current snapshot is read from (a `StateStore`). */
export interface SnapshotSource {
  readonly current: ProxySnapshot;
}

export interface ProxyContext {
  /** This node: its HBONE workloads are the ones proxied. */
  readonly nodeName: string;
  /** This ztunnel's network (`''`: the default). */
  readonly network: string;
  readonly state: SnapshotSource;
  readonly authorizer: Authorizer;
  readonly certificates: CertificateSource;
  readonly dialer: UpstreamDialer;
  readonly connections: ConnectionManager;
  readonly metrics: ProxyMetrics;
  readonly accessLog: AccessLog;
  readonly logger: Logger;
  /** Timers (certificate waits); `now()` is not used for durations. */
  readonly clock: Clock;
  /** A monotonic millisecond clock for durations (`performance.now`). */
  readonly monotonicNow: () => number;
  readonly random: Random;
  /** The HBONE port of pods (15008). */
  readonly hbonePort: number;
  /** How long a connection waits for its workload's certificate before failing. */
  readonly certificateWaitMs: number;
}

/** IPv4-mapped IPv6 (`::ffff:10.0.0.1`) as the IPv4 address it is; anything else as is. */
export function unmapped(ip: string): string {
  return ip.startsWith('::ffff:') && ip.indexOf('.') > 0 ? ip.slice(7) : ip;
}

/** The workload at `ip` if this ztunnel proxies it: on this node, with tunnel protocol HBONE. */
export function localWorkload(ctx: ProxyContext, snapshot: ProxySnapshot, ip: string): Workload | undefined {
  const w = snapshot.findWorkloadByIp(ip, ctx.network);
  return w !== undefined && w.node === ctx.nodeName && w.tunnelProtocol === 'HBONE' ? w : undefined;
}

/** `ip:port` of a socket end, bracketing IPv6. */
export function addressOf(ip: string | undefined, port: number | undefined): string {
  const host = unmapped(ip ?? '');
  return host.includes(':') ? `[${host}]:${port ?? 0}` : `${host}:${port ?? 0}`;
}
