/**
 * A worker's certificate source: the certificates the main thread's one `SecretManager` holds, as the main
 * thread posts them (on issue and on every rotation). Asked for an identity it holds nothing for, it asks
 * the main thread once (`request`) and every caller waits for the answer: a certificate, or the reason the
 * secret manager gave. Callers bound the wait themselves, as they do with the secret manager.
 */
import type { CertificateSource, Identity, WorkloadCertificate } from '@ambit/mesh-core/identity';
import { WorkerError } from '../errors.js';

interface Waiter {
  resolve(certificate: WorkloadCertificate): void;
  reject(err: Error): void;
}

export class ReplicaCertificates implements CertificateSource {
  readonly #request: (identity: string) => void;
  readonly #held = new Map<string, WorkloadCertificate>();
  readonly #waiting = new Map<string, Waiter[]>();
  #closed = false;

  /** `request` asks the main thread for the certificate of an identity URI. */
  constructor(request: (identity: string) => void) {
    this.#request = request;
  }

  getCertificate(identity: Identity): Promise<WorkloadCertificate> {
    const held = this.#held.get(identity.uri);
    if (held !== undefined) return Promise.resolve(held);
    if (this.#closed) return Promise.reject(new WorkerError(`no certificate for ${identity.uri}: the worker is stopping`));
    return new Promise((resolve, reject) => {
      const waiters = this.#waiting.get(identity.uri);
      if (waiters !== undefined) {
        waiters.push({ resolve, reject });
        return;
      }
      this.#waiting.set(identity.uri, [{ resolve, reject }]);
      this.#request(identity.uri);
    });
  }

  /** A certificate from the main thread: held from now on, and handed to whoever waits for it. */
  put(certificate: WorkloadCertificate): void {
    const uri = certificate.identity.uri;
    this.#held.set(uri, certificate);
    const waiters = this.#waiting.get(uri);
    if (waiters === undefined) return;
    this.#waiting.delete(uri);
    for (const w of waiters) w.resolve(certificate);
  }

  /** The main thread could not get a certificate for `uri`: its waiters fail with the reason; the next ask asks again. */
  fail(uri: string, reason: string): void {
    const waiters = this.#waiting.get(uri);
    if (waiters === undefined) return;
    this.#waiting.delete(uri);
    const err = new WorkerError(`no certificate for ${uri}: ${reason}`);
    for (const w of waiters) w.reject(err);
  }

  /** Drops what is held for `uri` (its last local workload left). */
  forget(uri: string): void {
    this.#held.delete(uri);
  }

  /** Identities held. */
  get size(): number {
    return this.#held.size;
  }

  /** Fails every waiter; later asks for what is not held fail at once. */
  destroy(): void {
    this.#closed = true;
    for (const uri of [...this.#waiting.keys()]) this.fail(uri, 'the worker is stopping');
  }
}
