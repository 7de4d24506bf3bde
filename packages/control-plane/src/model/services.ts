/**
 * Kubernetes Services → `istio.workload.Service`, as istiod builds them:
 *
 * - hostname `<name>.<namespace>.svc.<domainSuffix>`, resource name `<namespace>/<hostname>`;
 * - addresses: the cluster IPs (none for headless services, which are still sent so that pods carry them
 *   in their `services` map); ExternalName services are not part of the ambient model;
 * - ports: service port and numeric target port; a *named* target port is left 0 here and resolved per
 *   pod in the workload's `services` map;
 * - load balancing from `trafficDistribution: PreferClose` (or the older annotation),
 *   `internalTrafficPolicy: Local` and `publishNotReadyAddresses`;
 * - the waypoint from `istio.io/use-waypoint` (see `waypoints.ts`).
 *
 * Two Services claiming the same cluster IP cannot both be routed to: the later one is reported and left out.
 */
import type { IPFamilies, LoadBalancing, Port, Service } from '@ambit/protos';
import { bytesToIp, ipToBytes } from '../input/ip.js';
import type { ServiceObject } from '../input/objects.js';
import type { ModelContext } from './context.js';
import { TRAFFIC_DISTRIBUTION_ANNOTATION } from './labels.js';
import { networkAddress } from './proto-helpers.js';
import type { Waypoint, WaypointIndex } from './waypoints.js';

export interface ServiceInfo {
  readonly object: ServiceObject;
  readonly hostname: string;
  /** `namespace/hostname`: the xDS resource name and the key in workloads' `services` maps. */
  readonly resourceName: string;
  readonly service: Service;
  readonly waypoint?: Waypoint;
}

const PREFER_CLOSE: LoadBalancing = {
  routing_preference: ['NETWORK', 'REGION', 'ZONE', 'SUBZONE'],
  mode: 'FAILOVER',
};

export function buildServices(ctx: ModelContext, waypoints: WaypointIndex): ServiceInfo[] {
  const out: ServiceInfo[] = [];
  const vipOwners = new Map<string, ServiceObject>();
  for (const object of ctx.services) {
    if (object.type === 'ExternalName') continue;
    const { name, namespace } = object.metadata;
    const addresses = [];
    let conflict = false;
    for (const [i, ip] of object.clusterIPs.entries()) {
      const bytes = ipToBytes(ip)!;
      const owner = vipOwners.get(bytes.toString('hex'));
      if (owner !== undefined) {
        ctx.report(
          object,
          ['spec', object.clusterIPs.length > 1 ? 'clusterIPs' : 'clusterIP', ...(object.clusterIPs.length > 1 ? [i] : [])],
          `cluster IP ${bytesToIp(bytes)} is already used by Service ${owner.metadata.namespace}/${owner.metadata.name}; this Service is left out`,
          'error',
        );
        conflict = true;
        break;
      }
      addresses.push(networkAddress(ctx.options.network, bytes));
    }
    if (conflict) continue;
    for (const ip of object.clusterIPs) vipOwners.set(ipToBytes(ip)!.toString('hex'), object);
    if (addresses.length === 0 && !object.headless) {
      ctx.report(object, ['spec', 'clusterIP'], 'has no cluster IP (none is allocated here); the Service is served without an address');
    }

    const hostname = `${name}.${namespace}.svc.${ctx.options.domainSuffix}`;
    const waypoint = waypoints.forService(object);
    const ports: Port[] = object.ports.map((p) =>
      typeof p.targetPort === 'number' ? { service_port: p.port, target_port: p.targetPort } : { service_port: p.port },
    );
    const loadBalancing = loadBalancingOf(ctx, object);
    const ipFamilies = ipFamiliesOf(object);
    const service: Service = {
      name,
      namespace,
      hostname,
      ...(addresses.length > 0 ? { addresses } : {}),
      ...(ports.length > 0 ? { ports } : {}),
      ...(waypoint !== undefined ? { waypoint: waypoint.address } : {}),
      ...(loadBalancing !== undefined ? { load_balancing: loadBalancing } : {}),
      ...(ipFamilies !== 'AUTOMATIC' ? { ip_families: ipFamilies } : {}),
    };
    out.push({
      object,
      hostname,
      resourceName: `${namespace}/${hostname}`,
      service,
      ...(waypoint !== undefined ? { waypoint } : {}),
    });
  }
  return out;
}

function loadBalancingOf(ctx: ModelContext, object: ServiceObject): LoadBalancing | undefined {
  let lb: LoadBalancing | undefined;
  const annotation = object.metadata.annotations[TRAFFIC_DISTRIBUTION_ANNOTATION];
  // The spec field is newer and wins over the annotation.
  const distribution = object.trafficDistribution ?? annotation;
  if (distribution !== undefined) {
    if (distribution.toLowerCase() === 'preferclose') {
      lb = { ...PREFER_CLOSE, routing_preference: [...PREFER_CLOSE.routing_preference!] };
    } else {
      const path = object.trafficDistribution !== undefined ? ['spec', 'trafficDistribution'] : ['metadata', 'annotations', TRAFFIC_DISTRIBUTION_ANNOTATION];
      ctx.report(object, path, `traffic distribution ${JSON.stringify(distribution)} is not supported (only PreferClose); ignored`);
    }
  }
  if (object.internalTrafficPolicy === 'Local') {
    // Only endpoints on the client's node.
    lb = { routing_preference: ['NODE'], mode: 'STRICT' };
  }
  if (object.publishNotReadyAddresses) lb = { ...(lb ?? {}), health_policy: 'ALLOW_ALL' };
  return lb;
}

function ipFamiliesOf(object: ServiceObject): IPFamilies {
  if (object.ipFamilies.length === 2) return 'DUAL';
  if (object.ipFamilies.length === 1) return object.ipFamilies[0] === 'IPv4' ? 'IPV4_ONLY' : 'IPV6_ONLY';
  return 'AUTOMATIC';
}
