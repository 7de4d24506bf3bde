import test from 'ava';
import { formatHostPort, routeOutbound, type OutboundRoute, type RouteOptions } from '../src/proxy/route.js';
import type { ProxySnapshot } from '../src/state/snapshot.js';
import { ip, serviceKey, serviceResource, workload, workloadResource } from './fixtures/resources.js';
import { sequence, snapshotOf } from './fixtures/mesh.js';

const WEB = serviceKey('web');
const WAYPOINT = serviceKey('waypoint');
const OPTIONS: RouteOptions = { network: '', random: sequence(0), hbonePort: 15008 };
const client = workload('client', { ips: ['10.0.0.1'], node: 'node-a' });
const clientResource = { kind: 'workload' as const, workload: client };

function summary(route: OutboundRoute): Record<string, unknown> {
  switch (route.kind) {
    case 'hbone':
      return {
        kind: route.kind,
        hbone: formatHostPort(route.hbone.host, route.hbone.port),
        authority: route.authority,
        expected: route.expectedIdentities.map((i) => i.uri),
        workload: route.workload.name,
        service: route.service?.name,
        viaWaypoint: route.viaWaypoint,
      };
    case 'passthrough':
      return { kind: route.kind, target: formatHostPort(route.target.host, route.target.port), workload: route.workload?.name, service: route.service?.name, reason: route.reason };
    case 'refused':
      return { kind: route.kind, reason: route.reason, service: route.service?.name };
  }
}

function route(snapshot: ProxySnapshot, host: string, port: number, options: RouteOptions = OPTIONS, source = client): Record<string, unknown> {
  return summary(routeOutbound(snapshot, source, { host, port }, options));
}

const web1 = workloadResource('web-1', { ips: ['10.0.1.1'], sa: 'web', services: { [WEB]: [[80, 8080]] } });
const plainWeb = workloadResource('web-plain', { ips: ['10.0.1.9'], protocol: 'NONE', services: { [WEB]: [[80, 8080]] } });
const waypointPod = workloadResource('waypoint-pod', { ips: ['10.0.3.1'], sa: 'waypoint', protocol: 'NONE', services: { [WAYPOINT]: [[15008, 15008]] } });
const waypointSvc = serviceResource('waypoint', ['10.96.0.30'], 'default', { ports: [{ service_port: 15008, target_port: 15008 }] });
const viaAddress = { destination: 'address' as const, address: { network: '', address: ip('10.96.0.30') }, hbone_mtls_port: 15008 };

test('a VIP goes to a chosen endpoint over HBONE: authority podIP:targetPort, the pod’s identity plus the service SANs', (t) => {
  const svc = serviceResource('web', ['10.96.0.1'], 'default', { subject_alt_names: ['spiffe://cluster.local/ns/default/sa/web-canary', 'cluster.local/ns/default/sa/web', 'not a spiffe id'] });
  const s = snapshotOf([clientResource, web1, svc]);
  t.deepEqual(route(s, '10.96.0.1', 80), {
    kind: 'hbone',
    hbone: '10.0.1.1:15008',
    authority: '10.0.1.1:8080',
    expected: ['spiffe://cluster.local/ns/default/sa/web', 'spiffe://cluster.local/ns/default/sa/web-canary'],
    workload: 'web-1',
    service: 'web',
    viaWaypoint: false,
  });
});

test('a VIP whose service has no serving endpoint is refused; a NONE endpoint gets plain TCP', (t) => {
  const svc = serviceResource('web', ['10.96.0.1']);
  t.like(route(snapshotOf([clientResource, svc]), '10.96.0.1', 80), { kind: 'refused', service: 'web' });
  t.regex(String(route(snapshotOf([clientResource, web1, svc]), '10.96.0.1', 81)['reason']), /no healthy upstream: service default\/web.default.svc.cluster.local has no endpoint serving port 81/);
  t.deepEqual(route(snapshotOf([clientResource, plainWeb, svc]), '10.96.0.1', 80), { kind: 'passthrough', target: '10.0.1.9:8080', workload: 'web-plain', service: 'web', reason: 'no-tunnel' });
});

test('load-balancing mode PASSTHROUGH sends the VIP traffic to the original destination', (t) => {
  const svc = serviceResource('web', ['10.96.0.1'], 'default', { load_balancing: { mode: 'PASSTHROUGH' } });
  t.deepEqual(route(snapshotOf([clientResource, web1, svc]), '10.96.0.1', 80), { kind: 'passthrough', target: '10.96.0.1:80', workload: undefined, service: 'web', reason: 'lb-passthrough' });
});

test('a service with a waypoint goes to the waypoint, keeping the VIP:port as authority', (t) => {
  const svc = serviceResource('web', ['10.96.0.1'], 'default', { waypoint: viaAddress });
  const s = snapshotOf([clientResource, web1, svc, waypointPod, waypointSvc]);
  t.deepEqual(route(s, '10.96.0.1', 80), {
    kind: 'hbone',
    hbone: '10.0.3.1:15008',
    authority: '10.96.0.1:80',
    expected: ['spiffe://cluster.local/ns/default/sa/waypoint'],
    workload: 'waypoint-pod',
    service: 'web',
    viaWaypoint: true,
  });
  // By hostname, or by the waypoint pod's own address.
  const byName = serviceResource('web', ['10.96.0.1'], 'default', { waypoint: { destination: 'hostname', hostname: { namespace: 'default', hostname: 'waypoint.default.svc.cluster.local' }, hbone_mtls_port: 15008 } });
  t.like(route(snapshotOf([clientResource, web1, byName, waypointPod, waypointSvc]), '10.96.0.1', 80), { hbone: '10.0.3.1:15008', viaWaypoint: true });
  const byPod = serviceResource('web', ['10.96.0.1'], 'default', { waypoint: { destination: 'address', address: { network: '', address: ip('10.0.3.1') }, hbone_mtls_port: 15008 } });
  t.like(route(snapshotOf([clientResource, web1, byPod, waypointPod]), '10.96.0.1', 80), { hbone: '10.0.3.1:15008', workload: 'waypoint-pod' });
});

test('the waypoint itself is not sent to itself', (t) => {
  const svc = serviceResource('web', ['10.96.0.1'], 'default', { waypoint: viaAddress });
  const waypointAsSource = workload('waypoint-pod', { ips: ['10.0.3.1'], sa: 'waypoint', protocol: 'NONE', services: { [WAYPOINT]: [[15008, 15008]] } });
  const s = snapshotOf([clientResource, web1, svc, waypointPod, waypointSvc]);
  t.like(route(s, '10.96.0.1', 80, OPTIONS, waypointAsSource), { kind: 'hbone', hbone: '10.0.1.1:15008', viaWaypoint: false });
});

test('weighted waypoints are chosen by weight', (t) => {
  const other = workloadResource('waypoint-2', { ips: ['10.0.3.2'], sa: 'waypoint2', protocol: 'NONE' });
  const svc = serviceResource('web', ['10.96.0.1'], 'default', {
    weighted_waypoints: [
      { destination: viaAddress, weight: 1 },
      { destination: { destination: 'address', address: { network: '', address: ip('10.0.3.2') }, hbone_mtls_port: 15008 }, weight: 3 },
    ],
  });
  const s = snapshotOf([clientResource, web1, svc, waypointPod, waypointSvc, other]);
  t.like(route(s, '10.96.0.1', 80, { ...OPTIONS, random: sequence(0.2) }), { workload: 'waypoint-pod' });
  t.like(route(s, '10.96.0.1', 80, { ...OPTIONS, random: sequence(0.3) }), { workload: 'waypoint-2' });
});

test('a waypoint that cannot be resolved refuses the connection with the reason', (t) => {
  const unknown = serviceResource('web', ['10.96.0.1'], 'default', { waypoint: { destination: 'address', address: { network: '', address: ip('10.96.9.9') }, hbone_mtls_port: 15008 } });
  t.like(route(snapshotOf([clientResource, web1, unknown]), '10.96.0.1', 80), { kind: 'refused', reason: 'waypoint 10.96.9.9 is neither a known workload nor a service' });
  const remote = serviceResource('web', ['10.96.0.1'], 'default', { waypoint: { destination: 'address', address: { network: 'east', address: ip('10.96.0.30') }, hbone_mtls_port: 15008 } });
  t.regex(String(route(snapshotOf([clientResource, web1, remote]), '10.96.0.1', 80)['reason']), /in network "east" \(no cross-network support\)/);
  const noName = serviceResource('web', ['10.96.0.1'], 'default', { waypoint: { destination: 'hostname', hostname: { namespace: 'default', hostname: 'gone.default.svc.cluster.local' }, hbone_mtls_port: 15008 } });
  t.regex(String(route(snapshotOf([clientResource, web1, noName]), '10.96.0.1', 80)['reason']), /waypoint service default\/gone.default.svc.cluster.local is not known/);
  t.regex(String(route(snapshotOf([clientResource, web1, serviceResource('web', ['10.96.0.1'], 'default', { waypoint: viaAddress }), waypointSvc]), '10.96.0.1', 80)['reason']), /has no healthy endpoint for port 15008/);
});

test('a pod addressed directly: HBONE to it, its waypoint if it has one, plain TCP when it has no tunnel', (t) => {
  const s = snapshotOf([clientResource, web1, plainWeb]);
  t.deepEqual(route(s, '10.0.1.1', 8080), {
    kind: 'hbone',
    hbone: '10.0.1.1:15008',
    authority: '10.0.1.1:8080',
    expected: ['spiffe://cluster.local/ns/default/sa/web'],
    workload: 'web-1',
    service: undefined,
    viaWaypoint: false,
  });
  t.like(route(s, '10.0.1.9', 8080), { kind: 'passthrough', target: '10.0.1.9:8080', reason: 'no-tunnel' });
  const withWaypoint = workloadResource('web-w', { ips: ['10.0.1.5'], sa: 'web', extra: { waypoint: viaAddress } });
  t.like(route(snapshotOf([clientResource, withWaypoint, waypointPod, waypointSvc]), '10.0.1.5', 8080), { kind: 'hbone', hbone: '10.0.3.1:15008', authority: '10.0.1.5:8080', viaWaypoint: true });
});

test('an address outside the mesh is passed through as it is', (t) => {
  t.deepEqual(route(snapshotOf([clientResource]), '93.184.216.34', 443), { kind: 'passthrough', target: '93.184.216.34:443', workload: undefined, service: undefined, reason: 'unknown' });
  t.like(route(snapshotOf([clientResource, web1]), 'fd00::1', 80), { kind: 'passthrough', target: '[fd00::1]:80' });
});

test('IPv6 authorities are bracketed', (t) => {
  const dual = workloadResource('dual', { ips: ['fd00::5', '10.0.1.5'], sa: 'web' });
  t.like(route(snapshotOf([clientResource, dual]), 'fd00::5', 8080), { hbone: '[fd00::5]:15008', authority: '[fd00::5]:8080' });
});
