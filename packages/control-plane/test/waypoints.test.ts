/**
 * Waypoints: where they are reached, which traffic they take, who may bind to them, and what happens to a
 * reference that cannot be honoured (reported; served without a waypoint, as istiod does).
 */
import test from 'ava';
import { ip, meshFrom, service, workload, yamlDocs } from './helpers.js';

const ns = (name: string, labels = ''): string => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n  labels: {${labels}}\n`;

function gateway(name: string, options: { ns?: string; labels?: string; status?: string; listener?: string; cls?: string } = {}): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: ${name}
  namespace: ${options.ns ?? 'app'}
  labels: {${options.labels ?? ''}}
spec:
  gatewayClassName: ${options.cls ?? 'istio-waypoint'}
  listeners:
    - ${options.listener ?? '{name: mesh, port: 15008, protocol: HBONE}'}
${options.status ? `status:\n  addresses: ${options.status}\n` : ''}`;
}

const svc = (name: string, namespace: string, vip: string, labels = ''): string =>
  `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\n  namespace: ${namespace}\n  labels: {${labels}}\nspec:\n  clusterIP: ${vip}\n  selector: {app: ${name}}\n  ports: [{port: 80}]\n`;
const pod = (name: string, namespace: string, podIp: string, labels = ''): string =>
  `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: ${namespace}\n  labels: {app: ${name}${labels ? `, ${labels}` : ''}}\nstatus:\n  podIP: ${podIp}\n`;

const viaVip = (vip: string, port = 15008) => ({ address: { address: ip(vip) }, destination: 'address' as const, hbone_mtls_port: port });
const host = (name: string, namespace = 'app'): string => `${namespace}/${name}.${namespace}.svc.cluster.local`;
const uid = (name: string, namespace = 'app'): string => `Kubernetes//Pod/${namespace}/${name}`;

test('a namespace waypoint (service traffic) applies to its services, not to its pods nor its own service', (t) => {
  const mesh = meshFrom(
    yamlDocs(
      ns('app', 'istio.io/dataplane-mode: ambient, istio.io/use-waypoint: wp'),
      gateway('wp'),
      svc('wp', 'app', '10.96.0.9', 'gateway.istio.io/managed: istio.io-mesh-controller'),
      svc('web', 'app', '10.96.0.1'),
      svc('opt-out', 'app', '10.96.0.2', 'istio.io/use-waypoint: none'),
      pod('web', 'app', '10.0.0.1'),
      pod('wp-1', 'app', '10.0.0.9', 'gateway.networking.k8s.io/gateway-name: wp'),
    ),
  );
  t.deepEqual(service(mesh, host('web')).waypoint, viaVip('10.96.0.9'));
  t.is(service(mesh, host('opt-out')).waypoint, undefined);
  t.is(service(mesh, host('wp')).waypoint, undefined);
  t.is(workload(mesh, uid('web')).waypoint, undefined);
  // The waypoint's pod is not captured even in an ambient namespace.
  t.is(workload(mesh, uid('wp-1')).tunnel_protocol, 'NONE');
  t.is(workload(mesh, uid('web')).tunnel_protocol, 'HBONE');
  t.deepEqual(mesh.diagnostics, []);
});

test('a workload waypoint applies to pods that name it; a service naming it is reported', (t) => {
  const mesh = meshFrom(
    yamlDocs(
      ns('app'),
      gateway('wp', { labels: 'istio.io/waypoint-for: workload', status: '[{type: IPAddress, value: 10.96.0.9}]' }),
      pod('web', 'app', '10.0.0.1', 'istio.io/use-waypoint: wp'),
      pod('other', 'app', '10.0.0.2'),
      svc('web', 'app', '10.96.0.1', 'istio.io/use-waypoint: wp'),
    ),
  );
  t.deepEqual(workload(mesh, uid('web')).waypoint, viaVip('10.96.0.9'));
  t.is(workload(mesh, uid('other')).waypoint, undefined);
  t.is(service(mesh, host('web')).waypoint, undefined);
  t.deepEqual(
    mesh.diagnostics.map((d) => [d.document, d.path, d.message]),
    [[4, 'metadata.labels["istio.io/use-waypoint"]', 'waypoint app/wp takes workload traffic (istio.io/waypoint-for), not service traffic; this Service is served without a waypoint']],
  );
});

test('an "all" waypoint from the namespace applies to services and pods; a pod may opt out', (t) => {
  const mesh = meshFrom(
    yamlDocs(
      ns('app', 'istio.io/use-waypoint: wp'),
      gateway('wp', { labels: 'istio.io/waypoint-for: all', status: '[{type: Hostname, value: wp.app.svc.cluster.local}]' }),
      pod('web', 'app', '10.0.0.1'),
      pod('batch', 'app', '10.0.0.2', 'istio.io/use-waypoint: none'),
      svc('web', 'app', '10.96.0.1'),
    ),
  );
  const byHostname = { hostname: { namespace: 'app', hostname: 'wp.app.svc.cluster.local' }, destination: 'hostname', hbone_mtls_port: 15008 };
  t.deepEqual(service(mesh, host('web')).waypoint, byHostname);
  t.deepEqual(workload(mesh, uid('web')).waypoint, byHostname);
  t.is(workload(mesh, uid('batch')).waypoint, undefined);
});

test('the waypoint address: status Hostname, else status IP, else its Service; the HBONE listener port', (t) => {
  const mesh = meshFrom(
    yamlDocs(
      gateway('by-ip', { status: '[{value: "fd00::9"}]', listener: '{name: mesh, port: 15009, protocol: HBONE}' }),
      gateway('by-svc'),
      svc('by-svc', 'app', '10.96.0.8'),
      svc('a', 'app', '10.96.0.1', 'istio.io/use-waypoint: by-ip'),
      svc('b', 'app', '10.96.0.2', 'istio.io/use-waypoint: by-svc'),
    ),
  );
  t.deepEqual(service(mesh, host('a')).waypoint, viaVip('fd00::9', 15009));
  t.deepEqual(service(mesh, host('b')).waypoint, viaVip('10.96.0.8'));
});

test('references that cannot be honoured are reported where the label is, and served without a waypoint', (t) => {
  const mesh = meshFrom(
    yamlDocs(
      ns('app', 'istio.io/use-waypoint: ghost'),
      gateway('not-ready'),
      gateway('ingress', { cls: 'istio' }),
      svc('a', 'app', '10.96.0.1'),
      svc('b', 'app', '10.96.0.2'),
      svc('c', 'app', '10.96.0.3', 'istio.io/use-waypoint: not-ready'),
      svc('d', 'app', '10.96.0.4', 'istio.io/use-waypoint: ingress'),
    ),
  );
  for (const name of ['a', 'b', 'c', 'd']) t.is(service(mesh, host(name)).waypoint, undefined, name);
  t.deepEqual(
    mesh.diagnostics.map((d) => [d.document, d.path, d.message]),
    [
      // Once for the namespace, however many services inherit its label.
      [0, 'metadata.labels["istio.io/use-waypoint"]', 'waypoint app/ghost does not exist; traffic is served without a waypoint'],
      [1, '', 'waypoint is not ready: it has no status.addresses and no Service app/not-ready with a cluster IP'],
      [
        5,
        'metadata.labels["istio.io/use-waypoint"]',
        'waypoint app/not-ready is not ready: it has no status.addresses and no Service app/not-ready with a cluster IP; traffic is served without a waypoint',
      ],
      [
        6,
        'metadata.labels["istio.io/use-waypoint"]',
        'Gateway app/ingress is not a waypoint (gatewayClassName istio, not istio-waypoint); traffic is served without a waypoint',
      ],
    ],
  );
});

test('cross-namespace waypoints: allowed by allowedRoutes All or a matching Selector, refused by Same', (t) => {
  const mesh = meshFrom(
    yamlDocs(
      ns('shared'),
      ns('team-a', 'team: a'),
      ns('team-b'),
      gateway('same', { ns: 'shared', status: '[{value: 10.96.1.1}]' }),
      gateway('all', { ns: 'shared', status: '[{value: 10.96.1.2}]', listener: '{name: mesh, port: 15008, protocol: HBONE, allowedRoutes: {namespaces: {from: All}}}' }),
      gateway('sel', {
        ns: 'shared',
        status: '[{value: 10.96.1.3}]',
        listener: '{name: mesh, port: 15008, protocol: HBONE, allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {team: a}}}}}',
      }),
      svc('x1', 'team-a', '10.96.0.1', 'istio.io/use-waypoint: same, istio.io/use-waypoint-namespace: shared'),
      svc('x2', 'team-a', '10.96.0.2', 'istio.io/use-waypoint: all, istio.io/use-waypoint-namespace: shared'),
      svc('x3', 'team-a', '10.96.0.3', 'istio.io/use-waypoint: sel, istio.io/use-waypoint-namespace: shared'),
      svc('x4', 'team-b', '10.96.0.4', 'istio.io/use-waypoint: sel, istio.io/use-waypoint-namespace: shared'),
    ),
  );
  t.is(service(mesh, host('x1', 'team-a')).waypoint, undefined);
  t.deepEqual(service(mesh, host('x2', 'team-a')).waypoint, viaVip('10.96.1.2'));
  t.deepEqual(service(mesh, host('x3', 'team-a')).waypoint, viaVip('10.96.1.3'));
  t.is(service(mesh, host('x4', 'team-b')).waypoint, undefined);
  t.deepEqual(
    mesh.diagnostics.map((d) => [d.document, d.message]),
    [
      [6, 'waypoint shared/same does not accept namespace team-a (its HBONE listener\'s allowedRoutes is Same); traffic is served without a waypoint'],
      [9, 'waypoint shared/sel does not accept namespace team-b (its HBONE listener\'s allowedRoutes is Selector); traffic is served without a waypoint'],
    ],
  );
});

test('an invalid waypoint-for value is reported and the waypoint takes service traffic', (t) => {
  const mesh = meshFrom(yamlDocs(gateway('wp', { labels: 'istio.io/waypoint-for: services', status: '[{value: 10.96.0.9}]' }), svc('web', 'app', '10.96.0.1', 'istio.io/use-waypoint: wp')));
  t.deepEqual(service(mesh, host('web')).waypoint, viaVip('10.96.0.9'));
  t.deepEqual(
    mesh.diagnostics.map((d) => [d.path, d.message]),
    [['metadata.labels["istio.io/waypoint-for"]', 'must be one of service, workload, all, none; using service']],
  );
});

test('a "none" waypoint takes no traffic: a namespace label naming it is silent for pods, reported for own labels', (t) => {
  const mesh = meshFrom(
    yamlDocs(gateway('wp', { labels: 'istio.io/waypoint-for: none', status: '[{value: 10.96.0.9}]' }), svc('web', 'app', '10.96.0.1', 'istio.io/use-waypoint: wp')),
  );
  t.is(service(mesh, host('web')).waypoint, undefined);
  t.deepEqual(
    mesh.diagnostics.map((d) => d.message),
    ['waypoint app/wp takes none traffic (istio.io/waypoint-for), not service traffic; this Service is served without a waypoint'],
  );
});
