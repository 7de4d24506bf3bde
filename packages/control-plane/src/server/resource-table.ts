/**
 * One xDS type's resources of one snapshot, encoded once and shared by every stream.
 *
 * Each resource is encoded to its wire bytes when a snapshot arrives; its xDS `version` is a short hash of
 * those bytes, so equal content has equal versions across snapshots, restarts and server instances (which
 * is what lets a reconnecting client's `initial_resource_versions` skip unchanged resources). Unchanged
 * message objects, and re-created ones that encode to the same bytes, keep their previous entry, so a
 * snapshot that changes one pod costs one encode-and-compare per resource and hands every stream the
 * same entry objects. With the model's hint of what changed, only those resources are looked at, and the
 * table's entries are a new version of the previous table's `LayeredMap` sharing every other entry.
 */
import { createHash } from 'node:crypto';
import type { MessageCodec } from '@ambit/protos';
import type { Address, Authorization } from '@ambit/protos';
import { LayeredMap, type MapChange } from '../lib/layered-map.js';
import { formatIp } from './ip-format.js';
import { buildTableIndex, EMPTY_INDEX, updateTableIndex, type IndexChange, type IndexKeys, type TableIndex } from './table-index.js';

/** One encoded resource. Immutable; shared by every stream and every table that holds the same bytes. */
export interface ResourceEntry {
  readonly name: string;
  /** Short content hash of `bytes`. */
  readonly version: string;
  /** The encoded message (an `istio.workload.Address` or `istio.security.Authorization`). */
  readonly bytes: Buffer;
  /** Other names a client may subscribe to this resource by (`network/IP` for addresses). */
  readonly aliases: readonly string[];
}

/** A resource the table left out because it cannot be encoded; the rest still serve. */
export interface EncodeProblem {
  readonly typeUrl: string;
  readonly name: string;
  readonly message: string;
}

/** Length of the hex version string: 64 bits of SHA-256, collision-free for any realistic mesh. */
const VERSION_LENGTH = 16;

export function contentVersion(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, VERSION_LENGTH);
}

/** The resources of one type at one snapshot, with alias and service-membership indexes for on-demand lookups. */
export class ResourceTable {
  readonly typeUrl: string;
  readonly entries: ReadonlyMap<string, ResourceEntry>;
  #index: TableIndex | undefined;
  #buildIndex: (() => TableIndex) | undefined;

  constructor(typeUrl: string, entries: ReadonlyMap<string, ResourceEntry>, index: TableIndex = EMPTY_INDEX) {
    this.typeUrl = typeUrl;
    this.entries = entries;
    this.#index = index;
  }

  /**
   * A table whose alias and membership indexes are built by `buildIndex` on first use. Only on-demand
   * (named) subscriptions look names up; wildcard clients, ztunnel's default, never do, so a snapshot
   * need not pay for indexing every resource.
   */
  static withLazyIndex(typeUrl: string, entries: ReadonlyMap<string, ResourceEntry>, buildIndex: () => TableIndex): ResourceTable {
    const table = new ResourceTable(typeUrl, entries);
    table.#index = undefined;
    table.#buildIndex = buildIndex;
    return table;
  }

  /** The index when it has been built (for a builder deriving the next table's), without building it. */
  builtIndex(): TableIndex | undefined {
    return this.#index;
  }

  #indexes(): TableIndex {
    if (this.#index === undefined) {
      this.#index = this.#buildIndex!();
      this.#buildIndex = undefined;
    }
    return this.#index;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * The resource name a subscription name stands for: itself, or the resource holding that alias. An
   * alias that is also a resource name resolves to that resource, so that subscribing by name is never
   * ambiguous; one held by several resources resolves to the smallest of their names, whatever order
   * the resources come in.
   */
  resolve(name: string): string | undefined {
    if (this.entries.has(name)) return name;
    return this.#indexes().aliases.get(name)?.[0];
  }

  /**
   * Resources that come with `name` for an on-demand client: the workloads behind a service (istiod's
   * AdditionalPodSubscriptions), so that asking for a VIP yields the endpoints to route to. Sorted by name.
   */
  membersOf(name: string): readonly string[] {
    return this.#indexes().members.get(name) ?? [];
  }
}

/** Which names changed between two tables of the same type: new or different content, and gone. */
export interface TableDiff {
  readonly upserted: readonly string[];
  readonly removed: readonly string[];
}

export function diffTables(previous: ResourceTable | undefined, next: ResourceTable, changed?: ReadonlySet<string>): TableDiff {
  const upserted: string[] = [];
  const removed: string[] = [];
  if (changed !== undefined && previous !== undefined) {
    // Only the names the model says changed can differ.
    for (const name of changed) {
      const entry = next.entries.get(name);
      if (entry !== undefined) {
        if (previous.entries.get(name)?.version !== entry.version) upserted.push(name);
      } else if (previous.entries.has(name)) {
        removed.push(name);
      }
    }
    return { upserted, removed };
  }
  const before = previous?.entries;
  for (const [name, entry] of next.entries) {
    if (before?.get(name)?.version !== entry.version) upserted.push(name);
  }
  if (before) {
    for (const name of before.keys()) if (!next.entries.has(name)) removed.push(name);
  }
  return { upserted, removed };
}

/**
 * Builds tables for consecutive snapshots of one type, reusing the previous snapshot's entries where
 * the content did not change.
 */
export class TableBuilder<T extends object> {
  readonly #codec: MessageCodec<T>;
  readonly #aliasesOf: (message: T) => readonly string[];
  readonly #membershipsOf: (message: T) => readonly string[];
  /** Message object → its entry: the model hands unchanged objects through from snapshot to snapshot. */
  #byObject = new WeakMap<T, ResourceEntry>();
  #previous: ResourceTable | undefined;
  /** The entries of `#previous`, as the persistent map the next hinted build derives its version from. */
  #previousEntries: LayeredMap<string, ResourceEntry> | undefined;
  #previousResources: ReadonlyMap<string, T> | undefined;
  #previousProblems: readonly EncodeProblem[] = [];

  constructor(
    codec: MessageCodec<T>,
    aliasesOf: (message: T) => readonly string[] = () => [],
    membershipsOf: (message: T) => readonly string[] = () => [],
  ) {
    this.#codec = codec;
    this.#aliasesOf = aliasesOf;
    this.#membershipsOf = membershipsOf;
  }

  /**
   * Encodes `resources` into a table; resources that fail to encode are left out and reported. `changed`
   * (optional) names every resource that differs from the `resources` of the previous call: then only
   * those are looked at, and the table costs what changed rather than the whole type — its index too,
   * derived from the previous table's when that one was built (an on-demand client is connected).
   */
  build(resources: ReadonlyMap<string, T>, problems: EncodeProblem[], changed?: ReadonlySet<string>): ResourceTable {
    // The model hands an unchanged type's map through as the same object.
    if (this.#previous !== undefined && resources === this.#previousResources) {
      problems.push(...this.#previousProblems);
      return this.#previous;
    }
    const problemsBefore = problems.length;
    const previous = this.#previousEntries;
    let entries: LayeredMap<string, ResourceEntry>;
    let index: TableIndex | undefined;
    if (changed !== undefined && previous !== undefined) {
      for (const p of this.#previousProblems) if (!changed.has(p.name)) problems.push(p);
      const updates: MapChange<string, ResourceEntry>[] = [];
      for (const name of changed) {
        const message = resources.get(name);
        updates.push([name, message === undefined ? undefined : this.#entryOf(name, message, previous, problems)]);
      }
      entries = previous.update(updates);
      const previousIndex = this.#previous?.builtIndex();
      const previousResources = this.#previousResources;
      if (previousIndex !== undefined && previousResources !== undefined) {
        const changes: IndexChange[] = [];
        for (const name of changed) {
          changes.push({
            name,
            before: this.#indexKeys(previousResources.get(name), previous.get(name)),
            after: this.#indexKeys(resources.get(name), entries.get(name)),
          });
        }
        index = updateTableIndex(previousIndex, changes);
      }
    } else {
      const map = new Map<string, ResourceEntry>();
      for (const [name, message] of resources) {
        const entry = this.#entryOf(name, message, previous, problems);
        if (entry !== undefined) map.set(name, entry);
      }
      entries = LayeredMap.adopt(map);
    }
    const table =
      index !== undefined
        ? new ResourceTable(this.#codec.typeUrl, entries, index)
        : ResourceTable.withLazyIndex(this.#codec.typeUrl, entries, () => buildTableIndex(this.#indexedResources(resources, entries)));
    this.#previous = table;
    this.#previousEntries = entries;
    this.#previousResources = resources;
    this.#previousProblems = problems.slice(problemsBefore);
    return table;
  }

  /** What `message` contributes to its table's index; undefined when it is not in the table (absent, or not encodable). */
  #indexKeys(message: T | undefined, entry: ResourceEntry | undefined): IndexKeys | undefined {
    if (message === undefined || entry === undefined) return undefined;
    return { aliases: entry.aliases, groups: this.#membershipsOf(message) };
  }

  *#indexedResources(resources: ReadonlyMap<string, T>, entries: ReadonlyMap<string, ResourceEntry>): Generator<[string, IndexKeys], undefined, unknown> {
    for (const [name, message] of resources) {
      const keys = this.#indexKeys(message, entries.get(name));
      if (keys !== undefined) yield [name, keys];
    }
  }

  /** The entry of `message` (reused when the object or its bytes are unchanged), or undefined when it cannot be encoded. */
  #entryOf(name: string, message: T, previous: ReadonlyMap<string, ResourceEntry> | undefined, problems: EncodeProblem[]): ResourceEntry | undefined {
    const known = this.#byObject.get(message);
    if (known?.name === name) return known;
    let bytes: Buffer;
    try {
      bytes = this.#codec.encode(message);
    } catch (err) {
      problems.push({ typeUrl: this.#codec.typeUrl, name, message: err instanceof Error ? err.message : String(err) });
      return undefined;
    }
    const old = previous?.get(name);
    const entry = old?.bytes.equals(bytes) ? old : { name, version: contentVersion(bytes), bytes, aliases: this.#aliasesOf(message) };
    this.#byObject.set(message, entry);
    return entry;
  }
}

/** `network/IP` for every address of a workload or service: the keys ztunnel's on-demand lookups use. */
export function addressAliases(address: Address): string[] {
  const out: string[] = [];
  if (address.workload) {
    const network = address.workload.network ?? '';
    for (const bytes of address.workload.addresses ?? []) {
      const ip = formatIp(bytes);
      if (ip !== undefined) out.push(`${network}/${ip}`);
    }
  } else if (address.service) {
    for (const a of address.service.addresses ?? []) {
      const ip = a.address ? formatIp(a.address) : undefined;
      if (ip !== undefined) out.push(`${a.network ?? ''}/${ip}`);
    }
  }
  return out;
}

/** The services (`namespace/hostname`, their resource names) a workload belongs to. */
export function addressMemberships(address: Address): string[] {
  return address.workload?.services ? Object.keys(address.workload.services) : [];
}

/** A builder for Address tables, with `network/IP` aliases and service membership. */
export function addressTableBuilder(codec: MessageCodec<Address>): TableBuilder<Address> {
  return new TableBuilder(codec, addressAliases, addressMemberships);
}

export function authorizationTableBuilder(codec: MessageCodec<Authorization>): TableBuilder<Authorization> {
  return new TableBuilder(codec);
}
