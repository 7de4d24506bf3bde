/**
 * A workload address bound on every port, through a running waypoint with real HBONE on both sides: the
 * tunnel's `ip:port` finds the exact binding first, then the IP-wide one; the IP-wide binding's HTTP and
 * TCP chains send each request to the ORIGINAL_DST cluster, which connects to the port the client asked
 * for (over HBONE, expecting the target's identity), and to nothing that is not a target.
 */
import test from 'ava';
import { createServer, type Server as NetServer, type AddressInfo } from 'node:net';
import { HboneError } from '@ambit/mesh-core/hbone';
import type { Binding, Endpoint, NetworkRbacPolicySet, RbacPolicySet } from '../src/config/types.js';
import { BINDING, backend, behindHbone, binding, capture, cluster, forwardTo, get, httpChain, prefix, readAll, route, serverId, snapshot, startWaypoint, vhost } from './helpers/fixtures.js';

const OD = 'inbound-pod|*||default/waypoint';

/** Denies `/admin` (as a waypoint-wide L7 policy would). */
const denyAdmin: RbacPolicySet = {
  empty: false,
  evaluate: (req) => (req.path === '/admin' ? { allowed: false, policy: 'ns[default]-policy[deny-admin]-rule[0]', reason: 'matched' } : { allowed: true, policy: undefined }),
};
const allowAllTcp: NetworkRbacPolicySet = { empty: true, evaluate: () => ({ allowed: true, policy: undefined }) };

/** The workload's chains: HTTP (any route to the ORIGINAL_DST cluster) and TCP, as the control plane makes them. */
function workloadBinding(ip: string): Binding {
  return {
    ...binding(httpChain([vhost('pod', ['*'], [route('default', prefix('/'), forwardTo(OD))])], { rbac: denyAdmin })),
    name: `inbound-pod|*|http|${ip}`,
    destinationService: ip,
    tcp: { kind: 'tcp', statPrefix: 'inbound-pod|*|tcp|default/waypoint', cluster: OD, rbac: allowAllTcp },
  };
}

/** An ORIGINAL_DST cluster whose one target is 127.0.0.1, reached over the HBONE server of `via`. */
function originalDst(via: Endpoint): ReturnType<typeof cluster> {
  const target: Endpoint = { ...via, port: 0 };
  return cluster(OD, [], { serviceHost: '', lbPolicy: 'cluster-provided', originalDestination: { targets: new Map([['127.0.0.1', target]]), cleanupIntervalMs: 5_000 } });
}

async function echo(t: Parameters<typeof backend>[0]): Promise<number> {
  const server: NetServer = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    s.on('data', (c: Buffer) => s.write(Buffer.from(c.toString().toUpperCase())));
    s.on('end', () => s.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  return (server.address() as AddressInfo).port;
}

test('every port of a workload address: each request reaches the port it was sent to; an exact binding wins for its port', async (t) => {
  const a = await backend(t, (req, res) => res.end(`A ${req.url ?? ''}`), { plain: true });
  const c = await backend(t, (req, res) => res.end(`C ${req.url ?? ''}`), { plain: true });
  const exact = await backend(t, (_req, res) => res.end('exact'), { plain: true });
  // One HBONE server in front of all of them: the pod's ztunnel, which delivers to the port asked for.
  const via = await behindHbone(t, a.endpoint.port);
  const logs = capture();
  const snap = snapshot(
    {
      '127.0.0.1': workloadBinding('127.0.0.1'),
      [`127.0.0.1:${exact.endpoint.port}`]: binding(httpChain([vhost('x', ['*'], [route('x', prefix('/'), { kind: 'direct-response', status: 200, body: 'exact binding' })])])),
    },
    [originalDst(via)],
  );
  const w = await startWaypoint(t, snap, { logger: logs.logger });
  const ra = await get(w, '/hello', { authority: `127.0.0.1:${a.endpoint.port}` });
  t.like(ra, { status: 200, body: 'A /hello' });
  t.like(await get(w, '/other-port', { authority: `127.0.0.1:${c.endpoint.port}` }), { status: 200, body: 'C /other-port' });
  t.like(await get(w, '/', { authority: `127.0.0.1:${exact.endpoint.port}` }), { status: 200, body: 'exact binding' });
  t.is(exact.requests.length, 0);
  // The IPv4-mapped spelling of the same address is the same binding.
  t.like(await get(w, '/mapped', { authority: `[::ffff:127.0.0.1]:${a.endpoint.port}` }), { status: 200, body: 'A /mapped' });
  // One host per destination port, each expecting the target's identity.
  const hosts = w.waypoint.clusters.stats()[OD]!.hosts.map((h) => h.key).sort();
  t.deepEqual(hosts, [`127.0.0.1:${a.endpoint.port}`, `127.0.0.1:${c.endpoint.port}`].sort());
  const line = logs.records.find((r) => r['component'] === 'access' && r['path'] === '/hello');
  // The cluster has no service: telemetry names the address the binding was made for.
  t.like(line, { cluster: OD, upstream: `127.0.0.1:${a.endpoint.port}`, 'dst.addr': `127.0.0.1:${a.endpoint.port}`, 'dst.service': '127.0.0.1', 'dst.identity': serverId.uri });
});

test("a workload address's policy and refusals: 403 from its chain, 503 UH where the cluster has no target, 503 at CONNECT elsewhere", async (t) => {
  const a = await backend(t, (req, res) => res.end(`A ${req.url ?? ''}`), { plain: true });
  const via = await behindHbone(t, a.endpoint.port);
  const snap = snapshot(
    {
      '127.0.0.1': workloadBinding('127.0.0.1'),
      // A service binding routed to the ORIGINAL_DST cluster: its VIP is no target.
      [BINDING]: binding(httpChain([vhost('svc', ['*'], [route('r', prefix('/'), forwardTo(OD))])])),
    },
    [originalDst(via)],
  );
  const w = await startWaypoint(t, snap);
  const denied = await get(w, '/admin', { authority: `127.0.0.1:${a.endpoint.port}` });
  t.like(denied, { status: 403, body: 'RBAC: access denied' });
  t.is(a.requests.length, 0);
  const uh = await get(w, '/', { authority: BINDING });
  t.is(uh.status, 503);
  t.regex(uh.body, /no healthy upstream/);
  const err = await t.throwsAsync(w.tunnel('127.0.0.2:80'), { instanceOf: HboneError });
  t.is(err.status, 503);
});

test("a workload address's TCP chain: bytes that are not HTTP go to the port they were sent to", async (t) => {
  const port = await echo(t);
  const via = await behindHbone(t, port);
  const w = await startWaypoint(t, snapshot({ '127.0.0.1': workloadBinding('127.0.0.1') }, [originalDst(via)]));
  const s = await w.tunnel(`127.0.0.1:${port}`);
  const all = readAll(s);
  s.end(Buffer.from([0x16, 0x03, 0x01, 0x68, 0x69]));
  t.deepEqual([...(await all)], [0x16, 0x03, 0x01, 0x68, 0x69].map((b) => (b >= 0x61 && b <= 0x7a ? b - 32 : b)));
});
