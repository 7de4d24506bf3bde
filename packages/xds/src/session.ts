/**
 * What the delta and state-of-the-world sessions share: the context the client hands them, the interface
 * the client drives them through, and the ACK/NACK bookkeeping after each response.
 */
import type { EnvoyNode, RpcStatus } from '@ambit/protos';
import type { Logger } from 'pino';
import type { XdsMetrics } from './metrics.js';
import type { Rejection } from './resource-type.js';
import { formatRejections, type TypeState } from './type-state.js';

/** google.rpc.Code INVALID_ARGUMENT: what Envoy and ztunnel put in a NACK's `error_detail`. */
export const INVALID_ARGUMENT = 3;

/** A response as the client's deserializer hands it over: the message and its encoded size. */
export interface Sized<T> {
  readonly message: T;
  readonly bytes: number;
}

/** An ACK or NACK the client sent, as `ack`/`nack` events carry it. */
export interface AckEvent {
  readonly typeUrl: string;
  readonly nonce: string;
  /** The response's version (`system_version_info` in delta, `version_info` in state of the world). */
  readonly version: string;
}

export interface NackEvent extends AckEvent {
  /** The `error_detail` message: every rejected name with its reason. */
  readonly error: string;
  readonly rejections: readonly Rejection[];
}

/** What a session needs from the client. */
export interface SessionContext {
  readonly node: EnvoyNode;
  readonly logger: Logger;
  readonly metrics: XdsMetrics;
  readonly types: ReadonlyMap<string, TypeState<unknown>>;
  /** Called on every response before it is processed: the stream is alive and healthy. */
  onResponse(): void;
  onAck(event: AckEvent): void;
  onNack(event: NackEvent): void;
}

/** One live ADS stream, delta or state of the world. */
export interface AdsSession {
  /** Sends the first request of every subscribed type. */
  start(): void;
  /** The subscription of `typeUrl` changed while the stream is live. */
  subscriptionChanged(typeUrl: string, added: readonly string[], removed: readonly string[]): void;
}

/** Counts a response in the metrics, labelled by a registered type URL only (a server cannot grow the label set). */
export function countResponse(ctx: SessionContext, typeUrl: string, bytes: number): void {
  const label = ctx.types.has(typeUrl) ? typeUrl : 'unknown';
  ctx.metrics.messages.inc({ type_url: label });
  ctx.metrics.messageBytes.inc({ type_url: label }, bytes);
}

/**
 * Records, logs and announces the outcome of one response; returns the `error_detail` of a NACK, or
 * `undefined` for an ACK. `state` is absent for a type no handler was registered for.
 */
export function settle(
  ctx: SessionContext,
  typeUrl: string,
  state: TypeState<unknown> | undefined,
  nonce: string,
  version: string,
  rejections: readonly Rejection[],
): RpcStatus | undefined {
  const time = Date.now();
  if (rejections.length === 0) {
    if (state) state.lastAck = { nonce, version, time };
    ctx.onAck({ typeUrl, nonce, version });
    return undefined;
  }
  const error = formatRejections(rejections);
  if (state) state.lastNack = { nonce, version, time, error };
  ctx.logger.warn({ type_url: typeUrl, nonce, version, rejected: rejections.length, error }, 'NACK');
  ctx.onNack({ typeUrl, nonce, version, error, rejections });
  return { code: INVALID_ARGUMENT, message: error };
}
