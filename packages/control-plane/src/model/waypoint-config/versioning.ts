/**
 * Carrying unchanged waypoint resources from one snapshot to the next, so that a server finds what to push
 * by identity (as for addresses): each of the four maps is shared resource by resource with the previous
 * snapshot's by the model's `share` function.
 */
import { isDeepStrictEqual } from 'node:util';
import type { WaypointResources } from './build.js';

/** The model's per-map sharing (versioning.ts `shareUnchanged`). */
export type ShareMap = <T extends object>(
  previous: ReadonlyMap<string, T>,
  next: ReadonlyMap<string, T>,
) => { readonly map: ReadonlyMap<string, T>; readonly same: boolean; readonly changed: ReadonlySet<string> };

const EMPTY: WaypointResources = Object.freeze({
  listeners: new Map(),
  routes: new Map(),
  clusters: new Map(),
  endpoints: new Map(),
  identities: new Map(),
});

/** `next` with unchanged resources replaced by `previous`'s, and whether anything changed. */
export function shareWaypointResources(
  previous: WaypointResources | undefined,
  next: WaypointResources | undefined,
  share: ShareMap,
): { readonly resources: WaypointResources; readonly same: boolean } {
  const before = previous ?? EMPTY;
  const after = next ?? EMPTY;
  const listeners = share(before.listeners, after.listeners);
  const routes = share(before.routes, after.routes);
  const clusters = share(before.clusters, after.clusters);
  const endpoints = share(before.endpoints, after.endpoints);
  const identitiesSame = isDeepStrictEqual(before.identities, after.identities);
  const same = listeners.same && routes.same && clusters.same && endpoints.same && identitiesSame;
  if (same) return { resources: before, same };
  return {
    resources: Object.freeze({
      listeners: listeners.map,
      routes: routes.map,
      clusters: clusters.map,
      endpoints: endpoints.map,
      identities: identitiesSame ? before.identities : after.identities,
    }),
    same,
  };
}
