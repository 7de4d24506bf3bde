/**
 * What the client holds for one resource type across streams: the subscription, the version and digest of
 * every resource the handler has applied, and the last ACK/NACK. It turns one response's resources into
 * one batch for the handler (decode everything first, apply once) and records only what was applied, so
 * that a rejected resource keeps its last good version and the server is asked for it again.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { describeError } from './errors.js';
import type { Rejection, ResourceBatch, ResourceHandler, ResourceType, ResourceUpsert } from './resource-type.js';

/** The name that asks for every resource of a type. */
export const WILDCARD = '*';

/** What the client remembers of an applied resource. */
interface HeldResource {
  readonly version: string;
  /**
   * The first 96 bits of the SHA-256 of the encoded resource, base64: identical bytes are not decoded or
   * handed to the handler again. 96 bits make an accidental match impossible in practice and keep the
   * string short (it is held for every resource).
   */
  readonly digest: string;
}

/** One resource as a response carried it. */
export interface IncomingResource {
  /** Known in delta; `undefined` in state of the world until decoded. */
  readonly name: string | undefined;
  /** Position in the response, to name a resource whose own name could not be read. */
  readonly index: number;
  readonly version: string;
  readonly bytes: Uint8Array;
  readonly aliases: readonly string[];
  /** Set when the client refuses the resource before decoding (e.g. a type URL mismatch). */
  readonly problem?: string;
}

/** When and with what the client last ACKed or NACKed a response of this type. */
export interface AckRecord {
  readonly nonce: string;
  readonly version: string;
  /** Wall-clock milliseconds since the epoch. */
  readonly time: number;
}

export interface NackRecord extends AckRecord {
  readonly error: string;
}

const NO_ALIASES: readonly string[] = Object.freeze([]);

function digestOf(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest().toString('base64', 0, 12);
}

/** google.rpc.Status message of a NACK: every rejected name with its reason. */
export function formatRejections(rejections: readonly Rejection[]): string {
  const count = rejections.length;
  return `${count} resource${count === 1 ? '' : 's'} rejected: ${rejections.map((r) => `${r.name}: ${r.reason}`).join('; ')}`;
}

export class TypeState<T> {
  readonly type: ResourceType<T>;
  readonly #handler: ResourceHandler<T>;
  readonly #logger: Logger;
  /** Names subscribed (may hold `*`). Insertion-ordered so that requests are deterministic. */
  readonly subscriptions = new Set<string>();
  readonly #held = new Map<string, HeldResource>();
  /** `version_info` of the last ACKed state-of-the-world response, resent on reconnect. */
  lastAckedVersion = '';
  lastAck: AckRecord | undefined;
  lastNack: NackRecord | undefined;
  responses = 0;

  constructor(type: ResourceType<T>, handler: ResourceHandler<T>, logger: Logger) {
    this.type = type;
    this.#handler = handler;
    this.#logger = logger;
  }

  get resourceCount(): number {
    return this.#held.size;
  }

  /** Applied resources and their versions: what delta sends as `initial_resource_versions`. */
  heldVersions(): Record<string, string> {
    const versions: Record<string, string> = {};
    for (const [name, held] of this.#held) versions[name] = held.version;
    return versions;
  }

  /** Names of the resources the handler holds. */
  heldNames(): IterableIterator<string> {
    return this.#held.keys();
  }

  /**
   * Decodes `incoming`, hands the valid changes and the `removals` (only names held; others are
   * ignored) to the handler as one batch, records what was applied and returns every rejection.
   * With `sotwFullState`, held resources absent from `incoming` are removed too (state of the world for
   * types whose responses carry the full set).
   */
  apply(incoming: readonly IncomingResource[], removals: readonly string[], sotwFullState: boolean): Rejection[] {
    const rejections: Rejection[] = [];
    const upserts: ResourceUpsert<T>[] = [];
    const digests = new Map<string, string>();
    /** Same bytes under a new version: nothing to apply, but the new version is recorded. */
    const unchanged = new Map<string, string>();
    const seen = new Set<string>();
    const duplicates = new Set<string>();
    let anonymousRejection = false;

    for (const item of incoming) {
      const digest = digestOf(item.bytes);
      let name = item.name;
      if (name !== undefined) {
        if (seen.has(name)) duplicates.add(name);
        seen.add(name);
        if (item.problem === undefined && this.#held.get(name)?.digest === digest) {
          unchanged.set(name, item.version);
          continue;
        }
      }
      if (item.problem !== undefined) {
        rejections.push({ name: name ?? `resources[${item.index}]`, reason: item.problem });
        if (name === undefined) anonymousRejection = true;
        continue;
      }
      const result = this.#decode(item.bytes, name ?? '');
      if (!result.ok) {
        if (name === undefined && result.name) {
          // Named by the decoder (state of the world): its held value is kept, not inferred removed.
          if (seen.has(result.name)) duplicates.add(result.name);
          seen.add(result.name);
        } else if (name === undefined) {
          anonymousRejection = true;
        }
        rejections.push({ name: name ?? result.name ?? `resources[${item.index}]`, reason: result.reason });
        continue;
      }
      if (name === undefined) {
        // State of the world: the name is inside the message.
        const named = this.#nameOf(result.value, item.index);
        if (!named.ok) {
          rejections.push({ name: `resources[${item.index}]`, reason: named.reason });
          anonymousRejection = true;
          continue;
        }
        name = named.value;
        if (seen.has(name)) duplicates.add(name);
        seen.add(name);
        if (this.#held.get(name)?.digest === digest) {
          unchanged.set(name, item.version);
          continue;
        }
      }
      digests.set(name, digest);
      upserts.push({ name, version: item.version, resource: result.value, aliases: item.aliases.length ? item.aliases : NO_ALIASES });
    }

    // Two resources under one name, or a name both updated and removed: what the server meant is
    // unknowable, so none of it is applied.
    const conflicts = new Set<string>();
    for (const name of duplicates) {
      rejections.push({ name, reason: 'the response holds more than one resource of this name' });
      conflicts.add(name);
    }
    const removed: string[] = [];
    for (const name of removals) {
      if (seen.has(name)) {
        if (!conflicts.has(name)) rejections.push({ name, reason: 'the response both updates and removes this resource' });
        conflicts.add(name);
      } else if (this.#held.has(name)) removed.push(name);
    }
    const validUpserts = conflicts.size ? upserts.filter((u) => !conflicts.has(u.name)) : upserts;
    for (const name of conflicts) unchanged.delete(name);
    // A rejected resource whose name could not be read may be any held one: removing none is the safe side.
    if (sotwFullState && !anonymousRejection) {
      for (const name of this.#held.keys()) if (!seen.has(name)) removed.push(name);
    }

    const refused = new Set<string>();
    for (const r of rejections) refused.add(r.name);
    if (validUpserts.length > 0 || removed.length > 0) {
      for (const r of this.#handle({ typeUrl: this.type.typeUrl, upserts: validUpserts, removals: removed })) {
        rejections.push(r);
        refused.add(r.name);
      }
    }

    for (const u of validUpserts) if (!refused.has(u.name)) this.#held.set(u.name, { version: u.version, digest: digests.get(u.name)! });
    for (const name of removed) if (!refused.has(name)) this.#held.delete(name);
    for (const [name, version] of unchanged) {
      const held = this.#held.get(name);
      if (held && held.version !== version) this.#held.set(name, { version, digest: held.digest });
    }
    return rejections;
  }

  /**
   * Forgets resources the client no longer asks for (after an unsubscribe), telling the handler.
   * There is no response to NACK here, so handler rejections are only logged.
   */
  dropLocal(names: readonly string[]): void {
    if (this.subscriptions.has(WILDCARD)) return;
    const removals = names.filter((name) => this.#held.has(name) && !this.subscriptions.has(name));
    if (removals.length === 0) return;
    const refused = this.#handle({ typeUrl: this.type.typeUrl, upserts: [], removals });
    if (refused.length > 0) this.#logger.warn({ type_url: this.type.typeUrl, rejections: refused }, 'handler refused unsubscribed removals');
    const keep = new Set(refused.map((r) => r.name));
    for (const name of removals) if (!keep.has(name)) this.#held.delete(name);
  }

  #decode(bytes: Uint8Array, name: string): ReturnType<ResourceType<T>['decode']> {
    try {
      return this.type.decode(bytes, name);
    } catch (error) {
      // Decoders should return a reason; a throw is a bug in the decoder, still only this resource's problem.
      return { ok: false, reason: `decoder threw: ${describeError(error)}` };
    }
  }

  #nameOf(value: T, index: number): { ok: true; value: string } | { ok: false; reason: string } {
    if (!this.type.nameOf) return { ok: false, reason: 'the resource type cannot name resources, which state of the world needs' };
    try {
      const name = this.type.nameOf(value);
      return name ? { ok: true, value: name } : { ok: false, reason: 'the resource has no name' };
    } catch (error) {
      return { ok: false, reason: `cannot name resources[${index}]: ${describeError(error)}` };
    }
  }

  #handle(batch: ResourceBatch<T>): readonly Rejection[] {
    try {
      return this.#handler(batch) ?? [];
    } catch (error) {
      // A throwing handler applied nothing we can trust: refuse the whole batch so it is sent again.
      this.#logger.error({ type_url: this.type.typeUrl, err: error }, 'xDS handler threw');
      const reason = `handler failed: ${describeError(error)}`;
      return [...batch.upserts.map((u) => ({ name: u.name, reason })), ...batch.removals.map((name) => ({ name, reason }))];
    }
  }
}
