/**
 * Keeps one certificate per workload identity: fetched on demand, cached, refreshed at half its
 * lifetime, retried with per-identity backoff, forgotten when no longer wanted. It follows ztunnel's
 * SecretManager (src/identity/manager.rs):
 *
 * - Concurrent requests for one identity share one fetch.
 * - A failed fetch is retried with exponential backoff (0.5 s doubling to 150 s, jittered) for that
 *   identity alone, so one bad identity never delays the others.
 * - While retrying, the previous certificate keeps being served until it expires. Callers that find
 *   no valid certificate and no fetch under way get the last error at once, rather than waiting out
 *   a backoff of up to 150 s.
 * - At most 8 fetches run at once, started by priority: RealTime (a caller waits) > Warmup (prefetch,
 *   or a retry with nothing valid to serve) > Background (refresh of a still-valid certificate).
 *
 * TLS endpoints ask `getCertificate` on every handshake and listen to `onCertificate` to learn new
 * roots. Existing connections keep the certificate they were opened with.
 */
import type { Logger } from 'pino';
import { MeshError } from '../errors.js';
import { ExponentialBackoff, type BackoffOptions } from '../lifecycle/backoff.js';
import { realClock, type Clock, type Timer } from '../lifecycle/clock.js';
import { FetchPriority, FetchQueue } from './fetch-queue.js';
import type { WorkloadCertificate } from './pki.js';
import type { CertificateSource } from './source.js';
import type { Identity } from './spiffe.js';

export const DEFAULT_MAX_CONCURRENT_FETCHES = 8;
export const DEFAULT_FETCH_BACKOFF: Readonly<BackoffOptions> = Object.freeze({ initialMs: 500, maxMs: 150_000, jitter: 0.2 });
/**
 * Refreshes never come sooner than this after a fetch. A CA whose certificates arrive already
 * half-spent (clock skew, tiny TTLs) would otherwise be asked again in a tight loop.
 */
export const MIN_REFRESH_DELAY_MS = 1000;

export type SecretManagerErrorCode = 'SECRET_ERR_UNAVAILABLE' | 'SECRET_ERR_FORGOTTEN' | 'SECRET_ERR_CLOSED';

export class SecretManagerError extends MeshError {
  readonly identity: Identity;

  constructor(code: SecretManagerErrorCode, identity: Identity, reason: string, options?: { cause?: unknown }) {
    super(code, reason, options);
    this.identity = identity;
  }
}

/** A new certificate for an identity: the first one, or a rotation. */
export interface CertificateUpdate {
  readonly identity: Identity;
  readonly certificate: WorkloadCertificate;
  /** The certificate it replaces (possibly expired); undefined for the first. */
  readonly previous: WorkloadCertificate | undefined;
  /** Whether the trust anchors differ from `previous`'s (true for the first certificate). */
  readonly rootsChanged: boolean;
}

export interface SecretManagerOptions {
  /** Gets a fresh certificate, normally `(id) => caClient.createCertificate(id, { impersonate: true })`. */
  readonly fetch: (identity: Identity) => Promise<WorkloadCertificate>;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Default 8. */
  readonly maxConcurrentFetches?: number;
  /** Retry backoff per identity; default 0.5 s doubling to 150 s with 20% jitter. */
  readonly backoff?: Partial<BackoffOptions>;
}

interface Waiter {
  resolve(certificate: WorkloadCertificate): void;
  reject(error: Error): void;
}

interface Entry {
  readonly identity: Identity;
  readonly backoff: ExponentialBackoff;
  cert: WorkloadCertificate | undefined;
  /** Set after a failed fetch, cleared by a successful one. */
  lastError: unknown;
  state: 'idle' | 'queued' | 'fetching';
  /** The pending refresh or retry. */
  timer: Timer | undefined;
  retryAt: number;
  waiters: Waiter[];
  /** False once forgotten or closed: a fetch finishing after that is dropped. */
  live: boolean;
}

export class SecretManager implements CertificateSource {
  readonly #fetch: (identity: Identity) => Promise<WorkloadCertificate>;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #backoff: BackoffOptions;
  readonly #queue: FetchQueue<Entry>;
  readonly #entries = new Map<string, Entry>();
  readonly #listeners = new Set<(update: CertificateUpdate) => void>();
  #closed = false;

  constructor(options: SecretManagerOptions) {
    this.#fetch = options.fetch;
    this.#log = options.logger;
    this.#clock = options.clock ?? realClock;
    this.#backoff = { ...DEFAULT_FETCH_BACKOFF, ...options.backoff };
    new ExponentialBackoff(this.#backoff); // validates the options now rather than on the first failure
    this.#queue = new FetchQueue(options.maxConcurrentFetches ?? DEFAULT_MAX_CONCURRENT_FETCHES, (entry) => this.#run(entry));
  }

  /**
   * The current certificate for `identity`, fetching it first if there is none. Rejects with
   * SecretManagerError: UNAVAILABLE (no valid certificate; the cause is the last fetch error),
   * FORGOTTEN or CLOSED (while waiting).
   */
  getCertificate(identity: Identity): Promise<WorkloadCertificate> {
    if (this.#closed) return Promise.reject(closedError(identity));
    const entry = this.#entries.get(identity.uri) ?? this.#add(identity);
    const now = this.#clock.now();
    if (entry.cert && now < entry.cert.notAfter.getTime()) return Promise.resolve(entry.cert);
    if (entry.state === 'idle' && entry.lastError !== undefined) return Promise.reject(this.#unavailable(entry, now));
    // Join the waiters before starting the fetch: a fetcher that fails synchronously settles them at once.
    const waiting = new Promise<WorkloadCertificate>((resolve, reject) => entry.waiters.push({ resolve, reject }));
    if (entry.state === 'idle') this.#submit(entry, FetchPriority.RealTime);
    else if (entry.state === 'queued') this.#queue.submit(entry, FetchPriority.RealTime);
    return waiting;
  }

  /** Starts fetching `identity` ahead of need (Warmup priority); no-op if it is already known. */
  prefetch(identity: Identity): void {
    if (this.#closed || this.#entries.has(identity.uri)) return;
    this.#submit(this.#add(identity), FetchPriority.Warmup);
  }

  /**
   * Drops `identity`: its timers are cancelled, a queued fetch is withdrawn, a running fetch's result
   * is discarded, and callers still waiting are rejected with FORGOTTEN.
   */
  forget(identity: Identity): void {
    const entry = this.#entries.get(identity.uri);
    if (!entry) return;
    this.#entries.delete(identity.uri);
    this.#retire(entry, new SecretManagerError('SECRET_ERR_FORGOTTEN', identity, `${identity.uri} was forgotten while waiting for its certificate`));
    this.#log.debug({ identity: identity.uri }, 'certificate forgotten');
  }

  /** Identities currently kept (fetched, being fetched, or retrying). */
  identities(): Identity[] {
    return [...this.#entries.values()].map((e) => e.identity);
  }

  /**
   * Calls `listener` for every new certificate (first or rotated), after callers waiting for it were
   * answered. Returns a function that removes the listener. Listener errors are logged and ignored.
   */
  onCertificate(listener: (update: CertificateUpdate) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Forgets everything (waiters get CLOSED) and waits for fetches under way to settle. */
  async close(): Promise<void> {
    this.destroy();
    await this.#queue.drain();
  }

  /** Forgets everything at once; fetches under way are left to finish and their results dropped. */
  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const entry of this.#entries.values()) this.#retire(entry, closedError(entry.identity));
    this.#entries.clear();
    this.#listeners.clear();
  }

  #add(identity: Identity): Entry {
    const entry: Entry = {
      identity,
      backoff: new ExponentialBackoff(this.#backoff),
      cert: undefined,
      lastError: undefined,
      state: 'idle',
      timer: undefined,
      retryAt: 0,
      waiters: [],
      live: true,
    };
    this.#entries.set(identity.uri, entry);
    return entry;
  }

  #submit(entry: Entry, priority: FetchPriority): void {
    entry.timer?.cancel();
    entry.timer = undefined;
    entry.state = 'queued';
    this.#queue.submit(entry, priority);
  }

  #schedule(entry: Entry, delayMs: number): void {
    entry.timer = this.#clock.setTimeout(
      () => {
        entry.timer = undefined;
        if (!entry.live) return;
        const valid = entry.cert !== undefined && this.#clock.now() < entry.cert.notAfter.getTime();
        this.#submit(entry, valid ? FetchPriority.Background : FetchPriority.Warmup);
      },
      delayMs,
      { keepAlive: false },
    );
  }

  async #run(entry: Entry): Promise<void> {
    entry.state = 'fetching';
    let certificate: WorkloadCertificate | undefined;
    let error: unknown;
    try {
      certificate = await this.#fetch(entry.identity);
    } catch (err) {
      error = err ?? new Error('fetch failed without a reason');
    }
    if (!entry.live) return;
    entry.state = 'idle';
    const now = this.#clock.now();
    if (certificate && !certificate.identity.equals(entry.identity)) {
      error = new Error(`fetch returned a certificate for ${certificate.identity.uri}`);
    } else if (certificate && certificate.notAfter.getTime() <= now) {
      error = new Error(`fetch returned a certificate that expired at ${certificate.notAfter.toISOString()}`);
    } else if (certificate) {
      this.#accept(entry, certificate, now);
      return;
    }
    this.#fail(entry, error, now);
  }

  #accept(entry: Entry, certificate: WorkloadCertificate, now: number): void {
    const previous = entry.cert;
    entry.cert = certificate;
    entry.lastError = undefined;
    entry.backoff.reset();
    const waiters = entry.waiters;
    entry.waiters = [];
    for (const w of waiters) w.resolve(certificate);
    const start = certificate.notBefore.getTime();
    const refreshAt = start + (certificate.notAfter.getTime() - start) / 2;
    const delay = Math.max(MIN_REFRESH_DELAY_MS, refreshAt - now);
    this.#schedule(entry, delay);
    this.#log.info(
      { identity: entry.identity.uri, notAfter: certificate.notAfter.toISOString(), refreshInMs: delay, rotated: previous !== undefined },
      previous ? 'certificate rotated' : 'certificate ready',
    );
    const update: CertificateUpdate = {
      identity: entry.identity,
      certificate,
      previous,
      rootsChanged: !previous || !sameRoots(previous.rootsPem, certificate.rootsPem),
    };
    for (const listener of [...this.#listeners]) {
      try {
        listener(update);
      } catch (err) {
        this.#log.error({ err, identity: entry.identity.uri }, 'certificate listener threw');
      }
    }
  }

  #fail(entry: Entry, error: unknown, now: number): void {
    entry.lastError = error;
    const delay = entry.backoff.next();
    entry.retryAt = now + delay;
    this.#schedule(entry, delay);
    const serving = entry.cert !== undefined && now < entry.cert.notAfter.getTime();
    this.#log.warn(
      { identity: entry.identity.uri, reason: reasonOf(error), attempt: entry.backoff.attempts, retryInMs: delay, serving },
      'certificate fetch failed',
    );
    if (entry.waiters.length === 0) return;
    const waiters = entry.waiters;
    entry.waiters = [];
    const err = this.#unavailable(entry, now);
    for (const w of waiters) w.reject(err);
  }

  #unavailable(entry: Entry, now: number): SecretManagerError {
    const expired = entry.cert ? `its certificate expired at ${entry.cert.notAfter.toISOString()} and ` : '';
    const retryIn = Math.max(0, entry.retryAt - now);
    return new SecretManagerError(
      'SECRET_ERR_UNAVAILABLE',
      entry.identity,
      `no valid certificate for ${entry.identity.uri}: ${expired}the last fetch failed: ${reasonOf(entry.lastError)}; next attempt in ${retryIn} ms`,
      { cause: entry.lastError },
    );
  }

  #retire(entry: Entry, error: SecretManagerError): void {
    entry.live = false;
    entry.timer?.cancel();
    entry.timer = undefined;
    this.#queue.cancel(entry);
    const waiters = entry.waiters;
    entry.waiters = [];
    for (const w of waiters) w.reject(error);
  }
}

function closedError(identity: Identity): SecretManagerError {
  return new SecretManagerError('SECRET_ERR_CLOSED', identity, `secret manager is closed; no certificate for ${identity.uri}`);
}

function reasonOf(error: unknown): string {
  if (error instanceof MeshError) return `${error.code}: ${error.reason}`;
  if (error instanceof Error) return error.message;
  return String(error);
}

function sameRoots(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((pem, i) => pem.trim() === b[i]!.trim());
}
