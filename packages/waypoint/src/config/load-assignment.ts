/**
 * envoy.config.endpoint.v3.ClusterLoadAssignment → endpoint specs. How each endpoint is reached (HBONE and
 * the identity to expect, or plain) is not here: the snapshot builder takes it from the Address of the
 * endpoint's IP.
 */
import type { Endpoint } from './types.js';
import type * as envoy from './envoy-types.js';
import { addressKey, canonicalIp } from '../policy/cidr.js';
import { compileResource, invalid, join } from './errors.js';
import { enumOf, list, port, refuseFields, uint32 } from './values.js';

export const CLUSTER_LOAD_ASSIGNMENT_TYPE = 'envoy.config.endpoint.v3.ClusterLoadAssignment';

/** An endpoint before the builder adds `transport` and `workload` from the Address resources. */
export type EndpointSpec = Omit<Endpoint, 'transport' | 'workload'>;

export interface CompiledLoadAssignment {
  readonly clusterName: string;
  readonly endpoints: readonly EndpointSpec[];
}

const HEALTH = ['UNKNOWN', 'HEALTHY', 'UNHEALTHY', 'DRAINING', 'TIMEOUT', 'DEGRADED'] as const;

/**
 * Compiles a ClusterLoadAssignment. `resourceName` is the xDS name ('' in state of the world); the
 * message's `cluster_name` must agree with it. Throws `WaypointConfigError`.
 */
export function compileLoadAssignment(cla: envoy.ClusterLoadAssignment, resourceName = ''): CompiledLoadAssignment {
  const clusterName = cla.cluster_name ?? '';
  return compileResource('ClusterLoadAssignment', clusterName || resourceName, () => {
    if (clusterName === '') invalid('cluster_name', 'is empty');
    if (resourceName !== '' && resourceName !== clusterName) invalid('cluster_name', `${JSON.stringify(clusterName)} does not match the resource name ${JSON.stringify(resourceName)}`);
    if (Object.keys(cla.named_endpoints ?? {}).length > 0) invalid('named_endpoints', 'is not supported by the waypoint');
    const endpoints: EndpointSpec[] = [];
    const seen = new Set<string>();
    for (const [i, group] of list(cla.endpoints).entries()) {
      const at = `endpoints[${i}]`;
      // Priorities would need failover between levels; the control plane sends one level.
      if ((group.priority ?? 0) !== 0) invalid(join(at, 'priority'), 'only priority 0 is supported');
      const locality = Object.freeze({ region: group.locality?.region ?? '', zone: group.locality?.zone ?? '', subZone: group.locality?.sub_zone ?? '' });
      for (const [j, lb] of list(group.lb_endpoints).entries()) {
        const where = join(at, `lb_endpoints[${j}]`);
        if (lb.host_identifier !== 'endpoint' || lb.endpoint === undefined) invalid(where, 'has no endpoint (endpoint_name is not supported)');
        const address = lb.endpoint.address;
        const addrAt = join(where, 'endpoint.address');
        if (address === undefined || address.socket_address === undefined) invalid(addrAt, 'must be a socket_address');
        const sa = address.socket_address;
        const saAt = join(addrAt, 'socket_address');
        refuseFields(sa, ['named_port', 'resolver_name'], saAt);
        enumOf(sa.protocol, 'TCP', ['TCP'], join(saAt, 'protocol'));
        const ip = canonicalIp(sa.address ?? '');
        if (ip === undefined) invalid(join(saAt, 'address'), `${JSON.stringify(sa.address ?? '')} is not an IP address`);
        const p = port(sa.port_value, join(saAt, 'port_value'));
        const key = addressKey(ip, p);
        if (seen.has(key)) invalid(where, `${key} is listed twice`);
        seen.add(key);
        const health = enumOf(lb.health_status, 'UNKNOWN', HEALTH, join(where, 'health_status'));
        const weight = uint32(lb.load_balancing_weight, 1);
        if (weight < 1) invalid(join(where, 'load_balancing_weight'), 'must be at least 1');
        endpoints.push(
          Object.freeze({
            ip,
            port: p,
            weight,
            // Envoy sends traffic to UNKNOWN (no health checking) and DEGRADED hosts.
            healthy: health === 'UNKNOWN' || health === 'HEALTHY' || health === 'DEGRADED',
            locality,
          }),
        );
      }
    }
    return Object.freeze({ clusterName, endpoints: Object.freeze(endpoints) });
  });
}
