/**
 * The client's pool of HTTP/2 connections (ztunnel `src/proxy/pool.rs`). A key is what must match for a
 * connection to be shared: the source address we dial from (when one is bound), the source identity we
 * present, the sorted identities we accept from the server, and the server address. Each connection carries up to `maxStreams` tunnels (capped by the
 * server's SETTINGS_MAX_CONCURRENT_STREAMS); a full one makes the next tunnel dial another. Dials are
 * serialised per key, so a burst of new tunnels to one peer opens one connection, not one each.
 *
 * Invariants: a connection is in its key's list only while it accepts new streams (not draining, not
 * closed); `live` holds every session from dial until 'close', so close()/destroy() reach them all.
 */
import type { ClientHttp2Session, ClientHttp2Stream } from 'node:http2';
import type { Timers } from './timers.js';

export class PooledConnection {
  readonly session: ClientHttp2Session;
  readonly key: string;
  /** Open (or reserved) streams. */
  streams = 0;
  readonly #pool: ConnectionPool;
  readonly #maxStreams: number;
  #draining = false;
  #idleTimer: unknown;

  constructor(pool: ConnectionPool, key: string, session: ClientHttp2Session, maxStreams: number) {
    this.#pool = pool;
    this.key = key;
    this.session = session;
    this.#maxStreams = maxStreams;
  }

  /** The lower of our cap and the server's advertised limit (which may change with a later SETTINGS). */
  get capacity(): number {
    const peer = this.session.remoteSettings.maxConcurrentStreams;
    return peer === undefined ? this.#maxStreams : Math.min(this.#maxStreams, peer);
  }

  get usable(): boolean {
    return !this.#draining && !this.session.closed && !this.session.destroyed && this.streams < this.capacity;
  }

  /** Takes a stream slot; the caller must attach the stream with `track` or give the slot back with `release`. */
  reserve(): void {
    this.streams++;
    if (this.#idleTimer !== undefined) {
      this.#pool.timers.clearTimeout(this.#idleTimer);
      this.#idleTimer = undefined;
    }
  }

  track(stream: ClientHttp2Stream): void {
    // on, not once: 'close' comes once anyway, and once() wraps the listener in three objects per stream.
    stream.on('close', this.release);
  }

  readonly release = (): void => {
    this.streams--;
    this.#pool.streamClosed();
    if (this.streams === 0 && !this.#draining) {
      this.#idleTimer = this.#pool.timers.setTimeout(this.#onIdle, this.#pool.idleTimeoutMs);
    }
  };

  /** No new streams from now on; open ones finish. */
  drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    if (this.#idleTimer !== undefined) this.#pool.timers.clearTimeout(this.#idleTimer);
    this.#pool.unlist(this);
  }

  readonly #onIdle = (): void => {
    this.#idleTimer = undefined;
    if (this.streams > 0) return;
    this.drain();
    this.session.close();
  };
}

interface Entry {
  readonly connections: PooledConnection[];
  dialing: Promise<PooledConnection> | undefined;
}

export class ConnectionPool {
  readonly timers: Timers;
  readonly idleTimeoutMs: number;
  readonly #entries = new Map<string, Entry>();
  readonly #live = new Set<PooledConnection>();
  #streams = 0;
  /** Connections listed under a key (accepting new streams while they have room). */
  #listed = 0;

  constructor(timers: Timers, idleTimeoutMs: number) {
    this.timers = timers;
    this.idleTimeoutMs = idleTimeoutMs;
  }

  /**
   * A connection for `key` with a stream slot reserved for the caller. Dials with `dial` when none has
   * room and no dial for the key is under way; otherwise waits for that dial and tries again. A failed
   * dial fails everyone who waited for it (a dead peer costs one connect timeout, not one per tunnel).
   */
  async acquire(key: string, dial: () => Promise<PooledConnection>): Promise<PooledConnection> {
    for (;;) {
      let entry = this.#entries.get(key);
      if (entry) {
        for (const c of entry.connections) {
          if (c.usable) {
            c.reserve();
            this.#streams++;
            return c;
          }
        }
        if (entry.dialing) {
          await entry.dialing;
          continue;
        }
      } else {
        entry = { connections: [], dialing: undefined };
        this.#entries.set(key, entry);
      }
      const current = entry;
      const dialing = dial().then(
        (c) => {
          current.dialing = undefined;
          return c;
        },
        (err: unknown) => {
          current.dialing = undefined;
          this.#forgetIfEmpty(key, current);
          throw err;
        },
      );
      current.dialing = dialing;
      await dialing;
    }
  }

  /** Registers a freshly dialled connection under its key. */
  add(conn: PooledConnection): void {
    let entry = this.#entries.get(conn.key);
    if (!entry) {
      entry = { connections: [], dialing: undefined };
      this.#entries.set(conn.key, entry);
    }
    entry.connections.push(conn);
    this.#listed++;
  }

  /** Tracks a session from the moment it is dialled until it closes. */
  live(conn: PooledConnection): void {
    this.#live.add(conn);
    conn.session.once('close', () => {
      this.#live.delete(conn);
      conn.drain();
    });
  }

  unlist(conn: PooledConnection): void {
    const entry = this.#entries.get(conn.key);
    if (!entry) return;
    const i = entry.connections.indexOf(conn);
    if (i >= 0) {
      entry.connections.splice(i, 1);
      this.#listed--;
    }
    this.#forgetIfEmpty(conn.key, entry);
  }

  streamClosed(): void {
    this.#streams--;
  }

  get connections(): number {
    return this.#live.size;
  }

  get streams(): number {
    return this.#streams;
  }

  /** Live connections that take no new streams (GOAWAY received, idle-closing, closing). */
  get draining(): number {
    return this.#live.size - this.#listed;
  }

  all(): PooledConnection[] {
    return [...this.#live];
  }

  #forgetIfEmpty(key: string, entry: Entry): void {
    if (entry.connections.length === 0 && !entry.dialing && this.#entries.get(key) === entry) this.#entries.delete(key);
  }
}
