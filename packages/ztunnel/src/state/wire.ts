/**
 * The state in its wire form, for worker threads (docs/ztunnel.md, "More cores"). The main thread owns the
 * one xDS stream and the one `StateStore`; each worker keeps a replica store of its own. Decoded resources
 * hold class instances (identities, compiled policies) that do not survive `postMessage`, so what crosses
 * the thread boundary is what crossed the network: each resource's protobuf bytes, decoded again in the
 * worker by the same resource types (`resource-types.ts`). The main thread validated them already, so a
 * replica converges on exactly the snapshot the main thread published.
 *
 * `WireMirror` keeps the bytes of everything the main store holds, so that a worker started (or restarted)
 * later begins from the whole state in one update and then follows the changes.
 */
import type { ResourceBatch, ResourceType, ValidationResult } from '@ambit/xds';
import type { Policy } from '../authz/policy.js';
import { WorkerError } from '../errors.js';
import type { AddressResource } from './model.js';
import { addressResourceType, authorizationResourceType } from './resource-types.js';
import type { StateUpdate, TypeChanges } from './store.js';

/** One resource as its protobuf bytes, under its name (the workload uid, `namespace/hostname`, `namespace/name`). */
export interface WireResource {
  readonly name: string;
  readonly bytes: Uint8Array;
}

export interface WireChanges {
  readonly upserts: readonly WireResource[];
  readonly removals: readonly string[];
}

/** A `StateUpdate` in wire form: what the main thread posts to its workers. */
export interface WireUpdate {
  readonly addresses?: WireChanges;
  readonly authorizations?: WireChanges;
}

/** A decoded resource with the bytes it was decoded from. */
export interface Wired<T> {
  readonly value: T;
  readonly bytes: Uint8Array;
}

/**
 * `type`, keeping each resource's bytes beside its decoded value. The bytes are copied: the decoder gets a
 * view into the whole response buffer, which must not stay alive for one resource.
 */
export function keepingBytes<T>(type: ResourceType<T>): ResourceType<Wired<T>> {
  return {
    typeUrl: type.typeUrl,
    decode: (bytes, name): ValidationResult<Wired<T>> => {
      const result = type.decode(bytes, name);
      return result.ok ? { ok: true, value: { value: result.value, bytes: Uint8Array.from(bytes) } } : result;
    },
    ...(type.nameOf === undefined ? {} : { nameOf: (wired: Wired<T>) => type.nameOf!(wired.value) }),
    ...(type.allResourcesRequiredInSotw === undefined ? {} : { allResourcesRequiredInSotw: type.allResourcesRequiredInSotw }),
  };
}

/** Called with each update, in the order the main store applied them. */
export type WireListener = (update: WireUpdate) => void;

/** The wire form of everything the main store holds, and a feed of its changes. */
export class WireMirror {
  readonly #addresses = new Map<string, Uint8Array>();
  readonly #authorizations = new Map<string, Uint8Array>();
  readonly #listeners = new Set<WireListener>();

  /** Records an update the main store has just applied and passes it to every listener. */
  record(update: WireUpdate): void {
    if (update.addresses !== undefined) recordInto(this.#addresses, update.addresses);
    if (update.authorizations !== undefined) recordInto(this.#authorizations, update.authorizations);
    for (const listener of [...this.#listeners]) listener(update);
  }

  /** Everything held, as one update of upserts: where a new worker starts. */
  full(): WireUpdate {
    return { addresses: upsertsOf(this.#addresses), authorizations: upsertsOf(this.#authorizations) };
  }

  /** Resources held, per type. */
  get size(): { readonly addresses: number; readonly authorizations: number } {
    return { addresses: this.#addresses.size, authorizations: this.#authorizations.size };
  }

  /** Calls `listener` with every later update. Returns the function that unsubscribes it. */
  onUpdate(listener: WireListener): () => void {
    const entry: WireListener = (update) => listener(update);
    this.#listeners.add(entry);
    return () => void this.#listeners.delete(entry);
  }
}

function recordInto(held: Map<string, Uint8Array>, changes: WireChanges): void {
  // Removals first, as the store applies them.
  for (const name of changes.removals) held.delete(name);
  for (const r of changes.upserts) held.set(r.name, r.bytes);
}

function upsertsOf(held: ReadonlyMap<string, Uint8Array>): WireChanges {
  return { upserts: [...held].map(([name, bytes]) => ({ name, bytes })), removals: [] };
}

/** Decodes wire updates back into store updates (the worker side); `WorkerError` for bytes that do not decode. */
export class WireDecoder {
  readonly #address = addressResourceType();
  readonly #authorization = authorizationResourceType();

  decode(update: WireUpdate): StateUpdate {
    return {
      ...(update.addresses === undefined ? {} : { addresses: decodeChanges(this.#address, update.addresses) }),
      ...(update.authorizations === undefined ? {} : { authorizations: decodeChanges(this.#authorization, update.authorizations) }),
    };
  }
}

function decodeChanges<T extends AddressResource | Policy>(type: ResourceType<T>, changes: WireChanges): TypeChanges<T> {
  const upserts = changes.upserts.map((r) => {
    const result = type.decode(r.bytes, r.name);
    if (!result.ok) throw new WorkerError(`the replica cannot decode ${type.typeUrl} ${r.name}, which the main thread accepted: ${result.reason}`);
    return result.value;
  });
  return { upserts, removals: changes.removals };
}

/**
 * A batch of wired resources split in two: the batch of decoded values for the store, and its wire form for
 * the mirror (keyed by the resource's own name, which removals use).
 */
export function splitWired<T>(batch: ResourceBatch<Wired<T>>, nameOf: (value: T) => string): { readonly batch: ResourceBatch<T>; readonly wire: WireChanges } {
  const upserts = batch.upserts.map((u) => ({ name: u.name, version: u.version, aliases: u.aliases, resource: u.resource.value }));
  const wire = { upserts: batch.upserts.map((u) => ({ name: nameOf(u.resource.value), bytes: u.resource.bytes })), removals: batch.removals };
  return { batch: { typeUrl: batch.typeUrl, upserts, removals: batch.removals }, wire };
}
