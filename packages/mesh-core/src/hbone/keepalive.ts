import type { Http2Session } from 'node:http2';
import { HboneError } from './errors.js';
import type { KeepaliveOptions } from './settings.js';
import type { Timers } from './timers.js';

/**
 * HTTP/2 PING liveness for one session: a PING every `intervalMs` while none is outstanding, and the
 * session is destroyed with HBONE_ERR_KEEPALIVE when a PING stays unanswered for `timeoutMs`. TCP alone
 * would take minutes to notice a peer that vanished without a FIN or RST (a frozen node, a dropped route).
 */
export class Keepalive {
  readonly #session: Http2Session;
  readonly #opts: KeepaliveOptions;
  readonly #timers: Timers;
  #timer: unknown;
  /** When the outstanding PING was sent, or -1 when none is outstanding. */
  #sentAt = -1;
  #stopped = false;

  constructor(session: Http2Session, opts: KeepaliveOptions, timers: Timers) {
    this.#session = session;
    this.#opts = opts;
    this.#timers = timers;
    this.#timer = timers.setTimeout(this.#tick, opts.intervalMs);
    session.once('close', this.stop);
  }

  readonly stop = (): void => {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#timers.clearTimeout(this.#timer);
  };

  readonly #tick = (): void => {
    if (this.#stopped) return;
    const now = this.#timers.now();
    if (this.#sentAt >= 0) {
      const waited = now - this.#sentAt;
      if (waited >= this.#opts.timeoutMs) {
        this.stop();
        this.#session.destroy(new HboneError('HBONE_ERR_KEEPALIVE', `no PING answer within ${this.#opts.timeoutMs} ms; closing the connection`));
        return;
      }
      this.#timer = this.#timers.setTimeout(this.#tick, Math.min(this.#opts.intervalMs, this.#opts.timeoutMs - waited));
      return;
    }
    this.#sentAt = now;
    try {
      this.#session.ping(this.#onPong);
    } catch {
      // Too many outstanding PINGs or a session already closing: the close handler stops us.
    }
    this.#timer = this.#timers.setTimeout(this.#tick, Math.min(this.#opts.intervalMs, this.#opts.timeoutMs));
  };

  readonly #onPong = (err: Error | null): void => {
    if (!err) this.#sentAt = -1;
  };
}
