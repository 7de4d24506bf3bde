/**
 * Validation of single documents: every problem is reported with file, document index, field path,
 * message and line, the invalid document is skipped, and the other documents of the file still load.
 */
import test from 'ava';
import { defaultRegistry } from '../src/input/kinds/index.js';
import type { PodObject, ServiceObject } from '../src/input/objects.js';
import { parseFile, type FileParse } from '../src/input/parse-file.js';
import type { InputDiagnostic } from '../src/model/snapshot.js';

function parse(text: string): FileParse {
  return parseFile('input.yaml', text, defaultRegistry());
}

function diagnostics(text: string): InputDiagnostic[] {
  return [...parse(text).diagnostics];
}

/** Kinds of the documents that decoded, by index. */
function decoded(text: string): Array<[number, string | undefined]> {
  const result = parse(text);
  if (!result.ok) throw new Error('file did not parse');
  return result.documents.map((d) => [d.index, d.object?.kind]);
}

const GOOD_NS = 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: good\n';

test('a YAML syntax error fails the file, naming the broken document and its line', (t) => {
  const result = parse(`${GOOD_NS}---\napiVersion: v1\nkind: Pod\nmetadata: {name: [broken\n---\n${GOOD_NS}`);
  t.false(result.ok);
  t.deepEqual(result.diagnostics, [
    {
      file: 'input.yaml',
      document: 1,
      path: '',
      message: result.diagnostics[0]!.message,
      severity: 'error',
      line: 9,
    },
  ]);
  t.regex(result.diagnostics[0]!.message, /^YAML syntax error: /);
});

test('duplicate keys in a mapping are a YAML error', (t) => {
  const result = parse('apiVersion: v1\nkind: Namespace\nkind: Pod\nmetadata: {name: a}\n');
  t.false(result.ok);
  t.is(result.diagnostics[0]!.message, 'YAML syntax error: Map keys must be unique');
  t.is(result.diagnostics[0]!.line, 3);
});

test('an empty file, comments only, and empty documents are fine', (t) => {
  t.deepEqual(parse(''), { ok: true, documents: [], diagnostics: [] });
  t.deepEqual(parse('# nothing here\n'), { ok: true, documents: [], diagnostics: [] });
  t.deepEqual(decoded(`---\n---\n${GOOD_NS}---\n`), [[1, 'Namespace']]);
});

test('wrong types: a port that is not a number', (t) => {
  const text = `${GOOD_NS}---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  clusterIP: 10.96.0.1
  ports:
    - port: "abc"
---
${GOOD_NS.replace('good', 'after')}`;
  t.deepEqual(diagnostics(text), [
    { file: 'input.yaml', document: 1, path: 'spec.ports[0].port', message: 'must be an integer, got the string "abc"', severity: 'error', line: 13 },
  ]);
  // The invalid Service is skipped; the documents around it load.
  t.deepEqual(decoded(text), [
    [0, 'Namespace'],
    [1, undefined],
    [2, 'Namespace'],
  ]);
});

const cases: Array<{ name: string; yaml: string; expect: Array<[path: string, message: string]> }> = [
  {
    name: 'labels given as a list',
    yaml: 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  labels: [app, web]\n',
    expect: [['metadata.labels', 'must be a mapping, got a list']],
  },
  {
    name: 'a missing name',
    yaml: 'apiVersion: v1\nkind: Pod\nmetadata:\n  namespace: a\nstatus:\n  podIP: 10.0.0.1\n',
    expect: [['metadata.name', 'is required']],
  },
  {
    name: 'no metadata at all',
    yaml: 'apiVersion: v1\nkind: Namespace\n',
    expect: [
      ['metadata', 'is required'],
      ['metadata.name', 'is required'],
    ],
  },
  {
    name: 'a Running pod without an IP',
    yaml: 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nstatus:\n  phase: Running\n',
    expect: [['status.podIP', 'is required for a Running pod (set status.phase: Pending for a pod without an IP yet)']],
  },
  {
    name: 'an invalid pod IP',
    yaml: 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nstatus:\n  podIP: 10.0.0.300\n',
    expect: [['status.podIP', '"10.0.0.300" is not a valid IPv4 or IPv6 address']],
  },
  {
    name: 'podIPs whose first entry is not podIP',
    yaml: 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nstatus:\n  podIP: 10.0.0.1\n  podIPs: [{ip: 10.0.0.2}]\n',
    expect: [['status.podIPs[0].ip', 'must equal status.podIP (10.0.0.1): the first of podIPs is the primary IP']],
  },
  {
    name: 'two IPv4 pod IPs',
    yaml: 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nstatus:\n  podIPs: [{ip: 10.0.0.1}, {ip: 10.0.0.2}]\n',
    expect: [['status.podIPs', 'may hold at most one IPv4 and one IPv6 address']],
  },
  {
    name: 'an invalid cluster IP',
    yaml: 'apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  clusterIP: 10.96.0.x\n',
    expect: [['spec.clusterIP', '"10.96.0.x" is not a valid IPv4 or IPv6 address']],
  },
  {
    name: 'an invalid label value',
    yaml: 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels:\n    app: -web-\nstatus:\n  podIP: 10.0.0.1\n',
    expect: [
      [
        'metadata.labels.app',
        `value "-web-" is not a valid label value (at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)`,
      ],
    ],
  },
  {
    name: 'an invalid label key',
    yaml: 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  labels:\n    "Istio.IO/x": y\n',
    expect: [['metadata.labels["Istio.IO/x"]', 'key "Istio.IO/x" has an invalid prefix (must be a DNS subdomain such as "example.com")']],
  },
  {
    name: 'a label value that YAML reads as a number',
    yaml: 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  labels:\n    version: 1.0\n',
    expect: [['metadata.labels.version', 'must be a string, got the number 1 (quote it)']],
  },
  {
    name: 'a label without a value',
    yaml: 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  labels:\n    app:\n',
    expect: [['metadata.labels.app', 'must be a string; write "" for an empty value']],
  },
  {
    name: 'an invalid name',
    yaml: 'apiVersion: v1\nkind: Service\nmetadata:\n  name: 1web\nspec: {}\n',
    expect: [['metadata.name', '"1web" is not a valid DNS-1035 label (lower-case letters, digits and \'-\', starting with a letter)']],
  },
  {
    name: 'an unsupported kind',
    yaml: 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n',
    expect: [
      [
        'kind',
        'unsupported kind "Deployment"; the document is skipped (supported: AuthorizationPolicy, DestinationRule, GRPCRoute, Gateway, HTTPRoute, Namespace, Node, PeerAuthentication, Pod, RequestAuthentication, Service, ServiceAccount, VirtualService)',
      ],
    ],
  },
  {
    name: 'an unsupported apiVersion of a known kind',
    yaml: 'apiVersion: security.istio.io/v1alpha1\nkind: AuthorizationPolicy\nmetadata:\n  name: p\n',
    expect: [['apiVersion', '"security.istio.io/v1alpha1" is not a supported apiVersion for AuthorizationPolicy (use security.istio.io/v1 or security.istio.io/v1beta1)']],
  },
  {
    name: 'a document that is not a mapping',
    yaml: '- just\n- a list\n',
    expect: [['', 'a Kubernetes object must be a mapping with apiVersion, kind and metadata']],
  },
  {
    name: 'a missing kind',
    yaml: 'apiVersion: v1\nmetadata:\n  name: a\n',
    expect: [['kind', 'is required']],
  },
  {
    name: 'a quoted number as target port',
    yaml: 'apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  ports:\n    - port: 80\n      targetPort: "8080"\n',
    expect: [['spec.ports[0].targetPort', '"8080" is a quoted number: write 8080 without quotes for a port number']],
  },
  {
    name: 'an invalid named target port',
    yaml: 'apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  ports:\n    - port: 80\n      targetPort: http_web\n',
    expect: [['spec.ports[0].targetPort', '"http_web" is not a valid port name (at most 15 lower-case letters, digits and \'-\', with at least one letter)']],
  },
  {
    name: 'several ports without names, and a port out of range',
    yaml: 'apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  ports:\n    - port: 80\n    - port: 70000\n',
    expect: [
      ['spec.ports[0].name', 'is required when a Service has more than one port'],
      ['spec.ports[1].name', 'is required when a Service has more than one port'],
      ['spec.ports[1].port', 'must be between 1 and 65535, got 70000'],
    ],
  },
  {
    name: 'a misspelt AuthorizationPolicy field',
    yaml: 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: p\nspec:\n  selectr:\n    matchLabels: {app: a}\n',
    expect: [['spec.selectr', 'unknown field; expected one of selector, targetRef, targetRefs, action, provider, rules']],
  },
  {
    name: 'AuthorizationPolicy ports written as numbers and a bad CIDR',
    yaml: `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: p
spec:
  rules:
    - from:
        - source:
            ipBlocks: ["10.0.0.0/33"]
      to:
        - operation:
            ports: [8080]
`,
    expect: [
      ['spec.rules[0].from[0].source.ipBlocks[0]', '"10.0.0.0/33" is not a valid IP address or CIDR block'],
      ['spec.rules[0].to[0].operation.ports[0]', 'must be a string, got the number 8080 (quote it)'],
    ],
  },
  {
    name: 'an empty source, a condition without values, a bad service account',
    yaml: `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: p
spec:
  rules:
    - from:
        - source: {}
        - source:
            serviceAccounts: ["a/b/c"]
      when:
        - key: source.ip
`,
    expect: [
      ['spec.rules[0].from[0].source', 'must set at least one field'],
      ['spec.rules[0].from[1].source.serviceAccounts[0]', '"a/b/c" must be "<namespace>/<service account>" or "<service account>"'],
      ['spec.rules[0].when[0]', 'must set values or notValues'],
    ],
  },
  {
    name: 'selector together with targetRefs; CUSTOM without a provider',
    yaml: `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: p
spec:
  selector: {matchLabels: {app: a}}
  targetRefs: [{kind: Service, name: a}]
  action: CUSTOM
`,
    expect: [
      ['spec.selector', 'cannot be set together with targetRefs: a policy binds either to workloads or to a waypoint target'],
      ['spec.provider', 'is required for action CUSTOM'],
    ],
  },
  {
    name: 'a dry-run annotation that is not a boolean',
    yaml: 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: p\n  annotations:\n    istio.io/dry-run: "yes"\n',
    expect: [['metadata.annotations["istio.io/dry-run"]', 'must be "true" or "false"']],
  },
  {
    name: 'PeerAuthentication portLevelMtls without a selector, a bad port, a bad mode',
    yaml: `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: p
spec:
  mtls: {mode: strict}
  portLevelMtls:
    http: {mode: PERMISSIVE}
`,
    expect: [
      ['spec.mtls.mode', 'must be one of UNSET, DISABLE, PERMISSIVE, STRICT, got "strict"'],
      ['spec.portLevelMtls.http', 'key "http" is not a port number between 1 and 65535'],
      ['spec.portLevelMtls', 'requires a workload selector (spec.selector.matchLabels)'],
    ],
  },
  {
    name: 'a Gateway without a class and a bad status address',
    yaml: 'apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: w\nspec: {}\nstatus:\n  addresses: [{value: not-an-ip}]\n',
    expect: [
      ['spec.gatewayClassName', 'is required'],
      ['status.addresses[0].value', '"not-an-ip" is not a valid IPv4 or IPv6 address'],
    ],
  },
  {
    name: 'a readiness condition whose status YAML reads as a boolean',
    yaml: 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nstatus:\n  podIP: 10.0.0.1\n  conditions: [{type: Ready, status: True}]\n',
    expect: [['status.conditions[0].status', 'must be a string, got the boolean true (quote it)']],
  },
];

for (const c of cases) {
  test(`diagnoses ${c.name}`, (t) => {
    const found = diagnostics(c.yaml);
    t.deepEqual(
      found.map((d) => [d.path, d.message]),
      c.expect,
    );
    for (const d of found) {
      t.is(d.file, 'input.yaml');
      t.is(d.document, 0);
      t.is(typeof d.line, 'number');
    }
    const result = parse(c.yaml);
    t.true(result.ok);
    if (result.ok) t.is(result.documents.find((d) => d.object !== undefined), undefined, 'the invalid document is skipped');
  });
}

test('warnings do not skip a document: a namespace on a cluster-scoped kind', (t) => {
  const text = 'apiVersion: v1\nkind: Node\nmetadata:\n  name: n\n  namespace: x\n';
  t.deepEqual(
    diagnostics(text).map((d) => [d.path, d.message, d.severity]),
    [['metadata.namespace', 'is ignored: this kind is not namespaced', 'warning']],
  );
  t.deepEqual(decoded(text), [[0, 'Node']]);
});

test('lines point at the field, or its nearest existing parent when it is missing', (t) => {
  const text = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  nodeName: n\nstatus:\n  phase: Running\n';
  t.deepEqual(
    diagnostics(text).map((d) => [d.path, d.line]),
    [['status.podIP', 7]],
  );
});

test('defaults: namespace default, service account default, Running, ready without conditions, targetPort = port', (t) => {
  const result = parse(`apiVersion: v1
kind: Pod
metadata: {name: p}
status: {podIP: "fd00::1"}
---
apiVersion: v1
kind: Service
metadata: {name: s}
spec:
  clusterIPs: ["10.96.0.1"]
  ports: [{port: 80}]
`);
  t.true(result.ok);
  if (!result.ok) return;
  const pod = result.documents[0]!.object as PodObject;
  t.like(pod, { serviceAccountName: 'default', phase: 'Running', ready: true, hostNetwork: false, podIPs: ['fd00::1'] });
  t.is(pod.metadata.namespace, 'default');
  const svc = result.documents[1]!.object as ServiceObject;
  t.deepEqual(svc.ports, [{ port: 80, targetPort: 80, protocol: 'TCP' }]);
  t.deepEqual(svc.clusterIPs, ['10.96.0.1']);
  t.is(result.documents[1]!.key, 'Service/default/s');
});

test('alias bombs are refused, not expanded', (t) => {
  const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 8; i++) levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${new Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(', ')}]`);
  const text = `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\nbomb:\n${levels.map((l) => `  ${l}`).join('\n')}\n`;
  const found = diagnostics(text);
  t.is(found.length, 1);
  t.is(found[0]!.path, '');
  t.regex(found[0]!.message, /^cannot read document: .*alias/i);
});

test('a document with broken metadata still reports its spec problems in the same pass', (t) => {
  const text = 'apiVersion: v1\nkind: Service\nmetadata:\n  name: Bad_Name\nspec:\n  ports: [{port: 0}]\n';
  t.deepEqual(
    diagnostics(text).map((d) => d.path),
    ['metadata.name', 'spec.ports[0].port'],
  );
  const result = parse(text);
  t.true(result.ok && result.documents[0]!.key === undefined);
});
