/**
 * Outbound (port 15001): connections a local mesh pod opens, captured with their original destination as
 * the accepted socket's local address (TPROXY). For each one:
 *
 * 1. the snapshot is read once; the source is the workload holding the client's IP, which must be a local
 *    HBONE workload (anything else is reset: only enrolled pods are captured, so this is a stale or spoofed
 *    source);
 * 2. `routeOutbound` decides (HBONE to the pod or its waypoint, plain passthrough, or refused);
 * 3. HBONE: the source workload's certificate is awaited (bounded), then a tunnel is opened from the source
 *    pod's IP presenting that certificate, with `forwarded` (`for=` the client, `host=` the service when
 *    one was dialled), `baggage` and a fresh `traceparent`;
 *    passthrough: a plain connection from the client's IP (the dialer marks it so it is not captured again);
 * 4. the two are relayed until both directions are done; telemetry is written at close.
 *
 * A failure after TPROXY accepted the client resets the client's connection: it has already seen its
 * connect succeed, and a reset is how it learns the destination was not reached.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { HboneClient } from '@ambit/mesh-core/hbone';
import type { Identity } from '@ambit/mesh-core/identity';
import { addressOf, localWorkload, unmapped, type ProxyContext } from './context.js';
import { ProxiedConnection, ignoreError } from './connection.js';
import { CertificateWaitError } from './errors.js';
import { baggageOf, newTraceparent } from './headers.js';
import type { Workload } from '../state/model.js';
import type { ConnectionRecord } from './record.js';
import { formatHostPort, routeOutbound, type OutboundRoute } from './route.js';
import { describeError } from './telemetry.js';

export class Outbound {
  /** The server the capture listener (or a test) listens; connections are served as they are accepted. */
  readonly server: Server;
  readonly #ctx: ProxyContext;
  readonly #hbone: HboneClient;

  constructor(ctx: ProxyContext, hbone: HboneClient) {
    this.#ctx = ctx;
    this.#hbone = hbone;
    this.server = createServer({ pauseOnConnect: true, allowHalfOpen: true, noDelay: true }, (socket) => this.#serve(socket));
  }

  #serve(client: Socket): void {
    const ctx = this.#ctx;
    const started = ctx.monotonicNow();
    client.on('error', ignoreError);
    const srcIp = unmapped(client.remoteAddress ?? '');
    const srcPort = client.remotePort ?? 0;
    const destination = { host: unmapped(client.localAddress ?? ''), port: client.localPort ?? 0 };
    const snapshot = ctx.state.current;
    const source = localWorkload(ctx, snapshot, srcIp);
    if (source === undefined) {
      ctx.logger.warn({ 'src.addr': addressOf(srcIp, srcPort), 'dst.addr': addressOf(destination.host, destination.port) }, 'outbound connection from an address that is no local mesh workload; reset');
      client.resetAndDestroy();
      return;
    }
    const route = routeOutbound(snapshot, source, destination, { network: ctx.network, random: ctx.random, hbonePort: ctx.hbonePort });
    const conn = new ProxiedConnection(ctx, recordOf(route, srcIp, srcPort, source, destination.host, destination.port), client, started);
    if (route.kind === 'refused') {
      client.resetAndDestroy();
      conn.finish('CONNECT', 0, 0, route.reason);
      return;
    }
    conn.track();
    void this.#connect(conn, route, source, client);
  }

  /** Connects the upstream and hands over to the relay; this function's frame does not outlive the set-up. */
  async #connect(conn: ProxiedConnection, route: Exclude<OutboundRoute, { kind: 'refused' }>, source: Workload, client: Socket): Promise<void> {
    let upstream: Duplex;
    try {
      upstream = route.kind === 'hbone' ? await this.#tunnel(route, source, conn.srcIp, client) : await this.#ctx.dialer.dial(conn.srcIp, route.target);
    } catch (err) {
      conn.setupFailed(err);
      return;
    }
    conn.relayTo(upstream);
  }

  async #tunnel(route: Extract<OutboundRoute, { kind: 'hbone' }>, source: Workload, srcIp: string, client: Socket): Promise<Duplex> {
    await waitForCertificate(this.#ctx, source.identity);
    return await this.#hbone.connect({
      source: source.identity,
      sourceAddress: srcIp,
      destination: formatHostPort(route.hbone.host, route.hbone.port),
      expectedIdentities: route.expectedIdentities,
      authority: route.authority,
      forwardedFor: addressOf(srcIp, client.remotePort),
      // The service dialled, so that the destination's metrics can name it (ztunnel's `forwarded` host=).
      ...(route.service === undefined ? {} : { forwardedHost: route.service.hostname }),
      baggage: baggageOf(source),
      traceparent: newTraceparent(),
    });
  }
}

function recordOf(route: OutboundRoute, srcIp: string, srcPort: number, source: Workload, dstIp: string, dstPort: number): ConnectionRecord {
  const sourceIdentity: Identity = source.identity;
  const hbone = route.kind === 'hbone';
  return {
    direction: 'outbound',
    srcIp,
    srcPort,
    source,
    sourceIdentity,
    dstIp,
    dstPort,
    hboneIp: hbone ? route.hbone.host : undefined,
    hbonePort: hbone ? route.hbone.port : 0,
    destination: route.workload,
    destinationIdentity: hbone ? route.workload.identity : undefined,
    service: route.service,
    security: hbone ? 'mutual_tls' : 'none',
  };
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
