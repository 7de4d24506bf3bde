/**
 * Inbound plaintext (port 15006): connections to this node's mesh pods that did not come over HBONE (from
 * pods outside the mesh, or from hosts). The accepted socket's local address is the pod and port dialled.
 *
 * The connection has no identity, so L4 authorization runs without one: under PeerAuthentication STRICT
 * the static `istio_converted_static_strict` DENY (`not_principals: presence`) refuses it; PERMISSIVE
 * leaves it to the remaining policies. Refused connections are reset. Allowed ones are delivered from the
 * client's own address (a transparent dial) and tracked, so that a policy change can close them.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { describeDecision } from '../authz/index.js';
import { ProxiedConnection, ignoreError } from './connection.js';
import { addressOf, localWorkload, unmapped, type ProxyContext } from './context.js';
import { inboundService } from './inbound-service.js';

export class InboundPlain {
  readonly server: Server;
  readonly #ctx: ProxyContext;

  constructor(ctx: ProxyContext) {
    this.#ctx = ctx;
    this.server = createServer({ pauseOnConnect: true, allowHalfOpen: true, noDelay: true }, (socket) => this.#serve(socket));
  }

  #serve(client: Socket): void {
    const ctx = this.#ctx;
    const started = ctx.monotonicNow();
    client.on('error', ignoreError);
    const srcIp = unmapped(client.remoteAddress ?? '');
    const srcPort = client.remotePort ?? 0;
    const dstIp = unmapped(client.localAddress ?? '');
    const port = client.localPort ?? 0;
    const snapshot = ctx.state.current;
    const workload = localWorkload(ctx, snapshot, dstIp);
    if (workload === undefined) {
      ctx.logger.warn({ 'src.addr': addressOf(srcIp, srcPort), 'dst.addr': addressOf(dstIp, port) }, 'plaintext inbound connection to an address that is no local mesh workload; reset');
      client.resetAndDestroy();
      return;
    }
    const conn = new ProxiedConnection(
      ctx,
      {
        direction: 'inbound',
        srcIp,
        srcPort,
        source: snapshot.findWorkloadByIp(srcIp, ctx.network),
        sourceIdentity: undefined,
        dstIp,
        dstPort: port,
        hboneIp: undefined,
        hbonePort: 0,
        destination: workload,
        destinationIdentity: workload.identity,
        // No HBONE headers here: the service is the one targeting the port, if any.
        service: inboundService(snapshot, workload, port, undefined),
        security: 'none',
      },
      client,
      started,
    );
    const decision = ctx.authorizer.check(snapshot, { source: { identity: undefined, ip: srcIp }, destination: { workload, ip: dstIp, port } });
    if (!decision.allowed) {
      client.resetAndDestroy();
      conn.finish('DENY', 0, 0, describeDecision(decision));
      return;
    }
    conn.track();
    void this.#connect(conn, srcIp, dstIp, port);
  }

  /** Connects the pod and hands over to the relay; this function's frame does not outlive the set-up. */
  async #connect(conn: ProxiedConnection, srcIp: string, dstIp: string, port: number): Promise<void> {
    let upstream: Socket;
    try {
      upstream = await this.#ctx.dialer.dial(srcIp, { host: dstIp, port });
    } catch (err) {
      conn.setupFailed(err, 'CONNECT');
      return;
    }
    conn.relayTo(upstream);
  }
}
