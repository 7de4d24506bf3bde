/** Metric labels and counters, access-log lines, and the HBONE request headers. */
import test from 'ava';
import { Registry } from 'prom-client';
import { Identity } from '@ambit/mesh-core/identity';
import { AccessLog, accessLogFields } from '../src/access-log.js';
import { MAX_SHARED_LABEL_SETS, ProxyMetrics, tcpLabels } from '../src/metrics.js';
import { baggageOf, newTraceparent } from '../src/proxy/headers.js';
import type { ConnectionRecord } from '../src/proxy/record.js';
import { capturingLogger, service, workload } from './fixtures/resources.js';

const client = workload('client-7d9f', {
  ns: 'shop',
  sa: 'client',
  ips: ['10.0.0.1'],
  extra: { canonical_name: 'client', canonical_revision: 'v1', workload_name: 'client', workload_type: 'DEPLOYMENT', cluster_id: 'east', locality: { region: 'r1', zone: 'z1' } },
});
const web = workload('web-1', { ns: 'shop', sa: 'web', ips: ['10.0.1.1'], extra: { canonical_name: 'web', canonical_revision: 'v2', workload_name: 'web', cluster_id: 'east' } });
const webService = service('web', ['10.96.0.1'], 'shop');

function outbound(): ConnectionRecord {
  return {
    direction: 'outbound',
    srcIp: '10.0.0.1',
    srcPort: 4000,
    source: client,
    sourceIdentity: client.identity,
    dstIp: '10.96.0.1',
    dstPort: 80,
    hboneIp: '10.0.1.1',
    hbonePort: 15008,
    destination: web,
    destinationIdentity: web.identity,
    service: webService,
    security: 'mutual_tls',
  };
}

test('labels of a known connection name both workloads, their identities and the service', (t) => {
  t.deepEqual(tcpLabels(outbound()), {
    reporter: 'source',
    source_workload: 'client',
    source_workload_namespace: 'shop',
    source_principal: 'spiffe://cluster.local/ns/shop/sa/client',
    source_app: 'client',
    source_version: 'v1',
    source_cluster: 'east',
    destination_workload: 'web',
    destination_workload_namespace: 'shop',
    destination_principal: 'spiffe://cluster.local/ns/shop/sa/web',
    destination_app: 'web',
    destination_version: 'v2',
    destination_service: 'web.shop.svc.cluster.local',
    destination_service_name: 'web',
    destination_service_namespace: 'shop',
    destination_cluster: 'east',
    request_protocol: 'tcp',
    response_flags: '-',
    connection_security_policy: 'mutual_tls',
  });
});

test('what is not known is "unknown"; a workload without a workload name goes by its own name', (t) => {
  const bare = workload('bare-pod', { ns: 'legacy', ips: ['10.0.2.2'] });
  const labels = tcpLabels({
    direction: 'inbound',
    srcIp: '10.0.9.9',
    srcPort: 1,
    source: undefined,
    sourceIdentity: undefined,
    dstIp: '10.0.2.2',
    dstPort: 80,
    hboneIp: undefined,
    hbonePort: 0,
    destination: bare,
    destinationIdentity: undefined,
    service: undefined,
    security: 'none',
  });
  t.like(labels, {
    reporter: 'destination',
    source_workload: 'unknown',
    source_workload_namespace: 'unknown',
    source_principal: 'unknown',
    destination_workload: 'bare-pod',
    destination_app: 'unknown',
    destination_principal: 'unknown',
    destination_service: 'unknown',
    connection_security_policy: 'none',
  });
  const peerOnly = tcpLabels({ ...outbound(), direction: 'inbound', source: undefined, sourceIdentity: new Identity('cluster.local', 'other', 'sa') });
  t.is(peerOnly.source_workload_namespace, 'other', 'the namespace comes from the peer identity when the workload is not known');
});

test('the counters: opened with "-", closed with the final flag, bytes added once', async (t) => {
  const registry = new Registry();
  const metrics = new ProxyMetrics(registry);
  const labels = tcpLabels(outbound());
  metrics.opened(labels);
  metrics.closed(labels, '-', 120, 4000);
  metrics.opened(labels);
  metrics.closed(labels, 'DENY', 0, 0);
  const text = await registry.metrics();
  const line = (name: string, flag: string): number | undefined => {
    const found = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`response_flags="${flag}"`));
    return found === undefined ? undefined : Number(found.slice(found.lastIndexOf(' ') + 1));
  };
  t.is(line('istio_tcp_connections_opened_total', '-'), 2);
  t.is(line('istio_tcp_connections_closed_total', '-'), 1);
  t.is(line('istio_tcp_connections_closed_total', 'DENY'), 1);
  t.is(line('istio_tcp_sent_bytes_total', '-'), 120);
  t.is(line('istio_tcp_received_bytes_total', '-'), 4000);
  t.is(line('istio_tcp_sent_bytes_total', 'DENY'), 0);
  t.regex(text, /# HELP istio_tcp_sent_bytes_total Bytes sent from the source to the destination/);
});

test('label sets are shared: connections with the same labels hold one frozen object; the table is bounded', (t) => {
  const metrics = new ProxyMetrics(new Registry());
  const first = metrics.labelsOf(outbound());
  const second = metrics.labelsOf({ ...outbound(), srcPort: 4001, dstIp: '10.96.0.2' });
  t.is(first, second, 'addresses are no labels: the same set');
  t.true(Object.isFrozen(first));
  t.deepEqual(first, tcpLabels(outbound()));
  const inbound = metrics.labelsOf({ ...outbound(), direction: 'inbound' });
  t.not(inbound, first);
  t.is(inbound.reporter, 'destination');
  t.is(metrics.labelsOf({ ...outbound(), service: undefined }).destination_service, 'unknown');
  t.is(metrics.sharedLabelSets, 3);
  for (let i = 0; i < MAX_SHARED_LABEL_SETS; i++) metrics.labelsOf({ ...outbound(), sourceIdentity: new Identity('cluster.local', 'shop', `sa-${i}`), source: undefined });
  t.true(metrics.sharedLabelSets <= MAX_SHARED_LABEL_SETS, `${metrics.sharedLabelSets} sets kept`);
  t.deepEqual(metrics.labelsOf(outbound()), first, 'a set dropped with the table is made again, equal');
});

test('IPv6 addresses are bracketed in the access log', (t) => {
  const fields = accessLogFields(
    { ...outbound(), srcIp: 'fd00::1', srcPort: 4000, dstIp: 'fd00::2', dstPort: 80, hboneIp: 'fd00::3', hbonePort: 15008 },
    { sent: 0, received: 0, durationMs: 0, flag: '-' },
  );
  t.like(fields, { 'src.addr': '[fd00::1]:4000', 'dst.addr': '[fd00::2]:80', 'dst.hbone_addr': '[fd00::3]:15008' });
});

test('access-log fields: ztunnel’s dotted names, unknown ones left out', (t) => {
  t.deepEqual(accessLogFields(outbound(), { sent: 12, received: 34, durationMs: 5.6, flag: '-' }), {
    'src.addr': '10.0.0.1:4000',
    'src.workload': 'client-7d9f',
    'src.namespace': 'shop',
    'src.identity': 'spiffe://cluster.local/ns/shop/sa/client',
    'dst.addr': '10.96.0.1:80',
    'dst.hbone_addr': '10.0.1.1:15008',
    'dst.service': 'web.shop.svc.cluster.local',
    'dst.workload': 'web-1',
    'dst.namespace': 'shop',
    'dst.identity': 'spiffe://cluster.local/ns/shop/sa/web',
    direction: 'outbound',
    bytes_sent: 12,
    bytes_recv: 34,
    duration: 6,
  });
  const peer = new Identity('cluster.local', 'other', 'sa');
  const fields = accessLogFields(
    { ...outbound(), direction: 'inbound', source: undefined, sourceIdentity: peer, hboneIp: undefined, service: undefined, destinationIdentity: undefined },
    { sent: 0, received: 0, durationMs: 0, flag: 'DENY', error: 'denied by policy shop/x' },
  );
  t.like(fields, { 'src.namespace': 'other', 'src.identity': peer.uri, response_flags: 'DENY', error: 'denied by policy shop/x' });
  for (const absent of ['src.workload', 'dst.hbone_addr', 'dst.service', 'dst.identity']) t.false(absent in fields, absent);
});

test('the access log: info when complete, warn when denied, error when failed, on the access component', (t) => {
  const { logger, lines } = capturingLogger('info');
  const log = new AccessLog(logger);
  log.closed(outbound(), { sent: 1, received: 2, durationMs: 3, flag: '-' });
  log.closed(outbound(), { sent: 0, received: 0, durationMs: 1, flag: 'DENY', error: 'denied' });
  log.closed(outbound(), { sent: 0, received: 0, durationMs: 1, flag: 'CONNECT', error: 'connect ECONNREFUSED' });
  t.like(lines[0], { level: 30, component: 'access', msg: 'connection complete', bytes_sent: 1 });
  t.like(lines[1], { level: 40, msg: 'connection denied', error: 'denied' });
  t.like(lines[2], { level: 50, msg: 'connection failed', response_flags: 'CONNECT' });
});

test('baggage describes the source workload once; traceparent is random per call', (t) => {
  t.is(
    baggageOf(client),
    'k8s.cluster.name=east,k8s.namespace.name=shop,k8s.deployment.name=client,service.name=client,service.version=v1,cloud.region=r1,cloud.availability_zone=z1',
  );
  t.is(baggageOf(client), baggageOf(client));
  t.is(baggageOf(workload('p', { ns: 'n', ips: [] })), 'k8s.namespace.name=n,k8s.deployment.name=p');
  const a = newTraceparent();
  const b = newTraceparent();
  t.regex(a, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
  t.not(a, b);
});
