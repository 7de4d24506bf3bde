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
 *   one-pod edit costs one conversion and a new version of the address map (a `LayeredMap`, which shares
 *   all but the changed entries with the previous one), and `addressesPatchOf` says which addresses it may
 *   have changed, so that the snapshot need not compare the others.
 * - After the frame is rebuilt, service Addresses equal to the previous round's are replaced by those
 *   objects, as pods' are: content handed on is identical wherever it is unchanged, so the snapshot never
 *   has to swap objects in (which would leave it holding a map the next patch cannot start from).
 */
import { isDeepStrictEqual } from 'node:util';
import type { Address, Authorization } from '@ambit/protos';
import { sortDiagnostics } from '../input/diagnostics.js';
import { inputPatchOf, type InputSet } from '../input/input-set.js';
import type { InputObject, PodObject } from '../input/objects.js';
import { LayeredMap } from '../lib/layered-map.js';
import { convertAuthorizationPolicies } from './authorization.js';
import { ModelContext, type RecordedReport } from './context.js';
import type { ModelOptions } from './options.js';
import { PeerAuthenticationPolicies } from './peer-authentication.js';
import { buildServices } from './services.js';
import type { InputDiagnostic } from './snapshot.js';
import { buildWaypointFrame, waypointResources, type WaypointFrame, type WaypointResources } from './waypoint-config/build.js';
import { WaypointIndex } from './waypoints.js';
import { buildWorkloads, indexWorkloadInputs, patchWorkloads, type BuiltWorkloads, type PodMemo, type WorkloadIndex } from './workloads.js';

/** A snapshot's content, before it is versioned. */
export interface MeshContent {
  readonly addresses: ReadonlyMap<string, Address>;
  readonly authorizations: ReadonlyMap<string, Authorization>;
  readonly identitiesByNode: ReadonlyMap<string, ReadonlySet<string>>;
  readonly diagnostics: readonly InputDiagnostic[];
  /** The waypoints' Envoy resources (Listener, RouteConfiguration, Cluster, ClusterLoadAssignment). */
  readonly waypoints?: WaypointResources;
}

/**
 * What a patched computation changed: its `addresses` are `base` (the addresses of the computation before)
 * with at most the keys in `changed` set or replaced, in the same order otherwise.
 */
export interface AddressesPatch {
  readonly base: ReadonlyMap<string, Address>;
  readonly changed: ReadonlySet<string>;
}

/** Patches by content; kept beside the content so that the content stays plain data. */
const patches = new WeakMap<MeshContent, AddressesPatch>();

/**
 * How `content` differs from the content computed before it, when it was patched from it (see
 * `ComputeCache`); undefined when it was computed in full. Lets a snapshot look only at what changed.
 */
export function addressesPatchOf(content: MeshContent): AddressesPatch | undefined {
  return patches.get(content);
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
  readonly waypoints: WaypointFrame;
}

/**
 * Results of earlier computations, for the next one: one frame and the last workloads. Opaque; pass the
 * same cache to every `computeMesh` call of one model.
 */
export class ComputeCache {
  /**
   * Frames built and reused, rounds patched, and of those the ones that looked only at the pods the loader
   * said it replaced (for tests and logs).
   */
  readonly stats = { framesBuilt: 0, framesReused: 0, roundsPatched: 0, roundsHinted: 0 };
}

interface CacheState {
  frame: Frame | undefined;
  previousWorkloads: ReadonlyMap<string, Address>;
  /** The uids of `previousWorkloads`, sorted. */
  sortedUids: readonly string[];
  /**
   * The last computation's workloads, the pods and frame they came from, the content it returned, and that
   * content's addresses (the map the next patch derives its version from).
   */
  round:
    | {
        readonly frame: Frame;
        readonly pods: readonly PodObject[];
        readonly workloads: BuiltWorkloads;
        readonly content: MeshContent;
        readonly addresses: LayeredMap<string, Address>;
      }
    | undefined;
  /** The last input's split into pods and others. */
  split: Split | undefined;
}

/** An input's objects split into pods and the others. */
interface Split {
  readonly objects: readonly InputObject[];
  readonly pods: readonly PodObject[];
  readonly others: readonly InputObject[];
  /** Each object's index among the pods (-1: not a pod). */
  readonly podIndex: Int32Array;
  /**
   * When this split was patched from the one before: that split's pods, and the indices of the pods that
   * may differ from them (every other index holds the same object).
   */
  readonly patchedFrom?: {
    readonly pods: readonly PodObject[];
    readonly changed: readonly number[];
    /** Only the objects the loader replaced were looked at (`inputPatchOf`), not every object. */
    readonly hinted: boolean;
  };
}

/** Above this many replaced objects the input is split again rather than patched. */
const SPLIT_PATCH_LIMIT = 64;

/**
 * `input`'s objects split into pods and the others. When they are the last input's objects with a few
 * pods replaced by pods (a one-pod edit), the last split is patched: the others are the same array, and no
 * 10,000-entry arrays are grown again. When the loader says which objects it replaced (`inputPatchOf`),
 * only those are looked at.
 */
function splitObjects(state: CacheState, input: InputSet): Split {
  const objects = input.objects;
  const last = state.split;
  if (last !== undefined && last.objects.length === objects.length) {
    const hint = inputPatchOf(input);
    const positions = hint !== undefined && hint.previous.objects === last.objects ? hint.indices : undefined;
    const count = positions?.length ?? objects.length;
    let pods: PodObject[] | undefined;
    const changed: number[] = [];
    let patchable = true;
    for (let k = 0; k < count && patchable; k++) {
      const i = positions !== undefined ? positions[k]! : k;
      const object = objects[i]!;
      if (object === last.objects[i]) continue;
      const podIndex = last.podIndex[i]!;
      patchable = podIndex >= 0 && object.kind === 'Pod' && changed.push(podIndex) <= SPLIT_PATCH_LIMIT;
      if (patchable) (pods ??= last.pods.slice())[podIndex] = object as PodObject;
    }
    if (patchable) {
      const split: Split = { objects, pods: pods ?? last.pods, others: last.others, podIndex: last.podIndex, patchedFrom: { pods: last.pods, changed, hinted: positions !== undefined } };
      state.split = split;
      return split;
    }
  }
  const pods: PodObject[] = [];
  const others: InputObject[] = [];
  const podIndex = new Int32Array(objects.length);
  for (let i = 0; i < objects.length; i++) {
    const object = objects[i]!;
    if (object.kind === 'Pod') {
      podIndex[i] = pods.length;
      pods.push(object);
    } else {
      podIndex[i] = -1;
      others.push(object);
    }
  }
  const split: Split = { objects, pods, others, podIndex };
  state.split = split;
  return split;
}

const states = new WeakMap<ComputeCache, CacheState>();

function stateOf(cache: ComputeCache): CacheState {
  let state = states.get(cache);
  if (state === undefined) states.set(cache, (state = { frame: undefined, previousWorkloads: new Map(), sortedUids: [], round: undefined, split: undefined }));
  return state;
}

/** The cached frame when it was built from exactly `objects` (the same objects, in order) and `options`. */
function cachedFrame(state: CacheState, objects: readonly InputObject[], options: ModelOptions): Frame | undefined {
  const frame = state.frame;
  if (frame === undefined || frame.options !== options || frame.objects.length !== objects.length) return undefined;
  if (frame.objects === objects) return frame;
  for (let i = 0; i < objects.length; i++) if (frame.objects[i] !== objects[i]) return undefined;
  return frame;
}

export function computeMesh(input: InputSet, options: ModelOptions, cache: ComputeCache = new ComputeCache()): MeshContent {
  const state = stateOf(cache);
  const split = splitObjects(state, input);
  const { pods, others } = split;
  let frame = cachedFrame(state, others, options);
  if (frame === undefined) {
    frame = buildFrame(others, options, state.round?.addresses);
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
  // The split knows which pods changed when it was patched from the pods of the last round.
  const patchedFrom = split.patchedFrom !== undefined && split.patchedFrom.pods === round?.pods ? split.patchedFrom : undefined;
  const changedPods = patchedFrom?.changed;
  const patched = round?.frame === frame ? patchWorkloads(ctx, frame.index, frame.pods, share, round.workloads, round.pods, changedPods) : undefined;
  if (patched !== undefined && round !== undefined) {
    // A few pods changed, each keeping its uid, node and identity: the previous content with those swapped.
    cache.stats.roundsPatched++;
    if (patchedFrom?.hinted === true) cache.stats.roundsHinted++;
    const base = round.addresses;
    const addresses = base.update(patched.updated.map((converted) => [converted.uid, converted.address] as const));
    const changed = new Set(patched.updated.map((converted) => converted.uid));
    const content: MeshContent = {
      addresses,
      authorizations: frame.authorizations,
      identitiesByNode: round.content.identitiesByNode,
      diagnostics: sortDiagnostics([...input.diagnostics, ...ctx.diagnostics]),
      waypoints: waypointResources(frame.waypoints, ctx, addresses, { base, changed }),
    };
    patches.set(content, { base, changed });
    state.round = { frame, pods, workloads: patched, content, addresses };
    state.previousWorkloads = patched.addresses;
    return content;
  }
  const workloads = buildWorkloads(ctx, frame.index, frame.pods, share);
  // Pods change, pod names rarely: the last order serves when the same uids are sent.
  const sameUids = state.sortedUids.length === workloads.addresses.size && state.sortedUids.every((uid) => workloads.addresses.has(uid));
  const sortedUids = sameUids ? state.sortedUids : [...workloads.addresses.keys()].sort();
  state.previousWorkloads = workloads.addresses;
  state.sortedUids = sortedUids;

  const map = new Map<string, Address>();
  for (const uid of sortedUids) map.set(uid, workloads.addresses.get(uid)!);
  for (const [name, address] of frame.serviceAddresses) map.set(name, address);
  const addresses = LayeredMap.adopt(map);

  const identitiesByNode = new Map<string, ReadonlySet<string>>();
  for (const node of [...workloads.identitiesByNode.keys()].sort()) {
    identitiesByNode.set(node, new Set([...workloads.identitiesByNode.get(node)!].sort()));
  }

  const content: MeshContent = {
    addresses,
    authorizations: frame.authorizations,
    identitiesByNode,
    diagnostics: sortDiagnostics([...input.diagnostics, ...ctx.diagnostics]),
    waypoints: waypointResources(frame.waypoints, ctx, addresses),
  };
  state.round = { frame, pods, workloads, content, addresses };
  return content;
}

/**
 * The frame of `objects`. Service Addresses equal to those in `previous` (the last round's addresses) are
 * those objects, so that an unchanged service stays the same object across a rebuilt frame.
 */
function buildFrame(objects: readonly InputObject[], options: ModelOptions, previous: ReadonlyMap<string, Address> | undefined): Frame {
  const ctx = new ModelContext(objects, options);
  const { result, reports } = ctx.record(() => {
    const waypoints = new WaypointIndex(ctx);
    const services = buildServices(ctx, waypoints);
    const policies = convertAuthorizationPolicies(ctx);
    const peerAuthentications = new PeerAuthenticationPolicies(ctx);
    const waypointFrame = buildWaypointFrame(ctx, waypoints, services);
    return { waypoints, services, policies, peerAuthentications, waypointFrame };
  });
  const serviceAddresses = [...result.services]
    .sort((a, b) => compare(a.resourceName, b.resourceName))
    .map((info) => {
      const address: Address = { service: info.service, type: 'service' };
      const old = previous?.get(info.resourceName);
      return [info.resourceName, old !== undefined && isDeepStrictEqual(old, address) ? old : address] as const;
    });
  const authorizations = new Map<string, Authorization>();
  const allPolicies = [...result.policies.map((p) => p.authorization), ...result.peerAuthentications.authorizations];
  for (const authorization of allPolicies.sort((a, b) => compare(resourceName(a), resourceName(b)))) {
    authorizations.set(resourceName(authorization), authorization);
  }
  return {
    options,
    objects,
    ctx,
    index: indexWorkloadInputs(result),
    serviceAddresses,
    authorizations,
    reports,
    pods: new WeakMap(),
    waypoints: result.waypointFrame,
  };
}

function resourceName(authorization: Authorization): string {
  return `${authorization.namespace}/${authorization.name}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
