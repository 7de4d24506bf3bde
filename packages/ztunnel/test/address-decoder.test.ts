import test from 'ava';
import { addressCodec, type Address, type Service as ProtoService, type Workload as ProtoWorkload } from '@ambit/protos';
import { addressResourceType } from '../src/state/resource-types.js';
import { decodeAddressResource, ip, protoService, protoWorkload, uidOf } from './fixtures/resources.js';

/** Encodes without protobufjs's verify, so that enum values it does not know reach the wire (as from a newer istiod). */
function rawEncode(address: object): Uint8Array {
  const type = addressCodec().type;
  return type.encode(type.fromObject(address)).finish();
}

function reasonOf(address: Address, name = ''): string {
  const result = decodeAddressResource(address, name);
  if (result.ok) throw new Error('expected a rejection');
  return result.reason;
}

function rawReason(address: object): string {
  const result = addressResourceType().decode(rawEncode(address), '');
  if (result.ok) throw new Error('expected a rejection');
  return result.reason;
}

const UID = uidOf('sleep');
const wl = (extra: Partial<ProtoWorkload>): Address => ({ workload: protoWorkload('sleep', { ips: ['10.0.0.1'], extra }) });
const svc = (extra: Partial<ProtoService>): Address => ({ service: protoService('web', ['10.96.0.1'], 'default', extra) });
const SVC = 'service default/web.default.svc.cluster.local';

test('a workload is converted: addresses as text, identity, services map, defaults', (t) => {
  const result = decodeAddressResource(
    {
      workload: {
        ...protoWorkload('sleep', { ips: ['10.0.0.1', 'fd00::1', '10.0.0.1'], services: { 'default/web.default.svc.cluster.local': [[80, 8080]] }, policies: ['istio-system/strict'] }),
        trust_domain: '',
        service_account: '',
        waypoint: { destination: 'address', address: { network: 'n1', address: ip('10.0.0.9') }, hbone_mtls_port: 15008 },
        network_gateway: { destination: 'hostname', hostname: { namespace: 'gw', hostname: 'ew.gw.svc' }, hbone_mtls_port: 15008 },
        application_tunnel: { protocol: 'PROXY', port: 15088 },
        locality: { region: 'r', zone: 'z' },
        capacity: { value: 3 },
        status: 'UNHEALTHY',
      },
    },
    UID,
  );
  if (!result.ok || result.value.kind !== 'workload') return t.fail(result.ok ? 'not a workload' : result.reason);
  const w = result.value.workload;
  t.true(Object.isFrozen(w));
  t.deepEqual(w.addresses, ['10.0.0.1', 'fd00::1'], 'addresses as text, duplicates dropped');
  const mapped = decodeAddressResource({ workload: { uid: 'u', name: 'n', namespace: 'ns', addresses: [Buffer.from('00000000000000000000ffff0a000005', 'hex')] } });
  t.deepEqual(mapped.ok && mapped.value.kind === 'workload' ? mapped.value.workload.addresses : undefined, ['10.0.0.5'], 'IPv4-mapped IPv6 is held as IPv4');
  t.is(w.trustDomain, 'cluster.local');
  t.is(w.serviceAccount, 'default');
  t.is(w.identity.uri, 'spiffe://cluster.local/ns/default/sa/default');
  t.deepEqual([...w.services.entries()].map(([k, v]) => [k, [...v]]), [['default/web.default.svc.cluster.local', [[80, 8080]]]]);
  t.deepEqual(w.authorizationPolicies, ['istio-system/strict']);
  t.deepEqual(w.waypoint, { kind: 'address', address: { network: 'n1', address: '10.0.0.9' }, hboneMtlsPort: 15008 });
  t.deepEqual(w.networkGateway, { kind: 'hostname', namespace: 'gw', hostname: 'ew.gw.svc', hboneMtlsPort: 15008 });
  t.deepEqual(w.applicationTunnel, { protocol: 'PROXY', port: 15088 });
  t.deepEqual(w.locality, { region: 'r', zone: 'z', subzone: '' });
  t.is(w.capacity, 3);
  t.is(w.status, 'UNHEALTHY');
  t.is(w.tunnelProtocol, 'HBONE');
  t.is(w.networkMode, 'STANDARD');

  const plain = decodeAddressResource({ workload: { uid: 'u1', name: 'n', namespace: 'ns' } });
  if (!plain.ok || plain.value.kind !== 'workload') return t.fail();
  t.is(plain.value.workload.capacity, 1, 'capacity defaults to 1');
  t.is(plain.value.workload.tunnelProtocol, 'NONE');
  t.deepEqual(plain.value.workload.addresses, [], 'a hostname-only workload has no addresses');
  t.is(plain.value.workload.applicationTunnel, undefined);
  const zeroPort = decodeAddressResource({ workload: { uid: 'u1', name: 'n', namespace: 'ns', application_tunnel: { protocol: 'NONE' } } });
  t.deepEqual(zeroPort.ok && zeroPort.value.kind === 'workload' ? zeroPort.value.workload.applicationTunnel : undefined, { protocol: 'NONE' });
});

test('a service is converted: key, VIPs, ports, load balancing', (t) => {
  const result = decodeAddressResource(
    svc({
      addresses: [{ network: '', address: ip('10.96.0.1') }, { network: 'n2', address: ip('fd00:96::1') }],
      ports: [{ service_port: 80, target_port: 8080, app_protocol: 'HTTP11' }, { service_port: 9090 }],
      subject_alt_names: ['spiffe://cluster.local/ns/default/sa/web'],
      load_balancing: { routing_preference: ['NETWORK', 'ZONE'], mode: 'FAILOVER' },
      weighted_waypoints: [{ destination: { destination: 'hostname', hostname: { namespace: 'default', hostname: 'wp' }, hbone_mtls_port: 15008 }, weight: 3 }],
      ip_families: 'DUAL',
    }),
    'default/web.default.svc.cluster.local',
  );
  if (!result.ok || result.value.kind !== 'service') return t.fail(result.ok ? 'not a service' : result.reason);
  const s = result.value.service;
  t.is(s.key, 'default/web.default.svc.cluster.local');
  t.deepEqual(s.vips, [{ network: '', address: '10.96.0.1' }, { network: 'n2', address: 'fd00:96::1' }]);
  t.deepEqual(s.ports, [
    { servicePort: 80, targetPort: 8080, appProtocol: 'HTTP11' },
    { servicePort: 9090, targetPort: 0, appProtocol: 'UNKNOWN' },
  ]);
  t.deepEqual(s.loadBalancing, { routingPreference: ['NETWORK', 'ZONE'], mode: 'FAILOVER', healthPolicy: 'ONLY_HEALTHY' });
  t.deepEqual(s.weightedWaypoints, [{ destination: { kind: 'hostname', namespace: 'default', hostname: 'wp', hboneMtlsPort: 15008 }, weight: 3 }]);
  t.deepEqual(s.subjectAltNames, ['spiffe://cluster.local/ns/default/sa/web']);
  t.is(s.ipFamilies, 'DUAL');
  t.is(s.visibility, 'PUBLIC');
  t.true(Object.isFrozen(s));
});

test('nameOf gives the workload uid or the service key (state of the world)', (t) => {
  const type = addressResourceType();
  const w = type.decode(addressCodec().encode(wl({})), '');
  const s = type.decode(addressCodec().encode(svc({})), '');
  if (!w.ok || !s.ok) return t.fail();
  t.is(type.nameOf!(w.value), UID);
  t.is(type.nameOf!(s.value), 'default/web.default.svc.cluster.local');
});

test('workload rejections, each with its reason', (t) => {
  const W = `workload ${UID}`;
  const cases: [Address, string][] = [
    [{}, 'address holds neither a workload nor a service'],
    [{ workload: { name: 'x', namespace: 'default' } }, 'workload has no uid'],
    [{ workload: { uid: UID, namespace: 'default' } }, `${W} has no name`],
    [{ workload: { uid: UID, name: 'sleep' } }, `${W} has no namespace`],
    [wl({ addresses: [Buffer.from([10, 0, 0, 1, 2])] }), `${W}: addresses[0] has 5 bytes (want 4 or 16)`],
    [wl({ addresses: [ip('10.0.0.1'), Buffer.alloc(0)] }), `${W}: addresses[1] has 0 bytes (want 4 or 16)`],
    [wl({ tunnel_protocol: 'LEGACY_ISTIO_MTLS' }), `${W}: tunnel protocol LEGACY_ISTIO_MTLS is not supported (only NONE and HBONE)`],
    [wl({ trust_domain: 'Bad.TD' }), `${W}: invalid SPIFFE identity "Bad.TD/ns/default/sa/sleep": trust domain "Bad.TD" may hold only a-z, 0-9, ".", "-" and "_"`],
    [wl({ service_account: 'Bad_SA' }), `${W}: invalid SPIFFE identity "cluster.local/ns/default/sa/Bad_SA": service account "Bad_SA" is not a valid Kubernetes name`],
    [{ workload: { ...protoWorkload('sleep', { ns: 'Bad_NS' }) } }, `workload ${uidOf('sleep', 'Bad_NS')}: invalid SPIFFE identity "cluster.local/ns/Bad_NS/sa/sleep": namespace "Bad_NS" is not a valid Kubernetes name`],
    [wl({ services: { 'web.default.svc': {} } }), `${W}: services key "web.default.svc" is not namespace/hostname`],
    [wl({ services: { 'default/': {} } }), `${W}: services key "default/" is not namespace/hostname`],
    [wl({ services: { 'default/web': { ports: [{ service_port: 0, target_port: 80 }] } } }), `${W}: services["default/web"].ports[0].service_port: port 0 is out of range 1-65535`],
    [wl({ services: { 'default/web': { ports: [{ service_port: 80, target_port: 65536 }] } } }), `${W}: services["default/web"].ports[0].target_port: port 65536 is out of range 0-65535`],
    [
      wl({ services: { 'default/web': { ports: [{ service_port: 80, target_port: 8080 }, { service_port: 80, target_port: 8081 }] } } }),
      `${W}: services["default/web"].ports[1]: service port 80 is listed twice`,
    ],
    [wl({ authorization_policies: ['strict'] }), `${W}: authorization_policies[0] "strict" is not namespace/name`],
    [wl({ application_tunnel: { protocol: 'PROXY', port: 70000 } }), `${W}: application_tunnel.port: port 70000 is out of range 0-65535`],
    [wl({ waypoint: { hbone_mtls_port: 15008 } }), `${W}: waypoint has neither an address nor a hostname`],
    [wl({ waypoint: { destination: 'address', address: { address: Buffer.from([1, 2]) } } }), `${W}: waypoint.address has 2 bytes (want 4 or 16)`],
    [wl({ waypoint: { destination: 'hostname', hostname: { hostname: 'wp' } } }), `${W}: waypoint.hostname needs both namespace and hostname`],
    [wl({ waypoint: { destination: 'address', address: { address: ip('10.0.0.9') }, hbone_mtls_port: 70000 } }), `${W}: waypoint.hbone_mtls_port: port 70000 is out of range 0-65535`],
    [wl({ network_gateway: { destination: 'address', address: { address: ip('10.0.0.9'), length: 33 } } }), `${W}: network_gateway.address: prefix length 33 is out of range 0-32`],
  ];
  for (const [address, reason] of cases) t.is(reasonOf(address), reason);
  t.is(reasonOf(wl({}), 'Kubernetes//Pod/default/other'), `resource name "Kubernetes//Pod/default/other" does not match the workload's uid "${UID}"`);
});

test('service rejections, each with its reason', (t) => {
  const cases: [Address, string][] = [
    [{ service: { name: 'web', namespace: 'default' } }, 'service web has no hostname'],
    [{ service: { namespace: 'default' } }, 'service has no hostname'],
    [{ service: { name: 'web', hostname: 'web.default.svc.cluster.local' } }, 'service web.default.svc.cluster.local has no namespace'],
    [{ service: { namespace: 'a/b', hostname: 'web' } }, 'service web: namespace "a/b" contains "/"'],
    [svc({ addresses: [{ address: Buffer.from([1, 2, 3, 4, 5, 6]) }] }), `${SVC}: addresses[0] has 6 bytes (want 4 or 16)`],
    [svc({ addresses: [{ address: ip('fd00::1'), length: 129 }] }), `${SVC}: addresses[0]: prefix length 129 is out of range 0-128`],
    [svc({ ports: [{ target_port: 80 }] }), `${SVC}: ports[0].service_port: port 0 is out of range 1-65535`],
    [svc({ ports: [{ service_port: 80, target_port: 70000 }] }), `${SVC}: ports[0].target_port: port 70000 is out of range 0-65535`],
    [svc({ ports: [{ service_port: 80 }, { service_port: 80 }] }), `${SVC}: ports[1]: service port 80 is listed twice`],
    [svc({ weighted_waypoints: [{ weight: 1 }] }), `${SVC}: weighted_waypoints[0] has no destination`],
    [svc({ waypoint: { destination: 'hostname', hostname: { namespace: 'default' } } }), `${SVC}: waypoint.hostname needs both namespace and hostname`],
  ];
  for (const [address, reason] of cases) t.is(reasonOf(address), reason);
  t.is(reasonOf(svc({}), 'default/web'), 'resource name "default/web" does not match the service\'s namespace/hostname "default/web.default.svc.cluster.local"');
});

test('enum values this build does not know are rejected, not mapped to a default', (t) => {
  const W = `workload ${UID}`;
  const base = protoWorkload('sleep');
  t.is(rawReason({ workload: { ...base, tunnel_protocol: 7 } }), `${W}: tunnel_protocol: unknown value 7 (want one of NONE, HBONE)`);
  t.is(rawReason({ workload: { ...base, workload_type: 9 } }), `${W}: workload_type: unknown value 9 (want one of DEPLOYMENT, CRONJOB, POD, JOB)`);
  t.is(rawReason({ workload: { ...base, status: 5 } }), `${W}: status: unknown value 5 (want one of HEALTHY, UNHEALTHY)`);
  t.is(rawReason({ workload: { ...base, network_mode: 4 } }), `${W}: network_mode: unknown value 4 (want one of STANDARD, HOST_NETWORK)`);
  t.is(rawReason({ workload: { ...base, application_tunnel: { protocol: 3 } } }), `${W}: application_tunnel.protocol: unknown value 3 (want one of NONE, PROXY)`);
  const s = protoService('web', ['10.96.0.1']);
  t.is(rawReason({ service: { ...s, ip_families: 8 } }), `${SVC}: ip_families: unknown value 8 (want one of AUTOMATIC, IPV4_ONLY, IPV6_ONLY, DUAL)`);
  t.is(rawReason({ service: { ...s, visibility: 2 } }), `${SVC}: visibility: unknown value 2 (want one of PUBLIC, NAMESPACE)`);
  t.is(rawReason({ service: { ...s, ports: [{ service_port: 80, app_protocol: 42 }] } }), `${SVC}: ports[0].app_protocol: unknown value 42 (want one of UNKNOWN, HTTP11, HTTP2, GRPC, TCP, TLS)`);
  t.is(
    rawReason({ service: { ...s, load_balancing: { routing_preference: ['ZONE', 11] } } }),
    `${SVC}: load_balancing.routing_preference[1]: unknown value 11 (want one of UNSPECIFIED_SCOPE, REGION, ZONE, SUBZONE, NODE, CLUSTER, NETWORK)`,
  );
  t.is(rawReason({ service: { ...s, load_balancing: { mode: 9 } } }), `${SVC}: load_balancing.mode: unknown value 9 (want one of UNSPECIFIED_MODE, STRICT, FAILOVER, PASSTHROUGH)`);
  t.is(rawReason({ service: { ...s, load_balancing: { health_policy: 9 } } }), `${SVC}: load_balancing.health_policy: unknown value 9 (want one of ONLY_HEALTHY, ALLOW_ALL)`);
});

test('bytes that are not an Address are rejected with the decoder error', (t) => {
  const result = addressResourceType().decode(Uint8Array.of(0x0a, 0xff, 0xff, 0xff), 'x');
  t.false(result.ok);
  if (!result.ok) t.regex(result.reason, /^cannot decode istio\.workload\.Address: /);
});
