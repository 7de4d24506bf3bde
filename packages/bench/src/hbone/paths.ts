/**
 * The paths the HBONE suite compares. Each starts its proxies (if any) in front of the shared backend and
 * says where the load generator should connect and which processes to charge for CPU and memory.
 */
import type { Address } from '../lib/address.js';
import type { Child } from '../lib/child.js';
import type { Cleanup } from '../lib/cleanup.js';
import { startNodeProxy } from '../proxies/launch.js';
import type { BenchCertificates } from './certs.js';
import { startStunnel } from './stunnel.js';

/** Every path, in the order they run and are reported. */
export const CASE_NAMES = ['direct', 'node-tls', 'hbone', 'c-tunnel'] as const;
export type CaseName = (typeof CASE_NAMES)[number];

export function isCaseName(s: string): s is CaseName {
  return (CASE_NAMES as readonly string[]).includes(s);
}

export interface BenchPath {
  readonly name: CaseName;
  /** Where the load generator connects. */
  readonly entry: Address;
  /** The proxy processes of the path (none for direct): client side first. */
  readonly proxies: readonly Child[];
}

export interface PathContext {
  readonly backend: Address;
  readonly certs: BenchCertificates;
  /** For stunnel's config and pid files. */
  readonly tmpDir: string;
  readonly stunnel: string;
  readonly cleanup: Cleanup;
  readonly signal?: AbortSignal | undefined;
}

/** Proxies listen here; loopback only. */
const LOOPBACK = '127.0.0.1';

export async function startPath(name: CaseName, ctx: PathContext): Promise<BenchPath> {
  const run = { cleanup: ctx.cleanup, signal: ctx.signal };
  const listen = { host: LOOPBACK, port: 0 };
  switch (name) {
    case 'direct':
      return { name, entry: ctx.backend, proxies: [] };
    case 'node-tls': {
      const server = await startNodeProxy(
        'node-tls-server',
        { kind: 'tls-server', listen, upstream: ctx.backend, tls: ctx.certs.server, peerIdentity: ctx.certs.client.identity },
        run,
      );
      const client = await startNodeProxy(
        'node-tls-client',
        {
          kind: 'tls-client',
          listen,
          upstream: { host: LOOPBACK, port: server.port },
          tls: ctx.certs.client,
          peerIdentity: ctx.certs.server.identity,
        },
        run,
      );
      return { name, entry: { host: LOOPBACK, port: client.port }, proxies: [client.child, server.child] };
    }
    case 'hbone': {
      const server = await startNodeProxy('hbone-server', { kind: 'hbone-server', listen, upstream: ctx.backend, tls: ctx.certs.server }, run);
      const client = await startNodeProxy(
        'hbone-client',
        {
          kind: 'hbone-client',
          listen,
          hbone: { host: LOOPBACK, port: server.port },
          target: ctx.backend,
          tls: ctx.certs.client,
          peerIdentity: ctx.certs.server.identity,
        },
        run,
      );
      return { name, entry: { host: LOOPBACK, port: client.port }, proxies: [client.child, server.child] };
    }
    case 'c-tunnel': {
      const server = await startStunnel(
        ctx.stunnel,
        { mode: 'server', listenHost: LOOPBACK, upstream: ctx.backend, tls: ctx.certs.server },
        ctx.tmpDir,
        run,
      );
      const client = await startStunnel(
        ctx.stunnel,
        { mode: 'client', listenHost: LOOPBACK, upstream: { host: LOOPBACK, port: server.port }, tls: ctx.certs.client },
        ctx.tmpDir,
        run,
      );
      return { name, entry: { host: LOOPBACK, port: client.port }, proxies: [client.child, server.child] };
    }
  }
}
