/**
 * What the telemetry of one proxied connection is made of: who talked to whom, through what, under which
 * security. The data path fills one in as it learns (source at accept, destination once routed) and hands
 * it to the metrics and the access log when the connection opens and closes.
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
  /** The client, `ip:port`. */
  readonly srcAddr: string;
  readonly source: Workload | undefined;
  /** The client's identity: its certificate's (inbound HBONE) or its workload's (outbound). */
  readonly sourceIdentity: Identity | undefined;
  /** The destination, `ip:port`: the original destination (outbound) or the pod and port delivered to (inbound). */
  dstAddr: string;
  /** The HBONE server tunnelled to or through, `ip:port`. */
  hboneAddr: string | undefined;
  destination: Workload | undefined;
  destinationIdentity: Identity | undefined;
  service: Service | undefined;
  security: SecurityPolicy;
}
