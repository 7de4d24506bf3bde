/**
 * The whole capture trick the ztunnel will use, in the testbed with @ambit/sockopt. In node-a's namespace:
 *
 *   - TCP from the client pod's veth is TPROXY-ed to 127.0.0.1:15001 and marked 0x539;
 *   - replies to sockets with IP_TRANSPARENT (`socket transparent 1`) are marked 0x539 too;
 *   - marked packets are delivered locally (`ip rule fwmark 0x539 lookup 100`, `local 0.0.0.0/0 dev lo table 100`).
 *
 * A relay on a transparent listener sees the original destination and dials it from the client's own IP, so
 * the destination pod — on the other node or on the same one — sees the client, not the node.
 */
import { fileURLToPath } from 'node:url';
import { AppError, AppProcess } from '../src/index.js';
import type { Testbed } from '../src/index.js';
import { cluster } from './helpers/cluster.js';
import { rootTest } from './helpers/root.js';

const PROXY = fileURLToPath(new URL('./fixtures/tproxy-proxy.js', import.meta.url));

async function captureClient(c: Testbed): Promise<AppProcess> {
  const client = c.pods.get('client')!;
  await c.exec('node-a', 'nft', ['-f', '-'], {
    input: `table ip ambit-test {
      chain prerouting {
        type filter hook prerouting priority mangle; policy accept;
        iifname "${client.nodeInterface!}" ip saddr ${client.ip} meta l4proto tcp tproxy to 127.0.0.1:15001 meta mark set 0x539 accept
        socket transparent 1 meta mark set 0x539
      }
    }`,
  });
  await c.exec('node-a', 'ip', ['rule', 'add', 'fwmark', '0x539', 'lookup', '100']);
  await c.exec('node-a', 'ip', ['route', 'add', 'local', '0.0.0.0/0', 'dev', 'lo', 'table', '100']);
  const proxy = new AppProcess(c.spawn('node-a', process.execPath, [PROXY, '15001']), 'tproxy relay in node-a');
  await proxy.waitFor('listening');
  return proxy;
}

rootTest('TPROXY capture plus a transparent upstream keeps the client IP across nodes and on the same node', async (t) => {
  const c = await cluster(t);
  await c.startEchoServer('server', { protocol: 'tcp', port: 8080 });
  await c.startEchoServer('neighbour', { protocol: 'tcp', port: 8080 });
  const proxy = await captureClient(c);

  const across = await c.tcpEcho('client', '10.244.1.20', 8080, 'captured');
  t.like(across, { echoed: 'captured', server: { remoteAddress: '10.244.0.10', localAddress: '10.244.1.20' } });
  t.like(await proxy.next(), { event: 'proxied', src: '10.244.0.10', dst: '10.244.1.20:8080', upstreamLocal: '10.244.0.10' });

  const local = await c.tcpEcho('client', '10.244.0.11', 8080, 'captured too');
  t.like(local, { echoed: 'captured too', server: { remoteAddress: '10.244.0.10', localAddress: '10.244.0.11' } });
  t.like(await proxy.next(), { event: 'proxied', src: '10.244.0.10', dst: '10.244.0.11:8080' });

  // The neighbour's traffic is not captured: the next event the relay reports is the client's next connection.
  t.like((await c.tcpEcho('neighbour', '10.244.1.20', 8080)).server, { remoteAddress: '10.244.0.11' });
  await c.tcpEcho('client', '10.244.1.20', 8080);
  t.like(await proxy.next(), { event: 'proxied', src: '10.244.0.10', dst: '10.244.1.20:8080' });
});

rootTest('a captured connection to a refused port is accepted first, then closed by the relay', async (t) => {
  const c = await cluster(t);
  const proxy = await captureClient(c);
  const err = await t.throwsAsync(c.tcpEcho('client', '10.244.1.20', 9999), { instanceOf: AppError });
  // The pod's connect succeeded (TPROXY accepted it); only then did the upstream fail.
  t.true(err?.errno === 'EPROTO' || err?.errno === 'ECONNRESET', `errno ${String(err?.errno)}`);
  t.like(await proxy.next(), { event: 'upstream-error', dst: '10.244.1.20:9999', code: 'ECONNREFUSED' });
});
