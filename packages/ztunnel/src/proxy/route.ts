/**
 * Where one captured outbound connection goes, decided against one snapshot (ztunnel `src/proxy/outbound.rs`,
 * "build_request"), in this order:
 *
 * 1. the destination is a service VIP:
 *    - with a waypoint (or weighted waypoints) that the source is not itself part of → HBONE to the waypoint
 *      (`waypointIP:15008`, expecting the waypoint workload's identity), `:authority` the original VIP:port;
 *    - load-balancing mode PASSTHROUGH → plain TCP to the original destination;
 *    - otherwise an endpoint is chosen (`load-balance.ts`); none → refused (no healthy upstream);
 * 2. otherwise the destination IP is matched against workloads; no match → plain TCP passthrough (outside the
 *    mesh); a workload addressed directly that has a waypoint → HBONE to that waypoint, `:authority` the
 *    original address;
 * 3. the chosen workload: tunnel protocol NONE → plain TCP to `ip:targetPort`; HBONE → `ip:15008` with
 *    `:authority ip:targetPort`, expecting the workload's identity plus the service's SANs.
 *
 * Not supported (refused with a reason): workloads and waypoints in other networks (double HBONE through an
 * east-west gateway) and hostname-only workloads (on-demand DNS).
 */
import { isIPv4 } from 'node:net';
import { Identity } from '@ambit/mesh-core/identity';
import type { GatewayAddress, Service, Workload } from '../state/model.js';
import type { ProxySnapshot } from '../state/snapshot.js';
import { selectEndpoint, type Random } from './load-balance.js';

/** `ip` + port, the original destination or an upstream. */
export interface Target {
  readonly host: string;
  readonly port: number;
}

/** Tunnel through HBONE. */
export interface HboneRoute {
  readonly kind: 'hbone';
  /** The HBONE server: `podIP:15008` or `waypointIP:15008`. */
  readonly hbone: Target;
  /** `:authority`: `podIP:targetPort`, or the original destination when going through a waypoint. */
  readonly authority: string;
  readonly expectedIdentities: readonly Identity[];
  /** The workload the tunnel ends at: the destination pod, or the waypoint. */
  readonly workload: Workload;
  /** The service addressed, if the destination was a VIP. */
  readonly service: Service | undefined;
  /** Whether `workload` is a waypoint in front of the destination. */
  readonly viaWaypoint: boolean;
}

/** Plain TCP to `target`. */
export interface PassthroughRoute {
  readonly kind: 'passthrough';
  readonly target: Target;
  /** The destination workload when known (tunnel protocol NONE). */
  readonly workload: Workload | undefined;
  readonly service: Service | undefined;
  /** `unknown`: outside the mesh; `no-tunnel`: a workload without HBONE; `lb-passthrough`: the service asks for it. */
  readonly reason: 'unknown' | 'no-tunnel' | 'lb-passthrough';
}

/** The connection cannot be served. */
export interface RefusedRoute {
  readonly kind: 'refused';
  readonly reason: string;
  readonly service: Service | undefined;
  readonly workload: Workload | undefined;
}

export type OutboundRoute = HboneRoute | PassthroughRoute | RefusedRoute;

export interface RouteOptions {
  /** This ztunnel's network (`''`: the default). */
  readonly network: string;
  readonly random: Random;
  /** The HBONE port of pods (15008). */
  readonly hbonePort: number;
}

function refused(reason: string, service: Service | undefined, workload: Workload | undefined = undefined): RefusedRoute {
  return { kind: 'refused', reason, service, workload };
}

/** SANs that are SPIFFE identities; others cannot be checked against a peer and are skipped. */
function serviceIdentities(service: Service | undefined): Identity[] {
  if (service === undefined) return [];
  const out: Identity[] = [];
  for (const san of service.subjectAltNames) {
    const id = Identity.tryParse(san.startsWith('spiffe://') ? san : `spiffe://${san}`);
    if (id !== undefined) out.push(id);
  }
  return out;
}

/** The waypoint workload a gateway address designates, chosen among a waypoint service's endpoints if need be. */
function resolveWaypoint(
  snapshot: ProxySnapshot,
  gateway: GatewayAddress,
  source: Workload,
  options: RouteOptions,
  preferV4: boolean,
): { workload: Workload; address: string; port: number } | string {
  const port = gateway.hboneMtlsPort === 0 ? options.hbonePort : gateway.hboneMtlsPort;
  let service: Service | undefined;
  if (gateway.kind === 'address') {
    if (gateway.address.network !== options.network) return `waypoint ${gateway.address.address} is in network "${gateway.address.network}" (no cross-network support)`;
    const direct = snapshot.findWorkloadByIp(gateway.address.address, gateway.address.network);
    if (direct !== undefined) return { workload: direct, address: gateway.address.address, port };
    service = snapshot.findServiceByVip(gateway.address.address, gateway.address.network);
    if (service === undefined) return `waypoint ${gateway.address.address} is neither a known workload nor a service`;
  } else {
    service = snapshot.findService(`${gateway.namespace}/${gateway.hostname}`);
    if (service === undefined) return `waypoint service ${gateway.namespace}/${gateway.hostname} is not known`;
  }
  const chosen = selectEndpoint(snapshot, service, port, source, { network: options.network, preferV4, random: options.random });
  if (chosen === undefined) return `waypoint service ${service.key} has no healthy endpoint for port ${port}`;
  return { workload: chosen.workload, address: chosen.address, port: chosen.targetPort };
}

/** Whether `source` is itself one of the waypoint's workloads (a waypoint's own traffic skips it). */
function isWaypointItself(snapshot: ProxySnapshot, gateway: GatewayAddress, source: Workload): boolean {
  if (gateway.kind === 'address') {
    if (source.addresses.includes(gateway.address.address)) return true;
    const svc = snapshot.findServiceByVip(gateway.address.address, gateway.address.network);
    return svc !== undefined && snapshot.serviceEndpoints(svc.key).has(source.uid);
  }
  return snapshot.serviceEndpoints(`${gateway.namespace}/${gateway.hostname}`).has(source.uid);
}

/** A weighted choice among `weighted_waypoints`, else the single waypoint. */
function waypointOf(service: Service, random: Random): GatewayAddress | undefined {
  const list = service.weightedWaypoints;
  if (list.length === 0) return service.waypoint;
  let total = 0;
  for (const w of list) total += w.weight;
  if (total <= 0) return service.waypoint ?? list[0]!.destination;
  let point = random() * total;
  for (const w of list) {
    if (point < w.weight) return w.destination;
    point -= w.weight;
  }
  return list[list.length - 1]!.destination;
}

function viaWaypoint(
  snapshot: ProxySnapshot,
  gateway: GatewayAddress,
  source: Workload,
  destination: Target,
  service: Service | undefined,
  options: RouteOptions,
): OutboundRoute {
  const preferV4 = isIPv4(destination.host);
  const waypoint = resolveWaypoint(snapshot, gateway, source, options, preferV4);
  if (typeof waypoint === 'string') return refused(waypoint, service);
  return {
    kind: 'hbone',
    hbone: { host: waypoint.address, port: waypoint.port },
    authority: formatHostPort(destination.host, destination.port),
    expectedIdentities: [waypoint.workload.identity],
    workload: waypoint.workload,
    service,
    viaWaypoint: true,
  };
}

function toWorkload(workload: Workload, address: string, targetPort: number, service: Service | undefined, options: RouteOptions): OutboundRoute {
  if (workload.tunnelProtocol === 'NONE') {
    return { kind: 'passthrough', target: { host: address, port: targetPort }, workload, service, reason: 'no-tunnel' };
  }
  const expected = [workload.identity];
  for (const id of serviceIdentities(service)) if (!expected.some((e) => e.equals(id))) expected.push(id);
  return {
    kind: 'hbone',
    hbone: { host: address, port: options.hbonePort },
    authority: formatHostPort(address, targetPort),
    expectedIdentities: expected,
    workload,
    service,
    viaWaypoint: false,
  };
}

/** Decides where a connection from `source` (a local mesh workload) to `destination` goes. */
export function routeOutbound(snapshot: ProxySnapshot, source: Workload, destination: Target, options: RouteOptions): OutboundRoute {
  const preferV4 = isIPv4(destination.host);
  const service = snapshot.findServiceByVip(destination.host, options.network);
  if (service !== undefined) {
    const gateway = waypointOf(service, options.random);
    if (gateway !== undefined && !isWaypointItself(snapshot, gateway, source)) {
      return viaWaypoint(snapshot, gateway, source, destination, service, options);
    }
    if (service.loadBalancing?.mode === 'PASSTHROUGH') {
      return { kind: 'passthrough', target: destination, workload: undefined, service, reason: 'lb-passthrough' };
    }
    const chosen = selectEndpoint(snapshot, service, destination.port, source, { network: options.network, preferV4, random: options.random });
    if (chosen === undefined) return refused(`no healthy upstream: service ${service.key} has no endpoint serving port ${destination.port}`, service);
    return toWorkload(chosen.workload, chosen.address, chosen.targetPort, service, options);
  }
  const workload = snapshot.findWorkloadByIp(destination.host, options.network);
  if (workload === undefined) return { kind: 'passthrough', target: destination, workload: undefined, service: undefined, reason: 'unknown' };
  if (workload.waypoint !== undefined && workload.tunnelProtocol === 'HBONE' && !isWaypointItself(snapshot, workload.waypoint, source)) {
    return viaWaypoint(snapshot, workload.waypoint, source, destination, undefined, options);
  }
  // Addressed directly: the pod is reached at the address that was dialled.
  return toWorkload(workload, destination.host, destination.port, undefined, options);
}

/** `ip:port`, bracketing IPv6. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
