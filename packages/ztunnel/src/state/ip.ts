/**
 * IP addresses as the state and policy core handles them.
 *
 * - xDS carries addresses as 4- or 16-byte strings; the model keeps them as text in the form Node reports
 *   socket addresses in (libuv's `inet_ntop`: lower-case hex, the longest run of two or more zero groups
 *   compressed, the first on a tie, IPv4-mapped and IPv4-compatible tails dotted), so that an index keyed
 *   `network/ip` is hit by `socket.remoteAddress` as it is.
 * - Policy evaluation parses request addresses into 32-bit words without allocating (`parseIpWords`),
 *   into a caller-owned `Uint32Array(4)`. IPv4-mapped IPv6 (`::ffff:a.b.c.d`, what a dual-stack listener
 *   reports for an IPv4 peer) is treated as the IPv4 address it carries.
 */

/** The address family of parsed words: 4, 6, or 0 when the text is not an address. */
export type IpFamily = 0 | 4 | 6;

/** Scratch for the IPv6 parser: module-level because parsing is synchronous and never re-entered. */
const GROUPS = new Uint16Array(8);

/**
 * Formats a 4- or 16-byte address; returns undefined for any other length (the caller reports it).
 */
export function formatIp(bytes: Uint8Array): string | undefined {
  if (bytes.length === 4) return `${bytes[0]!}.${bytes[1]!}.${bytes[2]!}.${bytes[3]!}`;
  if (bytes.length !== 16) return undefined;
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i]! << 8) | bytes[i + 1]!);
  // Longest run of zero groups (first on a tie); a single zero group is not compressed.
  let bestBase = -1;
  let bestLen = 0;
  let curBase = -1;
  for (let i = 0; i <= 8; i++) {
    if (i < 8 && words[i] === 0) {
      if (curBase < 0) curBase = i;
    } else if (curBase >= 0) {
      const len = i - curBase;
      if (len > bestLen) {
        bestBase = curBase;
        bestLen = len;
      }
      curBase = -1;
    }
  }
  if (bestLen < 2) bestBase = -1;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase >= 0 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    // An IPv4-compatible (::a.b.c.d) or IPv4-mapped (::ffff:a.b.c.d) address ends in dotted form.
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))) {
      out += `${bytes[12]!}.${bytes[13]!}.${bytes[14]!}.${bytes[15]!}`;
      return out;
    }
    out += words[i]!.toString(16);
  }
  if (bestBase >= 0 && bestBase + bestLen === 8) out += ':';
  return out;
}

/**
 * Like `formatIp`, but an IPv4-mapped IPv6 address comes out as the IPv4 address it carries: the form the
 * indices hold, since lookups unmap a dual-stack socket's `::ffff:a.b.c.d` the same way.
 */
export function formatIndexIp(bytes: Uint8Array): string | undefined {
  const text = formatIp(bytes);
  return text !== undefined && text.startsWith('::ffff:') && text.includes('.') ? text.slice(7) : text;
}

/** `network/ip`: how xDS (and the indices) key an address within a network. */
export function networkAddressKey(network: string, ip: string): string {
  return `${network}/${ip}`;
}

/**
 * Parses `text` into `out` (IPv4: `out[0]`; IPv6: `out[0..3]`, most significant first) without allocating.
 * A zone suffix (`%eth0`) is ignored; IPv4-mapped IPv6 comes back as family 4. Returns 0 for anything that
 * is not an address (leading zeros in IPv4 octets included, as `inet_pton` refuses them).
 */
export function parseIpWords(text: string, out: Uint32Array): IpFamily {
  let end = text.length;
  const zone = text.indexOf('%');
  if (zone >= 0) end = zone;
  if (text.indexOf(':') < 0) {
    const v4 = parseV4(text, 0, end);
    if (v4 < 0) return 0;
    out[0] = v4;
    return 4;
  }
  if (!parseV6(text, end)) return 0;
  out[0] = ((GROUPS[0]! << 16) | GROUPS[1]!) >>> 0;
  out[1] = ((GROUPS[2]! << 16) | GROUPS[3]!) >>> 0;
  out[2] = ((GROUPS[4]! << 16) | GROUPS[5]!) >>> 0;
  out[3] = ((GROUPS[6]! << 16) | GROUPS[7]!) >>> 0;
  if (out[0] === 0 && out[1] === 0 && out[2] === 0xffff) {
    out[0] = out[3]!;
    return 4;
  }
  return 6;
}

/** Dotted quad in text[start, end) → unsigned 32-bit value, or -1. */
function parseV4(text: string, start: number, end: number): number {
  let value = 0;
  let octets = 0;
  let octet = 0;
  let digits = 0;
  for (let i = start; i <= end; i++) {
    const c = i < end ? text.charCodeAt(i) : 46; /* '.' terminates the last octet */
    if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return -1; // leading zero
      octet = octet * 10 + (c - 48);
      digits++;
      if (octet > 255) return -1;
    } else if (c === 46) {
      if (digits === 0 || octets === 4) return -1;
      value = value * 256 + octet;
      octets++;
      octet = 0;
      digits = 0;
    } else {
      return -1;
    }
  }
  return octets === 4 ? value : -1;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** RFC 4291 text form in text[0, end) → GROUPS; false when malformed. */
function parseV6(text: string, end: number): boolean {
  GROUPS.fill(0);
  let count = 0; // groups written
  let gap = -1; // group index where "::" stands
  let i = 0;
  if (end >= 2 && text.charCodeAt(0) === 58 && text.charCodeAt(1) === 58) {
    gap = 0;
    i = 2;
    if (i === end) return true; // "::"
  } else if (text.charCodeAt(0) === 58) {
    return false;
  }
  while (i < end) {
    // One group: up to 4 hex digits, or a dotted IPv4 tail worth two groups.
    let value = 0;
    let digits = 0;
    const start = i;
    while (i < end) {
      const h = hexValue(text.charCodeAt(i));
      if (h < 0) break;
      value = value * 16 + h;
      digits++;
      i++;
    }
    if (i < end && text.charCodeAt(i) === 46) {
      if (count > 6) return false;
      const v4 = parseV4(text, start, end);
      if (v4 < 0) return false;
      GROUPS[count++] = v4 >>> 16;
      GROUPS[count++] = v4 & 0xffff;
      i = end;
      break;
    }
    if (digits === 0 || digits > 4 || count === 8) return false;
    GROUPS[count++] = value;
    if (i === end) break;
    if (text.charCodeAt(i) !== 58) return false;
    i++;
    if (i < end && text.charCodeAt(i) === 58) {
      if (gap >= 0) return false; // a second "::"
      gap = count;
      i++;
      if (i === end) break;
    } else if (i === end) {
      return false; // a trailing single ':'
    }
  }
  if (gap < 0) return count === 8;
  if (count === 8) return false; // "::" must stand for at least one group
  // Move the groups after the gap to the end.
  const tail = count - gap;
  for (let k = 0; k < tail; k++) {
    GROUPS[7 - k] = GROUPS[count - 1 - k]!;
    GROUPS[count - 1 - k] = 0;
  }
  return true;
}

/** Writes the bytes back as text: for `canonicalIp`. */
function wordsToBytes(family: 4 | 6, words: Uint32Array): Uint8Array {
  const n = family === 4 ? 1 : 4;
  const bytes = new Uint8Array(n * 4);
  for (let w = 0; w < n; w++) {
    const v = words[w]!;
    bytes[w * 4] = v >>> 24;
    bytes[w * 4 + 1] = (v >>> 16) & 0xff;
    bytes[w * 4 + 2] = (v >>> 8) & 0xff;
    bytes[w * 4 + 3] = v & 0xff;
  }
  return bytes;
}

const CANONICAL_SCRATCH = new Uint32Array(4);

/** The 4 or 16 bytes of an address written as text (IPv4-mapped IPv6 gives 4), or undefined. */
export function ipToBytes(text: string): Buffer | undefined {
  const family = parseIpWords(text, CANONICAL_SCRATCH);
  return family === 0 ? undefined : Buffer.from(wordsToBytes(family, CANONICAL_SCRATCH));
}

/**
 * The index form of an address written any valid way (`0:0::1` → `::1`, `::ffff:10.0.0.1` → `10.0.0.1`,
 * zone dropped), or undefined when `text` is not an address. For input that did not come from a socket.
 */
export function canonicalIp(text: string): string | undefined {
  const family = parseIpWords(text, CANONICAL_SCRATCH);
  if (family === 0) return undefined;
  return formatIp(wordsToBytes(family, CANONICAL_SCRATCH));
}

/**
 * A CIDR block compiled for matching: the network and mask as 32-bit words. IPv4-mapped IPv6 blocks
 * (`::ffff:a.b.c.d/96+n`) become the IPv4 block `/n`, as request addresses are unmapped the same way.
 */
export class Cidr {
  readonly family: 4 | 6;
  readonly bits: number;
  /** Network words (masked). */
  readonly w0: number;
  readonly w1: number;
  readonly w2: number;
  readonly w3: number;
  /** Mask words. */
  readonly m0: number;
  readonly m1: number;
  readonly m2: number;
  readonly m3: number;
  /** `10.0.0.0/8`: the block as text, with host bits cleared. */
  readonly text: string;

  private constructor(family: 4 | 6, bits: number, words: readonly number[]) {
    this.family = family;
    this.bits = bits;
    const masks = [0, 0, 0, 0];
    for (let w = 0; w < 4; w++) {
      const inWord = Math.max(0, Math.min(32, bits - w * 32));
      masks[w] = inWord === 0 ? 0 : inWord === 32 ? 0xffffffff : (0xffffffff << (32 - inWord)) >>> 0;
    }
    [this.m0, this.m1, this.m2, this.m3] = masks as [number, number, number, number];
    this.w0 = (words[0]! & this.m0) >>> 0;
    this.w1 = (words[1]! & this.m1) >>> 0;
    this.w2 = (words[2]! & this.m2) >>> 0;
    this.w3 = (words[3]! & this.m3) >>> 0;
    const network = Uint32Array.of(this.w0, this.w1, this.w2, this.w3);
    this.text = `${formatIp(wordsToBytes(family, network))!}/${bits}`;
    Object.freeze(this);
  }

  /**
   * Builds a block from xDS bytes and prefix length; returns the reason when they do not make one.
   */
  static fromBytes(address: Uint8Array, length: number): Cidr | string {
    if (address.length !== 4 && address.length !== 16) return `address has ${address.length} bytes (want 4 or 16)`;
    const max = address.length * 8;
    if (!Number.isInteger(length) || length < 0 || length > max) return `prefix length ${length} is out of range 0-${max}`;
    const words = [0, 0, 0, 0];
    for (let i = 0; i < address.length; i++) words[i >> 2] = ((words[i >> 2]! << 8) | address[i]!) >>> 0;
    if (address.length === 16 && words[0] === 0 && words[1] === 0 && words[2] === 0xffff && length >= 96) {
      return new Cidr(4, length - 96, [words[3]!, 0, 0, 0]);
    }
    return new Cidr(address.length === 4 ? 4 : 6, length, words);
  }

  /** Whether parsed request words of `family` fall in this block. */
  contains(family: IpFamily, words: Uint32Array): boolean {
    if (family !== this.family) return false;
    if (((words[0]! & this.m0) >>> 0) !== this.w0) return false;
    if (family === 4) return true;
    return ((words[1]! & this.m1) >>> 0) === this.w1 && ((words[2]! & this.m2) >>> 0) === this.w2 && ((words[3]! & this.m3) >>> 0) === this.w3;
  }

  toString(): string {
    return this.text;
  }

  toJSON(): string {
    return this.text;
  }
}
