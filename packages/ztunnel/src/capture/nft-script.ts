/**
 * The nftables scripts capture sends to `nft -f -`. Each script is one kernel transaction: the whole change
 * applies or none of it does, and packets never see half of it. docs/capture.md explains every rule.
 *
 * Text scripts rather than `nft --json`: the text is what an operator reads back with `nft list table`, it
 * goes into error messages and logs as is, and nft's own parse errors point at its lines; the JSON schema
 * would add nothing but volume for the few fixed statements used here.
 */
import { CAPTURE_HOST, HBONE_PORT, MARK_MASK, NFT_TABLE, ZTUNNEL_MARK } from './constants.js';
import type { CapturePorts } from './constants.js';
import { CAPTURE_SETS } from './workloads.js';
import type { CaptureElements, CaptureSet, ElementDelta } from './workloads.js';

const TABLE = `inet ${NFT_TABLE}`;
const hex = (n: number): string => `0x${n.toString(16)}`;
/** Sets our mark bits and keeps everyone else's. */
const SET_MARK = `meta mark set meta mark & ${hex(~MARK_MASK >>> 0)} | ${hex(ZTUNNEL_MARK)}`;

/** Set name → nft type. */
const SET_TYPES: Readonly<Record<CaptureSet, string>> = {
  enrolled_v4: 'ipv4_addr',
  outbound_if_v4: 'ifname . ipv4_addr',
  outbound_rpf_v4: 'ipv4_addr',
};

/**
 * Replaces whatever table of ours exists (a crashed run's, or none) with a fresh one holding `elements`, in
 * one transaction: `add` makes the `delete` valid when there is no table, so exactly one copy remains.
 */
export function installScript(ports: CapturePorts, elements: CaptureElements): string {
  return [`add table ${TABLE}`, `delete table ${TABLE}`, tableDefinition(ports), ...addLines(elements)].join('\n') + '\n';
}

/** Removes our table and everything in it, whether or not it exists. */
export function removeScript(): string {
  return `add table ${TABLE}\ndelete table ${TABLE}\n`;
}

/** One incremental change: only the elements that differ; rules and chains are untouched. */
export function deltaScript(delta: ElementDelta): string {
  const lines: string[] = [];
  for (const [set, elements] of delta.delete) lines.push(`delete element ${TABLE} ${set} { ${elements.join(', ')} }`);
  for (const [set, elements] of delta.add) lines.push(`add element ${TABLE} ${set} { ${elements.join(', ')} }`);
  return lines.join('\n') + '\n';
}

/**
 * Rewrites the three sets whole, still in one transaction. Used only after a failed change, when what the
 * kernel holds is no longer known.
 */
export function resyncScript(elements: CaptureElements): string {
  return [...CAPTURE_SETS.map((set) => `flush set ${TABLE} ${set}`), ...addLines(elements)].join('\n') + '\n';
}

function addLines(elements: CaptureElements): string[] {
  const lines: string[] = [];
  for (const set of CAPTURE_SETS) {
    const members = [...(elements.get(set) ?? [])];
    if (members.length > 0) lines.push(`add element ${TABLE} ${set} { ${members.join(', ')} }`);
  }
  return lines;
}

function capture(chain: string, port: number, why: string): string {
  return `  chain ${chain} {
    meta l4proto tcp tproxy ip to ${CAPTURE_HOST}:${port} ${SET_MARK} accept comment "${why}"
    reject with tcp reset comment "nothing listens on ${CAPTURE_HOST}:${port}: refuse rather than bypass the mesh"
  }`;
}

function tableDefinition(ports: CapturePorts): string {
  const sets = CAPTURE_SETS.map((set) => `  set ${set} { type ${SET_TYPES[set]}; }`).join('\n');
  const m = `${hex(MARK_MASK)} == ${hex(ZTUNNEL_MARK)}`;
  return `table ${TABLE} {
${sets}
  chain prerouting {
    type filter hook prerouting priority mangle; policy accept;
    meta l4proto != tcp return comment "only TCP is captured"
    socket transparent 1 ${SET_MARK} accept comment "replies to ztunnel's transparent sockets and later packets of captured connections"
    meta mark & ${m} accept comment "ztunnel's own packets are never captured"
    tcp flags & (syn | ack) != syn return comment "only connection openings are captured"
    fib daddr type local return comment "traffic to the node itself is not captured"
    iifname . ip saddr @outbound_if_v4 goto outbound comment "from an enrolled pod, on its interface"
    ip saddr @outbound_rpf_v4 fib saddr . iif oif exists goto outbound comment "from an enrolled pod, routed back the way it came"
    ip daddr @enrolled_v4 tcp dport ${HBONE_PORT} goto inbound_hbone comment "HBONE to an enrolled pod"
    ip daddr @enrolled_v4 goto inbound_plain comment "plaintext to an enrolled pod"
  }
${capture('outbound', ports.outbound, 'outbound')}
${capture('inbound_hbone', ports.inboundHbone, 'inbound HBONE')}
${capture('inbound_plain', ports.inboundPlain, 'inbound plaintext')}
}`;
}
