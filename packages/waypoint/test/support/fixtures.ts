/**
 * A small waypoint configuration in Envoy's types, as the control plane serves it: one listener binding
 * a service VIP (HTTP chain with JWT and RBAC) and a TCP-only service, their route configuration,
 * clusters and load assignments.
 */
import type { Address } from '@ambit/protos';
import { any, T } from './envoy.js';

export const LISTENER = 'waypoint/default/waypoint';
export const WEB_HOST = 'web.default.svc.cluster.local';
export const WEB_VIP = '10.96.0.10';
export const WEB_CHAIN = `inbound-vip|80|http|${WEB_HOST}`;
export const WEB_TCP_CHAIN = `inbound-vip|80|tcp|${WEB_HOST}`;
export const WEB_V1 = `outbound|80|v1|${WEB_HOST}`;
export const WEB_V2 = `outbound|80|v2|${WEB_HOST}`;
export const WEB_ALL = `outbound|80||${WEB_HOST}`;
export const DB_HOST = 'db.default.svc.cluster.local';
export const DB_VIP = '10.96.0.20';
export const DB_CHAIN = `inbound-vip|5432|tcp|${DB_HOST}`;
export const DB_CLUSTER = `outbound|5432||${DB_HOST}`;

export function hcm(routeConfigName: string, httpFilters: object[] = [], extra: object = {}): object {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: any(T.hcm, {
      stat_prefix: routeConfigName,
      rds: { route_config_name: routeConfigName, config_source: { ads: {} } },
      normalize_path: { value: true },
      merge_slashes: true,
      http_filters: [...httpFilters, { name: 'envoy.filters.http.router', typed_config: any(T.router, {}) }],
      ...extra,
    }),
  };
}

export function tcpProxy(cluster: string): object {
  return { name: 'envoy.filters.network.tcp_proxy', typed_config: any(T.tcpProxy, { stat_prefix: cluster, cluster }) };
}

export const HTTP_PROTOCOLS = ['http/1.1', 'h2c'];

export function chainMatch(ip: string, port: number, http: boolean): object {
  return { destination_port: { value: port }, prefix_ranges: [{ address_prefix: ip, prefix_len: { value: ip.includes(':') ? 128 : 32 } }], ...(http ? { application_protocols: HTTP_PROTOCOLS } : {}) };
}

export function denyRbacFilter(): object {
  return {
    name: 'envoy.filters.http.rbac',
    typed_config: any(T.httpRbac, { rules: { action: 'DENY', policies: { 'deny-admin': { permissions: [{ url_path: { path: { prefix: '/admin' } } }], principals: [{ any: true }] } } } }),
  };
}

export function listener(extraChains: object[] = [], webHttpFilters: object[] = [denyRbacFilter()]): object {
  return {
    name: LISTENER,
    address: { socket_address: { address: '0.0.0.0', port_value: 15008 } },
    filter_chains: [
      { name: WEB_CHAIN, filter_chain_match: chainMatch(WEB_VIP, 80, true), filters: [hcm(WEB_CHAIN, webHttpFilters)] },
      { name: WEB_TCP_CHAIN, filter_chain_match: chainMatch(WEB_VIP, 80, false), filters: [tcpProxy(WEB_ALL)] },
      { name: DB_CHAIN, filter_chain_match: chainMatch(DB_VIP, 5432, false), filters: [tcpProxy(DB_CLUSTER)] },
      ...extraChains,
    ],
  };
}

export function webRoutes(clusters: { name: string; weight: number }[] = [{ name: WEB_V1, weight: 90 }, { name: WEB_V2, weight: 10 }]): object {
  return {
    name: WEB_CHAIN,
    virtual_hosts: [
      {
        name: WEB_HOST,
        domains: [WEB_HOST, 'web', `${WEB_VIP}`],
        routes: [{ match: { prefix: '/' }, route: { weighted_clusters: { clusters: clusters.map((c) => ({ name: c.name, weight: { value: c.weight } })) } } }],
      },
    ],
  };
}

export function edsCluster(name: string, extra: object = {}): object {
  return { name, type: 'EDS', eds_cluster_config: { eds_config: { ads: {} }, service_name: name }, ...extra };
}

export function loadAssignment(name: string, ips: string[], port = 8080): object {
  return { cluster_name: name, endpoints: [{ lb_endpoints: ips.map((ip) => ({ endpoint: { address: { socket_address: { address: ip, port_value: port } } } })) }] };
}

/** A workload Address; `telemetry` adds canonical name, revision and cluster id (unset by default). */
export function workloadAddress(
  uid: string,
  ip: string,
  hbone: boolean,
  serviceAccount = 'web',
  telemetry: { canonical_name?: string; canonical_revision?: string; cluster_id?: string } = {},
): Address {
  const bytes = Buffer.from(ip.split('.').map(Number));
  return { type: 'workload', workload: { uid, name: uid.split('/').pop()!, namespace: 'default', service_account: serviceAccount, addresses: [bytes], tunnel_protocol: hbone ? 'HBONE' : 'NONE', ...telemetry } };
}
