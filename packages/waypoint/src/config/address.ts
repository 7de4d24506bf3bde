/**
 * `istio.workload.Address` → what the waypoint needs of it: for each workload IP, how to reach it (HBONE
 * with the workload's SPIFFE identity, or plain) and its names for telemetry. Services are accepted and
 * ignored: bindings and endpoints come from the Envoy resources.
 */
import type { Address } from '@ambit/protos';
import { Identity, IdentityError } from '@ambit/mesh-core/identity';
import { formatIp } from '../policy/cidr.js';
import { compileResource, invalid } from './errors.js';

/** The port ztunnel accepts HBONE on. */
export const HBONE_PORT = 15008;
const DEFAULT_TRUST_DOMAIN = 'cluster.local';
const DEFAULT_SERVICE_ACCOUNT = 'default';

export interface WorkloadInfo {
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  /** `canonical_name`, `canonical_revision` and `cluster_id` as sent ('' when unset), for telemetry. */
  readonly canonicalName: string;
  readonly canonicalRevision: string;
  readonly clusterId: string;
  /** `spiffe://<td>/ns/<ns>/sa/<sa>`. */
  readonly identity: string;
  readonly hbone: boolean;
  /** Canonical IP text. */
  readonly addresses: readonly string[];
}

/** A decoded Address: a workload, or a service the waypoint does not use. */
export type AddressInfo = { readonly kind: 'workload'; readonly workload: WorkloadInfo } | { readonly kind: 'service'; readonly key: string };

/** The xDS name of an Address: the workload's uid, or the service's `namespace/hostname`. */
export function addressName(info: AddressInfo): string {
  return info.kind === 'workload' ? info.workload.uid : info.key;
}

/** Decodes one Address. `resourceName` ('' in state of the world) must match its key. Throws `WaypointConfigError`. */
export function compileAddress(address: Address, resourceName = ''): AddressInfo {
  const label = resourceName || address.workload?.uid || (address.service ? `${address.service.namespace ?? ''}/${address.service.hostname ?? ''}` : '');
  return compileResource('Address', label, () => {
    if (address.type === 'service' && address.service !== undefined) {
      const s = address.service;
      if (!s.namespace || !s.hostname) invalid('service', 'needs namespace and hostname');
      const key = `${s.namespace}/${s.hostname}`;
      if (resourceName !== '' && resourceName !== key) invalid('service', `${JSON.stringify(key)} does not match the resource name`);
      return Object.freeze({ kind: 'service', key });
    }
    if (address.type !== 'workload' || address.workload === undefined) invalid('', 'holds neither a workload nor a service');
    const w = address.workload;
    const uid = w.uid ?? '';
    if (uid === '') invalid('workload.uid', 'is empty');
    if (resourceName !== '' && resourceName !== uid) invalid('workload.uid', `${JSON.stringify(uid)} does not match the resource name`);
    const name = w.name ?? '';
    const namespace = w.namespace ?? '';
    if (name === '') invalid('workload.name', 'is empty');
    if (namespace === '') invalid('workload.namespace', 'is empty');
    const tunnel = w.tunnel_protocol ?? 'NONE';
    if (tunnel !== 'NONE' && tunnel !== 'HBONE') invalid('workload.tunnel_protocol', `${JSON.stringify(tunnel)} is not supported (NONE or HBONE)`);
    const serviceAccount = w.service_account || DEFAULT_SERVICE_ACCOUNT;
    let identity: string;
    try {
      identity = new Identity(w.trust_domain || DEFAULT_TRUST_DOMAIN, namespace, serviceAccount).uri;
    } catch (err) {
      if (err instanceof IdentityError) invalid('workload', err.message);
      throw err;
    }
    const addresses = (w.addresses ?? []).map((bytes, i) => {
      if (bytes.length === 4) return formatIp(Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...bytes]));
      if (bytes.length === 16) return formatIp(bytes);
      return invalid(`workload.addresses[${i}]`, `has ${bytes.length} bytes (want 4 or 16)`);
    });
    return Object.freeze({
      kind: 'workload',
      workload: Object.freeze({
        uid,
        name,
        namespace,
        serviceAccount,
        canonicalName: w.canonical_name ?? '',
        canonicalRevision: w.canonical_revision ?? '',
        clusterId: w.cluster_id ?? '',
        identity,
        hbone: tunnel === 'HBONE',
        addresses: Object.freeze(addresses),
      }),
    });
  });
}
