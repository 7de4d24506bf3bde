/**
 * Text forms of the raw IP bytes Istio's protos carry (`Workload.addresses`, `NetworkAddress.address`).
 *
 * The xDS alias keys (`network/IP`) must match byte for byte what ztunnel asks for on demand, so IPv6 is
 * written in RFC 5952 canonical form (lower case, longest run of two or more zero groups compressed, the
 * first run on a tie) and IPv4-mapped addresses as `::ffff:a.b.c.d`, as Go's netip and Rust's Ipv6Addr do.
 */

/** Formats 4 or 16 address bytes; anything else is not an address and yields undefined. */
export function formatIp(bytes: Uint8Array): string | undefined {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16) return undefined;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** `formatIp`, or the bytes in hex marked as invalid (for dumps, which must show bad input rather than hide it). */
export function describeIp(bytes: Uint8Array): string {
  return formatIp(bytes) ?? `invalid(${Buffer.from(bytes).toString('hex')})`;
}
