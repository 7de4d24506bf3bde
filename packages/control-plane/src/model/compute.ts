/**
 * The whole computation, input objects → mesh resources, as one pure function: the same input and
 * options always give the same resources, in the same order.
 */
import type { Address, Authorization } from '@ambit/protos';
import { sortDiagnostics } from '../input/diagnostics.js';
import type { InputSet } from '../input/input-set.js';
import { convertAuthorizationPolicies } from './authorization.js';
import { ModelContext } from './context.js';
import type { ModelOptions } from './options.js';
import { PeerAuthenticationPolicies } from './peer-authentication.js';
import { buildServices } from './services.js';
import type { InputDiagnostic } from './snapshot.js';
import { WaypointIndex } from './waypoints.js';
import { buildWorkloads } from './workloads.js';

/** A snapshot's content, before it is versioned. */
export interface MeshContent {
  readonly addresses: ReadonlyMap<string, Address>;
  readonly authorizations: ReadonlyMap<string, Authorization>;
  readonly identitiesByNode: ReadonlyMap<string, ReadonlySet<string>>;
  readonly diagnostics: readonly InputDiagnostic[];
}

export function computeMesh(input: InputSet, options: ModelOptions): MeshContent {
  const ctx = new ModelContext(input, options);
  const waypoints = new WaypointIndex(ctx);
  const services = buildServices(ctx, waypoints);
  const policies = convertAuthorizationPolicies(ctx);
  const peerAuthentications = new PeerAuthenticationPolicies(ctx);
  const workloads = buildWorkloads(ctx, { services, waypoints, policies, peerAuthentications });

  const addresses = new Map<string, Address>();
  for (const key of [...workloads.addresses.keys()].sort()) addresses.set(key, workloads.addresses.get(key)!);
  for (const info of [...services].sort((a, b) => compare(a.resourceName, b.resourceName))) {
    addresses.set(info.resourceName, { service: info.service, type: 'service' });
  }

  const authorizations = new Map<string, Authorization>();
  const allPolicies = [...policies.map((p) => p.authorization), ...peerAuthentications.authorizations];
  for (const authorization of allPolicies.sort((a, b) => compare(resourceName(a), resourceName(b)))) {
    authorizations.set(resourceName(authorization), authorization);
  }

  const identitiesByNode = new Map<string, ReadonlySet<string>>();
  for (const node of [...workloads.identitiesByNode.keys()].sort()) {
    identitiesByNode.set(node, new Set([...workloads.identitiesByNode.get(node)!].sort()));
  }

  return {
    addresses,
    authorizations,
    identitiesByNode,
    diagnostics: sortDiagnostics([...input.diagnostics, ...ctx.diagnostics]),
  };
}

function resourceName(authorization: Authorization): string {
  return `${authorization.namespace}/${authorization.name}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
