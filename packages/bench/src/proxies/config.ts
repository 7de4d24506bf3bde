/**
 * What the harness tells a proxy child process to be (passed as its one argument, JSON), and what the
 * child reports back over IPC.
 */
import type { Address } from '../lib/address.js';

export type { Address };

/** One side's certificate material, as files (the same files stunnel loads). */
export interface PemFiles {
  /** The SPIFFE URI this side's certificate carries. */
  readonly identity: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** The mesh root, for verifying the peer. */
  readonly caFile: string;
}

/** Plain TCP in on `listen`, mutual TLS 1.3 out to `upstream`, whose certificate must carry `peerIdentity`. */
export interface TlsClientConfig {
  readonly kind: 'tls-client';
  readonly listen: Address;
  readonly upstream: Address;
  readonly tls: PemFiles;
  readonly peerIdentity: string;
}

/** Mutual TLS 1.3 in on `listen` from clients carrying `peerIdentity`, plain TCP out to `upstream`. */
export interface TlsServerConfig {
  readonly kind: 'tls-server';
  readonly listen: Address;
  readonly upstream: Address;
  readonly tls: PemFiles;
  readonly peerIdentity: string;
}

/** Plain TCP in on `listen`, each connection tunnelled over HBONE to `hbone`, asking for `target`. */
export interface HboneClientConfig {
  readonly kind: 'hbone-client';
  readonly listen: Address;
  readonly hbone: Address;
  readonly target: Address;
  readonly tls: PemFiles;
  readonly peerIdentity: string;
}

/** HBONE in on `listen`; every tunnel goes to `upstream`. */
export interface HboneServerConfig {
  readonly kind: 'hbone-server';
  readonly listen: Address;
  readonly upstream: Address;
  readonly tls: PemFiles;
}

export type ProxyConfig = TlsClientConfig | TlsServerConfig | HboneClientConfig | HboneServerConfig;

/** The one message a proxy child sends: it is listening on `port`. */
export interface ReadyMessage {
  readonly type: 'ready';
  readonly port: number;
}

export function isReadyMessage(m: unknown): m is ReadyMessage {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'ready' && typeof (m as { port?: unknown }).port === 'number';
}
