/** A TCP endpoint on loopback. */
export interface Address {
  readonly host: string;
  readonly port: number;
}

/** `host:port`, with IPv6 hosts bracketed (the form HTTP authorities use). */
export function formatAddress(a: Address): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
