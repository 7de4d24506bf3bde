/**
 * IP addresses and CIDR prefixes as Istio's APIs carry them: 4 or 16 raw bytes (and a prefix length).
 * Node's `net` validates the textual forms; the byte conversion is ours because Node has no public API
 * that yields the bytes of an IPv6 address.
 */
import net from 'node:net';

export interface Cidr {
  readonly address: Buffer;
  readonly length: number;
}

/** The 4 or 16 bytes of an IP address, or undefined when `text` is not a plain IPv4/IPv6 address. */
export function ipToBytes(text: string): Buffer | undefined {
  if (net.isIPv4(text)) return Buffer.from(text.split('.').map(Number));
  // Zones (fe80::1%eth0) are not addresses a mesh can route to, and Kubernetes refuses them.
  if (!net.isIPv6(text) || text.includes('%')) return undefined;
  return ipv6ToBytes(text);
}

function ipv6ToBytes(text: string): Buffer {
  const out = Buffer.alloc(16);
  let head = text;
  let tailV4: Buffer | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    // An embedded IPv4 tail (::ffff:1.2.3.4) fills the last 4 bytes.
    tailV4 = Buffer.from(text.slice(lastColon + 1).split('.').map(Number));
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [left = '', right] = head.split('::');
  const leftGroups = left.length > 0 ? left.split(':') : [];
  const rightGroups = right !== undefined && right.length > 0 ? right.split(':') : [];
  const groups = [...leftGroups, ...new Array<string>(8 - leftGroups.length - rightGroups.length).fill('0'), ...rightGroups];
  groups.forEach((group, i) => out.writeUInt16BE(parseInt(group, 16), i * 2));
  if (tailV4) tailV4.copy(out, 12);
  return out;
}

/** The textual form back from bytes (for messages and keys). */
export function bytesToIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  // Compress the longest run of zero groups, as RFC 5952 asks.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** `10.0.0.0/8`, `fd00::/8` or a bare address (a host prefix); undefined when malformed. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const address = ipToBytes(slash < 0 ? text : text.slice(0, slash));
  if (address === undefined) return undefined;
  const max = address.length * 8;
  if (slash < 0) return { address, length: max };
  const lengthText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lengthText)) return undefined;
  const length = Number(lengthText);
  if (length > max) return undefined;
  return { address, length };
}

/** For `Field.string({ check })`. */
export function checkIp(value: string): string | undefined {
  return ipToBytes(value) === undefined ? `${JSON.stringify(value)} is not a valid IPv4 or IPv6 address` : undefined;
}

/** For `Field.string({ check })`. */
export function checkCidr(value: string): string | undefined {
  return parseCidr(value) === undefined ? `${JSON.stringify(value)} is not a valid IP address or CIDR block` : undefined;
}
