/**
 * Every connection the data path is relaying, so that two things can reach them later:
 *
 * - the policy watcher (ztunnel's `PolicyWatcher`): when the policy generation moves, each inbound
 *   connection is authorized again against the new snapshot, and those now denied are closed;
 * - the drain: wait until none is left, or close what remains at the deadline.
 *
 * Tracking costs one Set insert and delete per connection; nothing per chunk.
 */
import type { Identity } from '@ambit/mesh-core/identity';
import { describeDecision, type Authorizer, type AuthzDecision } from '../authz/index.js';
import type { ProxySnapshot } from '../state/snapshot.js';
import type { Direction, ResponseFlag } from './record.js';

/** What an inbound connection was authorized with, to authorize it again. */
export interface AuthorizedAs {
  readonly sourceIdentity: Identity | undefined;
  readonly sourceIp: string;
  readonly workloadUid: string;
  readonly destinationIp: string;
  readonly port: number;
}

/** Why the manager closed a connection. */
export type CloseReason = { readonly kind: 'policy'; readonly decision: AuthzDecision } | { readonly kind: 'drain' };

export interface TrackedConnection {
  readonly direction: Direction;
  /** Inbound connections under policy; undefined for outbound ones. */
  readonly authorizedAs: AuthorizedAs | undefined;
  /** Tears the connection down now (both sides). Called at most once by the manager. */
  close(reason: CloseReason): void;
}

export class ConnectionManager {
  readonly #live = new Set<TrackedConnection>();
  #idleWaiters: (() => void)[] = [];

  get size(): number {
    return this.#live.size;
  }

  add(conn: TrackedConnection): void {
    this.#live.add(conn);
  }

  delete(conn: TrackedConnection): void {
    if (!this.#live.delete(conn) || this.#live.size > 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Resolves once no connection is left. */
  idle(): Promise<void> {
    if (this.#live.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Authorizes every inbound connection again against `snapshot` and closes those now denied. A connection
   * whose workload is no longer in the snapshot is left alone: it ends with its pod. Returns how many closed.
   */
  recheck(snapshot: ProxySnapshot, authorizer: Authorizer): number {
    let closed = 0;
    for (const conn of [...this.#live]) {
      const as = conn.authorizedAs;
      if (as === undefined) continue;
      const workload = snapshot.findWorkload(as.workloadUid);
      if (workload === undefined) continue;
      const decision = authorizer.check(snapshot, {
        source: { identity: as.sourceIdentity, ip: as.sourceIp },
        destination: { workload, ip: as.destinationIp, port: as.port },
      });
      if (decision.allowed) continue;
      closed++;
      conn.close({ kind: 'policy', decision });
    }
    return closed;
  }

  /** Closes every connection now (the end of a drain). */
  closeAll(): number {
    const all = [...this.#live];
    for (const conn of all) conn.close({ kind: 'drain' });
    return all.length;
  }
}

/** A close the manager asked for, as one line for the access log. */
export function describeClose(reason: CloseReason): string {
  return reason.kind === 'policy' ? `closed after a policy change: ${describeDecision(reason.decision)}` : 'closed at the drain deadline';
}

/** The response flag of a connection the manager closed: DENY for policy, `-` for the drain. */
export function flagOfClose(reason: CloseReason): ResponseFlag {
  return reason.kind === 'policy' ? 'DENY' : '-';
}
