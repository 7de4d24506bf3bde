/**
 * The xDS client's public shapes: its options, its events and its status.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { BackoffOptions, Clock } from './backoff.js';
import type { XdsStreamError, XdsTokenError } from './errors.js';
import type { TerminationReason } from './metrics.js';
import type { NodeOptions } from './node.js';
import type { AckEvent, NackEvent } from './session.js';
import type { TokenSource, XdsTlsOptions } from './transport.js';
import type { AckRecord, NackRecord } from './type-state.js';

export type XdsProtocol = 'delta' | 'sotw';

export interface XdsClientOptions {
  /** The control plane, as a gRPC target: `host:port`, `dns:///istiod.istio-system.svc:15012`… */
  readonly target: string;
  /** `delta` (incremental, what istiod serves ztunnel; the default) or `sotw` (state of the world). */
  readonly protocol?: XdsProtocol;
  /** Who the client is; see `node.ts` for Istio's conventions. */
  readonly node: NodeOptions;
  /** TLS towards the server; plaintext without it. */
  readonly tls?: XdsTlsOptions;
  /** Sent as `authorization: Bearer <token>`; a function is called before every connection attempt. */
  readonly token?: TokenSource;
  /** Extra gRPC headers on every stream, e.g. `{ clusterid: 'Kubernetes' }`. */
  readonly headers?: Readonly<Record<string, string>>;
  /** `debug` per response, `info` on connect/disconnect, `warn` on NACK. Silent if absent. */
  readonly logger?: Logger;
  /** Where the `istio_xds_*` counters go; a private registry if absent. */
  readonly registry?: Registry;
  /** Reconnect delays (default 10 ms → 15 s, doubling, full jitter). */
  readonly backoff?: BackoffOptions;
  /** Timers for reconnects; tests inject a fake one. */
  readonly clock?: Clock;
  /** A stream that lived this long (ms, default 5000) counts as healthy even without a response: backoff resets. */
  readonly healthyStreamMs?: number;
  /** grpc-js channel options, applied over the client's own. */
  readonly channelOptions?: grpc.ChannelOptions;
}

/** Why and how a stream ended, as the `disconnected` event reports it. */
export interface DisconnectEvent {
  readonly reason: TerminationReason;
  /** What went wrong; absent when the server ended the stream with OK or `reconnect()` was called. */
  readonly error: XdsStreamError | XdsTokenError | undefined;
  /** Whether the stream got as far as an established connection. */
  readonly wasConnected: boolean;
  /** Delay before the next attempt. */
  readonly retryInMs: number;
}

export interface XdsClientEvents {
  /** The transport to the server is up (channel READY) or the first response arrived. */
  connected: [];
  /** A stream ended (or an attempt failed) other than by `close()`; a new attempt is scheduled. */
  disconnected: [DisconnectEvent];
  /** A response was fully applied and ACKed. */
  ack: [AckEvent];
  /** A response was NACKed; its valid resources were applied. */
  nack: [NackEvent];
}

export interface XdsTypeStatus {
  readonly typeUrl: string;
  readonly subscriptions: readonly string[];
  /** Resources the handler holds (applied and not removed). */
  readonly resourceCount: number;
  /** Responses received for this type, over all streams. */
  readonly responses: number;
  readonly lastAck: AckRecord | undefined;
  readonly lastNack: NackRecord | undefined;
}

export interface XdsClientStatus {
  readonly target: string;
  readonly protocol: XdsProtocol;
  readonly connected: boolean;
  /** Connection attempts since `start()`. */
  readonly connectionAttempts: number;
  /** Why the last stream ended, if it ended with an error. */
  readonly lastError: string | undefined;
  readonly types: readonly XdsTypeStatus[];
}
