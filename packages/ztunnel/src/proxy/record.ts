/**
 * What the telemetry of one proxied connection is made of: who talked to whom, through what, under which
 * security. The data path fills one in as it learns (source at accept, destination once routed) and hands
 * it to the metrics and the access log when the connection opens and closes.
 *
 * Addresses are kept as an IP and a port, not as `ip:port` text: a proxy holds thousands of idle
 * connections, the IPs are strings it has anyway (the socket's, the workload's), and the text is only needed
 * for the access-log line at close.
 */
import type { Identity } from '@ambit/mesh-core/identity';
import type { Service, Workload } from '../state/model.js';

/** `outbound`: captured from a local pod (reporter `source`); `inbound`: to a local pod (reporter `destination`). */
export type Direction = 'outbound' | 'inbound';

/** Istio's `connection_security_policy`: `mutual_tls` for HBONE, `none` for plain TCP. */
export type SecurityPolicy = 'mutual_tls' | 'none';

/** Istio's `response_flags` values ztunnel uses. */
export type ResponseFlag = '-' | 'DENY' | 'CONNECT' | 'TLS_FAILURE' | 'H2_HANDSHAKE_FAILURE' | 'IDENTITY_ERROR';

export interface ConnectionRecord {
  readonly direction: Direction;
  /** The client's IP (IPv4-mapped addresses unmapped) and port. */
  readonly srcIp: string;
  readonly srcPort: number;
  readonly source: Workload | undefined;
  /** The client's identity: its certificate's (inbound HBONE) or its workload's (outbound). */
  readonly sourceIdentity: Identity | undefined;
  /** The destination: the original destination (outbound) or the pod and port delivered to (inbound). */
  readonly dstIp: string;
  readonly dstPort: number;
  /** The HBONE server tunnelled to or through (undefined: none) and its port. */
  readonly hboneIp: string | undefined;
  readonly hbonePort: number;
  readonly destination: Workload | undefined;
  readonly destinationIdentity: Identity | undefined;
  /**
   * Outbound: the service whose VIP was dialled. Inbound: the service the client named (`forwarded`
   * `host=`), else the one targeting the port (`inbound-service.ts`).
   */
  readonly service: Service | undefined;
  readonly security: SecurityPolicy;
}

/** `ip:port`, bracketing IPv6. */
export function formatAddress(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}
