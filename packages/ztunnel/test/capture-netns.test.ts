/**
 * Node-level capture in a real two-node testbed: the stand-in ztunnel (fixtures/capture-node.ts) runs a
 * CaptureManager and a relay in a node's namespace; pods talk through echo servers that report the addresses
 * they saw. What the kernel holds is read back with `nft` and `ip` directly.
 */
import { AppError } from '@ambit/testbed';
import type { Testbed } from '@ambit/testbed';
import { CaptureNode, HeldClient, IP, cluster, kernelState, ruleHandles, setElements, workload } from './helpers/capture-cluster.js';
import { rootTest } from './helpers/root.js';

const MARK = 0x539;

async function echoEverywhere(c: Testbed, ports: readonly number[] = [8080, 15008]): Promise<void> {
  for (const pod of ['client', 'neighbour', 'third', 'server']) {
    for (const port of ports) await c.startEchoServer(pod, { protocol: 'tcp', port });
  }
}

rootTest('start() installs the table, two ip rules and a route, and each direction reaches its listener', async (t) => {
  const c = await cluster(t);
  await echoEverywhere(c);
  // client with its interface (exact interface.address match), third without (reverse-path match).
  const node = await CaptureNode.start(c, 'node-a', { initial: [workload(c, 'client'), workload(c, 'third', false)] });

  const kernel = await kernelState(c, 'node-a');
  t.is(kernel.tables, 1);
  t.deepEqual(kernel.rules, ['1337: from all fwmark 0x539/0xfff iif lo lookup main proto 133', '1338: from all fwmark 0x539/0xfff lookup 133 proto 133']);
  t.deepEqual(kernel.routes, ['local default dev lo table 133 proto 133 scope host']);
  t.deepEqual(await setElements(c, 'node-a', 'enrolled_v4'), [IP.client, IP.third]);
  t.deepEqual(await setElements(c, 'node-a', 'outbound_rpf_v4'), [IP.third]);

  // Outbound, to another node: the relay sees the original destination as its local address and the pod as
  // its peer; the destination still sees the pod, because the relay dials from the pod's address.
  let r = await c.tcpEcho('client', IP.server, 8080, 'out');
  t.is(r.echoed, 'out');
  t.like(r.server, { remoteAddress: IP.client, localAddress: IP.server });
  // Outbound from the workload matched by reverse path, to a pod on the same node.
  r = await c.tcpEcho('third', IP.neighbour, 8080);
  t.like(r.server, { remoteAddress: IP.third });
  // Inbound plaintext from a pod that is not enrolled.
  r = await c.tcpEcho('neighbour', IP.client, 8080);
  t.like(r.server, { remoteAddress: IP.neighbour });
  // Inbound HBONE port, from another node.
  r = await c.tcpEcho('server', IP.third, 15008);
  t.like(r.server, { remoteAddress: IP.server, localPort: 15008 });

  t.deepEqual(await node.accepted(), [
    { listener: 'outbound', local: `${IP.server}:8080`, remote: IP.client, mark: MARK, upstreamLocal: IP.client },
    { listener: 'outbound', local: `${IP.neighbour}:8080`, remote: IP.third, mark: MARK, upstreamLocal: IP.third },
    { listener: 'inboundPlain', local: `${IP.client}:8080`, remote: IP.neighbour, mark: MARK, upstreamLocal: IP.neighbour },
    { listener: 'inboundHbone', local: `${IP.third}:15008`, remote: IP.server, mark: MARK, upstreamLocal: IP.server },
  ]);

  // Not captured: a pod that is not enrolled talking to one that is not, and the node itself talking to an
  // enrolled pod (host traffic such as kubelet probes never passes prerouting).
  t.like((await c.tcpEcho('neighbour', IP.server, 8080)).server, { remoteAddress: IP.neighbour });
  t.like((await c.tcpEcho('node-a', IP.client, 8080)).server, { remoteAddress: '10.244.255.1' });
  t.is((await node.accepted()).length, 4);
});

rootTest('setWorkloads adds and removes one set element, leaving every rule (and its handle) alone', async (t) => {
  const c = await cluster(t);
  await echoEverywhere(c, [8080]);
  const node = await CaptureNode.start(c, 'node-a', { initial: [workload(c, 'client')] });
  const handles = await ruleHandles(c, 'node-a');
  t.true(handles.length >= 13, handles.join('\n'));

  // neighbour is not enrolled: its traffic goes direct.
  await c.tcpEcho('neighbour', IP.server, 8080);
  t.is((await node.accepted()).length, 0);

  let reply = await node.request('set', { workloads: [workload(c, 'client'), workload(c, 'neighbour')] });
  t.deepEqual(reply['change'], { added: ['Kubernetes//Pod/default/neighbour'], removed: [], updated: [], resynced: false });
  t.deepEqual(await ruleHandles(c, 'node-a'), handles);
  t.deepEqual(await setElements(c, 'node-a', 'enrolled_v4'), [IP.client, IP.neighbour]);
  t.like((await c.tcpEcho('neighbour', IP.server, 8080)).server, { remoteAddress: IP.neighbour });
  t.like(await node.accepted(), [{ listener: 'outbound', remote: IP.neighbour, local: `${IP.server}:8080` }]);

  // third is never enrolled, in either direction.
  await c.tcpEcho('third', IP.server, 8080);
  await c.tcpEcho('server', IP.third, 8080);
  t.is((await node.accepted()).length, 1);

  reply = await node.request('set', { workloads: [workload(c, 'client')] });
  t.deepEqual(reply['change'], { added: [], removed: ['Kubernetes//Pod/default/neighbour'], updated: [], resynced: false });
  t.deepEqual(await ruleHandles(c, 'node-a'), handles);
  t.deepEqual(await setElements(c, 'node-a', 'enrolled_v4'), [IP.client]);
  await c.tcpEcho('neighbour', IP.server, 8080);
  await c.tcpEcho('server', IP.neighbour, 8080);
  t.is((await node.accepted()).length, 1, 'released: neither direction is captured any more');

  // Moving a workload from the interface match to the reverse-path match is an update, still without a rule change.
  reply = await node.request('set', { workloads: [workload(c, 'client', false)] });
  t.deepEqual(reply['change'], { added: [], removed: [], updated: ['Kubernetes//Pod/default/client'], resynced: false });
  t.deepEqual(await setElements(c, 'node-a', 'outbound_if_v4'), []);
  t.deepEqual(await setElements(c, 'node-a', 'outbound_rpf_v4'), [IP.client]);
  t.deepEqual(await ruleHandles(c, 'node-a'), handles);
  await c.tcpEcho('client', IP.server, 8080);
  t.is((await node.accepted()).length, 2);
  t.like((await node.request('status'))['status'], { changes: 3, inSync: true, workloads: [{ ip: IP.client }] });
});

rootTest('enrolment and removal only affect new connections: open ones keep their path', async (t) => {
  const c = await cluster(t);
  await echoEverywhere(c, [8080]);
  const node = await CaptureNode.start(c, 'node-a');
  const held = await HeldClient.connect(c, 'neighbour', IP.server, 8080);
  t.is(await held.send('before'), 'before');

  await node.request('set', { workloads: [workload(c, 'neighbour')] });
  // Only connection openings are captured; later packets of this one (and the replies to it) pass untouched.
  t.is(await held.send('after'), 'after');
  t.is((await node.accepted()).length, 0);
  await c.tcpEcho('neighbour', IP.server, 8080);
  t.is((await node.accepted()).length, 1);

  // The other way round: a connection captured while the pod was enrolled stays with ztunnel after the pod is
  // removed (its packets belong to ztunnel's transparent socket), until it closes.
  const captured = await HeldClient.connect(c, 'neighbour', IP.server, 8080);
  t.is((await node.accepted()).length, 2);
  await node.request('set', { workloads: [] });
  t.is(await captured.send('still relayed'), 'still relayed');
  await c.tcpEcho('neighbour', IP.server, 8080);
  t.is((await node.accepted()).length, 2);
});

rootTest('marked sockets bypass capture; a marked dial to a local pod goes straight to the pod', async (t) => {
  const c = await cluster(t);
  await echoEverywhere(c);
  const node = await CaptureNode.start(c, 'node-a', { initial: [workload(c, 'client'), workload(c, 'third')] });

  // ztunnel's own dials carry 0x539. Routed by the `iif lo` rule through main, they reach the real
  // destination (without that rule the fwmark rule would deliver them back into the node).
  let reply = await node.request('dial', { src: IP.client, host: IP.server, port: 8080 });
  t.like(reply, { local: IP.client, mark: MARK, server: { remoteAddress: IP.client, localAddress: IP.server } });
  // Same node, to an enrolled pod's HBONE port: ztunnel's locally generated packets never pass prerouting, so
  // the dial reaches the pod itself, not ztunnel's 15008 listener. That is why the data path serves same-node
  // traffic in process (CaptureManager.localWorkload) instead of dialling podIP:15008.
  reply = await node.request('dial', { src: IP.client, host: IP.third, port: 15008 });
  t.like(reply, { mark: MARK, server: { remoteAddress: IP.client, localAddress: IP.third, localPort: 15008 } });
  t.deepEqual(await node.accepted(), []);
  t.like((await node.request('local', { ip: IP.third }))['workload'], { ip: IP.third, interface: c.pods.get('third')!.nodeInterface! });
  t.is((await node.request('local', { ip: IP.server }))['workload'], null);

  // And the relay's own upstream dials (marked, from the client's address) are not captured again on the way
  // out: one accepted connection per client connection, for a pod-to-pod connection on the same node too.
  const r = await c.tcpEcho('client', IP.third, 8080);
  t.like(r.server, { remoteAddress: IP.client });
  t.deepEqual(
    (await node.accepted()).map((a) => a.listener),
    ['outbound'],
  );
});

rootTest('across nodes with strict rp_filter: both ztunnels capture and the destination sees the client', async (t) => {
  const c = await cluster(t);
  await echoEverywhere(c);
  for (const node of ['node-a', 'node-b']) {
    const ifaces = (await c.exec(node, 'ls', ['/proc/sys/net/ipv4/conf'])).stdout.split('\n').filter(Boolean);
    await c.exec(node, 'sysctl', ['-qw', ...ifaces.map((i) => `net.ipv4.conf.${i}.rp_filter=1`)]);
  }
  t.is((await c.exec('node-a', 'sysctl', ['-n', 'net.ipv4.conf.all.rp_filter'])).stdout.trim(), '1');
  const a = await CaptureNode.start(c, 'node-a', { initial: [workload(c, 'client'), workload(c, 'third', false)] });
  const b = await CaptureNode.start(c, 'node-b', { initial: [workload(c, 'server')] });

  const r = await c.tcpEcho('client', IP.server, 8080, 'twice relayed');
  t.is(r.echoed, 'twice relayed');
  t.like(r.server, { remoteAddress: IP.client, localAddress: IP.server });
  t.like(await a.accepted(), [{ listener: 'outbound', remote: IP.client, local: `${IP.server}:8080`, upstreamLocal: IP.client }]);
  t.like(await b.accepted(), [{ listener: 'inboundPlain', remote: IP.client, local: `${IP.server}:8080`, upstreamLocal: IP.client }]);

  // To the HBONE port: outbound on the client's node (outbound is matched first), HBONE inbound on the server's.
  t.like((await c.tcpEcho('third', IP.server, 15008)).server, { remoteAddress: IP.third });
  t.like((await a.accepted())[1], { listener: 'outbound', remote: IP.third, local: `${IP.server}:15008` });
  t.like((await b.accepted())[1], { listener: 'inboundHbone', remote: IP.third, local: `${IP.server}:15008` });

  // And back: the server to an enrolled pod on node-a.
  t.like((await c.tcpEcho('server', IP.client, 8080)).server, { remoteAddress: IP.server });
  t.like((await b.accepted())[2], { listener: 'outbound', remote: IP.server });
  t.like((await a.accepted())[2], { listener: 'inboundPlain', remote: IP.server });
});

rootTest('a crashed run fails closed, and the next start() leaves exactly one copy; close() removes it all', async (t) => {
  const c = await cluster(t);
  await echoEverywhere(c, [8080]);
  const first = await CaptureNode.start(c, 'node-a', { initial: [workload(c, 'client')] });
  await first.kill();
  const left = await kernelState(c, 'node-a');
  t.is(left.tables, 1);
  t.is(left.rules.length, 2);
  // Nothing listens any more: the enrolled pod's connections are refused rather than let around the mesh…
  const refused = await t.throwsAsync(c.tcpEcho('client', IP.server, 8080), { instanceOf: AppError });
  t.is(refused?.errno, 'ECONNREFUSED');
  // …in both directions, while pods that are not enrolled are unaffected.
  t.is((await t.throwsAsync(c.tcpEcho('neighbour', IP.client, 8080), { instanceOf: AppError }))?.errno, 'ECONNREFUSED');
  await c.tcpEcho('neighbour', IP.server, 8080);

  const second = await CaptureNode.start(c, 'node-a', { initial: [workload(c, 'client')] });
  t.deepEqual(await kernelState(c, 'node-a'), left, 'the same single table, rules and route');
  t.is((await c.exec('node-a', 'nft', ['list', 'chain', 'inet', 'ambit-ztunnel', 'prerouting'])).stdout.match(/tproxy|goto/g)?.length, 4);
  t.like((await c.tcpEcho('client', IP.server, 8080)).server, { remoteAddress: IP.client });
  t.is((await second.accepted()).length, 1);

  const closed = await second.request('close');
  t.like(closed['status'], { state: 'closed', workloads: [] });
  t.deepEqual(await kernelState(c, 'node-a'), { tables: 0, rules: [], routes: [] });
  t.like((await c.tcpEcho('client', IP.server, 8080)).server, { remoteAddress: IP.client });
});

rootTest('a stale leftover with other settings is replaced, and destroy() removes everything synchronously', async (t) => {
  const c = await cluster(t);
  // An earlier run configured with table 140 and priority 2000 crashed.
  const old = await CaptureNode.start(c, 'node-a', { routingTable: 140, rulePriority: 2000 });
  await old.kill();
  t.deepEqual((await kernelState(c, 'node-a', 140)).rules, ['2000: from all fwmark 0x539/0xfff iif lo lookup main proto 133', '2001: from all fwmark 0x539/0xfff lookup 140 proto 133']);

  const node = await CaptureNode.start(c, 'node-a');
  const now = await kernelState(c, 'node-a', 140);
  t.deepEqual(now.rules, ['1337: from all fwmark 0x539/0xfff iif lo lookup main proto 133', '1338: from all fwmark 0x539/0xfff lookup 133 proto 133']);
  t.deepEqual(now.routes, ['local default dev lo table 133 proto 133 scope host'], 'table 140 is empty again');
  const inspected = await node.request('inspect');
  t.regex(inspected['nft'] as string, /tproxy ip to 127\.0\.0\.1:15001/);
  t.deepEqual(inspected['rules'], ['pref 1337 iif lo fwmark 0x539/0xfff lookup main', 'pref 1338 fwmark 0x539/0xfff lookup 133']);
  t.deepEqual(inspected['routes'], ['local default dev lo table 133']);

  const destroyed = await node.request('destroy');
  t.like(destroyed['status'], { state: 'closed' });
  t.deepEqual(await kernelState(c, 'node-a'), { tables: 0, rules: [], routes: [] });
});

rootTest('start() refuses a routing table that something else uses, and leaves nothing behind', async (t) => {
  const c = await cluster(t);
  await c.exec('node-a', 'ip', ['route', 'add', 'blackhole', '10.9.0.0/16', 'table', '133']);
  const err = await t.throwsAsync(CaptureNode.start(c, 'node-a'), { instanceOf: AppError });
  t.is(err?.errno, 'CAPTURE_ERR_CONFLICT');
  t.regex(err?.message ?? '', /routing table 133 is already in use \(route blackhole 10\.9\.0\.0\/16 table 133\); configure capture with another routing table/);
  const state = await kernelState(c, 'node-a');
  t.is(state.tables, 0);
  t.deepEqual(state.rules, []);
  t.deepEqual(state.routes, ['blackhole 10.9.0.0/16 table 133'], 'the other owner’s route is untouched');

  // Another table works.
  await CaptureNode.start(c, 'node-a', { routingTable: 134 });
  t.deepEqual((await kernelState(c, 'node-a', 134)).rules, ['1337: from all fwmark 0x539/0xfff iif lo lookup main proto 133', '1338: from all fwmark 0x539/0xfff lookup 134 proto 133']);
});

rootTest('a failed nft change names the command and its error; the next change rewrites the sets', async (t) => {
  const c = await cluster(t);
  const node = await CaptureNode.start(c, 'node-a', { initial: [workload(c, 'client'), workload(c, 'third')] });
  // Someone removes an element behind our back: deleting it again fails the whole transaction.
  await c.exec('node-a', 'nft', ['delete', 'element', 'inet', 'ambit-ztunnel', 'enrolled_v4', `{ ${IP.client} }`]);
  const err = await t.throwsAsync(node.request('set', { workloads: [workload(c, 'third')] }), { instanceOf: AppError });
  t.is(err?.errno, 'CAPTURE_ERR_COMMAND');
  t.regex(err?.message ?? '', /nft -f - failed: exited 1: .*Error: Could not process rule: No such file or directory/s);
  t.regex(err?.message ?? '', /delete element inet ambit-ztunnel enrolled_v4 \{ 10\.244\.0\.10 \}/);
  let status = (await node.request('status'))['status'];
  t.like(status, { inSync: false, workloads: [{ ip: IP.client }, { ip: IP.third }] });
  t.regex((status as { lastError: string }).lastError, /No such file or directory/);
  // Nothing of the failed transaction was applied.
  t.deepEqual(await setElements(c, 'node-a', 'outbound_if_v4'), [JSON.stringify({ concat: ['veth0', IP.client] }), JSON.stringify({ concat: ['veth2', IP.third] })]);

  const reply = await node.request('set', { workloads: [workload(c, 'third')] });
  t.like(reply['change'], { removed: ['Kubernetes//Pod/default/client'], resynced: true });
  status = (await node.request('status'))['status'];
  t.like(status, { inSync: true, lastError: undefined });
  t.deepEqual(await setElements(c, 'node-a', 'enrolled_v4'), [IP.third]);
  t.deepEqual(await setElements(c, 'node-a', 'outbound_if_v4'), [JSON.stringify({ concat: ['veth2', IP.third] })]);

  // Invalid input never reaches nft.
  const invalid = await t.throwsAsync(node.request('set', { workloads: [{ uid: 'x', ip: '10.244.0.300' }] }), { instanceOf: AppError });
  t.is(invalid?.errno, 'CAPTURE_ERR_INVALID_WORKLOAD');
  t.deepEqual(await setElements(c, 'node-a', 'enrolled_v4'), [IP.third]);

  // With the whole table gone, inspect() says so (no `nft` text) and still lists our rules and route.
  await c.exec('node-a', 'nft', ['delete', 'table', 'inet', 'ambit-ztunnel']);
  const inspected = await node.request('inspect');
  t.false('nft' in inspected);
  t.deepEqual(inspected['routes'], ['local default dev lo table 133']);
});

rootTest('a missing nft binary fails start() with the command named, and what was installed is removed', async (t) => {
  const c = await cluster(t);
  const err = await t.throwsAsync(CaptureNode.start(c, 'node-a', { nft: '/nonexistent/nft' }), { instanceOf: AppError });
  t.is(err?.errno, 'CAPTURE_ERR_COMMAND');
  t.regex(err?.message ?? '', /^capture fixture in node-a: \/nonexistent\/nft -f - failed: could not run \/nonexistent\/nft: spawn \/nonexistent\/nft ENOENT/);
  t.deepEqual(await kernelState(c, 'node-a'), { tables: 0, rules: [], routes: [] });
});

rootTest('without CAP_NET_ADMIN, start() fails with a clear message and changes nothing', async (t) => {
  const c = await cluster(t);
  const err = await t.throwsAsync(CaptureNode.start(c, 'node-a', { listeners: false, dropCaps: ['net_admin', 'net_raw'] }), { instanceOf: AppError });
  t.is(err?.errno, 'CAPTURE_ERR_PERMISSION');
  t.regex(err?.message ?? '', /capture needs CAP_NET_ADMIN in the node network namespace to change nftables and routing, and this process does not have it/);
  t.deepEqual(await kernelState(c, 'node-a'), { tables: 0, rules: [], routes: [] });
  // The listeners fail the same way, naming the capability.
  const listen = await t.throwsAsync(CaptureNode.start(c, 'node-a', { dropCaps: ['net_admin', 'net_raw'] }), { instanceOf: AppError });
  t.is(listen?.errno, 'CAPTURE_ERR_LISTEN');
  t.regex(listen?.message ?? '', /outbound capture listener: cannot listen on 127\.0\.0\.1:15001: IP_TRANSPARENT needs CAP_NET_ADMIN \(EPERM\)/);
});
