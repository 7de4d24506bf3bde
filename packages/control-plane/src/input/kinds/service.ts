/**
 * Service: VIPs, ports (numeric or named target ports), selector and the fields that shape load balancing.
 * Validation follows the API server's rules that matter to the mesh: port ranges, unique port names when
 * there are several ports, `clusterIPs[0] == clusterIP`, and a missing `targetPort` defaulting to `port`.
 */
import type { Field } from '../field.js';
import { checkIp, ipToBytes } from '../ip.js';
import { decodeMatchLabels } from '../metadata.js';
import { checkDns1035Label, checkDns1123Label, checkPortName } from '../names.js';
import type { ServiceObject, ServicePort, ServiceType } from '../objects.js';
import type { KindDecoder } from '../registry.js';

const TYPES: readonly ServiceType[] = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'];
const PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;

export const serviceDecoder: KindDecoder<ServiceObject> = {
  kind: 'Service',
  apiVersions: ['v1'],
  namespaced: true,
  checkName: checkDns1035Label,
  decode(doc, { apiVersion, metadata, source }) {
    const spec = doc.child('spec');
    spec.object(true);
    const type = spec.child('type').oneOf(TYPES) ?? 'ClusterIP';
    const { clusterIPs, headless } = decodeClusterIPs(spec);
    const ports = decodePorts(spec.child('ports'));
    const selectorField = spec.child('selector');
    const selector = decodeMatchLabels(selectorField);
    const ipFamilies = spec.child('ipFamilies').list()?.map((f) => f.oneOf(['IPv4', 'IPv6'] as const, true)) ?? [];
    const trafficDistribution = spec.child('trafficDistribution').string();
    const internalTrafficPolicy = spec.child('internalTrafficPolicy').oneOf(['Cluster', 'Local'] as const);
    const publishNotReadyAddresses = spec.child('publishNotReadyAddresses').boolean() ?? false;

    return {
      kind: 'Service',
      apiVersion,
      metadata,
      source,
      type,
      clusterIPs,
      headless,
      ports,
      // An empty selector selects nothing in Kubernetes (the endpoints controller skips it).
      ...(selector !== undefined && Object.keys(selector).length > 0 ? { selector } : {}),
      ipFamilies: ipFamilies.filter((f): f is 'IPv4' | 'IPv6' => f !== undefined),
      ...(trafficDistribution !== undefined ? { trafficDistribution } : {}),
      ...(internalTrafficPolicy !== undefined ? { internalTrafficPolicy } : {}),
      publishNotReadyAddresses,
    };
  },
};

function decodeClusterIPs(spec: Field): { clusterIPs: string[]; headless: boolean } {
  const checkVip = (v: string): string | undefined => (v === 'None' ? undefined : checkIp(v));
  const single = spec.child('clusterIP').string({ check: checkVip });
  const listField = spec.child('clusterIPs');
  const list = listField.stringList({ check: checkVip });
  if (single !== undefined && list !== undefined && list.length > 0 && list[0] !== single) {
    listField.child(0).error(`must equal spec.clusterIP (${single}): the first of clusterIPs is the primary VIP`);
  }
  const all = list !== undefined && list.length > 0 ? list : single !== undefined && single.length > 0 ? [single] : [];
  const headless = all.includes('None');
  if (headless && all.length > 1) listField.error('"None" (headless) cannot be combined with IP addresses');
  const ips = all.filter((ip) => ip !== 'None');
  if (ips.length === 2 && ipToBytes(ips[0]!)?.length === ipToBytes(ips[1]!)?.length) {
    listField.error('may hold at most one IPv4 and one IPv6 address');
  } else if (ips.length > 2) {
    listField.error('may hold at most one IPv4 and one IPv6 address');
  }
  return { clusterIPs: ips, headless };
}

function decodePorts(field: Field): ServicePort[] {
  const items = field.list() ?? [];
  const out: ServicePort[] = [];
  const names = new Map<string, number>();
  const numbers = new Map<string, number>();
  items.forEach((item, index) => {
    item.object(true);
    const nameField = item.child('name');
    const name = nameField.string({ check: checkDns1123Label });
    if (items.length > 1 && !nameField.present) nameField.error('is required when a Service has more than one port');
    if (name !== undefined) {
      const previous = names.get(name);
      if (previous !== undefined) nameField.error(`duplicates the name of spec.ports[${previous}]`);
      else names.set(name, index);
    }
    const port = item.child('port').integer({ required: true, min: 1, max: 65535 });
    const protocol = item.child('protocol').oneOf(PROTOCOLS) ?? 'TCP';
    if (port !== undefined) {
      const key = `${port}/${protocol}`;
      const previous = numbers.get(key);
      if (previous !== undefined) item.child('port').error(`duplicates port ${key} of spec.ports[${previous}]`);
      else numbers.set(key, index);
    }
    const targetPort = decodeTargetPort(item.child('targetPort'));
    const appProtocol = item.child('appProtocol').string();
    if (port === undefined || targetPort === null) return;
    out.push({
      ...(name !== undefined ? { name } : {}),
      port,
      targetPort: targetPort ?? port,
      protocol,
      ...(appProtocol !== undefined ? { appProtocol } : {}),
    });
  });
  return out;
}

/** A port number or a container port name; undefined when absent (defaults to `port`), null when invalid. */
function decodeTargetPort(field: Field): number | string | undefined | null {
  if (!field.present) return undefined;
  if (typeof field.value === 'string') {
    if (/^\d+$/.test(field.value)) {
      // Kubernetes keeps a quoted number as a port *name*, which then fails its name syntax.
      field.error(`${JSON.stringify(field.value)} is a quoted number: write ${field.value} without quotes for a port number`);
      return null;
    }
    return field.string({ check: checkPortName }) ?? null;
  }
  return field.integer({ min: 1, max: 65535 }) ?? null;
}
