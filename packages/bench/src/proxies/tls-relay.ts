/**
 * The `node-tls` baseline: a pair of plain Node TLS relays, the simplest mutual-TLS tunnel Node can make.
 * The client side accepts plain TCP and forwards each connection over its own mutual TLS 1.3 connection;
 * the server side terminates TLS and forwards plain TCP to the backend. HBONE is judged against this pair,
 * so it gets the settings a careful engineer would give it (TCP_NODELAY, half-open sockets, peer identity
 * checked both ways) and nothing exotic.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import { uriSans } from '@ambit/mesh-core/identity';
import type { Logger } from '@ambit/mesh-core/telemetry';
import type { Address, PemFiles } from './config.js';

/** Key, certificate and trust anchors read from PEM files. */
export interface TlsMaterial {
  readonly key: string;
  readonly cert: string;
  readonly ca: string;
}

export async function readTlsMaterial(files: PemFiles): Promise<TlsMaterial> {
  const [key, cert, ca] = await Promise.all([
    readFile(files.keyFile, 'utf8'),
    readFile(files.certFile, 'utf8'),
    readFile(files.caFile, 'utf8'),
  ]);
  return { key, cert, ca };
}

/** True when the DER certificate carries `identity` among its URI SANs. */
function hasIdentity(raw: Buffer | undefined, identity: string): boolean {
  if (!raw || raw.length === 0) return false;
  return uriSans(new X509Certificate(raw)).includes(identity);
}

/**
 * Pipes `a` and `b` into each other. An end on one side half-closes the other (both sockets are
 * half-open capable), so a request/response protocol that half-closes keeps working; an error on either
 * side destroys both.
 */
export function splice(a: net.Socket, b: net.Socket): void {
  a.pipe(b);
  b.pipe(a);
  const destroyBoth = (): void => {
    a.destroy();
    b.destroy();
  };
  a.once('error', destroyBoth);
  b.once('error', destroyBoth);
  a.once('close', (hadError) => hadError && b.destroy());
  b.once('close', (hadError) => hadError && a.destroy());
}

interface RelayOptions {
  readonly listen: Address;
  readonly upstream: Address;
  readonly tls: TlsMaterial;
  /** The SPIFFE URI the peer's certificate must carry. */
  readonly peerIdentity: string;
  readonly logger: Logger;
}

abstract class Relay {
  protected readonly options: RelayOptions;
  protected readonly sockets = new Set<net.Socket>();
  protected abstract readonly server: net.Server;

  constructor(options: RelayOptions) {
    this.options = options;
  }

  /** Binds the listener; resolves with the bound address. */
  async listen(): Promise<net.AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.listen.port, this.options.listen.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return this.server.address() as net.AddressInfo;
  }

  /** Stops accepting and waits for open connections to finish. */
  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Stops accepting and destroys every open connection. */
  destroy(): void {
    this.server.close();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  protected track(s: net.Socket): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
  }
}

/** Plain TCP in, mutual TLS 1.3 out. */
export class TlsRelayClient extends Relay {
  protected readonly server: net.Server;

  constructor(options: RelayOptions) {
    super(options);
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, (s) => this.#accept(s));
  }

  #accept(plain: net.Socket): void {
    this.track(plain);
    const { upstream, tls: material, peerIdentity, logger } = this.options;
    // `allowHalfOpen` is honoured by tls.connect (it becomes the TLSSocket's) but missing from its types.
    const connectOptions: tls.ConnectionOptions & { allowHalfOpen: boolean } = {
      host: upstream.host,
      port: upstream.port,
      key: material.key,
      cert: material.cert,
      ca: material.ca,
      minVersion: 'TLSv1.3',
      allowHalfOpen: true,
      // Workload certificates have no DNS or IP SANs; the identity is the SPIFFE URI.
      checkServerIdentity: (_host, cert) =>
        hasIdentity(cert.raw, peerIdentity) ? undefined : new Error(`server certificate does not carry ${peerIdentity}`),
    };
    const secure = tls.connect(connectOptions);
    this.track(secure);
    secure.setNoDelay(true);
    const fail = (err: Error): void => {
      logger.warn({ err }, 'tls relay client: upstream failed');
      plain.destroy();
      secure.destroy();
    };
    plain.once('error', fail);
    secure.once('error', fail);
    secure.once('secureConnect', () => {
      plain.off('error', fail);
      secure.off('error', fail);
      splice(plain, secure);
      plain.resume();
    });
  }
}

/** Mutual TLS 1.3 in, plain TCP out. */
export class TlsRelayServer extends Relay {
  protected readonly server: tls.Server;

  constructor(options: RelayOptions) {
    super(options);
    this.server = tls.createServer(
      {
        key: options.tls.key,
        cert: options.tls.cert,
        ca: options.tls.ca,
        minVersion: 'TLSv1.3',
        requestCert: true,
        rejectUnauthorized: true,
        allowHalfOpen: true,
        noDelay: true,
      },
      (s) => this.#accept(s),
    );
    this.server.on('tlsClientError', (err) => options.logger.warn({ err }, 'tls relay server: handshake failed'));
  }

  #accept(secure: tls.TLSSocket): void {
    this.track(secure);
    const { upstream, peerIdentity, logger } = this.options;
    if (!hasIdentity(secure.getPeerX509Certificate()?.raw, peerIdentity)) {
      logger.warn({ peerIdentity }, 'tls relay server: client certificate does not carry the expected identity');
      secure.destroy();
      return;
    }
    secure.pause();
    const plain = net.connect({ host: upstream.host, port: upstream.port, allowHalfOpen: true, noDelay: true });
    this.track(plain);
    const fail = (err: Error): void => {
      logger.warn({ err }, 'tls relay server: upstream failed');
      plain.destroy();
      secure.destroy();
    };
    secure.once('error', fail);
    plain.once('error', fail);
    plain.once('connect', () => {
      secure.off('error', fail);
      plain.off('error', fail);
      splice(secure, plain);
      secure.resume();
    });
  }
}
