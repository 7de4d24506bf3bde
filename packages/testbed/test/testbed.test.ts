import { once } from 'node:events';
import { pino } from 'pino';
import { AppError, Testbed, TestbedError } from '../src/index.js';
import { cluster, hasRecord, prefixFor, rootLinks, runNamespaces } from './helpers/cluster.js';
import { rootTest } from './helpers/root.js';

rootTest('pods reach each other across nodes and on the same node, and the server sees the client IP', async (t) => {
  const c = await cluster(t);
  await c.startEchoServer('server', { protocol: 'tcp', port: 8080 });
  await c.startEchoServer('neighbour', { protocol: 'tcp', port: 9090 });

  const across = await c.tcpEcho('client', '10.244.1.20', 8080, 'over the fabric');
  t.is(across.echoed, 'over the fabric');
  t.like(across.server, { remoteAddress: '10.244.0.10', remotePort: across.local.port, localAddress: '10.244.1.20', localPort: 8080 });

  const local = await c.tcpEcho('client', '10.244.0.11', 9090, 'next door');
  t.is(local.echoed, 'next door');
  t.like(local.server, { remoteAddress: '10.244.0.10', localAddress: '10.244.0.11' });

  const back = await c.tcpEcho('server', '10.244.0.11', 9090);
  t.like(back.server, { remoteAddress: '10.244.1.20' });
});

rootTest('a node reaches its own pods and other nodes\' pods from its node IP', async (t) => {
  const c = await cluster(t);
  await c.startEchoServer('server', { protocol: 'tcp', port: 8080 });
  await c.startEchoServer('neighbour', { protocol: 'tcp', port: 8080 });
  t.like((await c.tcpEcho('node-a', '10.244.0.11', 8080)).server, { remoteAddress: '10.244.255.1' });
  t.like((await c.tcpEcho('node-a', '10.244.1.20', 8080)).server, { remoteAddress: '10.244.255.1' });
  t.like((await c.tcpEcho('node-b', '10.244.1.20', 8080)).server, { remoteAddress: '10.244.255.2' });
});

rootTest('the HTTP echo answers with the peer address and the headers it got', async (t) => {
  const c = await cluster(t);
  const server = await c.startEchoServer('server', { protocol: 'http', port: 80 });
  const reply = await c.httpGet('client', 'http://10.244.1.20/path?q=1', { 'x-request-id': 'abc' });
  t.is(reply.status, 200);
  t.like(reply.body, { remoteAddress: '10.244.0.10', localAddress: '10.244.1.20', localPort: 80, method: 'GET', url: '/path?q=1' });
  t.is(reply.body.headers['x-request-id'], 'abc');
  t.like(await server.app.next(), { event: 'request', remoteAddress: '10.244.0.10', url: '/path?q=1' });
});

rootTest('a connection to a port nobody listens on fails with the app\'s errno', async (t) => {
  const c = await cluster(t);
  const err = await t.throwsAsync(c.tcpEcho('client', '10.244.1.20', 9), { instanceOf: AppError });
  t.is(err?.errno, 'ECONNREFUSED');
  t.is(err?.code, 'TESTBED_ERR_APP');
});

rootTest('namespaces are wired as documented and the root namespace gets no link', async (t) => {
  const before = rootLinks();
  const c = await cluster(t);
  t.deepEqual(rootLinks(), before);
  t.deepEqual(runNamespaces(c.prefix).sort(), [
    `ambit-${c.prefix}-fabric`,
    `ambit-${c.prefix}-n0`,
    `ambit-${c.prefix}-n1`,
    `ambit-${c.prefix}-p0`,
    `ambit-${c.prefix}-p1`,
    `ambit-${c.prefix}-p2`,
  ]);
  t.deepEqual(
    [...c.nodes.values()].map((n) => [n.name, n.ns, n.ip, n.podCidr]),
    [
      ['node-a', `ambit-${c.prefix}-n0`, '10.244.255.1', '10.244.0.0/24'],
      ['node-b', `ambit-${c.prefix}-n1`, '10.244.255.2', '10.244.1.0/24'],
    ],
  );
  t.like(c.pods.get('server'), { namespace: 'shop', ns: `ambit-${c.prefix}-p2`, ip: '10.244.1.20', node: 'node-b', nodeInterface: 'veth2' });

  const sysctls = await c.exec('node-a', 'sysctl', [
    '-n',
    'net.ipv4.ip_forward',
    'net.ipv4.conf.all.rp_filter',
    'net.ipv4.conf.eth0.rp_filter',
    'net.ipv4.conf.veth0.rp_filter',
  ]);
  t.deepEqual(sysctls.stdout.trim().split('\n'), ['1', '0', '0', '0']);
  const routes = (await c.exec('node-a', 'ip', ['route'])).stdout;
  t.regex(routes, /^10\.244\.1\.0\/24 via 10\.244\.255\.2 dev eth0/m);
  t.regex(routes, /^10\.244\.0\.10 dev veth0/m);
  t.regex(routes, /^10\.244\.0\.11 dev veth1/m);
  t.regex((await c.exec('client', 'ip', ['route'])).stdout, /^default via 10\.244\.255\.1 dev eth0 onlink/m);
  const podSysctls = await c.exec('client', 'sysctl', ['-n', 'net.ipv4.conf.all.rp_filter', 'net.ipv4.conf.eth0.rp_filter']);
  t.deepEqual(podSysctls.stdout.trim().split('\n'), ['0', '0']);
});

rootTest('objects work as input; a host-network pod lives in its node namespace; off-CIDR pods are routed', async (t) => {
  const c = await cluster(t, [
    { kind: 'Node', metadata: { name: 'a' } },
    { kind: 'Node', metadata: { name: 'b' } },
    { kind: 'Pod', metadata: { name: 'agent' }, spec: { nodeName: 'a', hostNetwork: true } },
    { kind: 'Pod', metadata: { name: 'odd' }, spec: { nodeName: 'b' }, status: { podIP: '10.77.0.5' } },
  ]);
  t.like(c.pods.get('agent'), { ns: c.nodes.get('a')?.ns, ip: '10.244.255.1', nodeInterface: undefined, hostNetwork: true });
  await c.startEchoServer('odd', { protocol: 'tcp', port: 7000 });
  t.like((await c.tcpEcho('agent', '10.77.0.5', 7000)).server, { remoteAddress: '10.244.255.1' });
});

rootTest('exec and spawn take pod, node or namespace names and reject others', async (t) => {
  const c = await cluster(t);
  t.is((await c.exec('client', 'ip', ['-o', '-4', 'addr', 'show', 'eth0'])).stdout.includes('10.244.0.10/32'), true);
  t.is((await c.exec('node-b', 'ip', ['-o', '-4', 'addr', 'show', 'eth0'])).stdout.includes('10.244.255.2/32'), true);
  t.is((await c.exec(c.fabricNs, 'ip', ['-o', 'link', 'show', 'br0'])).stdout.includes('br0'), true);

  const unknown = t.throws(() => c.spawn('nobody', 'true'), { instanceOf: TestbedError });
  t.is(unknown?.code, 'TESTBED_ERR_UNKNOWN_TARGET');
  t.is(unknown?.message, `no pod, node or namespace named nobody in run ${c.prefix} (pods: client, neighbour, server; nodes: node-a, node-b)`);
  await t.throwsAsync(c.exec('ambit-other-n0', 'true'), { code: 'TESTBED_ERR_UNKNOWN_TARGET' });

  const failed = await t.throwsAsync(c.exec('client', 'ip', ['route', 'get', '300.1.1.1']), { instanceOf: TestbedError });
  t.is(failed?.code, 'TESTBED_ERR_COMMAND');
  t.regex(failed?.message ?? '', /^ip netns exec ambit-\w+-p0 ip route get 300\.1\.1\.1: exited 1: .+/);
});

rootTest('a name that is both a pod and a node must be given as a namespace', async (t) => {
  const c = await cluster(t, [
    { kind: 'Node', metadata: { name: 'twin' } },
    { kind: 'Pod', metadata: { name: 'twin' }, spec: { nodeName: 'twin' } },
  ]);
  const err = t.throws(() => c.namespaceOf('twin'), { instanceOf: TestbedError });
  t.is(err?.message, `twin names both a pod and a node: pass the namespace name (ambit-${c.prefix}-p0 or ambit-${c.prefix}-n0)`);
});

rootTest('destroy kills spawned processes and removes every namespace and the record, and is idempotent', async (t) => {
  const c = await Testbed.create((await import('./helpers/cluster.js')).TWO_NODES);
  const sleeper = c.spawn('client', 'sleep', ['600']);
  t.true(hasRecord(c.prefix));
  t.is(runNamespaces(c.prefix).length, 6);
  await c.destroy();
  t.is(sleeper.signalCode, 'SIGKILL');
  t.deepEqual(runNamespaces(c.prefix), []);
  t.false(hasRecord(c.prefix));
  t.true(c.destroyed);
  await c.destroy();
  const err = await t.throwsAsync(c.exec('client', 'true'), { instanceOf: TestbedError });
  t.is(err?.code, 'TESTBED_ERR_DESTROYED');
});

rootTest('close stops processes with SIGTERM before removing the cluster', async (t) => {
  const c = await Testbed.create((await import('./helpers/cluster.js')).TWO_NODES);
  const server = await c.startEchoServer('server', { protocol: 'tcp', port: 8080 });
  const exited = once(server.app.child, 'exit');
  await c.close();
  t.deepEqual(await exited, [null, 'SIGTERM']);
  t.deepEqual(runNamespaces(c.prefix), []);
});

rootTest('a prefix in use is refused and the running cluster is untouched', async (t) => {
  const prefix = prefixFor('dup');
  const c = await cluster(t, undefined, { prefix });
  await c.startEchoServer('server', { protocol: 'tcp', port: 8080 });
  const err = await t.throwsAsync(Testbed.create([{ kind: 'Node', metadata: { name: 'x' } }], { prefix }), { instanceOf: TestbedError });
  t.is(err?.code, 'TESTBED_ERR_PREFIX');
  t.regex(err?.message ?? '', new RegExp(`^namespaces of run ${prefix} already exist`));
  t.like((await c.tcpEcho('client', '10.244.1.20', 8080)).server, { remoteAddress: '10.244.0.10' });
  await t.throwsAsync(Testbed.create('kind: Node\nmetadata: { name: x }\n', { prefix: 'Bad-Name' }), {
    message: 'a run prefix is 1 to 16 lowercase letters or digits, got "Bad-Name"',
  });
});

rootTest('an invalid topology creates nothing', async (t) => {
  const prefix = prefixFor('bad');
  await t.throwsAsync(Testbed.create('kind: Pod\nmetadata: { name: p }\n', { prefix }), { instanceOf: TestbedError, message: /^invalid cluster topology:/ });
  t.deepEqual(runNamespaces(prefix), []);
  t.false(hasRecord(prefix));
});

rootTest('a build that fails halfway removes what it had made', async (t) => {
  const prefix = prefixFor('half');
  let calls = 0;
  // Each network step logs at debug first; the 12th throws, after a few namespaces exist.
  const logger = pino({
    level: 'debug',
    hooks: {
      logMethod(args, method) {
        if (++calls === 12) throw new Error('injected failure');
        method.apply(this, args);
      },
    },
  }, { write: () => undefined });
  const err = await t.throwsAsync(Testbed.create((await import('./helpers/cluster.js')).TWO_NODES, { prefix, logger }));
  t.is(err?.message, 'injected failure');
  t.true(calls >= 12);
  t.deepEqual(runNamespaces(prefix), []);
  t.false(hasRecord(prefix));
});

rootTest('two clusters with different prefixes and the same addresses run side by side', async (t) => {
  const [one, two] = await Promise.all([cluster(t), cluster(t)]);
  t.not(one.prefix, two.prefix);
  await one.startEchoServer('server', { protocol: 'tcp', port: 8080 });
  await two.startEchoServer('server', { protocol: 'tcp', port: 8080 });
  const [a, b] = await Promise.all([one.tcpEcho('client', '10.244.1.20', 8080, 'one'), two.tcpEcho('neighbour', '10.244.1.20', 8080, 'two')]);
  t.like(a, { echoed: 'one', server: { remoteAddress: '10.244.0.10' } });
  t.like(b, { echoed: 'two', server: { remoteAddress: '10.244.0.11' } });
  await one.destroy();
  t.deepEqual(runNamespaces(one.prefix), []);
  t.like((await two.tcpEcho('client', '10.244.1.20', 8080)).server, { remoteAddress: '10.244.0.10' });
});
