/**
 * Pods → Workloads: which pods are sent, which are in the mesh, and each field istiod fills in.
 */
import test from 'ava';
import { brief, ip, meshFrom, wireProblems, workload, yamlDocs } from './helpers.js';

function pod(name: string, options: { ns?: string; labels?: string; annotations?: string; ip?: string; spec?: string; status?: string; meta?: string } = {}): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: ${options.ns ?? 'default'}
  labels: {${options.labels ?? ''}}
  annotations: {${options.annotations ?? ''}}
${options.meta ?? ''}
spec:
  nodeName: node-1
${options.spec ?? ''}
status:
  podIP: ${options.ip ?? '10.0.0.1'}
${options.status ?? ''}`;
}

const ns = (name: string, labels = ''): string => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n  labels: {${labels}}\n`;
const uid = (name: string, namespace = 'default'): string => `Kubernetes//Pod/${namespace}/${name}`;

test('enrollment: namespace or pod label ambient, pod label none opts out', (t) => {
  const mesh = meshFrom(
    yamlDocs(
      ns('mesh', 'istio.io/dataplane-mode: ambient'),
      ns('plain'),
      pod('in-ns', { ns: 'mesh', ip: '10.0.0.1' }),
      pod('opted-out', { ns: 'mesh', labels: 'istio.io/dataplane-mode: none', ip: '10.0.0.2' }),
      pod('own-label', { ns: 'plain', labels: 'istio.io/dataplane-mode: ambient', ip: '10.0.0.3' }),
      pod('outside', { ns: 'plain', ip: '10.0.0.4' }),
      pod('undeclared-ns', { ns: 'nowhere', ip: '10.0.0.5' }),
      pod('sidecar', { ns: 'mesh', annotations: 'sidecar.istio.io/status: "{}"', ip: '10.0.0.6' }),
    ),
  );
  const protocol = (name: string, namespace: string): string | undefined => workload(mesh, uid(name, namespace)).tunnel_protocol;
  t.is(protocol('in-ns', 'mesh'), 'HBONE');
  t.is(protocol('opted-out', 'mesh'), 'NONE');
  t.is(protocol('own-label', 'plain'), 'HBONE');
  t.is(protocol('outside', 'plain'), 'NONE');
  t.is(protocol('undeclared-ns', 'nowhere'), 'NONE');
  t.is(protocol('sidecar', 'mesh'), 'NONE');
  t.deepEqual(
    [...mesh.identitiesByNode].map(([node, ids]) => [node, [...ids]]),
    [['node-1', ['spiffe://cluster.local/ns/mesh/sa/default', 'spiffe://cluster.local/ns/plain/sa/default']]],
  );
  t.deepEqual(mesh.diagnostics, []);
});

test('a pod that terminates HBONE itself (networking.istio.io/tunnel=http) is HBONE and native, not captured', (t) => {
  const mesh = meshFrom(yamlDocs(ns('mesh', 'istio.io/dataplane-mode: ambient'), pod('gw', { ns: 'mesh', labels: 'networking.istio.io/tunnel: http' })));
  t.like(workload(mesh, uid('gw', 'mesh')), { tunnel_protocol: 'HBONE', native_tunnel: true });
  t.deepEqual([...mesh.identitiesByNode], []);
});

test('an unknown dataplane-mode value is reported and treated as unset', (t) => {
  const mesh = meshFrom(yamlDocs(ns('mesh', 'istio.io/dataplane-mode: ambient'), pod('p', { ns: 'mesh', labels: 'istio.io/dataplane-mode: Ambient' })));
  t.is(workload(mesh, uid('p', 'mesh')).tunnel_protocol, 'HBONE');
  t.deepEqual(brief(mesh.diagnostics), [
    {
      document: 1,
      path: 'metadata.labels["istio.io/dataplane-mode"]',
      message: 'must be "ambient" or "none", got "Ambient"; treated as unset',
      severity: 'warning',
      line: 13,
    },
  ]);
});

test('which pods are sent: Running and Pending with an IP; not host-network, finished, or IP-less pods', (t) => {
  const mesh = meshFrom(
    yamlDocs(
      pod('running', { ip: '10.0.0.1' }),
      pod('pending', { ip: '10.0.0.2', status: '  phase: Pending' }),
      pod('host', { ip: '192.168.0.10', spec: '  hostNetwork: true' }),
      pod('done', { ip: '10.0.0.4', status: '  phase: Succeeded' }),
      pod('failed', { ip: '10.0.0.5', status: '  phase: Failed' }),
      'apiVersion: v1\nkind: Pod\nmetadata: {name: scheduling}\nstatus: {phase: Pending}\n',
    ),
  );
  t.deepEqual([...mesh.addresses.keys()], [uid('pending'), uid('running')]);
  t.is(workload(mesh, uid('running')).status, 'HEALTHY');
  t.is(workload(mesh, uid('pending')).status, 'UNHEALTHY');
});

test('readiness: Ready=True is HEALTHY, anything else UNHEALTHY', (t) => {
  const mesh = meshFrom(
    yamlDocs(
      pod('ready', { ip: '10.0.0.1', status: '  conditions: [{type: Ready, status: "True"}]' }),
      pod('not-ready', { ip: '10.0.0.2', status: '  conditions: [{type: Ready, status: "False"}, {type: PodScheduled, status: "True"}]' }),
      pod('no-ready-condition', { ip: '10.0.0.3', status: '  conditions: [{type: PodScheduled, status: "True"}]' }),
    ),
  );
  t.is(workload(mesh, uid('ready')).status, 'HEALTHY');
  t.is(workload(mesh, uid('not-ready')).status, 'UNHEALTHY');
  t.is(workload(mesh, uid('no-ready-condition')).status, 'UNHEALTHY');
});

test('two pods with the same IP: the later one is reported and left out', (t) => {
  const mesh = meshFrom(yamlDocs(pod('a', { ip: '10.0.0.1' }), pod('b', { ip: '10.0.0.1' })));
  t.deepEqual([...mesh.addresses.keys()], [uid('a')]);
  t.deepEqual(brief(mesh.diagnostics), [
    { document: 1, path: 'status.podIP', message: 'pod IP 10.0.0.1 is already used by pod default/a; this pod is left out', severity: 'error', line: 28 },
  ]);
});

test('workload name and type from the controlling owner, as istiod guesses them', (t) => {
  const owner = (kind: string, name: string): string => `  ownerReferences: [{apiVersion: apps/v1, kind: ${kind}, name: ${name}, controller: true}]`;
  const mesh = meshFrom(
    yamlDocs(
      pod('web-5d8f-x1', { ip: '10.0.0.1', labels: 'pod-template-hash: 5d8f', meta: owner('ReplicaSet', 'web-5d8f') }),
      pod('rs-x2', { ip: '10.0.0.2', meta: owner('ReplicaSet', 'rs') }),
      pod('backup-28934500-x3', { ip: '10.0.0.3', meta: owner('Job', 'backup-28934500') }),
      pod('migrate-x4', { ip: '10.0.0.4', meta: owner('Job', 'migrate') }),
      pod('db-0', { ip: '10.0.0.5', meta: owner('StatefulSet', 'db') }),
      pod('not-controller', { ip: '10.0.0.6', meta: '  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: x}]' }),
    ),
  );
  const kind = (name: string): [string | undefined, string | undefined] => {
    const w = workload(mesh, uid(name));
    return [w.workload_name, w.workload_type];
  };
  t.deepEqual(kind('web-5d8f-x1'), ['web', 'DEPLOYMENT']);
  t.deepEqual(kind('rs-x2'), ['rs-x2', 'POD']);
  t.deepEqual(kind('backup-28934500-x3'), ['backup', 'CRONJOB']);
  t.deepEqual(kind('migrate-x4'), ['migrate', 'JOB']);
  t.deepEqual(kind('db-0'), ['db-0', 'POD']);
  t.deepEqual(kind('not-controller'), ['not-controller', 'POD']);
});

test('canonical name and revision: istio labels, then app.kubernetes.io, then app/version, then defaults', (t) => {
  const mesh = meshFrom(
    yamlDocs(
      pod('a', { ip: '10.0.0.1', labels: 'service.istio.io/canonical-name: c, app.kubernetes.io/name: k, app: x, service.istio.io/canonical-revision: r1, version: v9' }),
      pod('b', { ip: '10.0.0.2', labels: 'app.kubernetes.io/name: k, app: x, app.kubernetes.io/version: "2", version: v9' }),
      pod('c', { ip: '10.0.0.3', labels: 'app: x, version: v3' }),
      pod('d', { ip: '10.0.0.4' }),
    ),
  );
  const canonical = (name: string): [string | undefined, string | undefined] => {
    const w = workload(mesh, uid(name));
    return [w.canonical_name, w.canonical_revision];
  };
  t.deepEqual(canonical('a'), ['c', 'r1']);
  t.deepEqual(canonical('b'), ['k', '2']);
  t.deepEqual(canonical('c'), ['x', 'v3']);
  t.deepEqual(canonical('d'), ['d', 'latest']);
});

test('locality from the node; none when the node is undeclared or has no topology labels', (t) => {
  const node = (name: string, labels: string): string => `apiVersion: v1\nkind: Node\nmetadata:\n  name: ${name}\n  labels: {${labels}}\n`;
  const mesh = meshFrom(
    yamlDocs(
      node('node-1', 'topology.kubernetes.io/zone: z1'),
      node('bare', ''),
      pod('a', { ip: '10.0.0.1' }),
      pod('b', { ip: '10.0.0.2' }).replace('nodeName: node-1', 'nodeName: bare'),
      pod('c', { ip: '10.0.0.3' }).replace('nodeName: node-1', 'nodeName: ghost'),
    ),
  );
  t.deepEqual(workload(mesh, uid('a')).locality, { zone: 'z1' });
  t.is(workload(mesh, uid('b')).locality, undefined);
  t.is(workload(mesh, uid('c')).locality, undefined);
  t.is(workload(mesh, uid('c')).node, 'ghost');
});

test('services map: selecting Services of the namespace, named target ports resolved per pod', (t) => {
  const svc = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.0.1
  selector: {app: web}
  ports:
    - {name: http, port: 80, targetPort: http}
    - {name: admin, port: 9000, targetPort: 9001}
`;
  const other = 'apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: other}\nspec:\n  clusterIP: 10.96.0.2\n  selector: {app: web}\n  ports: [{port: 80}]\n';
  const manual = 'apiVersion: v1\nkind: Service\nmetadata: {name: manual}\nspec:\n  clusterIP: 10.96.0.3\n  ports: [{port: 80}]\n';
  const mesh = meshFrom(
    yamlDocs(
      svc,
      other,
      manual,
      pod('with-port', { ip: '10.0.0.1', labels: 'app: web', spec: '  containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]' }),
      pod('without-port', { ip: '10.0.0.2', labels: 'app: web' }),
      pod('unselected', { ip: '10.0.0.3', labels: 'app: other' }),
    ),
  );
  t.deepEqual(workload(mesh, uid('with-port')).services, {
    'default/web.default.svc.cluster.local': {
      ports: [
        { service_port: 80, target_port: 8080 },
        { service_port: 9000, target_port: 9001 },
      ],
    },
  });
  t.deepEqual(workload(mesh, uid('without-port')).services, {
    'default/web.default.svc.cluster.local': { ports: [{ service_port: 9000, target_port: 9001 }] },
  });
  t.is(workload(mesh, uid('unselected')).services, undefined);
  t.deepEqual(brief(mesh.diagnostics), [
    {
      document: 0,
      path: 'spec.ports[0].targetPort',
      message: 'pod default/without-port has no container port named "http"; it does not serve port 80',
      severity: 'warning',
      line: 9,
    },
  ]);
});

test('options: cluster id, trust domain and network shape uids, identities and addresses', (t) => {
  const yaml = yamlDocs(
    ns('mesh', 'istio.io/dataplane-mode: ambient'),
    pod('p', { ns: 'mesh', ip: '10.0.0.1' }),
    'apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: mesh}\nspec: {clusterIP: 10.96.0.1, ports: [{port: 80}]}\n',
  );
  const mesh = meshFrom(yaml, { clusterId: 'east', trustDomain: 'example.org', network: 'net-1', domainSuffix: 'corp.internal' });
  t.like(workload(mesh, 'east//Pod/mesh/p'), { uid: 'east//Pod/mesh/p', cluster_id: 'east', trust_domain: 'example.org', network: 'net-1' });
  t.deepEqual(mesh.addresses.get('mesh/s.mesh.svc.corp.internal')?.service?.addresses, [{ network: 'net-1', address: ip('10.96.0.1') }]);
  t.deepEqual([...(mesh.identitiesByNode.get('node-1') ?? [])], ['spiffe://example.org/ns/mesh/sa/default']);
  t.deepEqual(wireProblems(mesh), []);
});

test('identities: one per service account per node; pods without a node are not listed', (t) => {
  const mesh = meshFrom(
    yamlDocs(
      ns('mesh', 'istio.io/dataplane-mode: ambient'),
      pod('a', { ns: 'mesh', ip: '10.0.0.1', spec: '  serviceAccountName: web' }),
      pod('b', { ns: 'mesh', ip: '10.0.0.2', spec: '  serviceAccountName: web' }),
      pod('c', { ns: 'mesh', ip: '10.0.0.3' }).replace('  nodeName: node-1\n', ''),
    ),
  );
  t.deepEqual(
    [...mesh.identitiesByNode].map(([node, ids]) => [node, [...ids]]),
    [['node-1', ['spiffe://cluster.local/ns/mesh/sa/web']]],
  );
  t.is(workload(mesh, uid('c', 'mesh')).node, undefined);
});
