/**
 * The connections of one host of one cluster, within the cluster's circuit-breaker limits:
 *
 * - HTTP/1.1: keep-alive connections, one request at a time each. A request takes an idle connection, or
 *   opens one while the cluster is below `maxConnections`, or waits as pending while fewer than
 *   `maxPendingRequests` wait, or fails with `UO`. A waiter is woken whenever a connection of the cluster
 *   goes idle or closes; if the cluster is full of idle connections to *other* hosts, one is closed to make
 *   room (otherwise a skewed pick could wait forever).
 * - HTTP/2: sessions multiplexing up to the peer's `maxConcurrentStreams` streams; a new session is opened
 *   (within `maxConnections`) when every session is full.
 *
 * Each connection runs over a stream from the `Connector` (an HBONE tunnel or TCP).
 */
import type { Cancellation } from './cancellation.js';
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { ClusterState } from './cluster-state.js';
import { Http1ClientConnection } from '../http1/client-connection.js';
import { UpstreamError } from './errors.js';
import type { Host } from './host.js';

export type OpenStream = (host: Host) => Promise<Duplex>;

const H2_SETTINGS = { initialWindowSize: 4 * 1024 * 1024, enablePush: false };

/** Streams a session is assumed to take before the peer's SETTINGS say how many (RFC 9113 recommends ≥ 100). */
const STREAMS_BEFORE_SETTINGS = 100;

export class HostPool {
  readonly host: Host;
  readonly #cluster: ClusterState;
  readonly #open: OpenStream;
  readonly #idle: Http1ClientConnection[] = [];
  readonly #h1 = new Set<Http1ClientConnection>();
  readonly #sessions = new Set<ClientHttp2Session>();
  /** Streams open per session (ours: `state.localSettings` does not count them). */
  readonly #streams = new Map<ClientHttp2Session, number>();
  /** The HTTP/2 session being connected, and how many requests wait for it (the opener included). */
  #connecting: Promise<ClientHttp2Session> | undefined;
  #connectingClaims = 0;
  #closing = false;

  constructor(cluster: ClusterState, host: Host, open: OpenStream) {
    this.#cluster = cluster;
    this.host = host;
    this.#open = open;
  }

  get connections(): number {
    return this.#h1.size + this.#sessions.size;
  }

  get idleConnections(): number {
    return this.#idle.length;
  }

  /** An HTTP/1.1 connection for one request; it comes back to the pool by itself when the exchange ends cleanly. */
  async acquireH1(cancel: Cancellation): Promise<Http1ClientConnection> {
    for (;;) {
      this.#checkOpen();
      const idle = this.#idle.pop();
      if (idle !== undefined) {
        if (idle.usable) return idle;
        continue;
      }
      if (this.#cluster.reserveConnection(this)) return this.#openH1();
      await this.#cluster.waitPending(cancel.signal);
    }
  }

  /** A transport to the host for a reserved connection; a failed dial gives the reservation back. */
  async #dial(): Promise<Duplex> {
    try {
      return await this.#open(this.host);
    } catch (err) {
      this.#cluster.connectionClosed();
      throw err;
    }
  }

  async #openH1(): Promise<Http1ClientConnection> {
    const stream = await this.#dial();
    const conn = new Http1ClientConnection(stream, this.#onFree);
    this.#h1.add(conn);
    stream.once('close', () => {
      this.#h1.delete(conn);
      const i = this.#idle.indexOf(conn);
      if (i >= 0) this.#idle.splice(i, 1);
      this.#cluster.connectionClosed();
    });
    return conn;
  }

  readonly #onFree = (conn: Http1ClientConnection): void => {
    if (this.#closing || !conn.usable) {
      conn.destroy();
      return;
    }
    this.#idle.push(conn);
    this.#cluster.wakePending();
  };

  /** Closes one idle connection, if there is one (to make room for another host's request). */
  evictIdle(): boolean {
    const s = this.#idle.shift();
    if (s === undefined) return false;
    s.destroy();
    return true;
  }

  /** An HTTP/2 session with room for one more stream; call `streamClosed` when that stream closes. */
  async acquireH2(cancel: Cancellation): Promise<ClientHttp2Session> {
    for (;;) {
      this.#checkOpen();
      for (const s of this.#sessions) {
        if (s.closed || s.destroyed) continue;
        const open = this.#streams.get(s) ?? 0;
        const max = s.remoteSettings.maxConcurrentStreams ?? STREAMS_BEFORE_SETTINGS;
        if (open < max) {
          this.#streams.set(s, open + 1);
          return s;
        }
      }
      // Requests arriving while a session is being set up ride on it (as Envoy attaches pending streams to
      // a connecting client), instead of each opening a connection of its own.
      const connecting = this.#connecting;
      if (connecting !== undefined && this.#connectingClaims < STREAMS_BEFORE_SETTINGS) {
        this.#connectingClaims++;
        const s = await abortable(connecting, cancel.signal);
        this.#streams.set(s, (this.#streams.get(s) ?? 0) + 1);
        return s;
      }
      if (this.#cluster.reserveConnection(this)) {
        const opening = this.#openH2();
        this.#connecting = opening;
        this.#connectingClaims = 1;
        const clear = (): void => {
          if (this.#connecting === opening) this.#connecting = undefined;
        };
        opening.then(clear, clear);
        const s = await opening;
        this.#streams.set(s, (this.#streams.get(s) ?? 0) + 1);
        return s;
      }
      await this.#cluster.waitPending(cancel.signal);
    }
  }

  streamClosed(session: ClientHttp2Session): void {
    const n = this.#streams.get(session);
    if (n !== undefined) this.#streams.set(session, n - 1);
    this.#cluster.wakePending();
    if (this.#closing && n === 1) session.close();
  }

  async #openH2(): Promise<ClientHttp2Session> {
    const stream = await this.#dial();
    const session = h2connect(`http://${this.host.key}`, { createConnection: () => stream, settings: H2_SETTINGS });
    session.on('error', noop);
    this.#sessions.add(session);
    session.once('close', () => {
      this.#sessions.delete(session);
      this.#streams.delete(session);
      stream.destroy();
      this.#cluster.connectionClosed();
    });
    session.once('goaway', () => this.#sessions.delete(session));
    return session;
  }

  #checkOpen(): void {
    if (this.#closing) throw new UpstreamError('WP_ERR_CLOSED', `the connection pool of ${this.host.key} is closed`);
  }

  /** Closes idle connections now and busy ones when their request ends. */
  close(): void {
    this.#closing = true;
    for (const s of this.#idle.splice(0)) s.destroy();
    for (const s of this.#sessions) if ((this.#streams.get(s) ?? 0) === 0) s.close();
  }

  destroy(): void {
    this.#closing = true;
    for (const s of this.#h1) s.destroy();
    for (const s of this.#sessions) s.destroy();
  }
}

/** `p`, or the signal's reason if it aborts first. */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function noop(): void {}
