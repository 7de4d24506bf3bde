/**
 * IP addresses and CIDR ranges for policy and endpoints. Addresses are held as 16 bytes, IPv4 as the
 * IPv4-mapped IPv6 form (`::ffff:a.b.c.d`), so that a peer a dual-stack socket reports as
 * `::ffff:10.0.0.1` falls in `10.0.0.0/8` exactly like `10.0.0.1` does: a DENY on an IPv4 range must not
 * be sidestepped by how the address is spelled.
 */
import { isIPv4, isIPv6 } from 'node:net';

const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] as const;

function parseV4Into(text: string, out: Uint8Array, offset: number): boolean {
  const parts = text.split('.');
  if (parts.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    // Leading zeros are refused: some parsers read them as octal, and a policy must mean one address.
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return false;
    const n = Number(p);
    if (n > 255) return false;
    out[offset + i] = n;
  }
  return true;
}

/** Parses an IPv4 or IPv6 address (no zone, no brackets) to 16 bytes; undefined when it is not one. */
export function parseIp(text: string): Uint8Array | undefined {
  const out = new Uint8Array(16);
  if (isIPv4(text)) {
    out.set(V4_MAPPED_PREFIX);
    return parseV4Into(text, out, 12) ? out : undefined;
  }
  if (!isIPv6(text) || text.includes('%')) return undefined;
  let head = text;
  let v4Tail: string | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) !== -1) {
    v4Tail = text.slice(lastColon + 1);
    head = text.slice(0, lastColon + 1) + '0:0';
  }
  const halves = head.split('::');
  const left = halves[0] === '' ? [] : halves[0]!.split(':');
  const right = halves.length > 1 ? (halves[1] === '' ? [] : halves[1]!.split(':')) : [];
  const groups = halves.length > 1 ? [...left, ...new Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  if (groups.length !== 8) return undefined;
  for (let i = 0; i < 8; i++) {
    const g = parseInt(groups[i]!, 16);
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  }
  if (v4Tail !== undefined && !parseV4Into(v4Tail, out, 12)) return undefined;
  return out;
}

function isV4Mapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 12; i++) if (bytes[i] !== V4_MAPPED_PREFIX[i]) return false;
  return true;
}

/**
 * The canonical text of an address: dotted quad for IPv4 (and IPv4-mapped IPv6), RFC 5952 for IPv6
 * (lower case, longest zero run compressed). Keys of the snapshot's maps use it.
 */
export function formatIp(bytes: Uint8Array): string {
  if (isV4Mapped(bytes)) return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((bytes[i * 2]! << 8) | bytes[i * 2 + 1]!);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i += 1;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j += 1;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** The canonical text of `text`, or undefined when it is not an IP address. */
export function canonicalIp(text: string): string | undefined {
  const bytes = parseIp(text);
  return bytes === undefined ? undefined : formatIp(bytes);
}

/** `ip:port`, IPv6 in brackets: the snapshot's binding key. */
export function addressKey(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** A CIDR range over the 16-byte form. */
export class Cidr {
  readonly #bytes: Uint8Array;
  /** Prefix length over the 16-byte form (an IPv4 /8 is 104). */
  readonly #bits: number;
  readonly description: string;

  private constructor(bytes: Uint8Array, bits: number, description: string) {
    this.#bytes = bytes;
    this.#bits = bits;
    this.description = description;
    Object.freeze(this);
  }

  /**
   * `address` with `prefixLen` bits (of its own family: 0-32 for IPv4, 0-128 for IPv6). Returns a reason
   * when the address or length is wrong. Host bits are ignored, as Envoy does.
   */
  static of(address: string, prefixLen: number): Cidr | string {
    const bytes = parseIp(address);
    if (bytes === undefined) return `${JSON.stringify(address)} is not an IP address`;
    const v4 = isIPv4(address);
    const max = v4 ? 32 : 128;
    if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > max) return `prefix length ${prefixLen} is out of range 0-${max}`;
    return new Cidr(bytes, v4 ? prefixLen + 96 : prefixLen, `${formatIp(bytes)}/${prefixLen}`);
  }

  /** Whether this range holds `ip` (text); an unparsable address is in no range. */
  contains(ip: string): boolean {
    const bytes = parseIp(ip);
    return bytes !== undefined && this.containsBytes(bytes);
  }

  containsBytes(bytes: Uint8Array): boolean {
    const whole = this.#bits >> 3;
    for (let i = 0; i < whole; i++) if (bytes[i] !== this.#bytes[i]) return false;
    const rest = this.#bits & 7;
    if (rest === 0) return true;
    const mask = (0xff << (8 - rest)) & 0xff;
    return (bytes[whole]! & mask) === (this.#bytes[whole]! & mask);
  }
}
