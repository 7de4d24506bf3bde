/**
 * Inbound HBONE (port 15008): tunnels to this node's pods. The HBONE server does mutual TLS (the client
 * must hold a SPIFFE ID of our trust domain) presenting the identity of the pod that was dialled (TPROXY
 * keeps the pod's IP as the accepted socket's local address); then, per CONNECT:
 *
 * - 400 unless the `:authority` IP is the address the connection was accepted on (ztunnel's rule: a tunnel
 *   to one pod's address cannot reach another pod);
 * - 503 unless that address is a local HBONE workload;
 * - L4 authorization with the peer's identity, the TCP source address (see below) and the target port;
 *   401 on deny;
 * - delivery to `podIP:port` from the peer's address (a transparent dial, so the pod sees its real client);
 *   503 when that fails.
 *
 * Source address: the HBONE peer's TCP address. Ztunnels dial HBONE from the source pod's own IP, so that
 * is the client pod; through a waypoint it is the waypoint's (ztunnel does the same and does not trust
 * `forwarded` for policy). The access log shows `forwarded`'s client port when its IP is that address.
 *
 * Each tunnel is tracked until it closes, so a policy change can close it (`ConnectionManager.recheck`).
 */
import type { Socket } from 'node:net';
import { HboneServer, parseForwardedFor, type InboundTunnelRequest, type TunnelDecision } from '@ambit/mesh-core/hbone';
import type { RelayResult } from '@ambit/mesh-core/hbone';
import type { Identity } from '@ambit/mesh-core/identity';
import { describeDecision } from '../authz/index.js';
import { addressOf, localWorkload, unmapped, type ProxyContext } from './context.js';
import { describeClose, flagOfClose, type CloseReason, type TrackedConnection } from './connection-manager.js';
import type { ConnectionRecord } from './record.js';
import { formatHostPort } from './route.js';
import { ConnectionTelemetry, describeError } from './telemetry.js';

/** Settings of the HBONE server that are not the context's. */
export interface InboundOptions {
  readonly trustDomain: string;
  readonly http2?: { streamWindowSize: number; connectionWindowSize: number; maxFrameSize: number };
}

interface Tunnel {
  readonly telemetry: ConnectionTelemetry;
  readonly tracked: TrackedConnection;
  upstream: Socket | undefined;
  closedBy: CloseReason | undefined;
}

export class Inbound {
  readonly server: HboneServer;
  readonly #ctx: ProxyContext;
  readonly #tunnels = new WeakMap<InboundTunnelRequest, Tunnel>();

  constructor(ctx: ProxyContext, options: InboundOptions) {
    this.#ctx = ctx;
    this.server = new HboneServer({
      identityFor: (localAddress) => this.#identityFor(localAddress),
      certificates: ctx.certificates,
      trustDomain: options.trustDomain,
      authorize: (req) => this.#authorize(req),
      connectUpstream: (req) => this.#connect(req),
      onTunnelClosed: (req, result) => this.#closed(req, result),
      logger: ctx.logger,
      ...(options.http2 === undefined ? {} : { http2: options.http2 }),
    });
  }

  #identityFor(localAddress: string): Identity | undefined {
    return localWorkload(this.#ctx, this.#ctx.state.current, unmapped(localAddress))?.identity;
  }

  #authorize(req: InboundTunnelRequest): TunnelDecision {
    const ctx = this.#ctx;
    const started = ctx.monotonicNow();
    const local = unmapped(req.localAddress);
    if (req.target.host !== local) {
      return { status: 400, reason: `authority ${req.authority} is not the address the connection was made to (${local})` };
    }
    const snapshot = ctx.state.current;
    const workload = localWorkload(ctx, snapshot, req.target.host);
    if (workload === undefined) return { status: 503, reason: `${req.target.host} is not a workload on this node` };
    const sourceIp = unmapped(req.remoteAddress);
    const record: ConnectionRecord = {
      direction: 'inbound',
      srcAddr: clientAddress(req, sourceIp),
      source: snapshot.findWorkloadByIp(sourceIp, ctx.network),
      sourceIdentity: req.peerIdentity,
      dstAddr: formatHostPort(req.target.host, req.target.port),
      hboneAddr: addressOf(local, req.localPort),
      destination: workload,
      destinationIdentity: req.identity,
      service: undefined,
      security: 'mutual_tls',
    };
    const telemetry = new ConnectionTelemetry(ctx, record, started);
    const decision = ctx.authorizer.check(snapshot, {
      source: { identity: req.peerIdentity, ip: sourceIp },
      destination: { workload, ip: req.target.host, port: req.target.port },
    });
    if (!decision.allowed) {
      telemetry.finish('DENY', 0, 0, describeDecision(decision));
      return false;
    }
    const tunnel: Tunnel = {
      telemetry,
      upstream: undefined,
      closedBy: undefined,
      tracked: {
        direction: 'inbound',
        authorizedAs: { sourceIdentity: req.peerIdentity, sourceIp, workloadUid: workload.uid, destinationIp: req.target.host, port: req.target.port },
        close: (reason) => {
          tunnel.closedBy = reason;
          // The relay sees the upstream go and resets the HBONE stream: the client learns the tunnel broke.
          tunnel.upstream?.destroy();
        },
      },
    };
    this.#tunnels.set(req, tunnel);
    return true;
  }

  async #connect(req: InboundTunnelRequest): Promise<Socket> {
    const tunnel = this.#tunnels.get(req)!;
    let upstream: Socket;
    try {
      upstream = await this.#ctx.dialer.dial(unmapped(req.remoteAddress), req.target);
    } catch (err) {
      tunnel.telemetry.finish('CONNECT', 0, 0, describeError(err));
      throw err;
    }
    tunnel.upstream = upstream;
    this.#ctx.connections.add(tunnel.tracked);
    return upstream;
  }

  #closed(req: InboundTunnelRequest, result: RelayResult): void {
    const tunnel = this.#tunnels.get(req);
    if (tunnel === undefined) return;
    this.#ctx.connections.delete(tunnel.tracked);
    const by = tunnel.closedBy;
    if (by !== undefined) {
      tunnel.telemetry.finish(flagOfClose(by), result.aToB, result.bToA, describeClose(by));
    } else {
      tunnel.telemetry.finish('-', result.aToB, result.bToA, result.error === undefined ? undefined : describeError(result.error));
    }
  }
}

/** `forwarded`'s client address when it names the TCP source's IP (it then carries the client's own port). */
function clientAddress(req: InboundTunnelRequest, sourceIp: string): string {
  const forwarded = parseForwardedFor(req.forwarded);
  if (forwarded !== undefined) {
    const colon = forwarded.lastIndexOf(':');
    const host = colon > 0 ? forwarded.slice(0, colon).replace(/^\[|\]$/g, '') : forwarded;
    if (host === sourceIp) return forwarded;
  }
  return addressOf(sourceIp, req.remotePort);
}
