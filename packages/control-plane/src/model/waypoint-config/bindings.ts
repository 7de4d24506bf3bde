/**
 * What each waypoint serves: one binding per (Service, port) whose traffic goes through it, with the
 * protocol the port declares, as Istio decides it: `appProtocol` first, else the port name's prefix
 * (`http-web` → http). HTTP-declared ports get an HTTP chain, other declared protocols a TCP chain, and
 * undeclared ports both (the waypoint sniffs).
 *
 * Only Services with a cluster IP are bound: a waypoint's chains match the VIP, and traffic to a headless
 * Service goes to pod IPs. Pods bound with `istio.io/waypoint-for: workload|all` get no chains yet (the
 * contract's `inbound-pod|…` chains need a cluster naming for pods that it does not define).
 */
import type { ServicePort } from '../../input/objects.js';
import type { ServiceInfo } from '../services.js';
import type { Waypoint } from '../waypoints.js';

export type PortProtocol = 'http' | 'http2' | 'tcp' | 'undeclared';

export interface Binding {
  readonly waypoint: Waypoint;
  readonly service: ServiceInfo;
  readonly port: ServicePort;
  readonly protocol: PortProtocol;
  readonly vips: readonly string[];
}

const HTTP1 = new Set(['http', 'kubernetes.io/ws']);
const HTTP2 = new Set(['http2', 'grpc', 'grpc-web', 'h2c', 'kubernetes.io/h2c']);
/** Protocols Istio knows that are not HTTP in clear text: a TCP chain only. */
const OPAQUE = new Set(['tcp', 'tls', 'https', 'kubernetes.io/wss', 'mongo', 'mysql', 'redis', 'udp']);

function classify(name: string | undefined): PortProtocol | undefined {
  if (name === undefined) return undefined;
  const lower = name.toLowerCase();
  if (HTTP1.has(lower)) return 'http';
  if (HTTP2.has(lower)) return 'http2';
  if (OPAQUE.has(lower)) return 'tcp';
  return undefined;
}

/** A port's protocol: its appProtocol, else the part of its name before the first `-`. */
export function portProtocol(port: ServicePort): PortProtocol {
  return classify(port.appProtocol) ?? classify(port.name?.split('-')[0]) ?? 'undeclared';
}

export function hasHttpChain(protocol: PortProtocol): boolean {
  return protocol !== 'tcp';
}

export function hasTcpChain(protocol: PortProtocol): boolean {
  return protocol === 'tcp' || protocol === 'undeclared';
}

/** `inbound-vip|<port>|<http|tcp>|<hostname>`: the filter chain's name (and its route configuration's). */
export function chainName(binding: Binding, kind: 'http' | 'tcp'): string {
  return `inbound-vip|${binding.port.port}|${kind}|${binding.service.hostname}`;
}

/** The bindings of every waypoint, by waypoint key, services sorted by resource name and ports in order. */
export function collectBindings(waypoints: readonly Waypoint[], services: readonly ServiceInfo[]): Map<string, Binding[]> {
  const out = new Map<string, Binding[]>();
  for (const waypoint of waypoints) out.set(`${waypoint.namespace}/${waypoint.name}`, []);
  const sorted = [...services].sort((a, b) => (a.resourceName < b.resourceName ? -1 : a.resourceName > b.resourceName ? 1 : 0));
  for (const service of sorted) {
    const waypoint = service.waypoint;
    if (waypoint === undefined || service.object.clusterIPs.length === 0) continue;
    const list = out.get(`${waypoint.namespace}/${waypoint.name}`);
    if (list === undefined) continue;
    for (const port of service.object.ports) {
      if (port.protocol !== 'TCP') continue;
      list.push({ waypoint, service, port, protocol: portProtocol(port), vips: service.object.clusterIPs });
    }
  }
  return out;
}
