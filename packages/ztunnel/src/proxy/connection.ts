/**
 * One proxied connection, from routing to close, as one object: its telemetry record (the fields the
 * metrics and the access log are made of), its entry in the connection manager (closed on a policy change
 * or at the drain deadline) and the owner of its relay (told when both sides are done). The data path makes
 * one per connection and nothing else that lives as long: no closures, no promise or suspended async
 * function waiting for the relay, no label object of its own (label sets are shared, see
 * `ProxyMetrics.labelsOf`), no `ip:port` strings (formatted for the access-log line at close).
 *
 * Telemetry: `opened` is counted when the object is made (the record is complete by then); exactly one
 * `finish` follows, which counts `closed` and the bytes and writes the access-log line.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { startRelay, type RelayOwner, type RelayResult } from '@ambit/mesh-core/hbone';
import type { Identity } from '@ambit/mesh-core/identity';
import type { TcpLabels } from '../metrics.js';
import type { Service, Workload } from '../state/model.js';
import { describeClose, flagOfClose, type AuthorizedAs, type CloseReason, type TrackedConnection } from './connection-manager.js';
import type { ProxyContext } from './context.js';
import type { ConnectionRecord, Direction, ResponseFlag, SecurityPolicy } from './record.js';
import { describeError, flagOf } from './telemetry.js';

/** Shared by every accepted socket until its relay listens for errors itself. */
export function ignoreError(): void {}

export class ProxiedConnection implements ConnectionRecord, TrackedConnection, RelayOwner {
  readonly direction: Direction;
  readonly srcIp: string;
  readonly srcPort: number;
  readonly source: Workload | undefined;
  readonly sourceIdentity: Identity | undefined;
  readonly dstIp: string;
  readonly dstPort: number;
  readonly hboneIp: string | undefined;
  readonly hbonePort: number;
  readonly destination: Workload | undefined;
  readonly destinationIdentity: Identity | undefined;
  readonly service: Service | undefined;
  readonly security: SecurityPolicy;
  readonly #ctx: ProxyContext;
  readonly #labels: Readonly<TcpLabels>;
  readonly #started: number;
  /** The accepted socket (outbound and plaintext inbound); HBONE inbound has the server's stream instead, which is not ours. */
  readonly #client: Socket | undefined;
  #upstream: Duplex | undefined;
  #closedBy: CloseReason | undefined;
  #finished = false;

  /** Counts the connection opened; `record` is copied (the caller's object is not kept). */
  constructor(ctx: ProxyContext, record: ConnectionRecord, client: Socket | undefined, started: number) {
    this.direction = record.direction;
    this.srcIp = record.srcIp;
    this.srcPort = record.srcPort;
    this.source = record.source;
    this.sourceIdentity = record.sourceIdentity;
    this.dstIp = record.dstIp;
    this.dstPort = record.dstPort;
    this.hboneIp = record.hboneIp;
    this.hbonePort = record.hbonePort;
    this.destination = record.destination;
    this.destinationIdentity = record.destinationIdentity;
    this.service = record.service;
    this.security = record.security;
    this.#ctx = ctx;
    this.#client = client;
    this.#started = started;
    this.#labels = ctx.metrics.labelsOf(this);
    ctx.metrics.opened(this.#labels);
  }

  /**
   * What an inbound connection was authorized with, for the policy re-check (made when asked: a re-check is
   * rare, connections are many). Undefined for outbound ones, which policy does not close.
   */
  get authorizedAs(): AuthorizedAs | undefined {
    const workload = this.destination;
    if (this.direction !== 'inbound' || workload === undefined) return undefined;
    return { sourceIdentity: this.sourceIdentity, sourceIp: this.srcIp, workloadUid: workload.uid, destinationIp: this.dstIp, port: this.dstPort };
  }

  /** Whether the connection manager closed it (it may have while the upstream was being connected). */
  get closedByManager(): boolean {
    return this.#closedBy !== undefined;
  }

  /** Tracked from now on: a policy change or the drain may close it. */
  track(): void {
    this.#ctx.connections.add(this);
  }

  /** The connection manager's close (policy, drain): both sides torn down now; the relay then finishes. */
  close(reason: CloseReason): void {
    this.#closedBy = reason;
    const client = this.#client;
    // An RST: the client must learn the connection was cut, not see a clean end.
    if (client !== undefined && !client.destroyed) client.resetAndDestroy();
    this.#upstream?.destroy();
  }

  /**
   * The upstream is connected: relay the accepted socket to it. A connection the manager closed meanwhile
   * drops the upstream and finishes instead.
   */
  relayTo(upstream: Duplex): void {
    const by = this.#closedBy;
    const client = this.#client!;
    if (by !== undefined) {
      upstream.destroy();
      this.#untrack();
      this.finish(flagOfClose(by), 0, 0, describeClose(by));
      return;
    }
    this.#upstream = upstream;
    startRelay(client, upstream, this);
    // The relay listens for the socket's errors now.
    client.off('error', ignoreError);
  }

  /**
   * The upstream of an HBONE tunnel is connected (the server relays its stream to it and tells us when
   * done): tracked from now on.
   */
  upstreamConnected(upstream: Socket): void {
    this.#upstream = upstream;
    this.track();
  }

  /** Setting the connection up failed (`err`): the client is reset and the outcome recorded. */
  setupFailed(err: unknown, flag: ResponseFlag = flagOf(err)): void {
    const client = this.#client;
    if (client !== undefined && !client.destroyed) client.resetAndDestroy();
    this.#untrack();
    const by = this.#closedBy;
    // Closed by the manager meanwhile: that is the reason, not the failure it caused.
    if (by !== undefined) this.finish(flagOfClose(by), 0, 0, describeClose(by));
    else this.finish(flag, 0, 0, describeError(err));
  }

  /** Both sides of the relay are done. */
  relayDone(result: RelayResult): void {
    this.#untrack();
    const by = this.#closedBy;
    if (by !== undefined) this.finish(flagOfClose(by), result.aToB, result.bToA, describeClose(by));
    else this.finish('-', result.aToB, result.bToA, result.error === undefined ? undefined : describeError(result.error));
  }

  /** Records the end (once; later calls are ignored). `error` is absent for a clean close. */
  finish(flag: ResponseFlag, sent: number, received: number, error?: string): void {
    if (this.#finished) return;
    this.#finished = true;
    const ctx = this.#ctx;
    ctx.metrics.closed(this.#labels, flag, sent, received);
    ctx.accessLog.closed(this, { sent, received, durationMs: ctx.monotonicNow() - this.#started, flag, error });
  }

  #untrack(): void {
    this.#ctx.connections.delete(this);
  }
}
