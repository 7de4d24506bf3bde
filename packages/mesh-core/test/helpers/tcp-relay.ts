import type { ExecutionContext } from 'ava';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

/**
 * A TCP relay in front of a server that the test can freeze: it stops forwarding in both directions while
 * keeping both connections open, as a peer whose host hangs or whose route blackholes would.
 */
export async function freezableRelay(t: ExecutionContext, targetPort: number) {
  const pairs: Array<[Socket, Socket]> = [];
  let frozen = false;
  const counts = { toServer: 0, toClient: 0 };
  const server = createServer((inbound) => {
    const outbound = connect(targetPort, '127.0.0.1');
    pairs.push([inbound, outbound]);
    inbound.on('error', () => {});
    outbound.on('error', () => {});
    inbound.on('data', (d: Buffer) => {
      counts.toServer += d.length;
      outbound.write(d);
    });
    outbound.on('data', (d: Buffer) => {
      counts.toClient += d.length;
      inbound.write(d);
    });
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
    if (frozen) {
      inbound.pause();
      outbound.pause();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const [a, b] of pairs) {
      a.destroy();
      b.destroy();
    }
    server.close();
  });
  return {
    port: (server.address() as AddressInfo).port,
    counts,
    pairs,
    freeze(): void {
      frozen = true;
      for (const [a, b] of pairs) {
        a.pause();
        b.pause();
      }
    },
  };
}
