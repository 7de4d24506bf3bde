/**
 * The capture tricks the ztunnel relies on, end to end inside network namespaces (the machine's own network is
 * never touched). Three namespaces as in docs' feasibility trial:
 *
 *   pod 10.250.1.2 ── to-pod 10.250.1.1 [node] 10.250.2.1 to-dst ── 10.250.2.2 dst
 *
 * It also guards the undocumented behaviour the spoofed dial depends on: `new net.Socket({ fd })` followed by
 * `connect()` connects the given fd and keeps its transparent bind.
 */
import type { ExecutionContext } from 'ava';
import { Lab } from './helpers/lab.js';
import { rootTest } from './helpers/root.js';

/** The pod → node → dst line, with the node routing between them and table 100 delivering marked packets locally. */
async function podNodeDst(t: ExecutionContext): Promise<Lab> {
  const lab = Lab.create(t);
  for (const name of ['pod', 'node', 'dst']) await lab.addNamespace(name);
  await lab.link('node', 'to-pod', '10.250.1.1/24', 'pod', 'eth0', '10.250.1.2/24');
  await lab.link('node', 'to-dst', '10.250.2.1/24', 'dst', 'eth0', '10.250.2.2/24');
  await lab.ip('pod', 'route', 'add', 'default', 'via', '10.250.1.1');
  await lab.ip('dst', 'route', 'add', 'default', 'via', '10.250.2.1');
  await lab.exec('node', 'sysctl', [
    '-qw',
    'net.ipv4.ip_forward=1',
    'net.ipv4.conf.all.rp_filter=0',
    'net.ipv4.conf.default.rp_filter=0',
    'net.ipv4.conf.to-pod.rp_filter=0',
    'net.ipv4.conf.to-dst.rp_filter=0',
  ]);
  await lab.ip('node', 'rule', 'add', 'fwmark', '0x539/0xfff', 'lookup', '100');
  await lab.ip('node', 'route', 'add', 'local', '0.0.0.0/0', 'dev', 'lo', 'table', '100');
  return lab;
}

async function nft(lab: Lab, ns: string, rules: string): Promise<void> {
  await lab.exec(ns, 'nft', ['-f', '-'], rules);
}

rootTest('a transparentSocket dials with a source address the host does not own', async (t) => {
  const lab = await podNodeDst(t);
  // Replies to the pod's address belong to the node's transparent socket, not to the pod.
  await nft(lab, 'node', `table ip ambit-test {
    chain prerouting { type filter hook prerouting priority mangle; iifname "to-dst" socket transparent 1 meta mark set 0x539; }
  }`);
  const server = lab.peer('dst', ['server', '0.0.0.0', '8080']);
  t.is((await server.next()).event, 'ready');

  const dial = await lab.peer('node', ['dial', '10.250.2.2', '8080', 'spoof', '10.250.1.2']).next();
  t.like(dial, { event: 'result', connected: true, localAddress: '10.250.1.2' });
  t.like(dial['answer'], { remoteAddress: '10.250.1.2', localAddress: '10.250.2.2', localPort: 8080 });
  t.like(await server.next(), { event: 'accepted', remoteAddress: '10.250.1.2' });

  // A refusal arrives as an ordinary 'error' event, never as 'connect'.
  const refused = await lab.peer('node', ['dial', '10.250.2.2', '9999', 'spoof', '10.250.1.2']).next();
  t.like(refused, { event: 'error', connected: false, code: 'ECONNREFUSED' });
});

rootTest('a transparentListener accepts TPROXY-ed connections with the original destination as localAddress', async (t) => {
  const lab = await podNodeDst(t);
  await nft(lab, 'node', `table ip ambit-test {
    chain prerouting {
      type filter hook prerouting priority mangle;
      iifname "to-pod" ip saddr 10.250.1.2 meta l4proto tcp tproxy to 127.0.0.1:15001 meta mark set 0x539 accept;
    }
  }`);
  const proxy = lab.peer('node', ['tproxy', '127.0.0.1', '15001']);
  t.is((await proxy.next()).event, 'ready');

  for (const [ip, port] of [['10.250.9.9', 8080], ['10.250.2.2', 443]] as const) {
    const dial = await lab.peer('pod', ['dial', ip, String(port)]).next();
    t.like(dial, { event: 'result', connected: true });
    t.like(dial['answer'], { localAddress: ip, localPort: port, remoteAddress: '10.250.1.2' });
    t.like(await proxy.next(), { event: 'accepted', localAddress: ip, localPort: port });
  }
});

rootTest('getOriginalDst reads the destination a REDIRECT rule rewrote', async (t) => {
  const lab = await podNodeDst(t);
  await nft(lab, 'node', `table ip ambit-test {
    chain prerouting { type nat hook prerouting priority dstnat; iifname "to-pod" tcp dport 8080 redirect to :15006; }
  }`);
  const proxy = lab.peer('node', ['redirect', '0.0.0.0', '15006']);
  t.is((await proxy.next()).event, 'ready');

  const dial = await lab.peer('pod', ['dial', '10.250.9.9', '8080']).next();
  t.like(dial, { event: 'result', connected: true });
  t.like(dial['answer'], {
    localAddress: '10.250.1.1',
    localPort: 15006,
    originalDst: { address: '10.250.9.9', port: 8080, family: 4 },
  });
});

rootTest('a markedSocket is routed by its SO_MARK', async (t) => {
  const lab = await podNodeDst(t);
  // 10.250.77.0/24 is reachable only through table 99, which only marked packets consult.
  await lab.ip('dst', 'addr', 'add', '10.250.77.1/32', 'dev', 'lo');
  await lab.ip('node', 'rule', 'add', 'fwmark', '0x99', 'lookup', '99');
  await lab.ip('node', 'route', 'add', '10.250.77.0/24', 'via', '10.250.2.2', 'table', '99');
  const server = lab.peer('dst', ['server', '0.0.0.0', '8080']);
  t.is((await server.next()).event, 'ready');

  t.like(await lab.peer('node', ['dial', '10.250.77.1', '8080']).next(), { event: 'error', code: 'ENETUNREACH' });
  const marked = await lab.peer('node', ['dial', '10.250.77.1', '8080', 'mark', '0x99']).next();
  t.like(marked, { event: 'result', connected: true });
  t.like(marked['answer'], { remoteAddress: '10.250.2.1', localAddress: '10.250.77.1' });
});
