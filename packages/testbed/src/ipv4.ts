/** The little IPv4 arithmetic the topology needs: addresses as unsigned 32-bit integers. */
import { isIPv4 } from 'node:net';

export interface Cidr {
  readonly network: number;
  readonly bits: number;
}

export function toInt(ip: string): number {
  return ip.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

export function toIp(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

/** Parses `a.b.c.d/n` with no host bits set; returns a reason string when it is not one. */
export function parseCidr(text: string): Cidr | string {
  const [ip = '', bitsText, extra] = text.split('/');
  const bits = Number(bitsText);
  if (extra !== undefined || !isIPv4(ip) || !/^\d{1,2}$/.test(bitsText ?? '') || bits > 30 || bits < 8) {
    return `${JSON.stringify(text)} is not an IPv4 CIDR from /8 to /30`;
  }
  const network = toInt(ip);
  if ((network & ~mask(bits)) >>> 0 !== 0) return `${text} has host bits set`;
  return { network, bits };
}

export function formatCidr(cidr: Cidr): string {
  return `${toIp(cidr.network)}/${cidr.bits}`;
}

export function contains(cidr: Cidr, ip: number): boolean {
  return (ip & mask(cidr.bits)) >>> 0 === cidr.network;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return contains(a.bits <= b.bits ? a : b, a.bits <= b.bits ? b.network : a.network);
}

/** The usable host addresses of a CIDR, lowest first, skipping the network's first host (kept as a gateway-like spare). */
export function* hosts(cidr: Cidr): Generator<number> {
  const size = 2 ** (32 - cidr.bits);
  for (let offset = 2; offset < size - 1; offset++) yield cidr.network + offset;
}

/** Loopback, "this network", multicast and reserved addresses cannot be a pod's or node's. */
export function isUnicast(ip: number): boolean {
  const first = ip >>> 24;
  return first !== 0 && first !== 127 && first < 224;
}

function mask(bits: number): number {
  return bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
}
