/**
 * Load balancers over a cluster's hosts, built when the cluster's endpoints change (ring and Maglev tables
 * are computed then, never per request):
 *
 * - `round-robin`: smooth weighted round robin (equal weights: plain rotation).
 * - `least-request`: as Envoy's: with equal weights, the power of two choices (two random hosts, the one
 *   with fewer requests in flight); with unequal weights, weighted round robin over `weight / (active + 1)`.
 * - `random`: weighted random.
 * - `ring-hash`: a ring of at least 1,024 points, points per host in proportion to weight (a power-of-two
 *   number per unit of weight, see `RingHash`); the request's hash picks the first point at or after it.
 * - `maglev`: a 65,537-entry Maglev table (weighted: a host takes a turn per round in proportion to its
 *   weight); the hash indexes it.
 *
 * Availability: a host is available when healthy and not ejected. A hashed pick landing on an unavailable
 * host walks on to the next available one (ring or table order), so other keys keep their host. When fewer
 * than half the hosts are available, every host is used (Envoy's default 50% panic threshold).
 */
import type { LbPolicy } from '../config/types.js';
import { hash52 } from './hash.js';
import type { Host } from './host.js';

export type RandomSource = () => number;

export interface LoadBalancer {
  /** Picks a host; `hash` is used by `ring-hash` and `maglev` (a random hash when undefined). */
  pick(now: number, hash: number | undefined): Host | undefined;
}

export function createLoadBalancer(policy: LbPolicy, hosts: readonly Host[], random: RandomSource): LoadBalancer {
  switch (policy) {
    case 'round-robin':
      return new RoundRobin(hosts);
    case 'least-request':
      return new LeastRequest(hosts, random);
    case 'random':
      return new WeightedRandom(hosts, random);
    case 'ring-hash':
      return new RingHash(hosts, random);
    case 'maglev':
      return new Maglev(hosts, random);
    case 'cluster-provided':
      // An ORIGINAL_DST cluster: its host is the request's destination, never a balancer's pick.
      return NO_PICK;
  }
}

const NO_PICK: LoadBalancer = Object.freeze({ pick: () => undefined });

/** The hosts to choose from now: the available ones, or all of them in panic. */
function candidates(hosts: readonly Host[], now: number): readonly Host[] {
  let available = 0;
  for (const h of hosts) if (h.endpoint.healthy && !h.isEjected(now)) available++;
  if (available === hosts.length) return hosts;
  if (available * 2 < hosts.length) return hosts;
  return hosts.filter((h) => h.endpoint.healthy && !h.isEjected(now));
}

function availableOrPanic(host: Host, now: number, panic: boolean): boolean {
  return panic || (host.endpoint.healthy && !host.isEjected(now));
}

function inPanic(hosts: readonly Host[], now: number): boolean {
  let available = 0;
  for (const h of hosts) if (h.endpoint.healthy && !h.isEjected(now)) available++;
  return available * 2 < hosts.length;
}

/** A host's configured weight, at least 1 (a host with weight 0 would never be picked). */
function configuredWeight(h: Host): number {
  return Math.max(1, h.endpoint.weight);
}

/** Its weight divided by (requests in flight + 1): Envoy's default `active_request_bias` of 1.0. */
function loadScaledWeight(h: Host): number {
  return configuredWeight(h) / (h.active + 1);
}

/**
 * One step of smooth weighted round robin (nginx's): every host's current weight grows by its weight, the
 * largest is picked and lowered by the total. Over a cycle each host is picked in proportion to its weight,
 * spread out rather than in runs. `current` persists between picks; `weightOf` is a module function, so a
 * pick allocates nothing.
 */
function smoothWeightedPick(list: readonly Host[], current: Map<Host, number>, weightOf: (h: Host) => number): Host | undefined {
  let total = 0;
  let best: Host | undefined;
  let bestWeight = -Infinity;
  for (const h of list) {
    const w = weightOf(h);
    total += w;
    const cw = (current.get(h) ?? 0) + w;
    current.set(h, cw);
    if (cw > bestWeight) {
      bestWeight = cw;
      best = h;
    }
  }
  if (best !== undefined) current.set(best, bestWeight - total);
  return best;
}

class RoundRobin implements LoadBalancer {
  readonly #hosts: readonly Host[];
  /** Smooth WRR current weights, by host. */
  readonly #current = new Map<Host, number>();

  constructor(hosts: readonly Host[]) {
    this.#hosts = hosts;
  }

  pick(now: number): Host | undefined {
    return smoothWeightedPick(candidates(this.#hosts, now), this.#current, configuredWeight);
  }
}

class LeastRequest implements LoadBalancer {
  readonly #hosts: readonly Host[];
  readonly #random: RandomSource;
  /** Envoy's two modes: P2C when every weight is the same, else weights scaled down by load. */
  readonly #equalWeights: boolean;
  /** Smooth WRR current weights, by host (weighted mode). */
  readonly #current = new Map<Host, number>();

  constructor(hosts: readonly Host[], random: RandomSource) {
    this.#hosts = hosts;
    this.#random = random;
    this.#equalWeights = hosts.every((h) => h.endpoint.weight === hosts[0]!.endpoint.weight);
  }

  pick(now: number): Host | undefined {
    const list = candidates(this.#hosts, now);
    if (list.length <= 1) return list[0];
    if (this.#equalWeights) {
      // Two distinct hosts at random; the one with fewer requests in flight (the first on a tie).
      const a = list[Math.floor(this.#random() * list.length)]!;
      let b = list[Math.floor(this.#random() * (list.length - 1))]!;
      if (b === a) b = list[list.length - 1]!;
      return b.active < a.active ? b : a;
    }
    // Weighted: the same smooth weighted round robin as `round-robin`, over weights scaled down by load.
    return smoothWeightedPick(list, this.#current, loadScaledWeight);
  }
}

class WeightedRandom implements LoadBalancer {
  readonly #hosts: readonly Host[];
  readonly #random: RandomSource;

  constructor(hosts: readonly Host[], random: RandomSource) {
    this.#hosts = hosts;
    this.#random = random;
  }

  pick(now: number): Host | undefined {
    const list = candidates(this.#hosts, now);
    let total = 0;
    for (const h of list) total += Math.max(1, h.endpoint.weight);
    let r = this.#random() * total;
    for (const h of list) {
      r -= Math.max(1, h.endpoint.weight);
      if (r < 0) return h;
    }
    return list[list.length - 1];
  }
}

const MIN_RING_SIZE = 1024;

class RingHash implements LoadBalancer {
  readonly #hosts: readonly Host[];
  readonly #random: RandomSource;
  readonly #points: Float64Array;
  readonly #owners: Host[];

  constructor(hosts: readonly Host[], random: RandomSource) {
    this.#hosts = hosts;
    this.#random = random;
    let total = 0;
    for (const h of hosts) total += Math.max(1, h.endpoint.weight);
    // Points per unit of weight: the power of two that brings the ring to at least MIN_RING_SIZE. A host
    // leaving then changes no other host's points (its keys alone move) unless the total weight crosses a
    // power of two; scaling by the exact ratio, as Envoy does, would add points to every host each time.
    const scale = 2 ** Math.max(0, Math.ceil(Math.log2(MIN_RING_SIZE / Math.max(1, total))));
    const entries: [number, Host][] = [];
    for (const h of hosts) {
      const n = Math.max(1, h.endpoint.weight) * scale;
      for (let i = 0; i < n; i++) entries.push([hash52(`${h.key}_${i}`), h]);
    }
    entries.sort((a, b) => a[0] - b[0]);
    this.#points = Float64Array.from(entries, (e) => e[0]);
    this.#owners = entries.map((e) => e[1]);
  }

  pick(now: number, hash: number | undefined): Host | undefined {
    const n = this.#points.length;
    if (n === 0) return undefined;
    const h = hash ?? Math.floor(this.#random() * 2 ** 52);
    // First point >= h (wrapping to 0).
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#points[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    const panic = inPanic(this.#hosts, now);
    for (let i = 0; i < n; i++) {
      const owner = this.#owners[(lo + i) % n]!;
      if (availableOrPanic(owner, now, panic)) return owner;
    }
    return undefined;
  }
}

const MAGLEV_TABLE_SIZE = 65537;

class Maglev implements LoadBalancer {
  readonly #hosts: readonly Host[];
  readonly #random: RandomSource;
  readonly #table: (Host | undefined)[];

  constructor(hosts: readonly Host[], random: RandomSource) {
    this.#hosts = hosts;
    this.#random = random;
    const m = MAGLEV_TABLE_SIZE;
    this.#table = new Array<Host | undefined>(m);
    if (hosts.length === 0) return;
    const offsets = hosts.map((h) => hash52(h.key, 1) % m);
    const skips = hosts.map((h) => (hash52(h.key, 2) % (m - 1)) + 1);
    const next = hosts.map(() => 0);
    const weights = hosts.map((h) => Math.max(1, h.endpoint.weight));
    const maxWeight = Math.max(...weights);
    let filled = 0;
    for (let round = 0; filled < m; round++) {
      for (let i = 0; i < hosts.length && filled < m; i++) {
        // A host takes this round's turn when its share of rounds advances past an integer.
        if (Math.floor(((round + 1) * weights[i]!) / maxWeight) === Math.floor((round * weights[i]!) / maxWeight)) continue;
        for (;;) {
          const slot = (offsets[i]! + next[i]! * skips[i]!) % m;
          next[i]!++;
          if (this.#table[slot] === undefined) {
            this.#table[slot] = hosts[i];
            filled++;
            break;
          }
        }
      }
    }
  }

  pick(now: number, hash: number | undefined): Host | undefined {
    if (this.#hosts.length === 0) return undefined;
    const h = hash ?? Math.floor(this.#random() * 2 ** 52);
    const m = MAGLEV_TABLE_SIZE;
    const start = h % m;
    const panic = inPanic(this.#hosts, now);
    for (let i = 0; i < m; i++) {
      const owner = this.#table[(start + i) % m]!;
      if (availableOrPanic(owner, now, panic)) return owner;
    }
    return undefined;
  }
}
