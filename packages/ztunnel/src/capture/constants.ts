/**
 * The numbers node-level capture is built from. The kernel rules (nft-script.ts, routing.ts), the listeners
 * (listeners.ts) and the data path's dials (dial.ts) must agree on every one of them, so they live here.
 */

/**
 * SO_MARK of every ztunnel socket, and the firewall mark of packets the capture rules deliver to ztunnel
 * (Istio's 1337). Only the bits in MARK_MASK are ours: other bits belong to whoever else marks packets
 * on the node (CNIs use the high bits), and the rules keep them.
 */
export const ZTUNNEL_MARK = 0x539;
export const MARK_MASK = 0xfff;

/** The address the three capture listeners bind; TPROXY steers captured connections to it. */
export const CAPTURE_HOST = '127.0.0.1';

/** The ports of the three capture listeners. */
export interface CapturePorts {
  /** Connections an enrolled pod opens to anything else (15001). */
  readonly outbound: number;
  /** Plaintext connections to an enrolled pod, on any port but the HBONE one (15006). */
  readonly inboundPlain: number;
  /** HBONE (mTLS HTTP/2 CONNECT) connections to an enrolled pod's port 15008 (15008). */
  readonly inboundHbone: number;
}

export const DEFAULT_CAPTURE_PORTS: CapturePorts = Object.freeze({ outbound: 15001, inboundPlain: 15006, inboundHbone: 15008 });

/** The port HBONE peers dial on a pod's address; connections to it are captured by the HBONE listener. */
export const HBONE_PORT = 15008;

/** The nftables table ztunnel owns in its node's network namespace (family inet). */
export const NFT_TABLE = 'ambit-ztunnel';

/** The routing table holding `local 0.0.0.0/0 dev lo`, looked up for marked packets. */
export const DEFAULT_ROUTING_TABLE = 133;

/**
 * The preference of the first of our two `ip rule`s (the second is this + 1). Low, so that a CNI's own
 * catch-all rules (which come later) never see the packets capture delivers locally.
 */
export const DEFAULT_RULE_PRIORITY = 1337;

/**
 * The `protocol` (rtm_protocol) our ip rules and routes carry: how a new run recognises what a crashed one
 * left behind, whatever priority or table that run was configured with, without touching anyone else's.
 */
export const ROUTE_PROTOCOL = 133;
