/**
 * The workloads capture knows about, checked and turned into the elements of the three nftables sets.
 * Everything here is pure: the manager diffs the element sets of two lists to get one incremental change.
 */
import { isIP } from 'node:net';
import { CaptureError } from './errors.js';

/** An enrolled (HBONE) workload on this node, as the xDS state names it. */
export interface CaptureWorkload {
  /** The xDS workload uid, for errors and status. */
  readonly uid: string;
  /** Its IPv4 address. */
  readonly ip: string;
  /**
   * The node-side interface its traffic arrives on (its veth, or the CNI bridge), when known. Then outbound
   * capture matches the exact (interface, address) pair; otherwise it checks that the address is routed back
   * through the interface the packet came in on (a strict reverse-path lookup), which needs no name.
   */
  readonly interface?: string | undefined;
}

/** The sets of the capture table (nft-script.ts declares them). */
export type CaptureSet = 'enrolled_v4' | 'outbound_if_v4' | 'outbound_rpf_v4';
export const CAPTURE_SETS: readonly CaptureSet[] = ['enrolled_v4', 'outbound_if_v4', 'outbound_rpf_v4'];

/** Each set's elements, written as nft literals (`10.0.0.1`, `"veth0" . 10.0.0.1`), so equal means equal. */
export type CaptureElements = ReadonlyMap<CaptureSet, ReadonlySet<string>>;

/** What one change adds to and deletes from each set; sets left alone are absent. */
export interface ElementDelta {
  readonly add: ReadonlyMap<CaptureSet, readonly string[]>;
  readonly delete: ReadonlyMap<CaptureSet, readonly string[]>;
}

/** Linux interface names: at most IFNAMSIZ-1 = 15 bytes; we also keep to characters safe inside nft quotes. */
const INTERFACE_NAME = /^[A-Za-z0-9_.+-]{1,15}$/;

/**
 * Checks a list and returns a frozen copy. Every problem is reported at once, each naming the entry; nothing
 * is applied when any is found.
 */
export function validateWorkloads(input: unknown): readonly CaptureWorkload[] {
  if (!Array.isArray(input)) throw invalid([`expected an array of workloads, got ${describe(input)}`]);
  const problems: string[] = [];
  const byUid = new Map<string, number>();
  const byIp = new Map<string, string>();
  const out: CaptureWorkload[] = [];
  input.forEach((entry: unknown, index) => {
    const where = `workloads[${index}]`;
    if (typeof entry !== 'object' || entry === null) {
      problems.push(`${where}: expected an object, got ${describe(entry)}`);
      return;
    }
    const { uid, ip, interface: iface } = entry as Record<string, unknown>;
    if (typeof uid !== 'string' || uid.length === 0) {
      problems.push(`${where}: uid must be a non-empty string, got ${describe(uid)}`);
      return;
    }
    const label = `${where} (${uid})`;
    const first = byUid.get(uid);
    if (first !== undefined) problems.push(`${label}: uid already given by workloads[${first}]`);
    else byUid.set(uid, index);
    const ipProblem = checkIp(ip);
    if (ipProblem !== undefined) problems.push(`${label}: ${ipProblem}`);
    else {
      const owner = byIp.get(ip as string);
      if (owner !== undefined && owner !== uid) problems.push(`${label}: ip ${ip as string} is also claimed by ${owner}`);
      byIp.set(ip as string, uid);
    }
    if (iface !== undefined && (typeof iface !== 'string' || !INTERFACE_NAME.test(iface) || iface === '.' || iface === '..')) {
      problems.push(`${label}: interface must be a Linux interface name (1-15 of A-Z a-z 0-9 _ . + -), got ${describe(iface)}`);
    }
    if (ipProblem === undefined) {
      out.push(Object.freeze(iface === undefined ? { uid, ip: ip as string } : { uid, ip: ip as string, interface: iface as string }));
    }
  });
  if (problems.length > 0) throw invalid(problems);
  return Object.freeze(out);
}

/** The elements each set must hold for `workloads` (already validated). */
export function elementsOf(workloads: readonly CaptureWorkload[]): CaptureElements {
  const enrolled = new Set<string>();
  const outboundIf = new Set<string>();
  const outboundRpf = new Set<string>();
  for (const w of workloads) {
    enrolled.add(w.ip);
    if (w.interface !== undefined) outboundIf.add(`"${w.interface}" . ${w.ip}`);
    else outboundRpf.add(w.ip);
  }
  return new Map<CaptureSet, ReadonlySet<string>>([
    ['enrolled_v4', enrolled],
    ['outbound_if_v4', outboundIf],
    ['outbound_rpf_v4', outboundRpf],
  ]);
}

/** The smallest change turning `from` into `to`: only elements that differ, in a stable order. */
export function diffElements(from: CaptureElements, to: CaptureElements): ElementDelta {
  const add = new Map<CaptureSet, string[]>();
  const del = new Map<CaptureSet, string[]>();
  for (const set of CAPTURE_SETS) {
    const before = from.get(set) ?? new Set<string>();
    const after = to.get(set) ?? new Set<string>();
    const added = [...after].filter((e) => !before.has(e));
    const removed = [...before].filter((e) => !after.has(e));
    if (added.length > 0) add.set(set, added);
    if (removed.length > 0) del.set(set, removed);
  }
  return { add, delete: del };
}

export function isEmptyDelta(delta: ElementDelta): boolean {
  return delta.add.size === 0 && delta.delete.size === 0;
}

function checkIp(ip: unknown): string | undefined {
  if (typeof ip !== 'string') return `ip must be a string, got ${describe(ip)}`;
  const family = isIP(ip);
  if (family === 6) return `ip ${ip} is IPv6; capture handles IPv4 only`;
  if (family !== 4) return `ip ${JSON.stringify(ip)} is not an IPv4 address`;
  const first = Number(ip.split('.')[0]);
  if (first === 0 || first === 127 || first >= 224) return `ip ${ip} cannot be a pod address (unspecified, loopback, multicast or reserved)`;
  return undefined;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
    case 'boolean':
    case 'bigint':
      return `${typeof value} ${String(value)}`;
    case 'undefined':
      return 'undefined';
    case 'object':
      return 'an object';
    case 'function':
    case 'symbol':
      break;
  }
  return `a ${typeof value}`;
}

function invalid(problems: readonly string[]): CaptureError {
  const head = problems.length === 1 ? 'invalid workload list' : `invalid workload list (${problems.length} problems)`;
  return new CaptureError('CAPTURE_ERR_INVALID_WORKLOAD', `${head}: ${problems.join('; ')}`);
}
