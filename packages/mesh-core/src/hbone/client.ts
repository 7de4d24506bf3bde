/**
 * The HBONE client: opens tunnels (`CONNECT ip:port` streams) over pooled mutual-TLS HTTP/2 connections.
 * The server must prove one of the expected SPIFFE identities; we present the source identity's
 * certificate, fetched from the CertificateSource for every new connection (so rotation applies to new
 * connections while pooled ones keep theirs until they close).
 */
import { connect as h2connect, constants as h2constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { CertificateSource, Identity } from '../identity/index.js';
import { silentLogger } from '../telemetry/logger.js';
import { MESH_ALPN, PeerIdentityError, clientTlsOptions } from '../tls/index.js';
import { HboneError } from './errors.js';
import { connectHeaders, isValidHeaderValue, parseAuthority, type HostPort } from './headers.js';
import { Keepalive } from './keepalive.js';
import { ConnectionPool, PooledConnection } from './pool.js';
import {
  DEFAULT_CLIENT_TUNING,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_KEEPALIVE,
  TCP_KEEPALIVE_DELAY_MS,
  applyConnectionWindow,
  localSettings,
  resolveTuning,
  type Http2Tuning,
  type KeepaliveOptions,
} from './settings.js';
import { systemTimers, type Timers } from './timers.js';

export interface OutboundTunnelRequest {
  /** The identity we present (its certificate comes from the CertificateSource). */
  source: Identity;
  /** The HBONE endpoint, `ip:port` (e.g. `10.0.0.2:15008`). */
  destination: string;
  /** The server must hold one of these SPIFFE IDs. */
  expectedIdentities: readonly Identity[];
  /** The tunnel target, `ip:port`, sent as `:authority`. */
  authority: string;
  /**
   * The address to dial from, when the dialer binds one (a node proxy dials as the pod it acts for). It is
   * part of the pool key: tunnels from different sources never share a connection.
   */
  sourceAddress?: string;
  /** The original client's `ip:port`, sent as `forwarded: for="…"`. */
  forwardedFor?: string;
  /** The service hostname the client addressed, sent as `forwarded: …;host=<hostname>` (see `forwardedFor()`). */
  forwardedHost?: string;
  baggage?: string;
  traceparent?: string;
}

/**
 * Opens the TCP connection under a new HBONE connection (TLS runs over it). The default is a plain
 * `net.connect`; a node proxy dials from the source pod's address with its packet mark instead. Rejecting
 * fails the tunnel with HBONE_ERR_CONNECT (an HboneError is passed on as it is).
 */
export type HboneDialer = (req: OutboundTunnelRequest, destination: HostPort) => Promise<Socket>;

export interface HboneClientOptions {
  certificates: CertificateSource;
  /** Opens the TCP connection of a new HBONE connection; see `HboneDialer`. */
  dial?: HboneDialer;
  logger?: Logger;
  /** Tunnels per connection before another is opened (100, or the server's limit if lower). */
  maxStreamsPerConnection?: number;
  /** A connection with no tunnels for this long is closed (5 min). */
  idleTimeoutMs?: number;
  keepalive?: KeepaliveOptions;
  http2?: Partial<Http2Tuning>;
  /** TCP + TLS + HTTP/2 SETTINGS exchange deadline (10 s). */
  connectTimeoutMs?: number;
  /** How long to wait for the CONNECT response (15 s: longer than the server's 10 s upstream timeout). */
  responseTimeoutMs?: number;
  timers?: Timers;
}

const DEFAULT_IDLE_TIMEOUT_MS = 5 * 60_000;
const DEFAULT_RESPONSE_TIMEOUT_MS = 15_000;

export class HboneClient {
  readonly #certificates: CertificateSource;
  readonly #log: Logger;
  readonly #maxStreams: number;
  readonly #keepalive: KeepaliveOptions;
  readonly #tuning: Http2Tuning;
  readonly #connectTimeoutMs: number;
  readonly #responseTimeoutMs: number;
  readonly #timers: Timers;
  readonly #pool: ConnectionPool;
  readonly #dialer: HboneDialer | undefined;
  /** Sessions between dial and pooling, so destroy() reaches them too. */
  readonly #dialing = new Set<ClientHttp2Session>();
  #closed = false;

  constructor(o: HboneClientOptions) {
    this.#certificates = o.certificates;
    this.#log = (o.logger ?? silentLogger()).child({ component: 'hbone-client' });
    this.#maxStreams = o.maxStreamsPerConnection ?? 100;
    this.#keepalive = o.keepalive ?? DEFAULT_KEEPALIVE;
    this.#tuning = resolveTuning(DEFAULT_CLIENT_TUNING, o.http2);
    this.#connectTimeoutMs = o.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.#responseTimeoutMs = o.responseTimeoutMs ?? DEFAULT_RESPONSE_TIMEOUT_MS;
    this.#timers = o.timers ?? systemTimers;
    this.#pool = new ConnectionPool(this.#timers, o.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS);
    this.#dialer = o.dial;
  }

  /**
   * Opens a tunnel. Resolves with the CONNECT stream once the server answered 200: write to send to the
   * target, `end()` to half-close, `destroy()` to reset. Rejects with HboneError otherwise.
   */
  async connect(req: OutboundTunnelRequest): Promise<Duplex> {
    if (this.#closed) throw new HboneError('HBONE_ERR_CLOSED', 'HBONE client is closed');
    const destination = checkRequest(req);
    const expected = req.expectedIdentities.map((i) => i.uri).sort();
    const key = `${req.sourceAddress ?? ''}|${req.source.uri}|${expected.join(',')}|${req.destination}`;
    const conn = await this.#pool.acquire(key, () => this.#dial(key, req, destination));
    let stream: ClientHttp2Stream;
    try {
      stream = conn.session.request(connectHeaders(req), { endStream: false });
    } catch (err) {
      conn.release();
      throw new HboneError('HBONE_ERR_STREAM', `cannot open a stream to ${req.destination}: ${(err as Error).message}`, { cause: err });
    }
    conn.track(stream);
    return await new ResponseWait(stream, req, this.#timers, this.#responseTimeoutMs).done;
  }

  /** Open HTTP/2 connections, open tunnels, and connections that are finishing (taking no new tunnels). */
  stats(): { connections: number; streams: number; draining: number } {
    return { connections: this.#pool.connections, streams: this.#pool.streams, draining: this.#pool.draining };
  }

  /** Refuses new tunnels, sends GOAWAY on every connection and resolves once all have closed (open tunnels finish first). */
  async close(): Promise<void> {
    this.#closed = true;
    const sessions = [...this.#dialing, ...this.#pool.all().map((c) => c.session)];
    await Promise.all(
      sessions.map((s) => (s.closed || s.destroyed ? Promise.resolve() : new Promise<void>((resolve) => s.close(resolve)))),
    );
  }

  /** Resets every tunnel and closes every connection now. */
  destroy(): void {
    this.#closed = true;
    for (const s of this.#dialing) s.destroy();
    for (const c of this.#pool.all()) c.session.destroy();
  }

  readonly #onSessionError = (err: Error): void => {
    this.#log.debug({ err }, 'HBONE connection error');
  };

  async #dial(key: string, req: OutboundTunnelRequest, dest: HostPort): Promise<PooledConnection> {
    const cert = await this.#certificates.getCertificate(req.source);
    if (this.#closed) throw new HboneError('HBONE_ERR_CLOSED', 'HBONE client is closed');
    const tlsOptions = clientTlsOptions(cert, req.expectedIdentities);
    // A dialer hands over a connected socket: TLS starts over it at once (no 'connect' event to wait for).
    const raw = this.#dialer === undefined ? undefined : await this.#dialRaw(req, dest);
    if (this.#closed) {
      raw?.destroy();
      throw new HboneError('HBONE_ERR_CLOSED', 'HBONE client is closed');
    }
    let socket: TLSSocket | undefined;
    const session = h2connect(`https://${req.destination}`, {
      settings: localSettings(this.#tuning),
      maxSessionMemory: this.#tuning.maxSessionMemoryMiB,
      createConnection: () => {
        // Connecting by IP (host) sends no SNI, as ztunnel.
        if (raw === undefined) {
          socket = tlsConnect({ host: dest.host, port: dest.port, ...tlsOptions });
        } else {
          socket = tlsConnect({ socket: raw, host: dest.host, ...tlsOptions });
          // A TLS socket over an existing one inherits its allowHalfOpen (an option given here is ignored);
          // a dialer's half-open socket would leave the session open, in CLOSE_WAIT, after the peer's FIN.
          socket.allowHalfOpen = false;
        }
        // Here, not on session.socket: the session's socket proxy refuses setNoDelay.
        socket.setNoDelay(true);
        socket.setKeepAlive(true, TCP_KEEPALIVE_DELAY_MS);
        return socket;
      },
    });
    // Errors are reported through DialWait, then through the streams; this listener only keeps a late
    // socket error (after a failed dial, say) from becoming an uncaught exception.
    session.on('error', this.#onSessionError);
    this.#dialing.add(session);
    try {
      await new DialWait(session, socket!, req.destination, this.#timers, this.#connectTimeoutMs, raw === undefined ? 'tcp' : 'tls').done;
    } catch (err) {
      session.destroy();
      throw err;
    } finally {
      this.#dialing.delete(session);
    }
    applyConnectionWindow(session, this.#tuning);
    const conn = new PooledConnection(this.#pool, key, session, this.#maxStreams);
    session.on('goaway', () => conn.drain());
    this.#pool.live(conn);
    this.#pool.add(conn);
    new Keepalive(session, this.#keepalive, this.#timers);
    this.#log.debug({ 'dst.hbone_addr': req.destination, capacity: conn.capacity }, 'HBONE connection established');
    return conn;
  }

  async #dialRaw(req: OutboundTunnelRequest, dest: HostPort): Promise<Socket> {
    try {
      return await this.#dialer!(req, dest);
    } catch (err) {
      if (err instanceof HboneError) throw err;
      throw new HboneError('HBONE_ERR_CONNECT', `cannot connect to ${req.destination}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/** Validates a tunnel request before anything is dialled; returns the parsed destination. */
function checkRequest(req: OutboundTunnelRequest): HostPort {
  const destination = parseAuthority(req.destination);
  if (typeof destination === 'string') throw new HboneError('HBONE_ERR_BAD_REQUEST', `destination: ${destination}`);
  const target = parseAuthority(req.authority);
  if (typeof target === 'string') throw new HboneError('HBONE_ERR_BAD_REQUEST', `tunnel target: ${target}`);
  if (req.expectedIdentities.length === 0) throw new HboneError('HBONE_ERR_BAD_REQUEST', 'no expected server identity given');
  if (req.sourceAddress !== undefined && isIP(req.sourceAddress) === 0) {
    throw new HboneError('HBONE_ERR_BAD_REQUEST', `sourceAddress ${JSON.stringify(req.sourceAddress)} is not an IP address`);
  }
  if (req.forwardedHost === '') throw new HboneError('HBONE_ERR_BAD_REQUEST', 'forwardedHost is empty');
  for (const [name, v] of [['forwardedFor', req.forwardedFor], ['forwardedHost', req.forwardedHost], ['baggage', req.baggage], ['traceparent', req.traceparent]] as const) {
    if (v !== undefined && (!isValidHeaderValue(v) || (name === 'forwardedFor' && v.includes('"')))) {
      throw new HboneError('HBONE_ERR_BAD_REQUEST', `${name} ${JSON.stringify(v)} is not a valid header value`);
    }
  }
  return destination;
}

/**
 * Waits for a new session to be usable: TCP connected, TLS verified (including the server's identity),
 * ALPN h2, and the server's first SETTINGS received (so its stream limit is known).
 */
class DialWait {
  readonly done: Promise<void>;
  readonly #session: ClientHttp2Session;
  readonly #socket: TLSSocket;
  readonly #destination: string;
  #phase: 'tcp' | 'tls' | 'h2' = 'tcp';
  #resolve!: () => void;
  #reject!: (err: HboneError) => void;
  #timer: unknown;
  readonly #timers: Timers;

  constructor(session: ClientHttp2Session, socket: TLSSocket, destination: string, timers: Timers, timeoutMs: number, phase: 'tcp' | 'tls') {
    this.#session = session;
    this.#phase = phase;
    this.#socket = socket;
    this.#destination = destination;
    this.#timers = timers;
    this.done = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    socket.once('connect', this.#onTcp);
    socket.once('secureConnect', this.#onTls);
    session.once('remoteSettings', this.#onSettings);
    session.on('error', this.#onError);
    session.once('close', this.#onClose);
    this.#timer = timers.setTimeout(this.#onTimeout, timeoutMs);
  }

  readonly #onTcp = (): void => {
    this.#phase = 'tls';
  };

  readonly #onTls = (): void => {
    this.#phase = 'h2';
    if (this.#socket.alpnProtocol !== MESH_ALPN) {
      this.#fail(new HboneError('HBONE_ERR_H2', `${this.#destination} did not negotiate ALPN h2 (got ${String(this.#socket.alpnProtocol)})`));
    }
  };

  readonly #onSettings = (): void => {
    this.#finish();
    this.#resolve();
  };

  readonly #onError = (err: Error): void => {
    this.#fail(classify(err, this.#phase, this.#destination));
  };

  readonly #onClose = (): void => {
    const hint = this.#phase === 'h2' ? ' (the server may have refused our certificate or identity)' : '';
    this.#fail(new HboneError(this.#phase === 'tcp' ? 'HBONE_ERR_CONNECT' : this.#phase === 'tls' ? 'HBONE_ERR_TLS' : 'HBONE_ERR_H2', `connection to ${this.#destination} closed during ${this.#phase} setup${hint}`));
  };

  readonly #onTimeout = (): void => {
    this.#fail(new HboneError('HBONE_ERR_CONNECT_TIMEOUT', `no HBONE connection to ${this.#destination} within the connect timeout (at ${this.#phase} setup; a NetworkPolicy may block port 15008)`));
  };

  #fail(err: HboneError): void {
    this.#finish();
    this.#reject(err);
  }

  #finish(): void {
    this.#timers.clearTimeout(this.#timer);
    this.#socket.off('connect', this.#onTcp);
    this.#socket.off('secureConnect', this.#onTls);
    this.#session.off('remoteSettings', this.#onSettings);
    this.#session.off('error', this.#onError);
    this.#session.off('close', this.#onClose);
  }
}

function classify(err: Error & { code?: string }, phase: 'tcp' | 'tls' | 'h2', destination: string): HboneError {
  if (err instanceof HboneError) return err;
  if (err instanceof PeerIdentityError) {
    return new HboneError('HBONE_ERR_TLS', `server ${destination} failed identity verification: ${err.message}`, { cause: err });
  }
  const code = phase === 'tcp' ? 'HBONE_ERR_CONNECT' : phase === 'tls' ? 'HBONE_ERR_TLS' : 'HBONE_ERR_H2';
  return new HboneError(code, `HBONE connection to ${destination} failed during ${phase} setup: ${err.message}`, { cause: err });
}

/**
 * What Node keeps of a request for the stream's whole life, by the descriptions of its private symbols
 * (`lib/internal/http2/core.js`): the headers as sent (a dictionary object with our `forwarded`,
 * `traceparent` and `:authority` strings, ~0.4 KB), the origin string made from them (read only on a 421
 * response) and the async resource the response events are emitted in. A tunnel's response is its last
 * header block, so none of them is read again; a proxy holding thousands of idle tunnels drops them.
 * `sentHeaders` is then undefined. If a Node version names them differently, nothing is dropped (a test
 * notices), nothing breaks.
 */
const REQUEST_STATE = new Set(['sent-headers', 'origin', 'requestAsyncResource']);
let requestSymbols: symbol[] | undefined;

function forgetRequest(stream: ClientHttp2Stream): void {
  requestSymbols ??= Object.getOwnPropertySymbols(stream).filter((s) => s.description !== undefined && REQUEST_STATE.has(s.description));
  const fields = stream as unknown as Record<symbol, unknown>;
  for (const s of requestSymbols) fields[s] = undefined;
}

/** Waits for the CONNECT response on a new stream; settles once and then takes its listeners off. */
class ResponseWait {
  readonly done: Promise<ClientHttp2Stream>;
  readonly #stream: ClientHttp2Stream;
  readonly #req: OutboundTunnelRequest;
  readonly #timers: Timers;
  #timer: unknown;
  #resolve!: (s: ClientHttp2Stream) => void;
  #reject!: (err: HboneError) => void;

  constructor(stream: ClientHttp2Stream, req: OutboundTunnelRequest, timers: Timers, timeoutMs: number) {
    this.#stream = stream;
    this.#req = req;
    this.#timers = timers;
    this.done = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    stream.once('response', this.#onResponse);
    stream.on('error', this.#onError);
    stream.once('close', this.#onClose);
    this.#timer = timers.setTimeout(this.#onTimeout, timeoutMs);
  }

  readonly #onResponse = (headers: IncomingHttpHeaders): void => {
    const status = Number(headers[':status']);
    this.#finish();
    if (status === 200) {
      forgetRequest(this.#stream);
      this.#resolve(this.#stream);
      return;
    }
    this.#stream.close(h2constants.NGHTTP2_CANCEL);
    this.#reject(new HboneError('HBONE_ERR_STATUS', `CONNECT ${this.#req.authority} via ${this.#req.destination} answered ${status}`, { status }));
  };

  readonly #onError = (err: Error): void => {
    this.#finish();
    this.#stream.destroy();
    if (err instanceof HboneError) this.#reject(err);
    else this.#reject(new HboneError('HBONE_ERR_STREAM', `CONNECT ${this.#req.authority} via ${this.#req.destination} failed: ${err.message}`, { cause: err }));
  };

  readonly #onClose = (): void => {
    this.#finish();
    const sessionGone = this.#stream.session === undefined || this.#stream.session.closed || this.#stream.session.destroyed;
    this.#reject(
      new HboneError(
        sessionGone ? 'HBONE_ERR_SESSION' : 'HBONE_ERR_STREAM',
        `CONNECT ${this.#req.authority} via ${this.#req.destination} closed before a response (RST code ${this.#stream.rstCode ?? 'none'})`,
      ),
    );
  };

  readonly #onTimeout = (): void => {
    this.#finish();
    this.#stream.close(h2constants.NGHTTP2_CANCEL);
    this.#reject(new HboneError('HBONE_ERR_STREAM', `no response to CONNECT ${this.#req.authority} via ${this.#req.destination} within the response timeout`));
  };

  #finish(): void {
    this.#timers.clearTimeout(this.#timer);
    this.#stream.off('response', this.#onResponse);
    this.#stream.off('error', this.#onError);
    this.#stream.off('close', this.#onClose);
  }
}
