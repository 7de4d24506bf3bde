/**
 * The five xDS resource types the waypoint subscribes to, as pure decoders for `@ambit/xds`: bytes →
 * decoded message → compiled value. Compiling *is* validating: whatever the compilers refuse comes back as
 * the reason of a rejection, the client NACKs it by name, and the last good resource keeps serving.
 */
import { ADDRESS_TYPE_URL, addressCodec, envoyCodec, type MessageCodec } from '@ambit/protos';
import type { ResourceType, ValidationResult } from '@ambit/xds';
import { addressName, compileAddress, type AddressInfo } from './address.js';
import { CLUSTER_TYPE, compileCluster, type ClusterSpec } from './cluster.js';
import type * as envoy from './envoy-types.js';
import { WaypointConfigError } from './errors.js';
import { compileListener, LISTENER_TYPE, type CompiledListener } from './listener.js';
import { CLUSTER_LOAD_ASSIGNMENT_TYPE, compileLoadAssignment, type CompiledLoadAssignment } from './load-assignment.js';
import { compileRouteConfiguration, ROUTE_CONFIGURATION_TYPE, type CompiledRouteConfiguration } from './route-config.js';
import type { JwtOptions } from '../policy/jwt.js';
import { TYPE_URL_PREFIX } from './values.js';

function decodeWith<P extends object, T>(codec: MessageCodec<P>, bytes: Uint8Array, name: string, compile: (message: P, name: string) => T): ValidationResult<T> {
  let message: P;
  try {
    message = codec.decode(bytes);
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  }
  try {
    return { ok: true, value: compile(message, name) };
  } catch (err) {
    if (err instanceof WaypointConfigError) return name === '' && err.resourceName !== '' ? { ok: false, reason: err.message, name: err.resourceName } : { ok: false, reason: err.message };
    throw err;
  }
}

function envoyType<P extends object, T>(fullName: string, compile: (message: P, name: string) => T, nameOf: (value: T) => string, allResourcesRequiredInSotw: boolean): ResourceType<T> {
  const codec = envoyCodec<P>(fullName);
  return {
    typeUrl: TYPE_URL_PREFIX + fullName,
    decode: (bytes, name) => decodeWith(codec, bytes, name, compile),
    nameOf,
    allResourcesRequiredInSotw,
  };
}

/** `envoy.config.listener.v3.Listener` → `CompiledListener`. `jwt.now` is the clock of JWT verification. */
export function listenerResourceType(jwt: JwtOptions = {}): ResourceType<CompiledListener> {
  return envoyType<envoy.Listener, CompiledListener>(LISTENER_TYPE, (m, name) => compileListener(m, name, jwt), (l) => l.name, true);
}

/** `envoy.config.route.v3.RouteConfiguration` → `CompiledRouteConfiguration`. */
export function routeConfigurationResourceType(): ResourceType<CompiledRouteConfiguration> {
  return envoyType<envoy.RouteConfiguration, CompiledRouteConfiguration>(ROUTE_CONFIGURATION_TYPE, compileRouteConfiguration, (r) => r.table.name, false);
}

/** `envoy.config.cluster.v3.Cluster` → `ClusterSpec`. */
export function clusterResourceType(): ResourceType<ClusterSpec> {
  return envoyType<envoy.Cluster, ClusterSpec>(CLUSTER_TYPE, compileCluster, (c) => c.name, true);
}

/** `envoy.config.endpoint.v3.ClusterLoadAssignment` → `CompiledLoadAssignment`. */
export function loadAssignmentResourceType(): ResourceType<CompiledLoadAssignment> {
  return envoyType<envoy.ClusterLoadAssignment, CompiledLoadAssignment>(CLUSTER_LOAD_ASSIGNMENT_TYPE, compileLoadAssignment, (a) => a.clusterName, false);
}

/** `istio.workload.Address` → `AddressInfo`. */
export function addressResourceType(): ResourceType<AddressInfo> {
  const codec = addressCodec();
  return {
    typeUrl: ADDRESS_TYPE_URL,
    decode: (bytes, name) => decodeWith(codec, bytes, name, compileAddress),
    nameOf: addressName,
  };
}
