/**
 * PeerAuthentication → the static STRICT policy and converted per-port policies, and which workloads
 * name them, over the mesh / namespace / workload precedence and port-level exceptions.
 */
import test from 'ava';
import type { Authorization } from '@ambit/protos';
import { authorization, meshFrom, wireProblems, workload, yamlDocs } from './helpers.js';

const STATIC = 'istio-system/istio_converted_static_strict';
const noPrincipal = { not_principals: [{ presence: {}, match_type: 'presence' as const }] };

function pa(name: string, namespace: string, spec: string, created?: string): string {
  return `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: ${name}
  namespace: ${namespace}
${created ? `  creationTimestamp: "${created}"\n` : ''}spec:
${spec}
`;
}

const mode = (m: string): string => `  mtls: {mode: ${m}}`;
const pod = (name: string, namespace: string, podIp: string, labels = 'app: web'): string =>
  `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: ${namespace}\n  labels: {${labels}}\nstatus:\n  podIP: ${podIp}\n`;
const policiesOf = (mesh: ReturnType<typeof meshFrom>, name: string, namespace = 'app'): string[] | undefined =>
  workload(mesh, `Kubernetes//Pod/${namespace}/${name}`).authorization_policies;

test('no PeerAuthentication: no static policy, no references', (t) => {
  const mesh = meshFrom(yamlDocs(pod('web', 'app', '10.0.0.1')));
  t.deepEqual([...mesh.authorizations.keys()], []);
  t.is(policiesOf(mesh, 'web'), undefined);
});

test('mesh-wide STRICT: the static policy is sent and every workload names it', (t) => {
  const mesh = meshFrom(yamlDocs(pa('default', 'istio-system', mode('STRICT')), pod('web', 'app', '10.0.0.1'), pod('db', 'data', '10.0.0.2')));
  t.deepEqual(authorization(mesh, STATIC), {
    name: 'istio_converted_static_strict',
    namespace: 'istio-system',
    scope: 'WORKLOAD_SELECTOR',
    action: 'DENY',
    rules: [{ clauses: [{ matches: [noPrincipal] }] }],
  });
  t.deepEqual(policiesOf(mesh, 'web'), [STATIC]);
  t.deepEqual(policiesOf(mesh, 'db', 'data'), [STATIC]);
  t.deepEqual(wireProblems(mesh), []);
});

test('precedence: namespace over mesh, UNSET inherits, workload selector over namespace', (t) => {
  const mesh = meshFrom(
    yamlDocs(
      pa('default', 'istio-system', mode('PERMISSIVE')),
      pa('default', 'strict-ns', mode('STRICT')),
      pa('default', 'unset-ns', mode('UNSET')),
      pa('web-permissive', 'strict-ns', `  selector: {matchLabels: {app: web}}\n${mode('PERMISSIVE')}`),
      pa('web-unset', 'unset-ns', `  selector: {matchLabels: {app: web}}\n${mode('UNSET')}`),
      pod('web', 'strict-ns', '10.0.0.1'),
      pod('db', 'strict-ns', '10.0.0.2', 'app: db'),
      pod('web', 'unset-ns', '10.0.0.3'),
      pod('web', 'plain', '10.0.0.4'),
    ),
  );
  // The static policy is sent as soon as any PeerAuthentication exists, referenced or not.
  t.true(mesh.authorizations.has(STATIC));
  t.is(policiesOf(mesh, 'web', 'strict-ns'), undefined);
  t.deepEqual(policiesOf(mesh, 'db', 'strict-ns'), [STATIC]);
  t.is(policiesOf(mesh, 'web', 'unset-ns'), undefined);
  t.is(policiesOf(mesh, 'web', 'plain'), undefined);
});

test('workload STRICT with PERMISSIVE and DISABLE ports: one converted DENY exempting those ports', (t) => {
  const mesh = meshFrom(
    yamlDocs(
      pa('web', 'app', `  selector: {matchLabels: {app: web}}\n${mode('STRICT')}\n  portLevelMtls:\n    9090: {mode: PERMISSIVE}\n    8081: {mode: DISABLE}\n    8443: {mode: STRICT}`),
      pod('web', 'app', '10.0.0.1'),
      pod('db', 'app', '10.0.0.2', 'app: db'),
    ),
  );
  const expected: Authorization = {
    name: 'converted_peer_authentication_web',
    namespace: 'app',
    scope: 'WORKLOAD_SELECTOR',
    action: 'DENY',
    // Plaintext is denied unless the port is 8081 or 9090.
    rules: [{ clauses: [{ matches: [noPrincipal] }, { matches: [{ not_destination_ports: [8081] }] }, { matches: [{ not_destination_ports: [9090] }] }] }],
  };
  t.deepEqual(authorization(mesh, 'app/converted_peer_authentication_web'), expected);
  t.deepEqual(policiesOf(mesh, 'web'), ['app/converted_peer_authentication_web']);
  // Not selected, and nothing else is STRICT.
  t.is(policiesOf(mesh, 'db'), undefined);
  t.deepEqual(wireProblems(mesh), []);
});

test('workload UNSET under an inherited STRICT with a PERMISSIVE port: the strictness is merged in last', (t) => {
  const mesh = meshFrom(
    yamlDocs(
      pa('default', 'istio-system', mode('STRICT')),
      pa('metrics', 'app', '  selector: {matchLabels: {app: web}}\n  portLevelMtls:\n    9090: {mode: PERMISSIVE}'),
      pod('web', 'app', '10.0.0.1'),
      pod('db', 'app', '10.0.0.2', 'app: db'),
    ),
  );
  t.deepEqual(authorization(mesh, 'app/converted_peer_authentication_metrics').rules, [
    { clauses: [{ matches: [{ not_destination_ports: [9090] }] }, { matches: [noPrincipal] }] },
  ]);
  // The converted policy replaces the static one for the selected workload: a DENY cannot be excepted by another policy.
  t.deepEqual(policiesOf(mesh, 'web'), ['app/converted_peer_authentication_metrics']);
  t.deepEqual(policiesOf(mesh, 'db'), [STATIC]);
});

test('workload PERMISSIVE with STRICT ports: one DENY rule per strict port', (t) => {
  const mesh = meshFrom(
    yamlDocs(
      pa('default', 'istio-system', mode('STRICT')),
      pa('web', 'app', `  selector: {matchLabels: {app: web}}\n${mode('PERMISSIVE')}\n  portLevelMtls:\n    8443: {mode: STRICT}\n    8080: {mode: STRICT}\n    9090: {mode: DISABLE}`),
      pod('web', 'app', '10.0.0.1'),
    ),
  );
  t.deepEqual(authorization(mesh, 'app/converted_peer_authentication_web').rules, [
    { clauses: [{ matches: [{ ...noPrincipal, destination_ports: [8080] }] }] },
    { clauses: [{ matches: [{ ...noPrincipal, destination_ports: [8443] }] }] },
  ]);
  t.deepEqual(policiesOf(mesh, 'web'), ['app/converted_peer_authentication_web']);
});

test('port exceptions that change nothing produce no converted policy', (t) => {
  const mesh = meshFrom(
    yamlDocs(
      pa('all-strict', 'app', `  selector: {matchLabels: {app: web}}\n${mode('STRICT')}\n  portLevelMtls:\n    8080: {mode: STRICT}`),
      pa('all-permissive', 'app', `  selector: {matchLabels: {app: db}}\n${mode('PERMISSIVE')}\n  portLevelMtls:\n    5432: {mode: DISABLE}`),
      pod('web', 'app', '10.0.0.1'),
      pod('db', 'app', '10.0.0.2', 'app: db'),
    ),
  );
  t.deepEqual([...mesh.authorizations.keys()], [STATIC]);
  t.deepEqual(policiesOf(mesh, 'web'), [STATIC]);
  t.is(policiesOf(mesh, 'db'), undefined);
});

test('conflicts: the oldest policy wins and the others are reported', (t) => {
  const mesh = meshFrom(
    yamlDocs(
      pa('newer', 'istio-system', mode('PERMISSIVE'), '2024-02-01T00:00:00Z'),
      pa('older', 'istio-system', mode('STRICT'), '2024-01-01T00:00:00Z'),
      pa('sel-newer', 'app', `  selector: {matchLabels: {app: web}}\n${mode('PERMISSIVE')}`, '2024-02-01T00:00:00Z'),
      pa('sel-older', 'app', `  selector: {matchLabels: {tier: front}}\n${mode('STRICT')}`, '2024-01-01T00:00:00Z'),
      pa('root-selector', 'istio-system', `  selector: {matchLabels: {app: web}}\n${mode('DISABLE')}`),
      pod('web', 'app', '10.0.0.1', 'app: web, tier: front'),
    ),
  );
  t.deepEqual(policiesOf(mesh, 'web'), [STATIC]);
  t.deepEqual(
    mesh.diagnostics.map((d) => [d.document, d.path, d.message]),
    [
      [0, '', 'mesh-wide PeerAuthentication istio-system/older is older and takes precedence; this one is ignored'],
      [2, 'spec.selector', 'also selects pod app/web, where the older PeerAuthentication app/sel-older takes precedence'],
      [4, 'spec.selector', 'a PeerAuthentication with a selector in the root namespace (istio-system) does not apply to ambient workloads; ignored'],
    ],
  );
});

test('the root namespace is an option', (t) => {
  const mesh = meshFrom(yamlDocs(pa('default', 'mesh-root', mode('STRICT')), pod('web', 'app', '10.0.0.1')), { rootNamespace: 'mesh-root' });
  t.deepEqual(policiesOf(mesh, 'web'), ['mesh-root/istio_converted_static_strict']);
  t.deepEqual([...mesh.authorizations.keys()], ['mesh-root/istio_converted_static_strict']);
});
