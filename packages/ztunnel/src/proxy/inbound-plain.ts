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
import { relay } from '@ambit/mesh-core/hbone';
import { describeDecision } from '../authz/index.js';
import { addressOf, localWorkload, unmapped, type ProxyContext } from './context.js';
import { describeClose, flagOfClose, type CloseReason, type TrackedConnection } from './connection-manager.js';
import { ConnectionTelemetry, describeError } from './telemetry.js';

export class InboundPlain {
  readonly server: Server;
  readonly #ctx: ProxyContext;

  constructor(ctx: ProxyContext) {
    this.#ctx = ctx;
    this.server = createServer({ pauseOnConnect: true, allowHalfOpen: true, noDelay: true }, (socket) => void this.#serve(socket));
  }

  async #serve(client: Socket): Promise<void> {
    const ctx = this.#ctx;
    const started = ctx.monotonicNow();
    client.on('error', noop);
    const srcIp = unmapped(client.remoteAddress ?? '');
    const dstIp = unmapped(client.localAddress ?? '');
    const port = client.localPort ?? 0;
    const snapshot = ctx.state.current;
    const workload = localWorkload(ctx, snapshot, dstIp);
    if (workload === undefined) {
      ctx.logger.warn({ 'src.addr': addressOf(srcIp, client.remotePort), 'dst.addr': addressOf(dstIp, port) }, 'plaintext inbound connection to an address that is no local mesh workload; reset');
      client.resetAndDestroy();
      return;
    }
    const telemetry = new ConnectionTelemetry(
      ctx,
      {
        direction: 'inbound',
        srcAddr: addressOf(srcIp, client.remotePort),
        source: snapshot.findWorkloadByIp(srcIp, ctx.network),
        sourceIdentity: undefined,
        dstAddr: addressOf(dstIp, port),
        hboneAddr: undefined,
        destination: workload,
        destinationIdentity: workload.identity,
        service: undefined,
        security: 'none',
      },
      started,
    );
    const decision = ctx.authorizer.check(snapshot, { source: { identity: undefined, ip: srcIp }, destination: { workload, ip: dstIp, port } });
    if (!decision.allowed) {
      client.resetAndDestroy();
      telemetry.finish('DENY', 0, 0, describeDecision(decision));
      return;
    }

    let upstream: Socket | undefined;
    let closed: CloseReason | undefined;
    // Read through a function: `closed` is set from the close callback, which flow analysis does not see.
    const closedBy = (): CloseReason | undefined => closed;
    const tracked: TrackedConnection = {
      direction: 'inbound',
      authorizedAs: { sourceIdentity: undefined, sourceIp: srcIp, workloadUid: workload.uid, destinationIp: dstIp, port },
      close: (reason) => {
        closed = reason;
        client.resetAndDestroy();
        upstream?.destroy();
      },
    };
    ctx.connections.add(tracked);
    try {
      try {
        upstream = await ctx.dialer.dial(srcIp, { host: dstIp, port });
      } catch (err) {
        if (!client.destroyed) client.resetAndDestroy();
        const by = closedBy();
        // Closed by the manager meanwhile: that is the reason, not the failure it caused.
        if (by !== undefined) telemetry.finish(flagOfClose(by), 0, 0, describeClose(by));
        else telemetry.finish('CONNECT', 0, 0, describeError(err));
        return;
      }
      const early = closedBy();
      if (early !== undefined) {
        // Closed (policy, drain) while the pod was being connected.
        upstream.destroy();
        telemetry.finish(flagOfClose(early), 0, 0, describeClose(early));
        return;
      }
      const result = await relay(client, upstream);
      const by = closedBy();
      if (by !== undefined) telemetry.finish(flagOfClose(by), result.aToB, result.bToA, describeClose(by));
      else telemetry.finish('-', result.aToB, result.bToA, result.error === undefined ? undefined : describeError(result.error));
    } finally {
      ctx.connections.delete(tracked);
    }
  }
}

function noop(): void {}
