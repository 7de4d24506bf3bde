/**
 * Pod: where it runs, under which identity, its IPs, phase and readiness, and its named container ports.
 *
 * Hand-written pods often omit `status`; the defaults are chosen so that a pod with just an IP serves:
 * a missing phase is `Running`, and a Running pod without any `status.conditions` counts as ready (a pod
 * that lists conditions is ready only with `Ready: "True"`, as in Kubernetes).
 */
import type { Field } from '../field.js';
import { checkIp, ipToBytes } from '../ip.js';
import { checkDns1123Subdomain, checkPortName } from '../names.js';
import type { ContainerPort, PodObject, PodPhase } from '../objects.js';
import type { KindDecoder } from '../registry.js';

const PHASES: readonly PodPhase[] = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'];
const PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;

export const podDecoder: KindDecoder<PodObject> = {
  kind: 'Pod',
  apiVersions: ['v1'],
  namespaced: true,
  checkName: checkDns1123Subdomain,
  decode(doc, { apiVersion, metadata, source }) {
    const spec = doc.child('spec');
    spec.object();
    const nodeName = spec.child('nodeName').string({ check: checkDns1123Subdomain });
    // `serviceAccount` is the deprecated spelling; Kubernetes still accepts it.
    const serviceAccountName =
      spec.child('serviceAccountName').string({ check: checkDns1123Subdomain }) ??
      spec.child('serviceAccount').string({ check: checkDns1123Subdomain }) ??
      'default';
    const hostNetwork = spec.child('hostNetwork').boolean() ?? false;
    const containerPorts = [
      ...decodeContainerPorts(spec.child('initContainers')),
      ...decodeContainerPorts(spec.child('containers')),
    ];

    const status = doc.child('status');
    status.object();
    const phase = status.child('phase').oneOf(PHASES) ?? 'Running';
    const podIPs = decodePodIPs(status);
    if (phase === 'Running' && podIPs.length === 0 && !status.child('podIP').present && !status.child('podIPs').present) {
      status.child('podIP').error('is required for a Running pod (set status.phase: Pending for a pod without an IP yet)');
    }
    const ready = decodeReady(status.child('conditions')) ?? phase === 'Running';

    return {
      kind: 'Pod',
      apiVersion,
      metadata,
      source,
      ...(nodeName !== undefined ? { nodeName } : {}),
      serviceAccountName,
      hostNetwork,
      phase,
      podIPs,
      ready,
      containerPorts,
    };
  },
};

function decodeContainerPorts(containers: Field): ContainerPort[] {
  const out: ContainerPort[] = [];
  for (const container of containers.list() ?? []) {
    container.object(true);
    for (const port of container.child('ports').list() ?? []) {
      port.object(true);
      const name = port.child('name').string({ check: checkPortName });
      const containerPort = port.child('containerPort').integer({ required: true, min: 1, max: 65535 });
      const protocol = port.child('protocol').oneOf(PROTOCOLS) ?? 'TCP';
      if (containerPort !== undefined) out.push({ ...(name !== undefined ? { name } : {}), containerPort, protocol });
    }
  }
  return out;
}

function decodePodIPs(status: Field): string[] {
  const podIP = status.child('podIP').string({ check: checkIp });
  const listField = status.child('podIPs');
  const list: string[] = [];
  for (const item of listField.list() ?? []) {
    item.object(true);
    const ip = item.child('ip').string({ required: true, check: checkIp });
    if (ip !== undefined) list.push(ip);
  }
  if (podIP !== undefined && list.length > 0 && !sameIp(list[0]!, podIP)) {
    listField.child(0).child('ip').error(`must equal status.podIP (${podIP}): the first of podIPs is the primary IP`);
  }
  if (list.length === 2 && ipToBytes(list[0]!)!.length === ipToBytes(list[1]!)!.length) {
    listField.error('may hold at most one IPv4 and one IPv6 address');
  } else if (list.length > 2) {
    listField.error('may hold at most one IPv4 and one IPv6 address');
  }
  if (list.length > 0) return list;
  return podIP !== undefined ? [podIP] : [];
}

function sameIp(a: string, b: string): boolean {
  const x = ipToBytes(a);
  const y = ipToBytes(b);
  return x !== undefined && y !== undefined && x.equals(y);
}

/** Whether the Ready condition is True; undefined when the pod lists no conditions at all. */
function decodeReady(conditions: Field): boolean | undefined {
  const items = conditions.list();
  if (items === undefined) return undefined;
  let ready = false;
  for (const item of items) {
    item.object(true);
    const type = item.child('type').string({ required: true });
    const status = item.child('status').oneOf(['True', 'False', 'Unknown'] as const, true);
    if (type === 'Ready' && status === 'True') ready = true;
  }
  return ready;
}
