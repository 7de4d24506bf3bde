export { StateStore } from './store.js';
export type { SnapshotListener, StateStoreOptions, StateUpdate, TypeChanges } from './store.js';
export { ProxySnapshot } from './snapshot.js';
export type { Generations } from './snapshot.js';
export { XdsStateUpdater, STATE_TYPE_URLS } from './xds-updater.js';
export type { XdsStateUpdaterOptions } from './xds-updater.js';
export { addressResourceType, authorizationResourceType, addressResourceName } from './resource-types.js';
export { decodeAddress, DEFAULT_SERVICE_ACCOUNT } from './address-decoder.js';
export { GLOBAL_GROUP, EMPTY_GROUP } from './policy-index.js';
export type { PolicyGroup } from './policy-index.js';
export { Cidr, formatIp, formatIndexIp, canonicalIp, parseIpWords, networkAddressKey, ipToBytes } from './ip.js';
export type { IpFamily } from './ip.js';
export type {
  AddressResource,
  ApplicationTunnel,
  Endpoint,
  GatewayAddress,
  HealthStatus,
  LoadBalancing,
  Locality,
  NetworkAddress,
  NetworkMode,
  Service,
  ServicePort,
  TunnelProtocol,
  WeightedWaypoint,
  Workload,
} from './model.js';
export { parseLocalConfig, loadLocalConfig, applyLocalConfig } from './local-config.js';
export type { LocalConfig } from './local-config.js';
export { snapshotDump } from './dump.js';
export type { SnapshotDump, ServiceDump, WorkloadDump } from './dump.js';
