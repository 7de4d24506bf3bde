/**
 * `istio.workload.Address` → model (`Workload` or `Service`), with the semantic checks ztunnel makes and a
 * few it should: anything the data path could not use exactly as sent is rejected with a reason naming the
 * field, and that reason ends up in the NACK. Conversion happens here, before anything is applied, so
 * that applying a batch only moves references between maps.
 */
import type * as proto from '@ambit/protos';
import { Identity, IdentityError } from '@ambit/mesh-core/identity';
import { formatIndexIp } from './ip.js';
import type { AddressResource, ApplicationTunnel, GatewayAddress, LoadBalancing, Locality, NetworkAddress, Service, ServicePort, Workload } from './model.js';

/** ztunnel's defaults for a workload that does not say. */
export const DEFAULT_TRUST_DOMAIN = 'cluster.local';
export const DEFAULT_SERVICE_ACCOUNT = 'default';

/** Unwinds to `decodeAddress` with the reason. */
class Invalid extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(reason);
    this.reason = reason;
  }
}

/**
 * Converts one decoded Address. Returns the model, or the reason it is rejected. `resourceName` is the
 * xDS name (`''` in state of the world); when given it must be the workload's uid or the service's
 * `namespace/hostname`, the keys removals will use.
 */
export function decodeAddress(address: proto.Address, resourceName = ''): AddressResource | string {
  try {
    if (address.type === 'workload' && address.workload !== undefined) {
      const workload = decodeWorkload(address.workload);
      checkName(resourceName, workload.uid, "workload's uid");
      return Object.freeze({ kind: 'workload', workload });
    }
    if (address.type === 'service' && address.service !== undefined) {
      const service = decodeService(address.service);
      checkName(resourceName, service.key, "service's namespace/hostname");
      return Object.freeze({ kind: 'service', service });
    }
    return 'address holds neither a workload nor a service';
  } catch (err) {
    if (err instanceof Invalid) return err.reason;
    throw err;
  }
}

function checkName(resourceName: string, key: string, what: string): void {
  if (resourceName !== '' && resourceName !== key) {
    throw new Invalid(`resource name ${JSON.stringify(resourceName)} does not match the ${what} ${JSON.stringify(key)}`);
  }
}

function decodeWorkload(w: proto.Workload): Workload {
  const uid = w.uid ?? '';
  if (uid === '') throw new Invalid('workload has no uid');
  const name = w.name ?? '';
  if (name === '') throw new Invalid(`workload ${uid} has no name`);
  const namespace = w.namespace ?? '';
  if (namespace === '') throw new Invalid(`workload ${uid} has no namespace`);
  const where = `workload ${uid}`;

  const addresses: string[] = [];
  for (const [i, bytes] of (w.addresses ?? []).entries()) {
    const ip = formatIndexIp(bytes);
    if (ip === undefined) throw new Invalid(`${where}: addresses[${i}] has ${bytes.length} bytes (want 4 or 16)`);
    if (!addresses.includes(ip)) addresses.push(ip);
  }

  const tunnel = w.tunnel_protocol ?? 'NONE';
  if (tunnel === 'LEGACY_ISTIO_MTLS') throw new Invalid(`${where}: tunnel protocol LEGACY_ISTIO_MTLS is not supported (only NONE and HBONE)`);
  const tunnelProtocol = oneOf(tunnel, ['NONE', 'HBONE'] as const, `${where}: tunnel_protocol`);

  const trustDomain = w.trust_domain || DEFAULT_TRUST_DOMAIN;
  const serviceAccount = w.service_account || DEFAULT_SERVICE_ACCOUNT;
  let identity: Identity;
  try {
    identity = new Identity(trustDomain, namespace, serviceAccount);
  } catch (err) {
    if (err instanceof IdentityError) throw new Invalid(`${where}: ${err.message}`);
    throw err;
  }

  const services = new Map<string, ReadonlyMap<number, number>>();
  for (const [key, list] of Object.entries(w.services ?? {})) {
    checkNamespaced(key, `${where}: services key`, 'namespace/hostname');
    services.set(key, workloadPorts(list.ports ?? [], `${where}: services[${JSON.stringify(key)}]`));
  }
  const policies = w.authorization_policies ?? [];
  for (const [i, ref] of policies.entries()) checkNamespaced(ref, `${where}: authorization_policies[${i}]`, 'namespace/name');

  const appTunnel = w.application_tunnel;
  let applicationTunnel: ApplicationTunnel | undefined;
  if (appTunnel !== undefined) {
    const protocol = oneOf(appTunnel.protocol ?? 'NONE', ['NONE', 'PROXY'] as const, `${where}: application_tunnel.protocol`);
    const port = appTunnel.port ?? 0;
    checkPort(port, `${where}: application_tunnel.port`, true);
    applicationTunnel = Object.freeze(port === 0 ? { protocol } : { protocol, port });
  }
  const locality: Locality = Object.freeze({ region: w.locality?.region ?? '', zone: w.locality?.zone ?? '', subzone: w.locality?.subzone ?? '' });
  const waypoint = w.waypoint !== undefined ? gateway(w.waypoint, `${where}: waypoint`) : undefined;
  const networkGateway = w.network_gateway !== undefined ? gateway(w.network_gateway, `${where}: network_gateway`) : undefined;

  return Object.freeze({
    uid,
    name,
    namespace,
    addresses: Object.freeze(addresses),
    hostname: w.hostname ?? '',
    network: w.network ?? '',
    tunnelProtocol,
    trustDomain,
    serviceAccount,
    identity,
    ...(waypoint !== undefined ? { waypoint } : {}),
    ...(networkGateway !== undefined ? { networkGateway } : {}),
    node: w.node ?? '',
    canonicalName: w.canonical_name ?? '',
    canonicalRevision: w.canonical_revision ?? '',
    workloadType: oneOf(w.workload_type ?? 'DEPLOYMENT', ['DEPLOYMENT', 'CRONJOB', 'POD', 'JOB'] as const, `${where}: workload_type`),
    workloadName: w.workload_name ?? '',
    nativeTunnel: w.native_tunnel === true,
    ...(applicationTunnel !== undefined ? { applicationTunnel } : {}),
    services,
    authorizationPolicies: Object.freeze([...policies]),
    status: oneOf(w.status ?? 'HEALTHY', ['HEALTHY', 'UNHEALTHY'] as const, `${where}: status`),
    clusterId: w.cluster_id ?? '',
    locality,
    networkMode: oneOf(w.network_mode ?? 'STANDARD', ['STANDARD', 'HOST_NETWORK'] as const, `${where}: network_mode`),
    capacity: w.capacity === undefined ? 1 : (w.capacity.value ?? 0),
  });
}

function decodeService(s: proto.Service): Service {
  const namespace = s.namespace ?? '';
  const hostname = s.hostname ?? '';
  if (hostname === '') throw new Invalid(s.name ? `service ${s.name} has no hostname` : 'service has no hostname');
  if (namespace === '') throw new Invalid(`service ${hostname} has no namespace`);
  if (namespace.includes('/')) throw new Invalid(`service ${hostname}: namespace ${JSON.stringify(namespace)} contains "/"`);
  const key = `${namespace}/${hostname}`;
  const where = `service ${key}`;

  const vips: NetworkAddress[] = (s.addresses ?? []).map((a, i) => networkAddress(a, `${where}: addresses[${i}]`));
  const seenPorts = new Set<number>();
  const ports: ServicePort[] = (s.ports ?? []).map((p, i) => {
    const at = `${where}: ports[${i}]`;
    const servicePort = p.service_port ?? 0;
    const targetPort = p.target_port ?? 0;
    checkPort(servicePort, `${at}.service_port`, false);
    checkPort(targetPort, `${at}.target_port`, true);
    if (seenPorts.has(servicePort)) throw new Invalid(`${at}: service port ${servicePort} is listed twice`);
    seenPorts.add(servicePort);
    const appProtocol = oneOf(p.app_protocol ?? 'UNKNOWN', ['UNKNOWN', 'HTTP11', 'HTTP2', 'GRPC', 'TCP', 'TLS'] as const, `${at}.app_protocol`);
    return Object.freeze({ servicePort, targetPort, appProtocol });
  });
  const waypoint = s.waypoint !== undefined ? gateway(s.waypoint, `${where}: waypoint`) : undefined;
  const weightedWaypoints = (s.weighted_waypoints ?? []).map((ww, i) => {
    if (ww.destination === undefined) throw new Invalid(`${where}: weighted_waypoints[${i}] has no destination`);
    return Object.freeze({ destination: gateway(ww.destination, `${where}: weighted_waypoints[${i}].destination`), weight: ww.weight ?? 0 });
  });
  const loadBalancing = s.load_balancing !== undefined ? decodeLoadBalancing(s.load_balancing, `${where}: load_balancing`) : undefined;

  return Object.freeze({
    key,
    name: s.name ?? '',
    namespace,
    hostname,
    vips: Object.freeze(vips),
    ports: Object.freeze(ports),
    subjectAltNames: Object.freeze([...(s.subject_alt_names ?? [])]),
    ...(waypoint !== undefined ? { waypoint } : {}),
    weightedWaypoints: Object.freeze(weightedWaypoints),
    ...(loadBalancing !== undefined ? { loadBalancing } : {}),
    ipFamilies: oneOf(s.ip_families ?? 'AUTOMATIC', ['AUTOMATIC', 'IPV4_ONLY', 'IPV6_ONLY', 'DUAL'] as const, `${where}: ip_families`),
    canonical: s.canonical === true,
    ingressUseWaypoint: s.ingress_use_waypoint === true,
    visibility: oneOf(s.visibility ?? 'PUBLIC', ['PUBLIC', 'NAMESPACE'] as const, `${where}: visibility`),
  });
}

const SCOPES = ['UNSPECIFIED_SCOPE', 'REGION', 'ZONE', 'SUBZONE', 'NODE', 'CLUSTER', 'NETWORK'] as const;

function decodeLoadBalancing(lb: proto.LoadBalancing, where: string): LoadBalancing {
  return Object.freeze({
    routingPreference: Object.freeze((lb.routing_preference ?? []).map((scope, i) => oneOf(scope, SCOPES, `${where}.routing_preference[${i}]`))),
    mode: oneOf(lb.mode ?? 'UNSPECIFIED_MODE', ['UNSPECIFIED_MODE', 'STRICT', 'FAILOVER', 'PASSTHROUGH'] as const, `${where}.mode`),
    healthPolicy: oneOf(lb.health_policy ?? 'ONLY_HEALTHY', ['ONLY_HEALTHY', 'ALLOW_ALL'] as const, `${where}.health_policy`),
  });
}

function networkAddress(a: proto.NetworkAddress, where: string): NetworkAddress {
  const bytes = a.address ?? Buffer.alloc(0);
  const ip = formatIndexIp(bytes);
  if (ip === undefined) throw new Invalid(`${where} has ${bytes.length} bytes (want 4 or 16)`);
  if (a.length !== undefined && a.length > bytes.length * 8) throw new Invalid(`${where}: prefix length ${a.length} is out of range 0-${bytes.length * 8}`);
  return Object.freeze({ network: a.network ?? '', address: ip });
}

function gateway(g: proto.GatewayAddress, where: string): GatewayAddress {
  const hboneMtlsPort = g.hbone_mtls_port ?? 0;
  checkPort(hboneMtlsPort, `${where}.hbone_mtls_port`, true);
  if (g.destination === 'address' && g.address !== undefined) {
    return Object.freeze({ kind: 'address', address: networkAddress(g.address, `${where}.address`), hboneMtlsPort });
  }
  if (g.destination === 'hostname' && g.hostname !== undefined) {
    const namespace = g.hostname.namespace ?? '';
    const hostname = g.hostname.hostname ?? '';
    if (namespace === '' || hostname === '') throw new Invalid(`${where}.hostname needs both namespace and hostname`);
    return Object.freeze({ kind: 'hostname', namespace, hostname, hboneMtlsPort });
  }
  throw new Invalid(`${where} has neither an address nor a hostname`);
}

function workloadPorts(ports: readonly proto.Port[], where: string): ReadonlyMap<number, number> {
  const map = new Map<number, number>();
  for (const [i, p] of ports.entries()) {
    const servicePort = p.service_port ?? 0;
    const targetPort = p.target_port ?? 0;
    checkPort(servicePort, `${where}.ports[${i}].service_port`, false);
    checkPort(targetPort, `${where}.ports[${i}].target_port`, true);
    if (map.has(servicePort)) throw new Invalid(`${where}.ports[${i}]: service port ${servicePort} is listed twice`);
    map.set(servicePort, targetPort);
  }
  return map;
}

function checkPort(port: number, where: string, zeroAllowed: boolean): void {
  if (!Number.isInteger(port) || port < (zeroAllowed ? 0 : 1) || port > 65535) {
    throw new Invalid(`${where}: port ${port} is out of range ${zeroAllowed ? 0 : 1}-65535`);
  }
}

function checkNamespaced(value: string, where: string, shape: string): void {
  const slash = value.indexOf('/');
  if (slash <= 0 || slash === value.length - 1) throw new Invalid(`${where} ${JSON.stringify(value)} is not ${shape}`);
}

/** An enum field: protobufjs leaves values it does not know as numbers. */
function oneOf<const T extends string>(value: string | number, allowed: readonly T[], where: string): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw new Invalid(`${where}: unknown value ${JSON.stringify(value)} (want one of ${allowed.join(', ')})`);
}
