/**
 * ProxiedConnection, the one object a proxied connection is: its record, its tracking (policy re-check,
 * drain) and its relay's owner. Real loopback sockets, a real metrics registry, the real access log and
 * connection manager; the context fields it does not use are left out.
 */
import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { Registry } from 'prom-client';
import { Identity } from '@ambit/mesh-core/identity';
import { AccessLog } from '../src/access-log.js';
import { Authorizer } from '../src/authz/index.js';
import { ProxyMetrics } from '../src/metrics.js';
import { ProxiedConnection, ignoreError } from '../src/proxy/connection.js';
import { ConnectionManager } from '../src/proxy/connection-manager.js';
import type { ProxyContext } from '../src/proxy/context.js';
import type { ConnectionRecord } from '../src/proxy/record.js';
import { StateStore } from '../src/state/store.js';
import { capturingLogger, exact, policy, uidOf, workload, workloadResource } from './fixtures/resources.js';

const peer = new Identity('cluster.local', 'default', 'client');
const web = workload('web', { ips: ['10.0.1.1'] });

function context(): { ctx: ProxyContext; registry: Registry; lines: Record<string, unknown>[]; metrics: ProxyMetrics } {
  const registry = new Registry();
  const metrics = new ProxyMetrics(registry);
  const { logger, lines } = capturingLogger('info');
  let now = 1_000;
  const ctx = {
    metrics,
    accessLog: new AccessLog(logger),
    connections: new ConnectionManager(),
    monotonicNow: () => (now += 5),
  } as Partial<ProxyContext> as ProxyContext;
  return { ctx, registry, lines, metrics };
}

function inboundRecord(): ConnectionRecord {
  return {
    direction: 'inbound',
    srcIp: '10.0.0.1',
    srcPort: 40_000,
    source: undefined,
    sourceIdentity: peer,
    dstIp: '10.0.1.1',
    dstPort: 8080,
    hboneIp: '10.0.1.1',
    hbonePort: 15008,
    destination: web,
    destinationIdentity: web.identity,
    service: undefined,
    security: 'mutual_tls',
  };
}

/** A connected loopback pair: `near` is ours, `far` the other end. */
async function pair(t: ExecutionContext): Promise<{ near: Socket; far: Socket }> {
  const server = createServer({ allowHalfOpen: true });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const near = connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  const [far] = await accepted;
  await once(near, 'connect');
  far.on('error', () => {});
  t.teardown(() => {
    near.destroy();
    far.destroy();
    server.close();
  });
  return { near, far };
}

async function metric(registry: Registry, name: string, flag: string): Promise<number | undefined> {
  const line = (await registry.metrics()).split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`response_flags="${flag}"`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

test('an inbound connection is re-authorized from its own record; an outbound one is not under policy', (t) => {
  const { ctx } = context();
  const inbound = new ProxiedConnection(ctx, inboundRecord(), undefined, 0);
  t.deepEqual(inbound.authorizedAs, { sourceIdentity: peer, sourceIp: '10.0.0.1', workloadUid: web.uid, destinationIp: '10.0.1.1', port: 8080 });
  const outbound = new ProxiedConnection(ctx, { ...inboundRecord(), direction: 'outbound' }, undefined, 0);
  t.is(outbound.authorizedAs, undefined);
  const noWorkload = new ProxiedConnection(ctx, { ...inboundRecord(), destination: undefined }, undefined, 0);
  t.is(noWorkload.authorizedAs, undefined);
});

test('relayed: both directions counted at the end, one access line, untracked; finish is once', async (t) => {
  const { ctx, registry, lines } = context();
  const client = await pair(t);
  const upstream = await pair(t);
  client.near.on('error', ignoreError);
  const conn = new ProxiedConnection(ctx, inboundRecord(), client.near, ctx.monotonicNow());
  conn.track();
  t.is(ctx.connections.size, 1);
  conn.relayTo(upstream.near);
  t.false(client.near.listeners('error').includes(ignoreError), 'the relay took over the socket’s errors');
  upstream.far.on('data', (d: Buffer) => upstream.far.end(d));
  client.far.end('hello');
  const back: Buffer[] = [];
  client.far.on('data', (d: Buffer) => back.push(d));
  await once(client.far, 'end');
  t.is(Buffer.concat(back).toString(), 'hello');
  await ctx.connections.idle();
  t.is(ctx.connections.size, 0);
  conn.finish('DENY', 0, 0, 'too late');
  t.is(lines.length, 1, 'one line, finish ignored afterwards');
  t.like(lines[0], { msg: 'connection complete', 'src.addr': '10.0.0.1:40000', 'dst.addr': '10.0.1.1:8080', 'dst.hbone_addr': '10.0.1.1:15008', bytes_sent: 5, bytes_recv: 5, duration: 5 });
  t.is(await metric(registry, 'istio_tcp_connections_opened_total', '-'), 1);
  t.is(await metric(registry, 'istio_tcp_connections_closed_total', '-'), 1);
  t.is(await metric(registry, 'istio_tcp_sent_bytes_total', '-'), 5);
  t.is(await metric(registry, 'istio_tcp_connections_closed_total', 'DENY'), undefined);
});

test('a policy change closes it: the client gets a reset, the line says why, counted DENY', async (t) => {
  const { ctx, registry, lines } = context();
  const store = new StateStore();
  store.apply({ addresses: { upserts: [workloadResource('web', { ips: ['10.0.1.1'] })], removals: [] } });
  const client = await pair(t);
  const upstream = await pair(t);
  client.near.on('error', ignoreError);
  const conn = new ProxiedConnection(ctx, { ...inboundRecord(), destination: store.current.findWorkload(uidOf('web')) }, client.near, 0);
  conn.track();
  conn.relayTo(upstream.near);
  const clientError = once(client.far, 'error');
  store.apply({ authorizations: { upserts: [policy('only-other', { rules: [[[{ principals: [exact('cluster.local/ns/default/sa/other')] }]]] })], removals: [] } });
  t.is(ctx.connections.recheck(store.current, new Authorizer()), 1);
  t.true(conn.closedByManager);
  const [err] = (await clientError) as [NodeJS.ErrnoException];
  t.is(err.code, 'ECONNRESET');
  await ctx.connections.idle();
  await new Promise((resolve) => setImmediate(resolve));
  t.like(lines[0], { msg: 'connection denied', response_flags: 'DENY' });
  t.regex(String(lines[0]!['error']), /^closed after a policy change: denied/);
  t.is(await metric(registry, 'istio_tcp_connections_closed_total', 'DENY'), 1);
});

test('closed while the upstream was connecting: the upstream is dropped once it is up, and the drain is the reason', async (t) => {
  const { ctx, lines } = context();
  const client = await pair(t);
  const upstream = await pair(t);
  client.near.on('error', ignoreError);
  const conn = new ProxiedConnection(ctx, { ...inboundRecord(), direction: 'outbound' }, client.near, 0);
  conn.track();
  t.is(ctx.connections.closeAll(), 1);
  conn.relayTo(upstream.near);
  t.true(upstream.near.destroyed);
  t.is(ctx.connections.size, 0);
  t.like(lines[0], { msg: 'connection failed', error: 'closed at the drain deadline' });
  t.false('response_flags' in lines[0]!, 'the drain is no failure flag');
});

test('a failed set-up resets the client and records the failure, or the manager’s reason if it closed it first', async (t) => {
  const { ctx, registry, lines } = context();
  const client = await pair(t);
  client.near.on('error', ignoreError);
  const conn = new ProxiedConnection(ctx, inboundRecord(), client.near, 0);
  conn.track();
  const reset = once(client.far, 'error');
  conn.setupFailed(new Error('connect ECONNREFUSED 10.0.1.1:8080'));
  t.is(((await reset) as [NodeJS.ErrnoException])[0].code, 'ECONNRESET');
  t.is(ctx.connections.size, 0);
  t.like(lines[0], { msg: 'connection failed', response_flags: 'CONNECT', error: 'connect ECONNREFUSED 10.0.1.1:8080' });
  t.is(await metric(registry, 'istio_tcp_connections_closed_total', 'CONNECT'), 1);

  const second = await pair(t);
  second.near.on('error', ignoreError);
  const drained = new ProxiedConnection(ctx, inboundRecord(), second.near, 0);
  drained.track();
  ctx.connections.closeAll();
  drained.setupFailed(new Error('the failure the close caused'), 'CONNECT');
  t.like(lines[1], { error: 'closed at the drain deadline' });
});

test('connections with the same workloads share one label object', (t) => {
  const { ctx, metrics } = context();
  for (let i = 0; i < 100; i++) new ProxiedConnection(ctx, { ...inboundRecord(), srcPort: 40_000 + i }, undefined, 0);
  t.is(metrics.sharedLabelSets, 1);
});
