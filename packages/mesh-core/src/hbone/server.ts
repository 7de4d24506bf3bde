/**
 * The HBONE acceptor (ztunnel's port 15008): mutual TLS 1.3 with the client's SPIFFE ID checked against the
 * trust domain, HTTP/2, and one `CONNECT ip:port` stream per tunnel relayed to a TCP upstream.
 *
 * Certificates: Node picks a server certificate per handshake only through SNICallback, and HBONE clients
 * send no SNI. So the TCP listener is ours: each accepted socket waits for `certificates.getCertificate`,
 * the TLS server's context is swapped if the certificate changed, and only then is the socket handed to the
 * TLS server (`emit('connection')`, documented for injecting connections). A rotated certificate or new
 * roots thus apply to every handshake that starts after the source returns them.
 *
 * The same hand-over happens after the handshake: the TLS server verifies ALPN and the client's SPIFFE ID
 * first and only then gives the socket to the HTTP/2 server, so a refused client never gets an HTTP/2 byte.
 */
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import {
  constants as h2constants,
  createServer as createH2Server,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { CertificateSource, Identity, WorkloadCertificate } from '../identity/index.js';
import { silentLogger } from '../telemetry/logger.js';
import { MESH_ALPN, authenticatedClient, serverTlsOptions } from '../tls/index.js';
import { headerValue, parseAuthority } from './headers.js';
import { Keepalive } from './keepalive.js';
import { relay } from './relay.js';
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_KEEPALIVE,
  DEFAULT_SERVER_TUNING,
  TCP_KEEPALIVE_DELAY_MS,
  applyConnectionWindow,
  localSettings,
  resolveTuning,
  type Http2Tuning,
  type KeepaliveOptions,
} from './settings.js';
import { systemTimers, type Timers } from './timers.js';
import { connectTcp } from './upstream.js';

/** What the server knows about a tunnel request when it asks the caller to authorize and connect it. */
export interface InboundTunnelRequest {
  /** The client's SPIFFE identity, from its verified certificate. */
  peerIdentity: Identity;
  /** The `:authority` as sent (`ip:port`). */
  authority: string;
  target: { host: string; port: number };
  forwarded?: string;
  baggage?: string;
  traceparent?: string;
  /** The TCP peer of the HBONE connection. */
  remoteAddress: string;
  remotePort: number;
}

export interface HboneServerOptions {
  /** The identity this server presents (the workload owning the listener). */
  identity: Identity;
  certificates: CertificateSource;
  /** Clients must hold a SPIFFE ID in this trust domain. */
  trustDomain: string;
  /** Returns false to answer 401. A throw also answers 401 (fail closed) and is logged. */
  authorize?: (req: InboundTunnelRequest) => boolean | Promise<boolean>;
  /** Opens the upstream socket; a rejection answers 503. Default: TCP to the target (see `connectTcp`). */
  connectUpstream?: (req: InboundTunnelRequest) => Promise<Socket>;
  logger?: Logger;
  keepalive?: KeepaliveOptions;
  http2?: Partial<Http2Tuning>;
  /** Default upstream connect timeout (10 s). */
  upstreamConnectTimeoutMs?: number;
  /** TLS handshake deadline per connection (10 s). */
  handshakeTimeoutMs?: number;
  timers?: Timers;
}

interface SessionInfo {
  readonly peer: Identity;
  readonly remoteAddress: string;
  readonly remotePort: number;
}

export class HboneServer {
  readonly #identity: Identity;
  readonly #certificates: CertificateSource;
  readonly #trustDomain: string;
  readonly #authorize: HboneServerOptions['authorize'];
  readonly #connectUpstream: (req: InboundTunnelRequest) => Promise<Socket>;
  readonly #log: Logger;
  readonly #keepalive: KeepaliveOptions;
  readonly #tuning: Http2Tuning;
  readonly #timers: Timers;
  readonly #tcp: NetServer;
  readonly #tls: TlsServer;
  readonly #h2: Http2Server;
  /** The verified peer of the socket being handed to the HTTP/2 server (its 'session' event is synchronous). */
  #handing: SessionInfo | undefined;
  readonly #sessions = new Map<ServerHttp2Session, SessionInfo>();
  /** Sockets waiting for their certificate, not yet handed to TLS. */
  readonly #awaitingCert = new Set<Socket>();
  /** Every accepted TCP socket until it closes, so destroy() can cut handshakes in flight. */
  readonly #sockets = new Set<Socket>();
  #certificate: WorkloadCertificate | undefined;
  #streams = 0;
  #closing = false;

  constructor(o: HboneServerOptions) {
    this.#identity = o.identity;
    this.#certificates = o.certificates;
    this.#trustDomain = o.trustDomain;
    this.#authorize = o.authorize;
    const upstreamTimeout = o.upstreamConnectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.#connectUpstream = o.connectUpstream ?? ((req) => connectTcp(req.target, upstreamTimeout));
    this.#log = (o.logger ?? silentLogger()).child({ component: 'hbone-server' });
    this.#keepalive = o.keepalive ?? DEFAULT_KEEPALIVE;
    this.#tuning = resolveTuning(DEFAULT_SERVER_TUNING, o.http2);
    this.#timers = o.timers ?? systemTimers;

    // The certificate-bearing options are set per connection (#useCertificate); these never change.
    this.#tls = createTlsServer({
      ALPNProtocols: [MESH_ALPN],
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
      handshakeTimeout: o.handshakeTimeoutMs ?? 10_000,
    });
    this.#tls.on('secureConnection', this.#onSecureConnection);
    this.#tls.on('tlsClientError', this.#onTlsClientError);
    this.#h2 = createH2Server({ settings: localSettings(this.#tuning), maxSessionMemory: this.#tuning.maxSessionMemoryMiB });
    this.#h2.on('session', this.#onSession);
    this.#h2.on('stream', this.#onStream);

    // pauseOnConnect: no bytes are read until TLS owns the socket.
    this.#tcp = createNetServer({ pauseOnConnect: true, noDelay: true });
    this.#tcp.on('connection', this.#onConnection);
  }

  /** Starts accepting; resolves with the bound address (port 0 picks a free port). */
  listen(port: number, host?: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.#tcp.once('error', onError);
      this.#tcp.listen(port, host, () => {
        this.#tcp.off('error', onError);
        resolve(this.#tcp.address() as AddressInfo);
      });
    });
  }

  /** Live HTTP/2 sessions and open tunnels. */
  stats(): { sessions: number; streams: number } {
    return { sessions: this.#sessions.size, streams: this.#streams };
  }

  /**
   * Stops accepting, sends GOAWAY on every session and resolves once all tunnels have finished and every
   * connection has closed. Handshakes still in flight are cut.
   */
  async close(): Promise<void> {
    this.#closing = true;
    const closed = new Promise<void>((resolve) => this.#tcp.close(() => resolve()));
    for (const s of this.#awaitingCert) s.destroy();
    for (const session of this.#sessions.keys()) session.close();
    await Promise.all([closed, ...[...this.#sockets].map(waitClose)]);
  }

  /** Closes everything now: listener, sessions, tunnels (reset), handshakes. */
  destroy(): void {
    this.#closing = true;
    this.#tcp.close();
    for (const session of this.#sessions.keys()) session.destroy();
    for (const s of this.#sockets) s.destroy();
  }

  readonly #onConnection = (socket: Socket): void => {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    socket.setKeepAlive(true, TCP_KEEPALIVE_DELAY_MS);
    socket.on('error', this.#onSocketError);
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    this.#awaitingCert.add(socket);
    this.#certificates.getCertificate(this.#identity).then(
      (cert) => {
        this.#awaitingCert.delete(socket);
        if (socket.destroyed) return;
        this.#useCertificate(cert);
        this.#tls.emit('connection', socket);
      },
      (err: unknown) => {
        this.#awaitingCert.delete(socket);
        this.#log.error({ err, identity: this.#identity.uri }, 'no certificate for the HBONE listener; refusing connection');
        socket.destroy();
      },
    );
  };

  /** Swaps the TLS context when the source hands out a different certificate (rotation, new roots). */
  #useCertificate(cert: WorkloadCertificate): void {
    if (cert === this.#certificate) return;
    this.#certificate = cert;
    this.#tls.setSecureContext(serverTlsOptions(cert, this.#trustDomain));
  }

  readonly #onSocketError = (err: Error): void => {
    this.#log.debug({ err }, 'HBONE socket error');
  };

  readonly #onTlsClientError = (err: Error & { code?: string }, socket: TLSSocket): void => {
    this.#log.warn({ err, code: err.code, 'src.addr': socket.remoteAddress }, 'HBONE TLS handshake failed');
  };

  /** A completed handshake: check ALPN and the client's identity, then hand the socket to HTTP/2. */
  readonly #onSecureConnection = (socket: TLSSocket): void => {
    socket.on('error', this.#onSocketError);
    if (socket.alpnProtocol !== MESH_ALPN) {
      this.#log.warn({ alpn: socket.alpnProtocol, 'src.addr': socket.remoteAddress }, 'HBONE client did not negotiate h2; closing');
      socket.destroy();
      return;
    }
    let peer: Identity;
    try {
      peer = authenticatedClient(socket, this.#trustDomain);
    } catch (err) {
      this.#log.warn({ err, 'src.addr': socket.remoteAddress }, 'HBONE client identity refused');
      socket.destroy();
      return;
    }
    if (this.#closing) {
      socket.destroy();
      return;
    }
    this.#handing = { peer, remoteAddress: socket.remoteAddress ?? '', remotePort: socket.remotePort ?? 0 };
    try {
      this.#h2.emit('connection', socket);
    } finally {
      this.#handing = undefined;
    }
  };

  readonly #onSession = (session: ServerHttp2Session): void => {
    session.on('error', this.#onSessionError);
    const info = this.#handing;
    if (!info) {
      // Only #onSecureConnection feeds the HTTP/2 server; anything else is a bug, not a peer.
      session.destroy();
      return;
    }
    applyConnectionWindow(session, this.#tuning);
    this.#sessions.set(session, info);
    new Keepalive(session, this.#keepalive, this.#timers);
    session.once('close', () => this.#sessions.delete(session));
  };

  readonly #onSessionError = (err: Error): void => {
    this.#log.debug({ err }, 'HBONE session error');
  };

  readonly #onStreamError = (err: Error): void => {
    this.#log.debug({ err }, 'HBONE stream error');
  };

  readonly #onStreamClose = (): void => {
    this.#streams--;
  };

  readonly #onStream = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void => {
    stream.on('error', this.#onStreamError);
    this.#streams++;
    stream.once('close', this.#onStreamClose);
    const info = this.#sessions.get(stream.session as ServerHttp2Session);
    if (!info) {
      stream.close(h2constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    if (headers[':method'] !== 'CONNECT') {
      this.#refuse(stream, 400, `method ${String(headers[':method'])} is not CONNECT`);
      return;
    }
    const authority = headers[':authority'];
    const target = parseAuthority(authority);
    if (typeof target === 'string') {
      this.#refuse(stream, 400, target);
      return;
    }
    const req: InboundTunnelRequest = {
      peerIdentity: info.peer,
      authority: authority!,
      target,
      remoteAddress: info.remoteAddress,
      remotePort: info.remotePort,
    };
    const forwarded = headerValue(headers, 'forwarded');
    if (forwarded !== undefined) req.forwarded = forwarded;
    const baggage = headerValue(headers, 'baggage');
    if (baggage !== undefined) req.baggage = baggage;
    const traceparent = headerValue(headers, 'traceparent');
    if (traceparent !== undefined) req.traceparent = traceparent;
    void this.#tunnel(stream, req);
  };

  async #tunnel(stream: ServerHttp2Stream, req: InboundTunnelRequest): Promise<void> {
    if (this.#authorize) {
      let allowed = false;
      try {
        allowed = await this.#authorize(req);
      } catch (err) {
        this.#log.error({ err, 'src.identity': req.peerIdentity.uri, 'dst.addr': req.authority }, 'authorize threw; denying');
      }
      if (!allowed) {
        this.#refuse(stream, 401, 'denied by authorization policy', req);
        return;
      }
    }
    let upstream: Socket;
    try {
      upstream = await this.#connectUpstream(req);
    } catch (err) {
      this.#refuse(stream, 503, `upstream unreachable: ${(err as Error).message}`, req);
      return;
    }
    if (stream.destroyed || stream.closed) {
      // The client gave up while we were connecting.
      upstream.destroy();
      return;
    }
    stream.respond({ ':status': 200 });
    const result = await relay(stream, upstream);
    this.#log.debug(
      { 'src.identity': req.peerIdentity.uri, 'dst.addr': req.authority, bytes_recv: result.aToB, bytes_sent: result.bToA, error: result.error?.message },
      'HBONE tunnel closed',
    );
  }

  /** Answers a non-200 and ends the stream both ways, so a client that keeps sending is stopped. */
  #refuse(stream: ServerHttp2Stream, status: 400 | 401 | 503, reason: string, req?: InboundTunnelRequest): void {
    this.#log.info({ status, reason, 'src.identity': req?.peerIdentity.uri, 'dst.addr': req?.authority }, 'HBONE CONNECT refused');
    if (stream.destroyed || stream.closed || stream.headersSent) return;
    stream.respond({ ':status': status }, { endStream: true });
    // RST_STREAM(NO_ERROR) after the response (RFC 9113 8.1): discard whatever the client still sends.
    stream.close(h2constants.NGHTTP2_NO_ERROR);
  }
}

function waitClose(s: Socket): Promise<void> {
  return s.closed ? Promise.resolve() : new Promise((resolve) => s.once('close', () => resolve()));
}

