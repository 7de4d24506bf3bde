/**
 * Builds a cluster's network, all of it inside namespaces (the root namespace only gets their /run/netns names):
 *
 *   fabric ns:  bridge br0 with one port n<i> per node
 *   node ns:    eth0 = <node IP>/32 on the bridge; a /32 route to every other node and a route to each other
 *               node's pod CIDR via that node (plus /32s for pods outside their node's CIDR); veth<j> per pod
 *               with a /32 route to the pod; ip_forward on, rp_filter off (TPROXY and spoofed sources need it)
 *   pod ns:     eth0 = <pod IP>/32, default route via its node's IP (on-link); rp_filter off (for in-pod capture)
 *
 * /32 addresses with explicit routes work for whatever addresses the YAML gives, with no shared subnet needed.
 */
import type { Logger } from '@ambit/mesh-core/telemetry';
import { names } from './names.js';
import { run } from './shell.js';
import type { NodeSpec, PodSpec, Topology } from './topology.js';
import { outsideNodeCidr } from './topology.js';

/**
 * Builds everything in order; on failure the caller removes the run by its prefix, which finds every namespace
 * made so far.
 */
export async function buildNetwork(prefix: string, topology: Topology, logger: Logger): Promise<void> {
  const fabric = names.fabric(prefix);
  await addNamespace(fabric, logger);
  await ip(logger, fabric, 'link', 'add', names.bridge, 'type', 'bridge');
  await ip(logger, fabric, 'link', 'set', names.bridge, 'up');

  for (const node of topology.nodes) await buildNode(prefix, node, fabric, logger);
  for (const node of topology.nodes) await routeToOtherNodes(prefix, node, topology, logger);
  for (const pod of topology.pods) {
    const node = topology.nodes.find((n) => n.name === pod.node)!;
    if (!pod.hostNetwork) await buildPod(prefix, pod, node, logger);
  }
}

async function buildNode(prefix: string, node: NodeSpec, fabric: string, logger: Logger): Promise<void> {
  const ns = names.node(prefix, node.index);
  await addNamespace(ns, logger);
  await sysctl(ns, 'net.ipv4.ip_forward=1', ...NO_RP_FILTER);
  const port = names.fabricPort(node.index);
  await ip(logger, fabric, 'link', 'add', port, 'type', 'veth', 'peer', 'name', names.uplink, 'netns', ns);
  await ip(logger, fabric, 'link', 'set', port, 'master', names.bridge, 'up');
  await ip(logger, ns, 'addr', 'add', `${node.ip}/32`, 'dev', names.uplink);
  await ip(logger, ns, 'link', 'set', names.uplink, 'up');
}

async function routeToOtherNodes(prefix: string, node: NodeSpec, topology: Topology, logger: Logger): Promise<void> {
  const ns = names.node(prefix, node.index);
  for (const other of topology.nodes) {
    if (other === node) continue;
    await ip(logger, ns, 'route', 'add', `${other.ip}/32`, 'dev', names.uplink, 'scope', 'link');
    await ip(logger, ns, 'route', 'add', other.podCidr, 'via', other.ip, 'dev', names.uplink);
    for (const pod of topology.pods) {
      if (pod.node === other.name && !pod.hostNetwork && outsideNodeCidr(pod, other)) {
        await ip(logger, ns, 'route', 'add', `${pod.ip}/32`, 'via', other.ip, 'dev', names.uplink);
      }
    }
  }
}

async function buildPod(prefix: string, pod: PodSpec, node: NodeSpec, logger: Logger): Promise<void> {
  const ns = names.pod(prefix, pod.index);
  const nodeNs = names.node(prefix, node.index);
  const veth = names.podInterface(pod.index);
  await addNamespace(ns, logger);
  await sysctl(ns, ...NO_RP_FILTER);
  await ip(logger, nodeNs, 'link', 'add', veth, 'type', 'veth', 'peer', 'name', names.uplink, 'netns', ns);
  await ip(logger, ns, 'addr', 'add', `${pod.ip}/32`, 'dev', names.uplink);
  await ip(logger, ns, 'link', 'set', names.uplink, 'up');
  await ip(logger, ns, 'route', 'add', 'default', 'via', node.ip, 'dev', names.uplink, 'onlink');
  await ip(logger, nodeNs, 'link', 'set', veth, 'up');
  await ip(logger, nodeNs, 'route', 'add', `${pod.ip}/32`, 'dev', veth);
}

/**
 * Set before any interface exists, so each new one inherits 0 from `default`. New namespaces copy IPv4
 * settings from the host's, which may filter (systemd sets 2); TPROXY and spoofed sources need it off, and
 * off everywhere keeps the testbed the same on every machine.
 */
const NO_RP_FILTER = ['net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0'];

async function sysctl(ns: string, ...settings: string[]): Promise<void> {
  await run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', ...settings]);
}

async function addNamespace(ns: string, logger: Logger): Promise<void> {
  logger.debug({ ns }, 'adding namespace');
  await run('ip', ['netns', 'add', ns]);
  await ip(logger, ns, 'link', 'set', 'lo', 'up');
}

async function ip(logger: Logger, ns: string, ...args: string[]): Promise<void> {
  logger.debug({ ns, cmd: `ip ${args.join(' ')}` }, 'network');
  await run('ip', ['-n', ns, ...args]);
}
