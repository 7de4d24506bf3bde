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
 * The service the tunnel was for (telemetry only) is the one the client named in `forwarded`'s `host=`, if it
 * selects the pod, else the one targeting the port (`inbound-service.ts`).
 *
 * Source address: the HBONE peer's TCP address. Ztunnels dial HBONE from the source pod's own IP, so that
 * is the client pod; through a waypoint it is the waypoint's (ztunnel does the same and does not trust
 * `forwarded` for policy). The access log shows `forwarded`'s client port when its IP is that address.
 *
 * Each tunnel is tracked until it closes, so a policy change can close it (`ConnectionManager.recheck`).
 */
import type { Socket } from 'node:net';
import { HboneServer, parseForwardedFor, parseForwardedHost, type InboundTunnelRequest, type TunnelDecision, type UpstreamConnection } from '@ambit/mesh-core/hbone';
import type { Identity } from '@ambit/mesh-core/identity';
import { describeDecision } from '../authz/index.js';
import { ProxiedConnection } from './connection.js';
import { localWorkload, unmapped, type ProxyContext } from './context.js';
import { inboundService } from './inbound-service.js';
import { describeError } from './telemetry.js';

/** Settings of the HBONE server that are not the context's. */
export interface InboundOptions {
  readonly trustDomain: string;
  readonly http2?: { streamWindowSize: number; connectionWindowSize: number; maxFrameSize: number };
}

export class Inbound {
  readonly server: HboneServer;
  readonly #ctx: ProxyContext;
  /** From authorization to the upstream's connect; the request, and so the entry, is dropped after that. */
  readonly #pending = new WeakMap<InboundTunnelRequest, ProxiedConnection>();

  constructor(ctx: ProxyContext, options: InboundOptions) {
    this.#ctx = ctx;
    this.server = new HboneServer({
      identityFor: (localAddress) => this.#identityFor(localAddress),
      certificates: ctx.certificates,
      trustDomain: options.trustDomain,
      authorize: (req) => this.#authorize(req),
      connectUpstream: (req) => this.#connect(req),
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
    const conn = new ProxiedConnection(
      ctx,
      {
        direction: 'inbound',
        srcIp: sourceIp,
        srcPort: clientPort(req, sourceIp),
        source: snapshot.findWorkloadByIp(sourceIp, ctx.network),
        sourceIdentity: req.peerIdentity,
        // The same IP as the target's (checked above), but the session's string, not one parsed per stream.
        dstIp: local,
        dstPort: req.target.port,
        hboneIp: local,
        hbonePort: req.localPort,
        destination: workload,
        destinationIdentity: req.identity,
        service: inboundService(snapshot, workload, req.target.port, parseForwardedHost(req.forwarded)),
        security: 'mutual_tls',
      },
      undefined,
      started,
    );
    const decision = ctx.authorizer.check(snapshot, {
      source: { identity: req.peerIdentity, ip: sourceIp },
      destination: { workload, ip: req.target.host, port: req.target.port },
    });
    if (!decision.allowed) {
      conn.finish('DENY', 0, 0, describeDecision(decision));
      return false;
    }
    this.#pending.set(req, conn);
    return true;
  }

  /**
   * Delivers to the pod from the peer's address. The connection object is the tunnel's owner: the server
   * relays and tells it when done, and keeps nothing of the request meanwhile.
   */
  async #connect(req: InboundTunnelRequest): Promise<UpstreamConnection> {
    const conn = this.#pending.get(req)!;
    this.#pending.delete(req);
    let upstream: Socket;
    try {
      upstream = await this.#ctx.dialer.dial(unmapped(req.remoteAddress), req.target);
    } catch (err) {
      conn.finish('CONNECT', 0, 0, describeError(err));
      throw err;
    }
    // Tracked from here (the relay starts next), so a policy change or the drain can close it.
    conn.upstreamConnected(upstream);
    return { socket: upstream, owner: conn };
  }
}

/** `forwarded`'s client port when it names the TCP source's IP (it then carries the client's own port); else the TCP peer's. */
function clientPort(req: InboundTunnelRequest, sourceIp: string): number {
  const forwarded = parseForwardedFor(req.forwarded);
  if (forwarded !== undefined) {
    const colon = forwarded.lastIndexOf(':');
    const host = colon > 0 ? forwarded.slice(0, colon).replace(/^\[|\]$/g, '') : forwarded;
    const port = colon > 0 ? Number(forwarded.slice(colon + 1)) : NaN;
    if (host === sourceIp && Number.isInteger(port) && port > 0 && port <= 65_535) return port;
  }
  return req.remotePort;
}
