/**
 * The whole computation, input objects → mesh resources, as one pure function: the same input and
 * options always give the same resources, in the same order.
 *
 * A `ComputeCache` makes a recomputation after a small change cost what changed rather than the whole
 * mesh, without changing the result:
 *
 * - Everything except pods (namespaces, nodes, services, waypoints, policies…) is the *frame*. When the
 *   input holds exactly the same non-pod objects (the same objects: the loader hands unchanged documents
 *   through as the same objects), the frame's services, waypoints, converted policies and indexes are
 *   reused, and the diagnostics found while building them are reported again from a recording.
 * - A pod's workload depends only on the pod and the frame, so against an unchanged frame an unchanged
 *   pod object converts to the cached Address (its diagnostics replayed). What spans pods (the first pod
 *   to claim an IP keeps it, identities by node) is recomputed every time, which is cheap.
 * - A freshly converted Address equal to the one the cache last produced for that uid is replaced by it,
 *   so that unchanged content keeps its object and the snapshot diff is an identity check.
 * - When only a few pods changed (other objects: the same pods at the same positions) and each keeps its
 *   uid, node, identity and a free IP, the previous round is patched instead of walking every pod: a
 *   one-pod edit costs one conversion and a copy of the address map.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Address, Authorization } from '@ambit/protos';
import { sortDiagnostics } from '../input/diagnostics.js';
import type { InputSet } from '../input/input-set.js';
import type { InputObject, PodObject } from '../input/objects.js';
import { convertAuthorizationPolicies } from './authorization.js';
import { ModelContext, type RecordedReport } from './context.js';
import type { ModelOptions } from './options.js';
import { PeerAuthenticationPolicies } from './peer-authentication.js';
import { buildServices } from './services.js';
import type { InputDiagnostic } from './snapshot.js';
import { WaypointIndex } from './waypoints.js';
import { buildWorkloads, indexWorkloadInputs, patchWorkloads, type BuiltWorkloads, type PodMemo, type WorkloadIndex } from './workloads.js';

/** A snapshot's content, before it is versioned. */
export interface MeshContent {
  readonly addresses: ReadonlyMap<string, Address>;
  readonly authorizations: ReadonlyMap<string, Authorization>;
  readonly identitiesByNode: ReadonlyMap<string, ReadonlySet<string>>;
  readonly diagnostics: readonly InputDiagnostic[];
}

/** What the non-pod objects of an input produce. */
interface Frame {
  readonly options: ModelOptions;
  /** The non-pod objects it was built from, in input order. */
  readonly objects: readonly InputObject[];
  readonly ctx: ModelContext;
  readonly index: WorkloadIndex;
  /** Service Address resources, sorted by resource name. */
  readonly serviceAddresses: readonly (readonly [string, Address])[];
  /** Authorization resources, sorted by resource name. */
  readonly authorizations: ReadonlyMap<string, Authorization>;
  readonly reports: readonly RecordedReport[];
  readonly pods: PodMemo;
}

/**
 * Results of earlier computations, for the next one: one frame and the last workloads. Opaque; pass the
 * same cache to every `computeMesh` call of one model.
 */
export class ComputeCache {
  /** Frames built and reused (for tests and logs). */
  readonly stats = { framesBuilt: 0, framesReused: 0, roundsPatched: 0 };
}

interface CacheState {
  frame: Frame | undefined;
  previousWorkloads: ReadonlyMap<string, Address>;
  /** The uids of `previousWorkloads`, sorted. */
  sortedUids: readonly string[];
  /** The last computation's workloads, the pods and frame they came from, and the content it returned. */
  round: { readonly frame: Frame; readonly pods: readonly PodObject[]; readonly workloads: BuiltWorkloads; readonly content: MeshContent } | undefined;
}

const states = new WeakMap<ComputeCache, CacheState>();

function stateOf(cache: ComputeCache): CacheState {
  let state = states.get(cache);
  if (state === undefined) states.set(cache, (state = { frame: undefined, previousWorkloads: new Map(), sortedUids: [], round: undefined }));
  return state;
}

/** The cached frame when it was built from exactly `objects` (the same objects, in order) and `options`. */
function cachedFrame(state: CacheState, objects: readonly InputObject[], options: ModelOptions): Frame | undefined {
  const frame = state.frame;
  if (frame === undefined || frame.options !== options || frame.objects.length !== objects.length) return undefined;
  for (let i = 0; i < objects.length; i++) if (frame.objects[i] !== objects[i]) return undefined;
  return frame;
}

export function computeMesh(input: InputSet, options: ModelOptions, cache: ComputeCache = new ComputeCache()): MeshContent {
  const pods: PodObject[] = [];
  const others: InputObject[] = [];
  for (const object of input.objects) {
    if (object.kind === 'Pod') pods.push(object);
    else others.push(object);
  }
  const state = stateOf(cache);
  let frame = cachedFrame(state, others, options);
  if (frame === undefined) {
    frame = buildFrame(others, options);
    state.frame = frame;
    cache.stats.framesBuilt++;
  } else {
    cache.stats.framesReused++;
  }
  const ctx = frame.ctx;
  ctx.startRound(pods);
  ctx.replay(frame.reports);
  const previous = state.previousWorkloads;
  const share = (uid: string, address: Address): Address => {
    const old = previous.get(uid);
    return old !== undefined && isDeepStrictEqual(old, address) ? old : address;
  };
  const round = state.round;
  const patched = round?.frame === frame ? patchWorkloads(ctx, frame.index, frame.pods, share, round.workloads, round.pods) : undefined;
  if (patched !== undefined && round !== undefined) {
    // A few pods changed, each keeping its uid, node and identity: the previous content with those swapped.
    cache.stats.roundsPatched++;
    const addresses = new Map(round.content.addresses);
    for (const converted of patched.updated) addresses.set(converted.uid, converted.address);
    const content: MeshContent = { addresses, authorizations: frame.authorizations, identitiesByNode: round.content.identitiesByNode, diagnostics: sortDiagnostics([...input.diagnostics, ...ctx.diagnostics]) };
    state.round = { frame, pods, workloads: patched, content };
    state.previousWorkloads = patched.addresses;
    return content;
  }
  const workloads = buildWorkloads(ctx, frame.index, frame.pods, share);
  // Pods change, pod names rarely: the last order serves when the same uids are sent.
  const sameUids = state.sortedUids.length === workloads.addresses.size && state.sortedUids.every((uid) => workloads.addresses.has(uid));
  const sortedUids = sameUids ? state.sortedUids : [...workloads.addresses.keys()].sort();
  state.previousWorkloads = workloads.addresses;
  state.sortedUids = sortedUids;

  const addresses = new Map<string, Address>();
  for (const uid of sortedUids) addresses.set(uid, workloads.addresses.get(uid)!);
  for (const [name, address] of frame.serviceAddresses) addresses.set(name, address);

  const identitiesByNode = new Map<string, ReadonlySet<string>>();
  for (const node of [...workloads.identitiesByNode.keys()].sort()) {
    identitiesByNode.set(node, new Set([...workloads.identitiesByNode.get(node)!].sort()));
  }

  const content: MeshContent = {
    addresses,
    authorizations: frame.authorizations,
    identitiesByNode,
    diagnostics: sortDiagnostics([...input.diagnostics, ...ctx.diagnostics]),
  };
  state.round = { frame, pods, workloads, content };
  return content;
}

function buildFrame(objects: readonly InputObject[], options: ModelOptions): Frame {
  const ctx = new ModelContext(objects, options);
  const { result, reports } = ctx.record(() => {
    const waypoints = new WaypointIndex(ctx);
    const services = buildServices(ctx, waypoints);
    const policies = convertAuthorizationPolicies(ctx);
    const peerAuthentications = new PeerAuthenticationPolicies(ctx);
    return { waypoints, services, policies, peerAuthentications };
  });
  const serviceAddresses = [...result.services]
    .sort((a, b) => compare(a.resourceName, b.resourceName))
    .map((info) => [info.resourceName, { service: info.service, type: 'service' }] as const);
  const authorizations = new Map<string, Authorization>();
  const allPolicies = [...result.policies.map((p) => p.authorization), ...result.peerAuthentications.authorizations];
  for (const authorization of allPolicies.sort((a, b) => compare(resourceName(a), resourceName(b)))) {
    authorizations.set(resourceName(authorization), authorization);
  }
  return { options, objects, ctx, index: indexWorkloadInputs(result), serviceAddresses, authorizations, reports, pods: new WeakMap() };
}

function resourceName(authorization: Authorization): string {
  return `${authorization.namespace}/${authorization.name}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
