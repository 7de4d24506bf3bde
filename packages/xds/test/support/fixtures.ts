/**
 * Test fixtures: Istio Address/Authorization resource types (with the natural rejections ztunnel makes),
 * encoders, a fake clock, event waits and a handler that records every batch.
 */
import type { EventEmitter } from 'node:events';
import { addressCodec, authorizationCodec, type Address, type Authorization, type Workload } from '@ambit/protos';
import { pino } from 'pino';
import type { Clock } from '../../src/index.js';
import { codecResourceType, type Rejection, type ResourceBatch, type ResourceType } from '../../src/index.js';

export const silent = pino({ level: 'silent' });

/** Address as ztunnel validates it: a workload needs a uid and must not use the legacy tunnel. */
export function addressType(): ResourceType<Address> {
  return codecResourceType(addressCodec(), {
    validate: (a) => {
      if (a.workload) {
        if (!a.workload.uid) return 'workload has no uid';
        if (a.workload.tunnel_protocol === 'LEGACY_ISTIO_MTLS') return 'unsupported tunnel protocol LEGACY_ISTIO_MTLS';
      } else if (!a.service) return 'address is neither a workload nor a service';
      return undefined;
    },
    nameOf: (a) => a.workload?.uid ?? `${a.service?.namespace ?? ''}/${a.service?.hostname ?? ''}`,
  });
}

export function authorizationType(): ResourceType<Authorization> {
  return codecResourceType(authorizationCodec(), { nameOf: (p) => `${p.namespace ?? ''}/${p.name ?? ''}` });
}

export function workload(uid: string, extra: Partial<Workload> = {}): Buffer {
  return addressCodec().encode({ workload: { uid, name: uid.split('/').pop() ?? uid, namespace: 'default', ...extra } });
}

export function policy(namespace: string, name: string, action: 'ALLOW' | 'DENY' = 'ALLOW'): Buffer {
  return authorizationCodec().encode({ namespace, name, action, scope: 'NAMESPACE' });
}

/** A handler that keeps the applied state like an owner would, and records every batch it was given. */
export class RecordingHandler<T> {
  readonly batches: ResourceBatch<T>[] = [];
  readonly state = new Map<string, { version: string; resource: T }>();
  /** Rejections to return for the next batches (semantic validation). */
  reject: (batch: ResourceBatch<T>) => Rejection[] = () => [];

  readonly handle = (batch: ResourceBatch<T>): Rejection[] => {
    this.batches.push(batch);
    const rejections = this.reject(batch);
    const refused = new Set(rejections.map((r) => r.name));
    for (const u of batch.upserts) if (!refused.has(u.name)) this.state.set(u.name, { version: u.version, resource: u.resource });
    for (const name of batch.removals) if (!refused.has(name)) this.state.delete(name);
    return rejections;
  };

  names(): string[] {
    return [...this.state.keys()].sort();
  }
}

/** Resolves with the first event (of `event`) that `predicate` accepts; rejects after `ms` (a guard against hangs, not a timing check). */
export function waitFor<A extends unknown[]>(
  emitter: EventEmitter,
  event: string,
  predicate: (...args: A) => boolean = () => true,
  ms = 10_000,
): Promise<A> {
  return new Promise((resolve, reject) => {
    const listener = (...args: unknown[]): void => {
      if (!predicate(...(args as A))) return;
      cleanup();
      resolve(args as A);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out waiting for '${event}'`));
    }, ms);
    const cleanup = (): void => {
      clearTimeout(timer);
      emitter.off(event, listener);
    };
    emitter.on(event, listener);
  });
}

/** Polls `condition` until true; rejects after `ms` (hang guard). */
export async function waitUntil(condition: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A clock whose time moves only when the test says so. */
export class FakeClock implements Clock {
  #now = 0;
  #next = 1;
  readonly #timers = new Map<number, { at: number; callback: () => void; delay: number }>();
  /** Every delay ever scheduled, in order. */
  readonly scheduled: number[] = [];

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#now + ms, callback, delay: ms });
    this.scheduled.push(ms);
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  get pending(): number {
    return this.#timers.size;
  }

  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let due: [number, { at: number; callback: () => void }] | undefined;
      for (const entry of this.#timers) if (entry[1].at <= target && (!due || entry[1].at < due[1].at)) due = entry;
      if (!due) break;
      this.#timers.delete(due[0]);
      this.#now = due[1].at;
      due[1].callback();
    }
    this.#now = target;
  }
}
