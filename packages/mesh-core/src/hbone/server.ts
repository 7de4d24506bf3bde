/**
 * The HBONE acceptor (ztunnel's port 15008): mutual TLS 1.3 with the client's SPIFFE ID checked against the
 * trust domain, HTTP/2, and one `CONNECT ip:port` stream per tunnel relayed to a TCP upstream.
 *
 * Certificates: Node picks a server certificate per handshake only through SNICallback, and HBONE clients
 * send no SNI. So the TCP listener is ours: each accepted socket is given the identity to present (one
 * fixed identity, or `identityFor(localAddress)` for a node proxy presenting the dialled pod's identity),
 * waits for `certificates.getCertificate`, and is handed (`emit('connection')`, documented for injecting
 * connections) to a TLS server kept for that identity, whose context is swapped when the certificate
 * changed. A rotated certificate or new roots thus apply to every handshake that starts after the source
 * returns them.
 *
 * The same hand-over happens after the handshake: the TLS server verifies ALPN and the client's SPIFFE ID
 * first and only then gives the socket to the HTTP/2 server, so a refused client never gets an HTTP/2 byte.
 */
import { createServer as createNetServer, Socket, type AddressInfo, type Server as NetServer } from 'node:net';
import {
  constants as h2constants,
  createServer as createH2Server,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { CertificateSource, Identity, WorkloadCertificate } from '../identity/index.js';
import { silentLogger } from '../telemetry/logger.js';
import { MESH_ALPN, authenticatedClient, serverTlsOptions } from '../tls/index.js';
import { headerValue, parseAuthority } from './headers.js';
import { Keepalive } from './keepalive.js';
import { HboneError } from './errors.js';
import { startRelay, type RelayOwner, type RelayResult } from './relay.js';
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

/** The addresses of one accepted HBONE connection. */
export interface ConnectionAddresses {
  /** The address the client dialled (with TPROXY capture: the destination pod's IP). */
  localAddress: string;
  localPort: number;
  /** The client's address. */
  remoteAddress: string;
  remotePort: number;
}

/**
 * What the server knows about a tunnel request when it asks the caller to authorize, connect and account for
 * it. One tunnel is one object: the same one reaches `authorize`, `connectUpstream` and `onTunnelClosed`, so
 * a caller may keep per-tunnel state keyed by it (a WeakMap).
 */
export interface InboundTunnelRequest {
  /** The client's SPIFFE identity, from its verified certificate. */
  peerIdentity: Identity;
  /** The identity this server presented on the connection. */
  identity: Identity;
  /** The `:authority` as sent (`ip:port`). */
  authority: string;
  target: { host: string; port: number };
  forwarded?: string;
  baggage?: string;
  traceparent?: string;
  /** The TCP peer of the HBONE connection. */
  remoteAddress: string;
  remotePort: number;
  /** The address the HBONE connection was accepted on (with capture: the destination pod's IP). */
  localAddress: string;
  localPort: number;
}

/**
 * What `connectUpstream` may resolve with instead of a bare socket: the socket and the object to tell when the
 * tunnel has closed (instead of `onTunnelClosed`). The server then keeps nothing of the request while the
 * tunnel is open — a proxy holding thousands of idle tunnels keeps its own small record of each as `owner`.
 */
export interface UpstreamConnection {
  readonly socket: Socket;
  readonly owner: RelayOwner;
}

/** A refusal with its status: 400 (bad request), 401 (denied) or 503 (no such target). */
export interface TunnelRefusal {
  readonly status: 400 | 401 | 503;
  readonly reason: string;
}

/** What `authorize` returns: true to go on, false for 401, or a refusal with its own status. */
export type TunnelDecision = boolean | TunnelRefusal;

export interface HboneServerOptions {
  /**
   * The identity this server presents, for a server that is one workload. Give this or `identityFor`.
   */
  identity?: Identity;
  /**
   * The identity to present on a connection accepted on `localAddress` (a node proxy presents the identity
   * of the pod that was dialled; TPROXY keeps the pod's IP as the local address). Undefined closes the
   * connection before TLS. Wins over `identity`.
   */
  identityFor?: (localAddress: string) => Identity | undefined;
  certificates: CertificateSource;
  /** Clients must hold a SPIFFE ID in this trust domain. */
  trustDomain: string;
  /**
   * Decides on each tunnel: true goes on, false answers 401, a `TunnelRefusal` answers its status. A throw
   * answers 401 (fail closed) and is logged.
   */
  authorize?: (req: InboundTunnelRequest) => TunnelDecision | Promise<TunnelDecision>;
  /**
   * Opens the upstream socket; a rejection answers 503. Default: TCP to the target (see `connectUpstream`).
   * Resolving with an `UpstreamConnection` names the tunnel's own owner, told (`relayDone`) when it closes,
   * in place of `onTunnelClosed`; the owner must not throw.
   */
  connectUpstream?: (req: InboundTunnelRequest) => Promise<Socket | UpstreamConnection>;
  /**
   * Called once for every tunnel whose upstream was connected (as a bare socket), when both sides have
   * closed, with the bytes relayed (`aToB`: client to upstream) and the reason it broke, if it did. A throw
   * is logged.
   */
  onTunnelClosed?: (req: InboundTunnelRequest, result: RelayResult) => void;
  /**
   * Serves authorized tunnels in this process instead of relaying them to an upstream socket (a waypoint
   * terminates the traffic it carries). Called once per tunnel, right after the 200 response, with the
   * CONNECT stream, which it then owns: it reads, writes and ends or destroys it. When given,
   * `connectUpstream` and `onTunnelClosed` are not used. A throw resets the tunnel and is logged.
   */
  serveTunnel?: (stream: Duplex, req: InboundTunnelRequest) => void;
  logger?: Logger;
  keepalive?: KeepaliveOptions;
  http2?: Partial<Http2Tuning>;
  /** Default upstream connect timeout (10 s). */
  upstreamConnectTimeoutMs?: number;
  /** TLS handshake deadline per connection (10 s). */
  handshakeTimeoutMs?: number;
  timers?: Timers;
}

interface SessionInfo extends ConnectionAddresses {
  readonly peer: Identity;
  readonly identity: Identity;
}

/** The TLS server (context) of one presented identity. */
interface IdentityTls {
  readonly server: TlsServer;
  certificate: WorkloadCertificate | undefined;
}

export class HboneServer {
  readonly #identity: Identity | undefined;
  readonly #identityFor: ((localAddress: string) => Identity | undefined) | undefined;
  readonly #certificates: CertificateSource;
  readonly #trustDomain: string;
  readonly #authorize: HboneServerOptions['authorize'];
  readonly #connectUpstream: (req: InboundTunnelRequest) => Promise<Socket | UpstreamConnection>;
  readonly #onTunnelClosed: HboneServerOptions['onTunnelClosed'];
  readonly #serveTunnel: HboneServerOptions['serveTunnel'];
  readonly #log: Logger;
  readonly #keepalive: KeepaliveOptions;
  readonly #tuning: Http2Tuning;
  readonly #timers: Timers;
  readonly #handshakeTimeoutMs: number;
  readonly #tcp: NetServer;
  readonly #h2: Http2Server;
  /** One TLS server per presented identity (its context is that identity's certificate). */
  readonly #tlsByIdentity = new Map<string, IdentityTls>();
  /** The verified peer of the socket being handed to the HTTP/2 server (its 'session' event is synchronous). */
  #handing: SessionInfo | undefined;
  readonly #sessions = new Map<ServerHttp2Session, SessionInfo>();
  /** Sockets waiting for their certificate, not yet handed to TLS. */
  readonly #awaitingCert = new Set<Socket>();
  /** Every accepted TCP socket until it closes, so destroy() can cut handshakes in flight. */
  readonly #sockets = new Set<Socket>();
  /**
   * Addresses given to `accept()` that differ from the socket's own, by the socket's 4-tuple (the TLS socket
   * over it reports the same tuple); empty unless `accept()` is used.
   */
  readonly #assigned = new Map<string, ConnectionAddresses>();
  #streams = 0;
  #closing = false;

  constructor(o: HboneServerOptions) {
    if (o.identity === undefined && o.identityFor === undefined) {
      throw new TypeError('HboneServer needs an identity to present: give identity or identityFor');
    }
    this.#identity = o.identity;
    this.#identityFor = o.identityFor;
    this.#certificates = o.certificates;
    this.#trustDomain = o.trustDomain;
    this.#authorize = o.authorize;
    const upstreamTimeout = o.upstreamConnectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.#connectUpstream = o.connectUpstream ?? ((req) => connectTcp(req.target, upstreamTimeout));
    this.#onTunnelClosed = o.onTunnelClosed;
    this.#serveTunnel = o.serveTunnel;
    this.#log = (o.logger ?? silentLogger()).child({ component: 'hbone-server' });
    this.#keepalive = o.keepalive ?? DEFAULT_KEEPALIVE;
    this.#tuning = resolveTuning(DEFAULT_SERVER_TUNING, o.http2);
    this.#timers = o.timers ?? systemTimers;
    this.#handshakeTimeoutMs = o.handshakeTimeoutMs ?? 10_000;

    this.#h2 = createH2Server({ settings: localSettings(this.#tuning), maxSessionMemory: this.#tuning.maxSessionMemoryMiB });
    this.#h2.on('session', this.#onSession);
    this.#h2.on('stream', this.#onStream);

    // pauseOnConnect: no bytes are read until TLS owns the socket.
    this.#tcp = createNetServer({ pauseOnConnect: true, noDelay: true });
    this.#tcp.on('connection', this.#onConnection);
  }

  /**
   * The TCP server behind `listen()`. Listen it yourself to accept on a socket made elsewhere (for example a
   * transparent listener: `server.netServer.listen({ fd })`); `close()` and `destroy()` still close it.
   */
  get netServer(): NetServer {
    return this.#tcp;
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

  /**
   * Serves a socket connected elsewhere as if it had been accepted, with `addresses` standing in for the
   * socket's own when given: a node proxy relaying between two of its own pods joins both ends over loopback
   * and says which pod was dialled (the local address) and by whom (the remote one). The socket should be
   * paused (no bytes read yet).
   */
  accept(socket: Socket, addresses?: ConnectionAddresses): void {
    if (addresses !== undefined) {
      const key = tupleOf(socket);
      this.#assigned.set(key, { ...addresses });
      socket.once('close', () => this.#assigned.delete(key));
    }
    this.#onConnection(socket);
  }

  /**
   * Drops the TLS context kept for `identity` (when the last workload with it leaves). Connections already
   * open keep theirs; a later connection for the identity builds a new one.
   */
  forgetIdentity(identity: Identity): void {
    this.#tlsByIdentity.delete(identity.uri);
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
    const closed = new Promise<void>((resolve) => (this.#tcp.listening ? this.#tcp.close(() => resolve()) : resolve()));
    for (const s of this.#awaitingCert) s.destroy();
    for (const session of this.#sessions.keys()) session.close();
    await Promise.all([closed, ...[...this.#sockets].map(waitClose)]);
  }

  /** Closes everything now: listener, sessions, tunnels (reset), handshakes. */
  destroy(): void {
    this.#closing = true;
    if (this.#tcp.listening) this.#tcp.close();
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
    const localAddress = this.#addressesOf(socket).localAddress;
    const identity = this.#identityFor !== undefined ? this.#identityFor(localAddress) : this.#identity;
    if (identity === undefined) {
      this.#log.debug({ 'dst.addr': localAddress, 'src.addr': socket.remoteAddress }, 'no identity to present on this address; closing');
      socket.destroy();
      return;
    }
    this.#awaitingCert.add(socket);
    this.#certificates.getCertificate(identity).then(
      (cert) => {
        this.#awaitingCert.delete(socket);
        if (socket.destroyed) return;
        // Synchronous from here: the TLS server wraps the socket with its current context inside emit().
        this.#tlsFor(identity, cert).emit('connection', socket);
      },
      (err: unknown) => {
        this.#awaitingCert.delete(socket);
        this.#log.error({ err, identity: identity.uri }, 'no certificate for the HBONE listener; refusing connection');
        socket.destroy();
      },
    );
  };

  /** The TLS server of `identity`, its context swapped when the source hands out a different certificate. */
  #tlsFor(identity: Identity, cert: WorkloadCertificate): TlsServer {
    let entry = this.#tlsByIdentity.get(identity.uri);
    if (entry === undefined) {
      // The certificate-bearing options are set with setSecureContext; these never change.
      const server = createTlsServer({
        ALPNProtocols: [MESH_ALPN],
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.3',
        maxVersion: 'TLSv1.3',
        handshakeTimeout: this.#handshakeTimeoutMs,
      });
      server.on('secureConnection', (socket: TLSSocket) => this.#onSecureConnection(socket, identity));
      server.on('tlsClientError', this.#onTlsClientError);
      entry = { server, certificate: undefined };
      this.#tlsByIdentity.set(identity.uri, entry);
    }
    if (entry.certificate !== cert) {
      entry.certificate = cert;
      entry.server.setSecureContext(serverTlsOptions(cert, this.#trustDomain));
    }
    return entry.server;
  }

  #addressesOf(socket: Socket | TLSSocket): ConnectionAddresses {
    if (this.#assigned.size > 0) {
      const assigned = this.#assigned.get(tupleOf(socket));
      if (assigned !== undefined) return assigned;
    }
    return {
      localAddress: socket.localAddress ?? '',
      localPort: socket.localPort ?? 0,
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
    };
  }

  readonly #onSocketError = (err: Error): void => {
    this.#log.debug({ err }, 'HBONE socket error');
  };

  readonly #onTlsClientError = (err: Error & { code?: string }, socket: TLSSocket): void => {
    this.#log.warn({ err, code: err.code, 'src.addr': socket.remoteAddress }, 'HBONE TLS handshake failed');
  };

  /** A completed handshake: check ALPN and the client's identity, then hand the socket to HTTP/2. */
  #onSecureConnection(socket: TLSSocket, identity: Identity): void {
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
    const addresses = this.#addressesOf(socket);
    this.#handing = { peer, identity, ...addresses };
    try {
      this.#h2.emit('connection', socket);
    } finally {
      this.#handing = undefined;
    }
  }

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
    // on, not once: 'close' comes once anyway, and once() wraps the listener in three objects per stream.
    stream.on('close', this.#onStreamClose);
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
      identity: info.identity,
      authority: authority!,
      target,
      remoteAddress: info.remoteAddress,
      remotePort: info.remotePort,
      localAddress: info.localAddress,
      localPort: info.localPort,
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
      let decision: TunnelDecision = false;
      try {
        decision = await this.#authorize(req);
      } catch (err) {
        this.#log.error({ err, 'src.identity': req.peerIdentity.uri, 'dst.addr': req.authority }, 'authorize threw; denying');
      }
      if (decision !== true) {
        const refusal = decision === false ? { status: 401 as const, reason: 'denied by authorization policy' } : decision;
        this.#refuse(stream, refusal.status, refusal.reason, req);
        return;
      }
    }
    if (this.#serveTunnel !== undefined) {
      this.#serve(stream, req, this.#serveTunnel);
      return;
    }
    let upstream: Socket | UpstreamConnection;
    try {
      upstream = await this.#connectUpstream(req);
    } catch (err) {
      this.#refuse(stream, 503, `upstream unreachable: ${(err as Error).message}`, req);
      return;
    }
    const socket = upstream instanceof Socket ? upstream : upstream.socket;
    const owner = upstream instanceof Socket ? new TunnelEnd(this.#log, req, this.#onTunnelClosed) : upstream.owner;
    if (stream.destroyed || stream.closed) {
      // The client gave up while we were connecting.
      socket.destroy();
      owner.relayDone({ aToB: 0, bToA: 0, error: new HboneError('HBONE_ERR_STREAM', 'the client closed the tunnel before the upstream connected') });
      return;
    }
    stream.respond({ ':status': 200 });
    // Nothing of this function stays alive with the tunnel: the relay tells the owner when it is done.
    startRelay(stream, socket, owner);
    // The relay listens for the stream's errors from here (a second listener would cost an array per stream).
    stream.off('error', this.#onStreamError);
  }

  /** Hands an authorized tunnel to `serveTunnel` (see the option). */
  #serve(stream: ServerHttp2Stream, req: InboundTunnelRequest, serve: (stream: Duplex, req: InboundTunnelRequest) => void): void {
    // The client may have given up while authorize ran.
    if (stream.destroyed || stream.closed) return;
    stream.respond({ ':status': 200 });
    try {
      serve(stream, req);
    } catch (err) {
      this.#log.error({ err, 'src.identity': req.peerIdentity.uri, 'dst.addr': req.authority }, 'serveTunnel threw; resetting the tunnel');
      stream.close(h2constants.NGHTTP2_INTERNAL_ERROR);
    }
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

/** The end of a tunnel whose upstream came as a bare socket: logged, and passed on to `onTunnelClosed`. */
class TunnelEnd implements RelayOwner {
  readonly #log: Logger;
  readonly #req: InboundTunnelRequest;
  readonly #onTunnelClosed: HboneServerOptions['onTunnelClosed'];

  constructor(log: Logger, req: InboundTunnelRequest, onTunnelClosed: HboneServerOptions['onTunnelClosed']) {
    this.#log = log;
    this.#req = req;
    this.#onTunnelClosed = onTunnelClosed;
  }

  relayDone(result: RelayResult): void {
    const req = this.#req;
    this.#log.debug(
      { 'src.identity': req.peerIdentity.uri, 'dst.addr': req.authority, bytes_recv: result.aToB, bytes_sent: result.bToA, error: result.error?.message },
      'HBONE tunnel closed',
    );
    if (this.#onTunnelClosed === undefined) return;
    try {
      this.#onTunnelClosed(req, result);
    } catch (err) {
      this.#log.error({ err, 'dst.addr': req.authority }, 'onTunnelClosed threw');
    }
  }
}

/** A connection's 4-tuple as both the raw socket and the TLS socket over it report it. */
function tupleOf(socket: Socket | TLSSocket): string {
  return `${socket.localAddress ?? ''}|${socket.localPort ?? 0}|${socket.remoteAddress ?? ''}|${socket.remotePort ?? 0}`;
}

function waitClose(s: Socket): Promise<void> {
  return s.closed ? Promise.resolve() : new Promise((resolve) => s.once('close', () => resolve()));
}

