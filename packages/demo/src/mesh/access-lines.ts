/** Finding one connection's access-log lines in the ztunnels' logs. */
import type { LocalMesh, LogRecord } from '@ambit/local-mesh';

/** The access line `direction` of `node`'s ztunnel for the connection from `srcAddr` (`ip:port`). */
export async function accessLine(mesh: LocalMesh, node: string, direction: 'inbound' | 'outbound', srcAddr: string): Promise<LogRecord> {
  return await mesh
    .ztunnel(node)
    .waitForLog((r) => r['component'] === 'access' && r['direction'] === direction && r['src.addr'] === srcAddr, `the ${direction} access line of ${srcAddr}`);
}

/** The first access line `direction` of `node`'s ztunnel from `srcIp` that matches `extra`. */
export async function accessLineFrom(mesh: LocalMesh, node: string, direction: 'inbound' | 'outbound', srcIp: string, extra: (r: LogRecord) => boolean): Promise<LogRecord> {
  return await mesh
    .ztunnel(node)
    .waitForLog(
      (r) => r['component'] === 'access' && r['direction'] === direction && typeof r['src.addr'] === 'string' && r['src.addr'].startsWith(`${srcIp}:`) && extra(r),
      `a ${direction} access line from ${srcIp}`,
    );
}
