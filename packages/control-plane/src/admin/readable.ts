/**
 * Istio resources in a form people can read: IP bytes as text, CIDRs as `ip/len`, other bytes as
 * base64, and each workload's SPIFFE identity spelled out. Used by config_dump only.
 */
import type { Address, Authorization } from '@ambit/protos';
import { describeIp } from '../server/ip-format.js';
import type { JsonValue } from '../server/struct-json.js';

/** Fields whose bytes are IP addresses: `Workload.addresses`, `NetworkAddress.address`, `CidrAddress.address`. */
function convert(value: unknown, key: string): JsonValue {
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    return key === 'addresses' || key === 'address' ? describeIp(value) : Buffer.from(value).toString('base64');
  }
  if (Array.isArray(value)) return value.map((v) => convert(v, key));
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    // A CIDR (address + prefix length) reads best as one string.
    if ((Buffer.isBuffer(obj['address']) || obj['address'] instanceof Uint8Array) && typeof obj['length'] === 'number' && Object.keys(obj).length === 2) {
      return `${describeIp(obj['address'] as Uint8Array)}/${obj['length']}`;
    }
    const out: Record<string, JsonValue> = {};
    for (const [k, v] of Object.entries(obj)) if (v !== undefined) out[k] = convert(v, k);
    return out;
  }
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || value === null) return value;
  // Decoded protos hold nothing else (64-bit integers are numbers); anything exotic is shown as absent.
  return null;
}

export function readableAddress(address: Address): Record<string, JsonValue> {
  const out = convert(address, '') as Record<string, JsonValue>;
  const w = address.workload;
  if (w && out['workload'] && typeof out['workload'] === 'object' && !Array.isArray(out['workload'])) {
    const td = w.trust_domain || 'cluster.local';
    (out['workload'] as Record<string, JsonValue>)['identity'] = `spiffe://${td}/ns/${w.namespace ?? ''}/sa/${w.service_account || 'default'}`;
  }
  return out;
}

export function readableAuthorization(authorization: Authorization): Record<string, JsonValue> {
  return convert(authorization, '') as Record<string, JsonValue>;
}
