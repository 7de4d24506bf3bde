/**
 * The two xDS resource types ztunnel subscribes to, as pure decoders for `@ambit/xds`: wire bytes →
 * protobuf message → validated model. A malformed or invalid resource comes back as a reason (the client
 * NACKs it by name and keeps the last good version); nothing here throws or has side effects.
 */
import { ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL, addressCodec, authorizationCodec, type MessageCodec } from '@ambit/protos';
import type { ResourceType, ValidationResult } from '@ambit/xds';
import { compilePolicy, type Policy } from '../authz/policy.js';
import { decodeAddress } from './address-decoder.js';
import type { AddressResource } from './model.js';

function decodeWith<P extends object, T>(codec: MessageCodec<P>, bytes: Uint8Array, name: string, convert: (message: P, name: string) => T | string): ValidationResult<T> {
  let message: P;
  try {
    message = codec.decode(bytes);
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  }
  const result = convert(message, name);
  return typeof result === 'string' ? { ok: false, reason: result } : { ok: true, value: result };
}

/** The name of an Address: the workload uid or the service's `namespace/hostname`. */
export function addressResourceName(resource: AddressResource): string {
  return resource.kind === 'workload' ? resource.workload.uid : resource.service.key;
}

/** `type.googleapis.com/istio.workload.Address` → `AddressResource`. */
export function addressResourceType(): ResourceType<AddressResource> {
  const codec = addressCodec();
  return {
    typeUrl: ADDRESS_TYPE_URL,
    decode: (bytes, name) => decodeWith(codec, bytes, name, decodeAddress),
    nameOf: addressResourceName,
  };
}

/** `type.googleapis.com/istio.security.Authorization` → compiled `Policy`. */
export function authorizationResourceType(): ResourceType<Policy> {
  const codec = authorizationCodec();
  return {
    typeUrl: AUTHORIZATION_TYPE_URL,
    decode: (bytes, name) => decodeWith(codec, bytes, name, compilePolicy),
    nameOf: (policy) => policy.key,
  };
}
