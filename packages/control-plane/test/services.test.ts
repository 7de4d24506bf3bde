/**
 * Kubernetes Services → istio.workload.Service.
 */
import test from 'ava';
import { brief, ip, meshFrom, service, wireProblems, workload, yamlDocs } from './helpers.js';

const svc = (name: string, spec: string, meta = ''): string =>
  `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\n  namespace: default\n${meta}spec:\n${spec}\n`;
const host = (name: string): string => `default/${name}.default.svc.cluster.local`;

test('a ClusterIP service: hostname, VIP, ports with numeric and named target ports', (t) => {
  const mesh = meshFrom(
    yamlDocs(svc('web', '  clusterIP: 10.96.0.1\n  ports:\n    - {name: http, port: 80, targetPort: http}\n    - {name: grpc, port: 9090, targetPort: 9091, appProtocol: grpc}')),
  );
  t.deepEqual(mesh.addresses.get(host('web')), {
    type: 'service',
    service: {
      name: 'web',
      namespace: 'default',
      hostname: 'web.default.svc.cluster.local',
      addresses: [{ address: ip('10.96.0.1') }],
      ports: [{ service_port: 80 }, { service_port: 9090, target_port: 9091 }],
    },
  });
});

test('a headless service is sent without addresses and still appears in its pods\' services map', (t) => {
  const mesh = meshFrom(
    yamlDocs(
      svc('db', '  clusterIP: None\n  selector: {app: db}\n  ports: [{port: 5432}]'),
      'apiVersion: v1\nkind: Pod\nmetadata: {name: db-0, labels: {app: db}}\nstatus: {podIP: 10.0.0.1}\n',
    ),
  );
  t.deepEqual(service(mesh, host('db')), {
    name: 'db',
    namespace: 'default',
    hostname: 'db.default.svc.cluster.local',
    ports: [{ service_port: 5432, target_port: 5432 }],
  });
  t.deepEqual(Object.keys(workload(mesh, 'Kubernetes//Pod/default/db-0').services ?? {}), [host('db')]);
  t.deepEqual(mesh.diagnostics, []);
});

test('a service without a cluster IP is sent without addresses, with a warning; ExternalName is not sent', (t) => {
  const mesh = meshFrom(
    yamlDocs(svc('pending', '  ports: [{port: 80}]'), svc('external', '  type: ExternalName\n  ports: [{port: 443}]')),
  );
  t.deepEqual([...mesh.addresses.keys()], [host('pending')]);
  t.is(service(mesh, host('pending')).addresses, undefined);
  t.deepEqual(brief(mesh.diagnostics), [
    { document: 0, path: 'spec.clusterIP', message: 'has no cluster IP (none is allocated here); the Service is served without an address', severity: 'warning', line: 7 },
  ]);
});

test('two services with the same cluster IP: the later one is reported and left out', (t) => {
  const mesh = meshFrom(
    yamlDocs(
      svc('a', '  clusterIP: 10.96.0.1\n  ports: [{port: 80}]'),
      svc('b', '  clusterIPs: ["fd00::1", "10.96.0.1"]\n  ports: [{port: 80}]'),
    ),
  );
  t.deepEqual([...mesh.addresses.keys()], [host('a')]);
  t.deepEqual(
    mesh.diagnostics.map((d) => [d.path, d.message, d.severity]),
    [['spec.clusterIPs[1]', 'cluster IP 10.96.0.1 is already used by Service default/a; this Service is left out', 'error']],
  );
});

test('dual stack: both VIPs and ip_families from spec.ipFamilies', (t) => {
  const mesh = meshFrom(
    yamlDocs(
      svc('dual', '  clusterIPs: [10.96.0.1, "fd00::1"]\n  ipFamilies: [IPv4, IPv6]\n  ports: [{port: 80}]'),
      svc('v6', '  clusterIP: "fd00::2"\n  ipFamilies: [IPv6]\n  ports: [{port: 80}]'),
      svc('v4', '  clusterIP: 10.96.0.3\n  ipFamilies: [IPv4]\n  ports: [{port: 80}]'),
    ),
  );
  t.like(service(mesh, host('dual')), { addresses: [{ address: ip('10.96.0.1') }, { address: ip('fd00::1') }], ip_families: 'DUAL' });
  t.is(service(mesh, host('v6')).ip_families, 'IPV6_ONLY');
  t.is(service(mesh, host('v4')).ip_families, 'IPV4_ONLY');
  t.deepEqual(wireProblems(mesh), []);
});

test('load balancing: PreferClose (field or annotation), internalTrafficPolicy Local, publishNotReadyAddresses', (t) => {
  const mesh = meshFrom(
    yamlDocs(
      svc('close', '  clusterIP: 10.96.0.1\n  trafficDistribution: PreferClose\n  ports: [{port: 80}]'),
      svc('annotated', '  clusterIP: 10.96.0.2\n  ports: [{port: 80}]', '  annotations: {networking.istio.io/traffic-distribution: PreferClose}\n'),
      svc('local', '  clusterIP: 10.96.0.3\n  internalTrafficPolicy: Local\n  publishNotReadyAddresses: true\n  ports: [{port: 80}]'),
      svc('unready', '  clusterIP: 10.96.0.4\n  publishNotReadyAddresses: true\n  ports: [{port: 80}]'),
      svc('plain', '  clusterIP: 10.96.0.5\n  internalTrafficPolicy: Cluster\n  ports: [{port: 80}]'),
    ),
  );
  const preferClose = { routing_preference: ['NETWORK', 'REGION', 'ZONE', 'SUBZONE'], mode: 'FAILOVER' };
  t.deepEqual(service(mesh, host('close')).load_balancing, preferClose);
  t.deepEqual(service(mesh, host('annotated')).load_balancing, preferClose);
  t.deepEqual(service(mesh, host('local')).load_balancing, { routing_preference: ['NODE'], mode: 'STRICT', health_policy: 'ALLOW_ALL' });
  t.deepEqual(service(mesh, host('unready')).load_balancing, { health_policy: 'ALLOW_ALL' });
  t.is(service(mesh, host('plain')).load_balancing, undefined);
  t.deepEqual(wireProblems(mesh), []);
});

test('an unsupported traffic distribution is reported and ignored', (t) => {
  const mesh = meshFrom(yamlDocs(svc('x', '  clusterIP: 10.96.0.1\n  trafficDistribution: PreferSameGalaxy\n  ports: [{port: 80}]')));
  t.is(service(mesh, host('x')).load_balancing, undefined);
  t.deepEqual(
    mesh.diagnostics.map((d) => [d.path, d.message]),
    [['spec.trafficDistribution', 'traffic distribution "PreferSameGalaxy" is not supported (only PreferClose); ignored']],
  );
});
