/**
 * Traffic addressed to a workload (a pod IP) at its waypoint, as Istio's waypoint takes it: for every
 * captured workload whose Address names a waypoint that takes workload traffic (`istio.io/waypoint-for:
 * workload|all`), the waypoint's Listener gets an HTTP chain and a TCP chain matching the workload's IPs
 * on **every port** (a `filter_chain_match` without `destination_port`, Envoy's "any port"; ztunnel sends
 * a pod-addressed connection to the waypoint whatever its port, and nothing declares a pod's ports). The
 * waypoint sniffs which of the two a tunnel takes, as for an undeclared service port.
 *
 * Membership is read from the workload Addresses the model computed, so the waypoint binds exactly the
 * traffic ztunnels send it: ztunnel goes through a workload's waypoint only when the workload has one
 * and speaks HBONE (its `waypoint` names the waypoint's address).
 *
 * What the chains carry does not depend on the workload: the waypoint-wide policies, and a route to the
 * waypoint's ORIGINAL_DST cluster. It is built once per frame (`WorkloadChainTemplate`); only the
 * chains' names and prefix ranges follow pods. Cost follows the change, as for endpoints: the result is
 * remembered per frame with each waypoint's members, a patched computation (a few pods changed) looks only
 * at those pods, and a waypoint whose members and their IPs did not change keeps its Listener object.
 */
import type { Address, GatewayAddress, Workload } from '@ambit/protos';
import { bytesToIp } from '../../input/ip.js';
import { cidrRange } from './envoy-builders.js';
import type { FilterChain, Filter, Listener } from './envoy-types.js';
import type { WorkloadsPatch } from './endpoints.js';

/** The filters of every workload chain of one waypoint. */
export interface WorkloadChainTemplate {
  /** The HTTP chain's single filter (the connection manager). */
  readonly http: readonly Filter[];
  /** The TCP chain's filters (network RBAC, then the TCP proxy). */
  readonly tcp: readonly Filter[];
}

/** What the frame gives workload bindings: the waypoints that take workload traffic. */
export interface WorkloadBindingFrame {
  /** By waypoint key (`namespace/name`). */
  readonly templates: ReadonlyMap<string, WorkloadChainTemplate>;
  /** Waypoint key by the key of the address workloads are given for it (`gatewayAddressKey`). */
  readonly byAddress: ReadonlyMap<string, string>;
  /** The HTTP chains' application protocols (what the waypoint recognizes as HTTP). */
  readonly httpProtocols: readonly string[];
}

/** `inbound-pod|*|<http|tcp>|<ip>`: a workload's chain, named by its first IP; `*` is every port. */
export function workloadChainName(ip: string, kind: 'http' | 'tcp'): string {
  return `inbound-pod|*|${kind}|${ip}`;
}

/** One key per waypoint address, as workloads carry it (a hostname, or an address in a network). */
export function gatewayAddressKey(address: GatewayAddress | undefined): string | undefined {
  if (address === undefined) return undefined;
  if (address.hostname !== undefined) return `hostname/${address.hostname.namespace ?? ''}/${address.hostname.hostname ?? ''}`;
  if (address.address?.address !== undefined) return `address/${address.address.network ?? ''}/${Buffer.from(address.address.address).toString('hex')}`;
  return undefined;
}

interface Member {
  readonly waypoint: string;
  /** Canonical IP text, in the workload's order. */
  readonly ips: readonly string[];
}

interface Remembered {
  readonly addresses: ReadonlyMap<string, Address>;
  /** By uid: the waypoint each bound workload is bound to, with its IPs. */
  readonly members: Map<string, Member>;
  /** By waypoint key: the uids bound to it. */
  readonly byWaypoint: Map<string, Set<string>>;
  readonly listeners: ReadonlyMap<string, Listener>;
}

const remembered = new WeakMap<WorkloadBindingFrame, Remembered>();

/**
 * `listeners` (the frame's, by name `waypoint/<key>`) with each waypoint's workload chains after its
 * service chains, workloads in uid order. `patch` says which workloads changed since `patch.base`.
 */
export function withWorkloadChains(
  listeners: ReadonlyMap<string, Listener>,
  frame: WorkloadBindingFrame,
  addresses: ReadonlyMap<string, Address>,
  patch?: WorkloadsPatch,
): ReadonlyMap<string, Listener> {
  if (frame.templates.size === 0) return listeners;
  const last = remembered.get(frame);
  if (last !== undefined && last.addresses === addresses) return last.listeners;
  const next =
    last !== undefined && patch !== undefined && last.addresses === patch.base
      ? incremental(listeners, frame, addresses, patch, last)
      : full(listeners, frame, addresses, last);
  remembered.set(frame, next);
  return next.listeners;
}

/** The waypoint `workload` is bound to, with its IPs; undefined when it is not bound to one here. */
function memberOf(frame: WorkloadBindingFrame, workload: Workload | undefined): Member | undefined {
  if (workload === undefined || workload.tunnel_protocol !== 'HBONE') return undefined;
  const key = gatewayAddressKey(workload.waypoint);
  const waypoint = key === undefined ? undefined : frame.byAddress.get(key);
  if (waypoint === undefined || workload.addresses === undefined || workload.addresses.length === 0) return undefined;
  return { waypoint, ips: workload.addresses.map(bytesToIp) };
}

function sameMember(a: Member | undefined, b: Member | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.waypoint === b.waypoint && a.ips.length === b.ips.length && a.ips.every((ip, i) => ip === b.ips[i]);
}

function full(listeners: ReadonlyMap<string, Listener>, frame: WorkloadBindingFrame, addresses: ReadonlyMap<string, Address>, last: Remembered | undefined): Remembered {
  const members = new Map<string, Member>();
  const byWaypoint = new Map<string, Set<string>>();
  for (const [uid, address] of addresses) {
    const member = memberOf(frame, address.workload);
    if (member === undefined) continue;
    members.set(uid, member);
    let set = byWaypoint.get(member.waypoint);
    if (set === undefined) byWaypoint.set(member.waypoint, (set = new Set()));
    set.add(uid);
  }
  // A waypoint whose members are the ones bound last time, with the same IPs, keeps its listener.
  const unchanged = (key: string): boolean => {
    if (last === undefined) return false;
    const now = byWaypoint.get(key);
    const before = last.byWaypoint.get(key);
    if ((now?.size ?? 0) !== (before?.size ?? 0)) return false;
    for (const uid of now ?? []) if (!sameMember(members.get(uid), last.members.get(uid))) return false;
    return true;
  };
  return { addresses, members, byWaypoint, listeners: assemble(listeners, frame, members, byWaypoint, last, (key) => !unchanged(key)) };
}

function incremental(
  listeners: ReadonlyMap<string, Listener>,
  frame: WorkloadBindingFrame,
  addresses: ReadonlyMap<string, Address>,
  patch: WorkloadsPatch,
  last: Remembered,
): Remembered {
  const { members, byWaypoint } = last;
  const affected = new Set<string>();
  for (const uid of patch.changed) {
    const before = members.get(uid);
    const now = memberOf(frame, addresses.get(uid)?.workload);
    if (sameMember(before, now)) continue;
    if (before !== undefined) {
      members.delete(uid);
      byWaypoint.get(before.waypoint)?.delete(uid);
      affected.add(before.waypoint);
    }
    if (now !== undefined) {
      members.set(uid, now);
      let set = byWaypoint.get(now.waypoint);
      if (set === undefined) byWaypoint.set(now.waypoint, (set = new Set()));
      set.add(uid);
      affected.add(now.waypoint);
    }
  }
  if (affected.size === 0) return { addresses, members, byWaypoint, listeners: last.listeners };
  return { addresses, members, byWaypoint, listeners: assemble(listeners, frame, members, byWaypoint, last, (key) => affected.has(key)) };
}

/** The listeners: `rebuild(key)` waypoints get new ones, the others keep what `last` had. */
function assemble(
  listeners: ReadonlyMap<string, Listener>,
  frame: WorkloadBindingFrame,
  members: ReadonlyMap<string, Member>,
  byWaypoint: ReadonlyMap<string, ReadonlySet<string>>,
  last: Remembered | undefined,
  rebuild: (key: string) => boolean,
): ReadonlyMap<string, Listener> {
  const out = new Map<string, Listener>();
  for (const [name, base] of listeners) {
    const key = name.slice('waypoint/'.length);
    const template = frame.templates.get(key);
    const uids = byWaypoint.get(key);
    const previous = last?.listeners.get(name);
    if (template === undefined || uids === undefined || uids.size === 0) {
      out.set(name, base);
    } else if (previous !== undefined && previous !== base && !rebuild(key)) {
      out.set(name, previous);
    } else {
      const chains: FilterChain[] = [...base.filter_chains];
      for (const uid of [...uids].sort()) chains.push(...workloadChains(members.get(uid)!.ips, template, frame.httpProtocols));
      out.set(name, { ...base, filter_chains: chains });
    }
  }
  return out;
}

function workloadChains(ips: readonly string[], template: WorkloadChainTemplate, httpProtocols: readonly string[]): FilterChain[] {
  const prefixRanges = ips.map(cidrRange);
  return [
    { name: workloadChainName(ips[0]!, 'http'), filter_chain_match: { prefix_ranges: prefixRanges, application_protocols: httpProtocols }, filters: template.http },
    { name: workloadChainName(ips[0]!, 'tcp'), filter_chain_match: { prefix_ranges: prefixRanges }, filters: template.tcp },
  ];
}
