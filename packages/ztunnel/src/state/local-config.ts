/**
 * Local mode (`LOCAL_XDS_PATH`): a YAML file of Address and Authorization resources instead of a control
 * plane, as ztunnel's local config. The file takes the proto shape — field names as in
 * `workload.proto`/`authorization.proto` (snake_case), enums by name — with two conveniences: a `bytes`
 * field (an address) is written as IP text, and a CIDR (`source_ips` and friends) as `10.0.0.0/8` text:
 *
 *     workloads:
 *       - { uid: Kubernetes//Pod/default/local, name: local, namespace: default, addresses: [127.0.0.1],
 *           tunnel_protocol: HBONE, node: local, services: { default/local.default.svc.cluster.local: { ports: [{ service_port: 80, target_port: 8080 }] } } }
 *     services:
 *       - { name: local, namespace: default, hostname: local.default.svc.cluster.local, addresses: [{ address: 127.10.0.1 }], ports: [{ service_port: 80, target_port: 8080 }] }
 *     policies:
 *       - { name: deny-9999, namespace: default, scope: NAMESPACE, action: DENY, rules: [{ clauses: [{ matches: [{ destination_ports: [9999] }] }] }] }
 *
 * Each resource is encoded and decoded through the same resource types as xDS, so it is validated exactly
 * as a pushed one; unknown fields, wrong types and unknown enum names are errors too (protobufjs would
 * silently drop them). Every problem in the file is reported at once, with its path.
 */
import { readFile } from 'node:fs/promises';
import { addressCodec, authorizationCodec, istioRoot, type Address, type Authorization, type MessageCodec } from '@ambit/protos';
import type { ResourceType } from '@ambit/xds';
import { parseDocument } from 'yaml';
import type { Policy } from '../authz/policy.js';
import { LocalConfigError } from '../errors.js';
import { ipToBytes } from './ip.js';
import type { AddressResource } from './model.js';
import { addressResourceName, addressResourceType, authorizationResourceType } from './resource-types.js';
import type { ProxySnapshot } from './snapshot.js';
import type { StateStore } from './store.js';
import type { WireMirror, WireResource, Wired } from './wire.js';

/** What a local config file holds, decoded and validated. */
export interface LocalConfig {
  /** Workloads then services, in file order. */
  readonly addresses: readonly AddressResource[];
  readonly policies: readonly Policy[];
  /** The same resources as protobuf bytes, for worker threads' replicas (`state/wire.ts`). */
  readonly wire: { readonly addresses: readonly WireResource[]; readonly policies: readonly WireResource[] };
}

type ProtoType = MessageCodec<Address>['type'];
type ProtoField = ProtoType['fields'][string];

const TOP_LEVEL = new Set(['workloads', 'services', 'policies']);
const INTEGER_RANGES: Readonly<Record<string, readonly [number, number]>> = {
  uint32: [0, 0xffffffff],
  int32: [-0x80000000, 0x7fffffff],
  uint64: [0, Number.MAX_SAFE_INTEGER],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

/**
 * Checks `value` against message `type` and returns it with IP text turned into bytes; records problems.
 */
function toProtoObject(value: unknown, type: ProtoType, path: string, problems: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!isMapping(value)) {
    problems.push(`${path}: want a mapping of ${type.name} fields`);
    return out;
  }
  // protobufjs would only say "multiple values" without a path: name the oneof and what was set.
  for (const oneof of type.oneofsArray) {
    const set = oneof.oneof.filter((name) => value[name] !== undefined && value[name] !== null);
    if (set.length > 1) problems.push(`${path}: set only one of ${oneof.oneof.join(', ')} (found ${set.join(', ')})`);
  }
  for (const [key, v] of Object.entries(value)) {
    const field = type.fields[key];
    if (field === undefined) {
      problems.push(`${path}.${key}: unknown field of ${type.name} (known: ${Object.keys(type.fields).join(', ')})`);
      continue;
    }
    if (v === null || v === undefined) continue;
    const at = `${path}.${key}`;
    if (field.map) {
      if (!isMapping(v)) {
        problems.push(`${at}: want a mapping`);
        continue;
      }
      const map: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(v)) map[k] = fieldValue(item, field, `${at}[${JSON.stringify(k)}]`, problems);
      out[key] = map;
    } else if (field.repeated) {
      if (!Array.isArray(v)) {
        problems.push(`${at}: want a list`);
        continue;
      }
      out[key] = v.map((item: unknown, i) => fieldValue(item, field, `${at}[${i}]`, problems));
    } else {
      out[key] = fieldValue(v, field, at, problems);
    }
  }
  return out;
}

function fieldValue(value: unknown, field: ProtoField, path: string, problems: string[]): unknown {
  const resolved = field.resolvedType;
  if (resolved !== null && 'values' in resolved) {
    if (typeof value === 'string' && Object.hasOwn(resolved.values, value)) return value;
    problems.push(`${path}: ${JSON.stringify(value)} is not one of ${Object.keys(resolved.values).join(', ')}`);
    return undefined;
  }
  if (resolved !== null) {
    // A CIDR written as text: `10.0.0.0/8`, or a bare address for a single host.
    if (resolved.fullName === '.istio.security.Address' && typeof value === 'string') return cidrObject(value, path, problems);
    return toProtoObject(value, resolved, path, problems);
  }
  switch (field.type) {
    case 'string':
      if (typeof value === 'string') return value;
      problems.push(`${path}: want a string`);
      return undefined;
    case 'bool':
      if (typeof value === 'boolean') return value;
      problems.push(`${path}: want true or false`);
      return undefined;
    case 'bytes': {
      const bytes = typeof value === 'string' ? ipToBytes(value) : undefined;
      if (bytes !== undefined) return bytes;
      problems.push(`${path}: want an IP address, got ${JSON.stringify(value)}`);
      return undefined;
    }
    default: {
      const range = INTEGER_RANGES[field.type];
      if (range !== undefined && typeof value === 'number' && Number.isInteger(value) && value >= range[0] && value <= range[1]) return value;
      problems.push(`${path}: want ${range !== undefined ? `a whole number ${range[0]}-${range[1]}` : `a ${field.type}`}`);
      return undefined;
    }
  }
}

function cidrObject(text: string, path: string, problems: string[]): Record<string, unknown> | undefined {
  const slash = text.indexOf('/');
  const address = ipToBytes(slash < 0 ? text : text.slice(0, slash));
  const length = slash < 0 ? undefined : /^\d+$/.test(text.slice(slash + 1)) ? Number(text.slice(slash + 1)) : NaN;
  if (address === undefined || Number.isNaN(length)) {
    problems.push(`${path}: ${JSON.stringify(text)} is not an address or CIDR`);
    return undefined;
  }
  return { address, length: length ?? address.length * 8 };
}

/** Encodes through the codec and decodes through the xDS resource type: the same checks as a push. */
function roundTrip<P extends object, T>(codec: MessageCodec<P>, type: ResourceType<T>, object: Record<string, unknown>, path: string, problems: string[]): Wired<T> | undefined {
  let bytes: Uint8Array;
  try {
    bytes = codec.encode(object as P);
  } catch (err) {
    // The shape check above should leave protobufjs nothing to refuse; if it does, still report, never throw.
    problems.push(`${path}: ${(err as Error).message}`);
    return undefined;
  }
  const result = type.decode(bytes, '');
  if (result.ok) return { value: result.value, bytes };
  problems.push(`${path}: ${result.reason}`);
  return undefined;
}

/** Parses and validates a local config file's text; throws `LocalConfigError` listing every problem. */
export function parseLocalConfig(text: string, path: string): LocalConfig {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) throw new LocalConfigError(path, doc.errors.map((e) => e.message));
  const root: unknown = doc.toJS();
  const problems: string[] = [];
  if (root !== null && root !== undefined && !isMapping(root)) throw new LocalConfigError(path, ['want a mapping with workloads, services and policies']);
  const top = (root ?? {});
  for (const key of Object.keys(top)) if (!TOP_LEVEL.has(key)) problems.push(`${key}: unknown section (want workloads, services or policies)`);
  const list = (key: string): unknown[] => {
    const value = top[key];
    if (value === undefined || value === null) return [];
    if (Array.isArray(value)) return value;
    problems.push(`${key}: want a list`);
    return [];
  };

  const addressType = addressResourceType();
  const policyType = authorizationResourceType();
  const workloadType = istioRoot().lookupType('istio.workload.Workload');
  const serviceType = istioRoot().lookupType('istio.workload.Service');
  const authorizationType = authorizationCodec().type;
  const addresses: AddressResource[] = [];
  const policies: Policy[] = [];
  const wireAddresses: WireResource[] = [];
  const wirePolicies: WireResource[] = [];
  const keepAddress = (wired: Wired<AddressResource> | undefined, path: string): void => {
    if (wired === undefined) return;
    const name = addressResourceName(wired.value);
    if (!unique(name, path)) return;
    addresses.push(wired.value);
    wireAddresses.push({ name, bytes: wired.bytes });
  };
  const names = new Map<string, string>();
  const unique = (name: string, path: string): boolean => {
    const first = names.get(name);
    if (first !== undefined) {
      problems.push(`${path}: ${name} is already defined at ${first}`);
      return false;
    }
    names.set(name, path);
    return true;
  };

  for (const [i, item] of list('workloads').entries()) {
    const path = `workloads[${i}]`;
    const before = problems.length;
    const workload = toProtoObject(item, workloadType, path, problems);
    if (problems.length > before) continue;
    keepAddress(roundTrip(addressCodec(), addressType, { workload }, path, problems), path);
  }
  for (const [i, item] of list('services').entries()) {
    const path = `services[${i}]`;
    const before = problems.length;
    const service = toProtoObject(item, serviceType, path, problems);
    if (problems.length > before) continue;
    keepAddress(roundTrip(addressCodec(), addressType, { service }, path, problems), path);
  }
  for (const [i, item] of list('policies').entries()) {
    const path = `policies[${i}]`;
    const before = problems.length;
    const object = toProtoObject(item, authorizationType, path, problems);
    if (problems.length > before) continue;
    const policy = roundTrip<Authorization, Policy>(authorizationCodec(), policyType, object, path, problems);
    if (policy !== undefined && unique(`policy ${policy.value.key}`, path)) {
      policies.push(policy.value);
      wirePolicies.push({ name: policy.value.key, bytes: policy.bytes });
    }
  }
  if (problems.length > 0) throw new LocalConfigError(path, problems);
  return Object.freeze({
    addresses: Object.freeze(addresses),
    policies: Object.freeze(policies),
    wire: Object.freeze({ addresses: Object.freeze(wireAddresses), policies: Object.freeze(wirePolicies) }),
  });
}

/** Reads and parses `path`; throws `LocalConfigError` (also when the file cannot be read). */
export async function loadLocalConfig(path: string): Promise<LocalConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new LocalConfigError(path, [`cannot read: ${(cause as Error).message}`], { cause });
  }
  return parseLocalConfig(text, path);
}

/**
 * Makes `config` the whole state of `store` in one snapshot: its resources are upserted, and everything
 * the store holds that the file does not is removed (so re-applying an edited file converges). Local mode
 * replaces xDS; do not feed one store from both. With a `mirror`, the same change is recorded in wire form.
 */
export function applyLocalConfig(store: StateStore, config: LocalConfig, mirror?: WireMirror): ProxySnapshot {
  const current = store.current;
  const addressNames = new Set(config.addresses.map(addressResourceName));
  const policyNames = new Set(config.policies.map((p) => p.key));
  const staleAddresses = [...current.workloads.keys(), ...current.services.keys()].filter((name) => !addressNames.has(name));
  const stalePolicies = [...current.policies.keys()].filter((name) => !policyNames.has(name));
  const snapshot = store.apply({
    addresses: { upserts: config.addresses, removals: staleAddresses },
    authorizations: { upserts: config.policies, removals: stalePolicies },
  });
  mirror?.record({
    addresses: { upserts: config.wire.addresses, removals: staleAddresses },
    authorizations: { upserts: config.wire.policies, removals: stalePolicies },
  });
  return snapshot;
}
