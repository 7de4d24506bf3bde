/**
 * The lookups on-demand (named) subscriptions make in a resource table: which resources hold an alias
 * (`network/IP`), and which workloads belong to a service.
 *
 * Every list is the sorted set of resource names, whatever order the table's resources come in. That makes
 * an index derivable from the previous table's by looking at the changed resources only: building it over
 * 11,000 Addresses took 15–40 ms, and a table is built for every snapshot, so with an on-demand client
 * connected every one-pod change paid it. The maps are `LayeredMap`s, so a derived index shares all but
 * the changed lists with the previous one, which stays intact for whoever still reads the previous table.
 */
import { LayeredMap, type MapChange } from '../lib/layered-map.js';

export interface TableIndex {
  /** Alias → the names of the resources that hold it, sorted; the first one is what the alias resolves to. */
  readonly aliases: LayeredMap<string, readonly string[]>;
  /** Group (a service's resource name) → the names of its members, sorted. */
  readonly members: LayeredMap<string, readonly string[]>;
}

/** What one resource contributes to an index. */
export interface IndexKeys {
  readonly aliases: readonly string[];
  readonly groups: readonly string[];
}

/** One resource's contribution before and after a change (undefined: absent from that table). */
export interface IndexChange {
  readonly name: string;
  readonly before: IndexKeys | undefined;
  readonly after: IndexKeys | undefined;
}

export const EMPTY_INDEX: TableIndex = { aliases: LayeredMap.of([]), members: LayeredMap.of([]) };

/** The index of `resources` (name → what it contributes). */
export function buildTableIndex(resources: Iterable<readonly [name: string, keys: IndexKeys]>): TableIndex {
  const aliases = new Map<string, string[]>();
  const members = new Map<string, string[]>();
  for (const [name, keys] of resources) {
    for (const alias of keys.aliases) addTo(aliases, alias, name);
    for (const group of keys.groups) addTo(members, group, name);
  }
  return { aliases: LayeredMap.adopt(sortedSets(aliases)), members: LayeredMap.adopt(sortedSets(members)) };
}

/** `index` after `changes`: exactly `buildTableIndex` of the changed table, at the cost of the changed lists. */
export function updateTableIndex(index: TableIndex, changes: Iterable<IndexChange>): TableIndex {
  const aliases = new Map<string, string[]>();
  const members = new Map<string, string[]>();
  for (const { name, before, after } of changes) {
    edit(index.aliases, aliases, name, before?.aliases, after?.aliases);
    edit(index.members, members, name, before?.groups, after?.groups);
  }
  return { aliases: index.aliases.update(asChanges(aliases)), members: index.members.update(asChanges(members)) };
}

function addTo(map: Map<string, string[]>, key: string, name: string): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [name]);
  // A resource listing the same key twice is one holder.
  else if (list[list.length - 1] !== name) list.push(name);
}

/** Each list sorted and without repeats (a name can repeat only when the resources came unsorted). */
function sortedSets(map: Map<string, string[]>): Map<string, string[]> {
  for (const [key, list] of map) {
    if (list.length < 2) continue;
    list.sort(compare);
    map.set(
      key,
      list.filter((name, i) => i === 0 || name !== list[i - 1]),
    );
  }
  return map;
}

/** Moves `name` out of the lists of the keys it left and into those of the keys it joined. */
function edit(
  index: LayeredMap<string, readonly string[]>,
  work: Map<string, string[]>,
  name: string,
  before: readonly string[] | undefined,
  after: readonly string[] | undefined,
): void {
  const left = new Set(before);
  const joined = new Set(after);
  for (const key of left) if (!joined.has(key)) remove(listOf(index, work, key), name);
  for (const key of joined) if (!left.has(key)) insert(listOf(index, work, key), name);
}

/** The working copy of `key`'s list: copied from the index on first use, then edited in place. */
function listOf(index: LayeredMap<string, readonly string[]>, work: Map<string, string[]>, key: string): string[] {
  let list = work.get(key);
  if (list === undefined) work.set(key, (list = [...(index.get(key) ?? [])]));
  return list;
}

function insert(list: string[], name: string): void {
  const at = lowerBound(list, name);
  if (list[at] !== name) list.splice(at, 0, name);
}

function remove(list: string[], name: string): void {
  const at = lowerBound(list, name);
  if (list[at] === name) list.splice(at, 1);
}

/** The first index of `list` (sorted) whose name is not below `name`. */
function lowerBound(list: readonly string[], name: string): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]! < name) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function* asChanges(work: Map<string, string[]>): Generator<MapChange<string, readonly string[]>, undefined, unknown> {
  for (const [key, list] of work) yield [key, list.length > 0 ? list : undefined];
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
