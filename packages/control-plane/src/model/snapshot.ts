/**
 * The seam between the model (Kubernetes-style YAML → Istio's ambient resources) and what serves it
 * (delta xDS, the CA's node authorization, config_dump). The model publishes one immutable snapshot per
 * input change; servers diff consecutive snapshots to push only what changed.
 */
import type { EventEmitter } from 'node:events';
import type { Address, Authorization } from '@ambit/protos';
import type { WaypointResources } from './waypoint-config/build.js';

export interface MeshSnapshot {
  /** Increases by one with every snapshot published. */
  readonly version: number;
  /** xDS `istio.workload.Address` resources by resource name: a workload's uid, or `namespace/hostname` for a service. */
  readonly addresses: ReadonlyMap<string, Address>;
  /** xDS `istio.security.Authorization` resources by resource name `namespace/name`. */
  readonly authorizations: ReadonlyMap<string, Authorization>;
  /**
   * Workload identity URIs (`spiffe://…`) of the enrolled pods on each node, by node name: the CA lets a
   * node's ztunnel impersonate exactly these (istiod's node authorizer).
   */
  readonly identitiesByNode: ReadonlyMap<string, ReadonlySet<string>>;
  /** Problems found in the input, each with file, document index and field path; the rest still serves. */
  readonly diagnostics: readonly InputDiagnostic[];
  /**
   * Optional hint: the resource names whose resource differs from snapshot `version - 1` (changed, added or
   * removed), per type. A server may use it to do work in proportion to the change; without it (or when it
   * skipped a version) it compares everything.
   */
  readonly changed?: { readonly addresses: ReadonlySet<string>; readonly authorizations: ReadonlySet<string> };
  /**
   * The waypoints' configuration in Envoy's types (served over the same ADS stream), and each waypoint's
   * identity. Absent in a snapshot with no waypoint input (treated as empty). Unchanged resources keep
   * their objects from the previous snapshot, as addresses do.
   */
  readonly waypoints?: WaypointResources;
}

export interface InputDiagnostic {
  readonly file: string;
  /** Index of the YAML document in its file, from 0. */
  readonly document: number;
  /** Dotted field path inside the document, e.g. `spec.ports[0].targetPort`; empty for the whole document. */
  readonly path: string;
  readonly message: string;
  /** `error`: the document (or file) was not applied as written; `warning`: applied, but check it. */
  readonly severity: 'error' | 'warning';
  /** 1-based line in the file of the field (or of its nearest existing parent), when known. */
  readonly line?: number;
}

/** Publishes snapshots: `current` is always the latest; `'snapshot'` fires with each new one. */
export interface SnapshotSource extends EventEmitter<{ snapshot: [MeshSnapshot] }> {
  readonly current: MeshSnapshot;
}
