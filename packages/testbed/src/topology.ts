/**
 * The cluster shape, read from the same Kubernetes YAML the control plane reads. Only what the network needs:
 * `Node` (name, optional `status.addresses[InternalIP]`, optional `spec.podCIDR`) and `Pod` (name, namespace,
 * `spec.nodeName`, optional `status.podIP`, `spec.hostNetwork`). Other kinds are ignored. Every problem is
 * gathered into one TESTBED_ERR_TOPOLOGY error, each with its document and field.
 *
 * Defaults: node i gets 10.244.255.(i+1) on the fabric and the pod CIDR 10.244.i.0/24; a pod without a podIP
 * gets the lowest free address of its node's CIDR from .2 up. IPv4 only.
 */
import { isIPv4 } from 'node:net';
import { parseAllDocuments } from 'yaml';
import { TestbedError } from './errors.js';
import { contains, formatCidr, hosts, isUnicast, overlaps, parseCidr, toInt, toIp } from './ipv4.js';
import type { Cidr } from './ipv4.js';

export interface NodeSpec {
  readonly name: string;
  /** Position in the input, from 0: names the node's namespace (`…-n<index>`). */
  readonly index: number;
  /** The node's address on the fabric. */
  readonly ip: string;
  /** Pods of this node are routed here by the other nodes, e.g. `10.244.0.0/24`. */
  readonly podCidr: string;
}

export interface PodSpec {
  readonly name: string;
  readonly namespace: string;
  /** Position among the pods, from 0: names the pod's namespace (`…-p<index>`) and its node-side veth. */
  readonly index: number;
  /** The node's name. */
  readonly node: string;
  readonly ip: string;
  /** A host-network pod lives in its node's namespace and has the node's IP. */
  readonly hostNetwork: boolean;
}

export interface Topology {
  readonly nodes: readonly NodeSpec[];
  readonly pods: readonly PodSpec[];
}

/** Up to 254 nodes: one fabric /24 and one 10.244.<i>.0/24 each. */
const MAX_NODES = 254;
const FABRIC = 0x0af4ff00; // 10.244.255.0

interface Located {
  readonly where: string;
  readonly object: Record<string, unknown>;
}

/** Reads the cluster from YAML text (any number of documents, `kind: List` too) or already-parsed objects. */
export function parseTopology(input: string | readonly unknown[]): Topology {
  const problems: string[] = [];
  const objects = typeof input === 'string' ? fromYaml(input, problems) : fromObjects(input, problems);
  const nodeObjects = objects.filter((o) => o.object['kind'] === 'Node');
  const podObjects = objects.filter((o) => o.object['kind'] === 'Pod');
  if (nodeObjects.length === 0) problems.push('no Node objects: a cluster needs at least one node');
  if (nodeObjects.length > MAX_NODES) problems.push(`${nodeObjects.length} nodes: at most ${MAX_NODES} are supported`);

  const taken = new Map<number, string>();
  const nodes = readNodes(nodeObjects, taken, problems);
  const pods = readPods(podObjects, nodes, taken, problems);
  if (problems.length > 0) {
    throw new TestbedError('TESTBED_ERR_TOPOLOGY', `invalid cluster topology:\n  ${problems.join('\n  ')}`);
  }
  return { nodes: nodes.map(({ cidr: _cidr, ...node }) => node), pods };
}

function fromYaml(text: string, problems: string[]): Located[] {
  const out: Located[] = [];
  parseAllDocuments(text).forEach((doc, index) => {
    if (doc.errors.length > 0) {
      for (const err of doc.errors) problems.push(`document ${index}: ${err.message.split('\n')[0] ?? ''}`);
      return;
    }
    addObject(doc.toJS() as unknown, `document ${index}`, out, problems);
  });
  return out;
}

function fromObjects(input: readonly unknown[], problems: string[]): Located[] {
  const out: Located[] = [];
  input.forEach((object, index) => addObject(object, `object ${index}`, out, problems));
  return out;
}

function addObject(value: unknown, where: string, out: Located[], problems: string[]): void {
  if (value === null || value === undefined) return; // an empty document
  if (!isRecord(value)) {
    problems.push(`${where}: not a Kubernetes object`);
    return;
  }
  if (value['kind'] === 'List' && Array.isArray(value['items'])) {
    value['items'].forEach((item, i) => addObject(item, `${where} items[${i}]`, out, problems));
    return;
  }
  const metadata = value['metadata'];
  const name = isRecord(metadata) ? metadata['name'] : undefined;
  const label = typeof name === 'string' ? `${String(value['kind'])} ${name}` : String(value['kind']);
  out.push({ where: `${where} (${label})`, object: value });
}

interface NodeDraft extends NodeSpec {
  readonly cidr: Cidr;
}

function readNodes(objects: readonly Located[], taken: Map<number, string>, problems: string[]): NodeDraft[] {
  const drafts: { name: string; ip?: number; cidr?: Cidr }[] = [];
  const seen = new Set<string>();
  objects.forEach(({ where, object }) => {
    const name = field(object, ['metadata', 'name']);
    if (typeof name !== 'string' || name === '') {
      problems.push(`${where}: metadata.name: a Node needs a name`);
      return;
    }
    if (seen.has(name)) {
      problems.push(`${where}: metadata.name: a second Node named ${name}`);
      return;
    }
    seen.add(name);
    const draft: { name: string; ip?: number; cidr?: Cidr } = { name };
    const addresses = field(object, ['status', 'addresses']);
    const internal: unknown = Array.isArray(addresses)
      ? (addresses as unknown[]).find((a) => isRecord(a) && a['type'] === 'InternalIP' && typeof a['address'] === 'string' && isIPv4(a['address']))
      : undefined;
    if (isRecord(internal)) {
      const ip = toInt(internal['address'] as string);
      if (!isUnicast(ip)) problems.push(`${where}: status.addresses[InternalIP]: ${toIp(ip)} cannot be a node's address`);
      else if (claim(taken, ip, `Node ${name}`, `${where}: status.addresses[InternalIP]`, problems)) draft.ip = ip;
    }
    const podCidr = field(object, ['spec', 'podCIDR']);
    if (podCidr !== undefined) {
      const cidr = typeof podCidr === 'string' ? parseCidr(podCidr) : 'not a string';
      if (typeof cidr === 'string') problems.push(`${where}: spec.podCIDR: ${cidr}`);
      else draft.cidr = cidr;
    }
    drafts.push(draft);
  });

  // Defaults fill in around whatever the input fixed.
  let nextIp = FABRIC + 1;
  const nodes: NodeDraft[] = drafts.map((draft, index) => {
    let ip = draft.ip;
    if (ip === undefined) {
      while (taken.has(nextIp)) nextIp++;
      ip = nextIp;
      taken.set(ip, `Node ${draft.name}`);
    }
    const cidr = draft.cidr ?? { network: 0x0af40000 + index * 256, bits: 24 };
    return { name: draft.name, index, ip: toIp(ip), podCidr: formatCidr(cidr), cidr };
  });
  for (let i = 0; i < nodes.length; i++) {
    for (let j = i + 1; j < nodes.length; j++) {
      const [a, b] = [nodes[i]!, nodes[j]!];
      if (overlaps(a.cidr, b.cidr)) problems.push(`Node ${b.name}: pod CIDR ${b.podCidr} overlaps ${a.podCidr} of Node ${a.name}`);
    }
  }
  return nodes;
}

function readPods(objects: readonly Located[], nodes: readonly NodeDraft[], taken: Map<number, string>, problems: string[]): PodSpec[] {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const seen = new Set<string>();
  const pending: { where: string; name: string; namespace: string; node: NodeDraft; ip?: number; hostNetwork: boolean }[] = [];
  for (const { where, object } of objects) {
    const name = field(object, ['metadata', 'name']);
    if (typeof name !== 'string' || name === '') {
      problems.push(`${where}: metadata.name: a Pod needs a name`);
      continue;
    }
    // Pods are looked up by name alone (cluster.pods), so the name must be unique across namespaces.
    if (seen.has(name)) problems.push(`${where}: metadata.name: a second Pod named ${name}; pod names must be unique across namespaces`);
    seen.add(name);
    const namespaceValue = field(object, ['metadata', 'namespace']);
    const namespace = typeof namespaceValue === 'string' && namespaceValue !== '' ? namespaceValue : 'default';
    const nodeName = field(object, ['spec', 'nodeName']);
    const node = typeof nodeName === 'string' ? byName.get(nodeName) : undefined;
    if (node === undefined) {
      const known = nodes.map((n) => n.name).join(', ');
      problems.push(
        typeof nodeName === 'string'
          ? `${where}: spec.nodeName: no Node named ${nodeName} (nodes: ${known})`
          : `${where}: spec.nodeName: missing; every pod must be scheduled on a node`,
      );
      continue;
    }
    const hostNetwork = field(object, ['spec', 'hostNetwork']) === true;
    const podIp = field(object, ['status', 'podIP']);
    const entry: (typeof pending)[number] = { where, name, namespace, node, hostNetwork };
    if (podIp !== undefined) {
      if (typeof podIp !== 'string' || !isIPv4(podIp)) {
        problems.push(`${where}: status.podIP: ${JSON.stringify(podIp)} is not an IPv4 address`);
        continue;
      }
      const ip = toInt(podIp);
      if (hostNetwork) {
        if (podIp !== node.ip) problems.push(`${where}: status.podIP: a host-network pod has its node's IP ${node.ip}, not ${podIp}`);
      } else if (!isUnicast(ip)) {
        problems.push(`${where}: status.podIP: ${podIp} cannot be a pod's address`);
        continue;
      } else if (!claim(taken, ip, `Pod ${namespace}/${name}`, `${where}: status.podIP`, problems)) {
        continue;
      }
      entry.ip = ip;
    }
    pending.push(entry);
  }

  return pending.map((p, index) => {
    let ip = p.hostNetwork ? toInt(p.node.ip) : p.ip;
    if (ip === undefined) {
      ip = firstFree(p.node.cidr, taken);
      if (ip === undefined) {
        problems.push(`${p.where}: status.podIP: no free address left in ${p.node.podCidr} of Node ${p.node.name}`);
        ip = 0;
      } else {
        taken.set(ip, `Pod ${p.namespace}/${p.name}`);
      }
    }
    return { name: p.name, namespace: p.namespace, index, node: p.node.name, ip: toIp(ip), hostNetwork: p.hostNetwork };
  });
}

/** Whether a pod's address is outside its node's pod CIDR (then the other nodes need a /32 route to it). */
export function outsideNodeCidr(pod: PodSpec, node: NodeSpec): boolean {
  const cidr = parseCidr(node.podCidr);
  return typeof cidr === 'string' || !contains(cidr, toInt(pod.ip));
}

function firstFree(cidr: Cidr, taken: ReadonlyMap<number, string>): number | undefined {
  for (const ip of hosts(cidr)) if (!taken.has(ip)) return ip;
  return undefined;
}

function claim(taken: Map<number, string>, ip: number, owner: string, where: string, problems: string[]): boolean {
  const holder = taken.get(ip);
  if (holder !== undefined) {
    problems.push(`${where}: ${toIp(ip)} is already the address of ${holder}`);
    return false;
  }
  taken.set(ip, owner);
  return true;
}

function field(object: Record<string, unknown>, path: readonly string[]): unknown {
  let value: unknown = object;
  for (const key of path) value = isRecord(value) ? value[key] : undefined;
  return value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
