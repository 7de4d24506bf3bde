/**
 * The `Node` an xDS client introduces itself with. istiod identifies a proxy by `id` and reads its
 * metadata from a Struct; this module builds both without knowing what the values mean.
 *
 * Istio's convention for ztunnel (the caller supplies the values):
 * - `id`: `ztunnel~<pod IP>~<pod name>.<namespace>~<namespace>.svc.cluster.local` (see `proxyNodeId`);
 * - `metadata`: `NAME` (pod name), `NAMESPACE`, `INSTANCE_IPS` (comma-separated pod IPs), `NODE_NAME`
 *   (the Kubernetes node), plus any `proxyMetadata` entries;
 * - gRPC headers (not part of the Node): `authorization: Bearer <service account token>` and `clusterid`.
 */
import type { EnvoyNode, ProtoStruct, ProtoValue } from '@ambit/protos';
import { XdsConfigError } from './errors.js';

/** A JSON-like value that fits a google.protobuf.Value. */
export type MetadataValue = string | number | boolean | null | readonly MetadataValue[] | { readonly [key: string]: MetadataValue };

export interface NodeOptions {
  /** The node id (required: istiod rejects a stream without one). */
  readonly id: string;
  /** Envoy's `cluster`; istiod ignores it for ztunnel but Envoy-style servers use it. */
  readonly cluster?: string;
  /** Node metadata, converted to a Struct. */
  readonly metadata?: { readonly [key: string]: MetadataValue };
  readonly locality?: { readonly region?: string; readonly zone?: string; readonly subZone?: string };
  /** Defaults to `ambit`. */
  readonly userAgentName?: string;
  readonly userAgentVersion?: string;
}

/** `<type>~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local`, Istio's proxy node id. */
export function proxyNodeId(proxyType: string, ip: string, podName: string, namespace: string, domain = 'svc.cluster.local'): string {
  for (const [what, value] of [['proxy type', proxyType], ['ip', ip], ['pod name', podName], ['namespace', namespace]] as const) {
    if (value === '' || value.includes('~')) throw new XdsConfigError(`invalid node id part ${what} '${value}': must be non-empty without '~'`);
  }
  return `${proxyType}~${ip}~${podName}.${namespace}~${namespace}.${domain}`;
}

/** Converts a JSON-like value to a google.protobuf.Value (non-finite numbers are refused: JSON has none). */
export function toProtoValue(value: MetadataValue, path = 'metadata'): ProtoValue {
  if (value === null) return { nullValue: 'NULL_VALUE' };
  switch (typeof value) {
    case 'string':
      return { stringValue: value };
    case 'boolean':
      return { boolValue: value };
    case 'number':
      if (!Number.isFinite(value)) throw new XdsConfigError(`${path}: ${value} is not a finite number`);
      return { numberValue: value };
    case 'object':
      if (Array.isArray(value)) {
        return { listValue: { values: (value as readonly MetadataValue[]).map((v, i) => toProtoValue(v, `${path}[${i}]`)) } };
      }
      return { structValue: toProtoStruct(value as { readonly [key: string]: MetadataValue }, path) };
    case 'bigint':
    case 'function':
    case 'symbol':
    case 'undefined':
      throw new XdsConfigError(`${path}: a ${typeof value} cannot be node metadata`);
  }
}

/** Converts a JSON-like object to a google.protobuf.Struct. */
export function toProtoStruct(object: { readonly [key: string]: MetadataValue }, path = 'metadata'): ProtoStruct {
  const fields: Record<string, ProtoValue> = {};
  for (const [key, value] of Object.entries(object)) fields[key] = toProtoValue(value, `${path}.${key}`);
  return { fields };
}

/** Builds the Node sent in the first request of every stream. */
export function buildNode(options: NodeOptions): EnvoyNode {
  if (!options.id) throw new XdsConfigError('node id is required');
  const node: EnvoyNode = { id: options.id, user_agent_name: options.userAgentName ?? 'ambit' };
  if (options.cluster !== undefined) node.cluster = options.cluster;
  if (options.metadata) node.metadata = toProtoStruct(options.metadata);
  if (options.locality) {
    const { region, zone, subZone } = options.locality;
    node.locality = { ...(region ? { region } : {}), ...(zone ? { zone } : {}), ...(subZone ? { sub_zone: subZone } : {}) };
  }
  if (options.userAgentVersion !== undefined) node.user_agent_version = options.userAgentVersion;
  return node;
}
