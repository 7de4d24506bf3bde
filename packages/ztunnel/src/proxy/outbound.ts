/**
 * Outbound (port 15001): connections a local mesh pod opens, captured with their original destination as
 * the accepted socket's local address (TPROXY). For each one:
 *
 * 1. the snapshot is read once; the source is the workload holding the client's IP, which must be a local
 *    HBONE workload (anything else is reset: only enrolled pods are captured, so this is a stale or spoofed
 *    source);
 * 2. `routeOutbound` decides (HBONE to the pod or its waypoint, plain passthrough, or refused);
 * 3. HBONE: the source workload's certificate is awaited (bounded), then a tunnel is opened from the source
 *    pod's IP presenting that certificate, with `forwarded`, `baggage` and a fresh `traceparent`;
 *    passthrough: a plain connection from the client's IP (the dialer marks it so it is not captured again);
 * 4. the two are relayed until both directions are done; telemetry is written at close.
 *
 * A failure after TPROXY accepted the client resets the client's connection: it has already seen its
 * connect succeed, and a reset is how it learns the destination was not reached.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { relay, type HboneClient } from '@ambit/mesh-core/hbone';
import type { Identity } from '@ambit/mesh-core/identity';
import { addressOf, localWorkload, unmapped, type ProxyContext } from './context.js';
import { describeClose, type CloseReason, type TrackedConnection } from './connection-manager.js';
import { CertificateWaitError } from './errors.js';
import { baggageOf, newTraceparent } from './headers.js';
import type { Workload } from '../state/model.js';
import type { ConnectionRecord } from './record.js';
import { formatHostPort, routeOutbound, type OutboundRoute } from './route.js';
import { ConnectionTelemetry, describeError, flagOf } from './telemetry.js';

export class Outbound {
  /** The server the capture listener (or a test) listens; connections are served as they are accepted. */
  readonly server: Server;
  readonly #ctx: ProxyContext;
  readonly #hbone: HboneClient;

  constructor(ctx: ProxyContext, hbone: HboneClient) {
    this.#ctx = ctx;
    this.#hbone = hbone;
    this.server = createServer({ pauseOnConnect: true, allowHalfOpen: true, noDelay: true }, (socket) => void this.#serve(socket));
  }

  async #serve(client: Socket): Promise<void> {
    const ctx = this.#ctx;
    const started = ctx.monotonicNow();
    client.on('error', noop);
    const srcIp = unmapped(client.remoteAddress ?? '');
    const srcAddr = addressOf(client.remoteAddress, client.remotePort);
    const destination = { host: unmapped(client.localAddress ?? ''), port: client.localPort ?? 0 };
    const snapshot = ctx.state.current;
    const source = localWorkload(ctx, snapshot, srcIp);
    if (source === undefined) {
      ctx.logger.warn({ 'src.addr': srcAddr, 'dst.addr': addressOf(destination.host, destination.port) }, 'outbound connection from an address that is no local mesh workload; reset');
      client.resetAndDestroy();
      return;
    }
    const route = routeOutbound(snapshot, source, destination, { network: ctx.network, random: ctx.random, hbonePort: ctx.hbonePort });
    const telemetry = new ConnectionTelemetry(ctx, recordOf(route, srcAddr, source.identity, source, addressOf(destination.host, destination.port)), started);
    if (route.kind === 'refused') {
      client.resetAndDestroy();
      telemetry.finish('CONNECT', 0, 0, route.reason);
      return;
    }

    let upstream: Duplex | undefined;
    let closed: CloseReason | undefined;
    // Read through a function: `closed` is set from the close callback, which flow analysis does not see.
    const closedBy = (): CloseReason | undefined => closed;
    const tracked: TrackedConnection = {
      direction: 'outbound',
      authorizedAs: undefined,
      close: (reason) => {
        closed = reason;
        client.resetAndDestroy();
        upstream?.destroy();
      },
    };
    ctx.connections.add(tracked);
    try {
      try {
        upstream = route.kind === 'hbone' ? await this.#tunnel(route, source, srcIp, srcAddr) : await ctx.dialer.dial(srcIp, route.target);
      } catch (err) {
        if (!client.destroyed) client.resetAndDestroy();
        const by = closedBy();
        // Closed by the manager meanwhile: that is the reason, not the failure it caused.
        if (by !== undefined) telemetry.finish('-', 0, 0, describeClose(by));
        else telemetry.finish(flagOf(err), 0, 0, describeError(err));
        return;
      }
      const early = closedBy();
      if (early !== undefined) {
        // Closed (drain) while the upstream was being connected.
        upstream.destroy();
        telemetry.finish('-', 0, 0, describeClose(early));
        return;
      }
      const result = await relay(client, upstream);
      const by = closedBy();
      const error = by !== undefined ? describeClose(by) : result.error === undefined ? undefined : describeError(result.error);
      telemetry.finish('-', result.aToB, result.bToA, error);
    } finally {
      ctx.connections.delete(tracked);
    }
  }

  async #tunnel(route: Extract<OutboundRoute, { kind: 'hbone' }>, source: Workload, srcIp: string, srcAddr: string): Promise<Duplex> {
    await waitForCertificate(this.#ctx, source.identity);
    return await this.#hbone.connect({
      source: source.identity,
      sourceAddress: srcIp,
      destination: formatHostPort(route.hbone.host, route.hbone.port),
      expectedIdentities: route.expectedIdentities,
      authority: route.authority,
      forwardedFor: srcAddr,
      baggage: baggageOf(source),
      traceparent: newTraceparent(),
    });
  }
}

function noop(): void {}

function recordOf(route: OutboundRoute, srcAddr: string, sourceIdentity: Identity, source: ConnectionRecord['source'], dstAddr: string): ConnectionRecord {
  switch (route.kind) {
    case 'hbone':
      return {
        direction: 'outbound',
        srcAddr,
        source,
        sourceIdentity,
        dstAddr,
        hboneAddr: formatHostPort(route.hbone.host, route.hbone.port),
        destination: route.workload,
        destinationIdentity: route.workload.identity,
        service: route.service,
        security: 'mutual_tls',
      };
    case 'passthrough':
    case 'refused':
      return {
        direction: 'outbound',
        srcAddr,
        source,
        sourceIdentity,
        dstAddr,
        hboneAddr: undefined,
        destination: route.workload,
        destinationIdentity: undefined,
        service: route.service,
        security: 'none',
      };
  }
}

/**
 * The certificate of `identity`, waited for at most `certificateWaitMs` (a workload's first connections
 * may come before its prefetch finished). Fails with CertificateWaitError.
 */
export async function waitForCertificate(ctx: ProxyContext, identity: Identity): Promise<void> {
  let timer: { cancel(): void } | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = ctx.clock.setTimeout(
      () => reject(new CertificateWaitError(identity.uri, `not fetched within ${ctx.certificateWaitMs} ms`)),
      ctx.certificateWaitMs,
      { keepAlive: false },
    );
  });
  try {
    await Promise.race([ctx.certificates.getCertificate(identity), timeout]);
  } catch (err) {
    if (err instanceof CertificateWaitError) throw err;
    throw new CertificateWaitError(identity.uri, describeError(err), { cause: err });
  } finally {
    timer!.cancel();
  }
}
