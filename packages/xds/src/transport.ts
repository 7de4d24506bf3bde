/**
 * The gRPC side of a connection attempt: credentials, channel options, per-stream metadata (bearer
 * token, custom headers) and the deserializer that also reports a response's encoded size.
 */
import * as grpc from '@grpc/grpc-js';
import { describeError, XdsConfigError, XdsTokenError } from './errors.js';
import type { Sized } from './session.js';

/** TLS towards the control plane. Without it the channel is plaintext. */
export interface XdsTlsOptions {
  /** PEM of the CA(s) that sign the server's certificate (istiod: the mesh root). */
  readonly rootCa: string | Buffer;
  /** PEM client certificate chain, for servers that want mutual TLS. Requires `privateKey`. */
  readonly certChain?: string | Buffer;
  readonly privateKey?: string | Buffer;
  /**
   * The name to verify in the server certificate (and send as SNI and :authority) when it differs from
   * the target's host, e.g. `istiod.istio-system.svc` when dialling an IP.
   */
  readonly serverName?: string;
}

/**
 * A bearer token: a fixed string, or a function called before every connection attempt (so that a
 * rotated projected service-account token is picked up). A failing function counts as a failed attempt.
 */
export type TokenSource = string | (() => string | Promise<string>);

/** grpc-js's default 4 MiB limit is too small for a full push of a large mesh (10k+ workloads). */
export const DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024;

export function buildCredentials(tls: XdsTlsOptions | undefined): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  const hasCert = tls.certChain !== undefined;
  const hasKey = tls.privateKey !== undefined;
  if (hasCert !== hasKey) throw new XdsConfigError('tls: certChain and privateKey go together');
  const asBuffer = (v: string | Buffer): Buffer => (typeof v === 'string' ? Buffer.from(v) : v);
  try {
    return grpc.credentials.createSsl(
      asBuffer(tls.rootCa),
      tls.privateKey === undefined ? null : asBuffer(tls.privateKey),
      tls.certChain === undefined ? null : asBuffer(tls.certChain),
    );
  } catch (cause) {
    throw new XdsConfigError(`tls: ${describeError(cause)}`, { cause });
  }
}

/** Channel options: ours first, the caller's `extra` over them. */
export function buildChannelOptions(tls: XdsTlsOptions | undefined, extra: grpc.ChannelOptions = {}): grpc.ChannelOptions {
  const options: grpc.ChannelOptions = {
    // Each attempt gets its own channel and closes it after: a shared pool would keep sockets (and the
    // process) alive after close() and would hide refused connections behind grpc-js's own backoff.
    'grpc.use_local_subchannel_pool': 1,
    'grpc.max_receive_message_length': DEFAULT_MAX_RESPONSE_BYTES,
  };
  if (tls?.serverName) {
    options['grpc.ssl_target_name_override'] = tls.serverName;
    options['grpc.default_authority'] = tls.serverName;
  }
  return { ...options, ...extra };
}

/** Checks custom headers once, up front, so that a bad one fails the constructor and not every attempt. */
export function checkHeaders(headers: Readonly<Record<string, string>>): void {
  const probe = new grpc.Metadata();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === 'authorization') throw new XdsConfigError('headers: set the bearer token with `token`, not an authorization header');
    try {
      probe.add(key, value);
    } catch (cause) {
      throw new XdsConfigError(`headers: ${key}: ${describeError(cause)}`, { cause });
    }
  }
}

/** Reads the token (calling the function if it is one) and builds the stream's metadata. */
export async function buildMetadata(token: TokenSource | undefined, headers: Readonly<Record<string, string>>): Promise<grpc.Metadata> {
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(headers)) metadata.add(key, value);
  if (token !== undefined) {
    let value: unknown;
    try {
      value = typeof token === 'string' ? token : await token();
    } catch (cause) {
      throw new XdsTokenError(`token provider failed: ${describeError(cause)}`, { cause });
    }
    if (typeof value !== 'string' || value === '') throw new XdsTokenError('token provider returned no token');
    metadata.set('authorization', `Bearer ${value}`);
  }
  return metadata;
}

/** Wraps a message deserializer so that the handler also learns the encoded size (for the bytes metric). */
export function sizedDeserializer<T>(deserialize: (bytes: Buffer) => unknown): (bytes: Buffer) => Sized<T> {
  return (bytes) => ({ message: deserialize(bytes) as T, bytes: bytes.length });
}
