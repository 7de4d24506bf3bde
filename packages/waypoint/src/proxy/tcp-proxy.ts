/**
 * The TCP chain of a binding: L4 RBAC on the connection, then the bytes relayed to an endpoint of the
 * chain's cluster (HBONE or plain TCP), half-close and back-pressure included (mesh-core's `relay`). The
 * bytes already read while sniffing go first. A refusal or a failed connection resets the tunnel.
 */
import type { Duplex } from 'node:stream';
import { relay } from '@ambit/mesh-core/hbone';
import type { TcpChain } from '../config/types.js';
import { UpstreamError } from '../upstream/errors.js';
import { recordOutcome } from '../upstream/outlier.js';
import type { ProxyContext, TunnelContext } from './context.js';

export async function tcpProxy(ctx: ProxyContext, tunnel: TunnelContext, stream: Duplex, head: Buffer, chain: TcpChain): Promise<void> {
  const log = { 'src.addr': tunnel.sourceAddress, 'src.identity': tunnel.connection.sourcePrincipal, 'dst.addr': tunnel.bindingKey, cluster: chain.cluster };
  if (!chain.rbac.empty) {
    const decision = chain.rbac.evaluate(tunnel.connection);
    if (!decision.allowed) {
      ctx.logger.info({ ...log, policy: decision.policy, reason: decision.reason }, 'TCP connection denied by policy');
      stream.destroy();
      return;
    }
  }
  const cluster = ctx.clusters.get(chain.cluster);
  const host = cluster?.pick(ctx.clock.now(), undefined, tunnel.connection);
  if (cluster === undefined || host === undefined) {
    ctx.logger.info({ ...log, response_flags: cluster === undefined ? 'NC' : 'UH' }, 'TCP connection refused: no upstream');
    stream.destroy();
    return;
  }
  let upstream: Duplex;
  try {
    upstream = await cluster.openTcp(host);
  } catch (err) {
    const flag = err instanceof UpstreamError ? err.flag : 'UF';
    if (flag !== 'UO') recordOutcome(cluster.config.outlierDetection, host, { kind: 'connect-failure' }, cluster.hosts, ctx.clock.now());
    ctx.logger.info({ ...log, upstream: host.key, response_flags: flag, err }, 'TCP connection failed');
    stream.destroy();
    return;
  }
  if (stream.destroyed) {
    upstream.destroy();
    return;
  }
  recordOutcome(cluster.config.outlierDetection, host, { kind: 'status', status: 200 }, cluster.hosts, ctx.clock.now());
  if (head.length > 0) upstream.write(head);
  host.active++;
  const result = await relay(stream, upstream);
  host.active--;
  ctx.logger.debug({ ...log, upstream: host.key, bytes_sent: result.aToB + head.length, bytes_recv: result.bToA, error: result.error?.message }, 'TCP connection closed');
}
