import test from 'ava';
import { TestbedError, parseTopology } from '../src/index.js';

const node = (name: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ kind: 'Node', metadata: { name }, ...extra });
const pod = (name: string, nodeName: string | undefined, podIP?: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  kind: 'Pod',
  metadata: { name, namespace: 'ns1' },
  spec: nodeName === undefined ? {} : { nodeName },
  ...(podIP === undefined ? {} : { status: { podIP } }),
  ...extra,
});

function problems(input: string | unknown[]): string[] {
  const err = (() => {
    try {
      parseTopology(input);
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  if (!(err instanceof TestbedError)) throw new Error('expected a TestbedError');
  if (err.code !== 'TESTBED_ERR_TOPOLOGY') throw new Error(`unexpected code ${err.code}`);
  return err.message.split('\n').slice(1).map((l) => l.trim());
}

test('defaults: node i gets 10.244.255.(i+1) and 10.244.i.0/24; pods keep their IP or get the lowest free one', (t) => {
  const topology = parseTopology([node('a'), node('b'), pod('p1', 'a', '10.244.0.2'), pod('p2', 'a'), pod('p3', 'b')]);
  t.deepEqual(topology.nodes, [
    { name: 'a', index: 0, ip: '10.244.255.1', podCidr: '10.244.0.0/24' },
    { name: 'b', index: 1, ip: '10.244.255.2', podCidr: '10.244.1.0/24' },
  ]);
  t.deepEqual(
    topology.pods.map((p) => [p.name, p.namespace, p.index, p.node, p.ip, p.hostNetwork]),
    [
      ['p1', 'ns1', 0, 'a', '10.244.0.2', false],
      ['p2', 'ns1', 1, 'a', '10.244.0.3', false],
      ['p3', 'ns1', 2, 'b', '10.244.1.2', false],
    ],
  );
});

test('a node InternalIP and podCIDR from the YAML win over the defaults', (t) => {
  const topology = parseTopology(`
kind: List
items:
  - kind: Node
    metadata: { name: a }
    spec: { podCIDR: 10.9.0.0/16 }
    status: { addresses: [{ type: Hostname, address: a }, { type: InternalIP, address: 172.18.0.7 }] }
  - kind: Node
    metadata: { name: b }
---
kind: Pod
metadata: { name: p }
spec: { nodeName: a }
`);
  t.deepEqual(topology.nodes, [
    { name: 'a', index: 0, ip: '172.18.0.7', podCidr: '10.9.0.0/16' },
    { name: 'b', index: 1, ip: '10.244.255.1', podCidr: '10.244.1.0/24' },
  ]);
  t.like(topology.pods[0], { name: 'p', namespace: 'default', ip: '10.9.0.2' });
});

test('a host-network pod has its node IP; other kinds and empty documents are ignored', (t) => {
  const topology = parseTopology(`
kind: Node
metadata: { name: a }
---
---
kind: Service
metadata: { name: s }
---
kind: Pod
metadata: { name: h }
spec: { nodeName: a, hostNetwork: true }
`);
  t.deepEqual(topology.pods.map((p) => [p.name, p.ip, p.hostNetwork]), [['h', '10.244.255.1', true]]);
});

test('a pod IP outside its node CIDR is accepted', (t) => {
  const topology = parseTopology([node('a'), pod('p', 'a', '10.77.0.1')]);
  t.is(topology.pods[0]?.ip, '10.77.0.1');
});

const BROKEN = `
kind: Node
metadata: { name: a }
spec: { podCIDR: 10.244.0.1/24 }
---
kind: Node
metadata: { name: a }
---
kind: Node
metadata: {}
---
kind: Pod
metadata: { name: p1 }
spec: { nodeName: z }
---
kind: Pod
metadata: { name: p2 }
---
kind: Pod
metadata: { name: p3 }
spec: { nodeName: a }
status: { podIP: fe80::1 }
---
kind: Pod
metadata: { name: p4, namespace: x }
spec: { nodeName: a }
status: { podIP: 10.244.0.9 }
---
kind: Pod
metadata: { name: p4, namespace: y }
spec: { nodeName: a }
status: { podIP: 10.244.0.9 }
---
kind: Pod
metadata: { name: p5 }
spec: { nodeName: a }
status: { podIP: 127.0.0.1 }
---
kind: Pod
metadata: { name: p6 }
spec: { nodeName: a, hostNetwork: true }
status: { podIP: 10.244.0.50 }
---
- not an object
---
kind: Pod
metadata: { name: [unclosed
`;

test('every problem is reported at once, with document and field', (t) => {
  t.deepEqual(problems(BROKEN), [
    'document 10: not a Kubernetes object',
    'document 11: Flow sequence in block collection must be sufficiently indented and end with a ] at line 48, column 1:',
    'document 11: Flow map in block collection must be sufficiently indented and end with a } at line 48, column 1:',
    'document 0 (Node a): spec.podCIDR: 10.244.0.1/24 has host bits set',
    'document 1 (Node a): metadata.name: a second Node named a',
    'document 2 (Node): metadata.name: a Node needs a name',
    'document 3 (Pod p1): spec.nodeName: no Node named z (nodes: a)',
    'document 4 (Pod p2): spec.nodeName: missing; every pod must be scheduled on a node',
    'document 5 (Pod p3): status.podIP: "fe80::1" is not an IPv4 address',
    'document 7 (Pod p4): metadata.name: a second Pod named p4; pod names must be unique across namespaces',
    'document 7 (Pod p4): status.podIP: 10.244.0.9 is already the address of Pod x/p4',
    "document 8 (Pod p5): status.podIP: 127.0.0.1 cannot be a pod's address",
    "document 9 (Pod p6): status.podIP: a host-network pod has its node's IP 10.244.255.1, not 10.244.0.50",
  ]);
});

test('no Node at all, overlapping pod CIDRs and taken node addresses are errors', (t) => {
  t.deepEqual(problems([pod('p', 'a')]), [
    'no Node objects: a cluster needs at least one node',
    'object 0 (Pod p): spec.nodeName: no Node named a (nodes: )',
  ]);
  t.deepEqual(
    problems([
      node('a', { spec: { podCIDR: '10.244.0.0/16' } }),
      node('b', { status: { addresses: [{ type: 'InternalIP', address: '127.0.0.2' }] } }),
      node('c', { status: { addresses: [{ type: 'InternalIP', address: '10.1.1.1' }] } }),
      node('d', { status: { addresses: [{ type: 'InternalIP', address: '10.1.1.1' }] }, spec: { podCIDR: 'ten' } }),
      42,
    ]),
    [
      'object 4: not a Kubernetes object',
      "object 1 (Node b): status.addresses[InternalIP]: 127.0.0.2 cannot be a node's address",
      'object 3 (Node d): status.addresses[InternalIP]: 10.1.1.1 is already the address of Node c',
      'object 3 (Node d): spec.podCIDR: "ten" is not an IPv4 CIDR from /8 to /30',
      'Node b: pod CIDR 10.244.1.0/24 overlaps 10.244.0.0/16 of Node a',
      'Node c: pod CIDR 10.244.2.0/24 overlaps 10.244.0.0/16 of Node a',
      'Node d: pod CIDR 10.244.3.0/24 overlaps 10.244.0.0/16 of Node a',
    ],
  );
});

test('a full pod CIDR is reported', (t) => {
  const pods = Array.from({ length: 3 }, (_, i) => pod(`p${i}`, 'a'));
  t.deepEqual(problems([node('a', { spec: { podCIDR: '10.5.0.0/30' } }), ...pods]), [
    'object 2 (Pod p1): status.podIP: no free address left in 10.5.0.0/30 of Node a',
    'object 3 (Pod p2): status.podIP: no free address left in 10.5.0.0/30 of Node a',
  ]);
});
