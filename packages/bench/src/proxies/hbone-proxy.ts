/**
 * The `hbone` path: the two halves of an ambient data path, built on `@ambit/mesh-core/hbone` exactly as
 * the ztunnel uses it. The client side is a plain TCP listener (standing in for captured outbound traffic)
 * whose connections are each tunnelled with `HboneClient.connect()` + `relay()`; the server side is an
 * `HboneServer` whose upstream is the backend.
 */
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { HboneClient, HboneServer, connectTcp, relay } from '@ambit/mesh-core/hbone';
import { Identity, StaticCertificateSource, parseCertificate } from '@ambit/mesh-core/identity';
import type { WorkloadCertificate } from '@ambit/mesh-core/identity';
import type { Logger } from '@ambit/mesh-core/telemetry';
import { formatAddress } from '../lib/address.js';
import type { Address, PemFiles } from './config.js';

/** Reads one side's PEM files back into the shape a CertificateSource hands out. */
export async function readWorkloadCertificate(files: PemFiles): Promise<WorkloadCertificate> {
  const [certPem, privateKeyPem, caPem] = await Promise.all([
    readFile(files.certFile, 'utf8'),
    readFile(files.keyFile, 'utf8'),
    readFile(files.caFile, 'utf8'),
  ]);
  const info = parseCertificate(certPem);
  return {
    identity: Identity.parse(files.identity),
    privateKeyPem,
    certPem,
    chainPem: [],
    rootsPem: [caPem],
    notBefore: info.notBefore,
    notAfter: info.notAfter,
  };
}

export interface HboneClientProxyOptions {
  readonly listen: Address;
  /** The HBONE server. */
  readonly hbone: Address;
  /** What each tunnel asks for (`:authority`). */
  readonly target: Address;
  readonly certificate: WorkloadCertificate;
  /** The identity the HBONE server must prove. */
  readonly peerIdentity: Identity;
  readonly logger: Logger;
}

/** Plain TCP in; each connection becomes one HBONE tunnel on the client's pooled HTTP/2 connection. */
export class HboneClientProxy {
  readonly #options: HboneClientProxyOptions;
  readonly #client: HboneClient;
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  readonly #destination: string;
  readonly #authority: string;

  constructor(options: HboneClientProxyOptions) {
    this.#options = options;
    this.#client = new HboneClient({ certificates: new StaticCertificateSource([options.certificate]), logger: options.logger });
    this.#destination = formatAddress(options.hbone);
    this.#authority = formatAddress(options.target);
    // Paused until the tunnel is up, so that nothing is read before there is somewhere to send it.
    this.#server = net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, (s) => this.#accept(s));
  }

  async listen(): Promise<net.AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#options.listen.port, this.#options.listen.host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    return this.#server.address() as net.AddressInfo;
  }

  /** Stops accepting, then lets open tunnels finish and closes the HBONE connections. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await this.#client.close();
  }

  destroy(): void {
    this.#server.close();
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    this.#client.destroy();
  }

  #accept(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    // Until relay() owns the socket, an error (a reset client) must not go unhandled.
    const early = (): void => undefined;
    socket.on('error', early);
    const { certificate, peerIdentity, logger } = this.#options;
    this.#client
      .connect({
        source: certificate.identity,
        destination: this.#destination,
        expectedIdentities: [peerIdentity],
        authority: this.#authority,
        forwardedFor: `${socket.remoteAddress}:${socket.remotePort}`,
      })
      .then(async (tunnel) => {
        socket.off('error', early);
        const done = relay(socket, tunnel);
        // relay() adds 'data' listeners, which do not restart a socket paused by pauseOnConnect (pipe()
        // would call resume(); relay() does not), so start the flow here.
        socket.resume();
        const result = await done;
        if (result.error) logger.debug({ err: result.error }, 'tunnel ended with an error');
      })
      .catch((err: unknown) => {
        logger.warn({ err }, 'cannot open an HBONE tunnel');
        socket.destroy();
      });
  }
}

export interface HboneServerProxyOptions {
  readonly listen: Address;
  /** Where every tunnel is relayed. */
  readonly upstream: Address;
  readonly certificate: WorkloadCertificate;
  readonly logger: Logger;
}

/** An HboneServer relaying every tunnel to the backend. */
export function createHboneServerProxy(options: HboneServerProxyOptions): HboneServer {
  const { certificate, upstream, logger } = options;
  return new HboneServer({
    identity: certificate.identity,
    certificates: new StaticCertificateSource([certificate]),
    trustDomain: certificate.identity.trustDomain,
    connectUpstream: () => connectTcp(upstream, 10_000),
    logger,
  });
}
