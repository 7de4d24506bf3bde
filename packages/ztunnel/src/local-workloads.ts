/**
 * Follows the workloads this ztunnel proxies (the HBONE workloads on its node) through the snapshots, and
 * keeps three things in step with them (ztunnel's `cert_fetcher.rs` and its capture handling):
 *
 * - certificates: each identity is prefetched when its first workload appears and forgotten (in the secret
 *   manager and the HBONE server) when its last one leaves; `pendingCertificates()` lists identities whose
 *   certificate is not in hand (readiness), `certificates()` what is held (config_dump);
 * - capture: the kernel's set of captured pods (`CaptureControl.setWorkloads`, IPv4 addresses), once a
 *   capture is attached, changed only when the list changes; failures are logged and retried with the next
 *   change (the capture manager rewrites its sets whole after a failure);
 * - the HBONE server's per-identity TLS contexts, dropped with the identity.
 */
import { isIPv4 } from 'node:net';
import type { CertificateUpdate, Identity } from '@ambit/mesh-core/identity';
import type { Logger } from '@ambit/mesh-core/telemetry';
import type { Workload } from './state/model.js';
import type { ProxySnapshot } from './state/snapshot.js';

/** What the secret manager offers for this (`SecretManager` satisfies it). */
export interface WorkloadSecrets {
  prefetch(identity: Identity): void;
  forget(identity: Identity): void;
  onCertificate(listener: (update: CertificateUpdate) => void): () => void;
}

/** One captured pod, as the capture manager takes it. */
export interface CapturedWorkload {
  readonly uid: string;
  readonly ip: string;
}

/** The capture side this needs (`CaptureManager` satisfies it). */
export interface CaptureControl {
  setWorkloads(workloads: readonly CapturedWorkload[]): Promise<unknown>;
}

/** The state side this needs (`StateStore` satisfies it). */
export interface WorkloadState {
  readonly current: ProxySnapshot;
  subscribe(listener: (current: ProxySnapshot, previous: ProxySnapshot) => void): () => void;
}

export interface LocalWorkloadsOptions {
  readonly nodeName: string;
  readonly state: WorkloadState;
  readonly secrets: WorkloadSecrets;
  readonly logger: Logger;
  /** Called when an identity leaves this node (the proxy drops its TLS context). */
  readonly onIdentityGone?: (identity: Identity) => void;
  /** The capture to keep in step; it can also be attached later (`attachCapture`), once it runs. */
  readonly capture?: CaptureControl;
  /** Milliseconds since the epoch, for certificate validity. */
  readonly now?: () => number;
}

/** A certificate held for a local identity (config_dump). */
export interface HeldCertificate {
  readonly identity: string;
  readonly notBefore: string;
  readonly notAfter: string;
}

export class LocalWorkloads {
  readonly #options: LocalWorkloadsOptions;
  readonly #logger: Logger;
  readonly #now: () => number;
  /** Identity URI → identity, for the identities of local workloads. */
  #identities = new Map<string, Identity>();
  /** Identity URI → the validity of its latest certificate. */
  readonly #certificates = new Map<string, { notBefore: Date; notAfter: Date }>();
  #capture: CaptureControl | undefined;
  #captured = '';
  #workloads: readonly Workload[] = [];
  #unsubscribe: (() => void) | undefined;
  #offCertificate: (() => void) | undefined;

  constructor(options: LocalWorkloadsOptions) {
    this.#options = options;
    this.#logger = options.logger.child({ component: 'local-workloads' });
    this.#now = options.now ?? Date.now;
    this.#capture = options.capture;
  }

  /**
   * Keeps `capture` in step from now on, starting with the current workloads (a capture started with an
   * older list gets the difference).
   */
  attachCapture(capture: CaptureControl): void {
    this.#capture = capture;
    this.#captured = '';
    if (this.#unsubscribe !== undefined) this.#syncCapture(this.#workloads);
  }

  /** Applies the current snapshot and follows every later one. */
  start(): void {
    if (this.#unsubscribe !== undefined) return;
    this.#offCertificate = this.#options.secrets.onCertificate((update) => {
      if (this.#identities.has(update.identity.uri)) {
        this.#certificates.set(update.identity.uri, { notBefore: update.certificate.notBefore, notAfter: update.certificate.notAfter });
      }
    });
    this.#unsubscribe = this.#options.state.subscribe((current) => this.#apply(current));
    this.#apply(this.#options.state.current);
  }

  /** Stops following; identities stay prefetched (the secret manager is closed by its owner). */
  stop(): void {
    this.#unsubscribe?.();
    this.#offCertificate?.();
    this.#unsubscribe = undefined;
    this.#offCertificate = undefined;
  }

  /** The local HBONE workloads, by uid. */
  get workloads(): readonly Workload[] {
    return this.#workloads;
  }

  /** Identities of local workloads without a valid certificate yet. */
  pendingCertificates(): string[] {
    const now = this.#now();
    return [...this.#identities.keys()].filter((uri) => {
      const held = this.#certificates.get(uri);
      return held === undefined || held.notAfter.getTime() <= now;
    });
  }

  /** The certificates held for local identities, by identity. */
  certificates(): HeldCertificate[] {
    return [...this.#certificates.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([identity, c]) => ({ identity, notBefore: c.notBefore.toISOString(), notAfter: c.notAfter.toISOString() }));
  }

  #apply(snapshot: ProxySnapshot): void {
    const workloads = snapshot.localWorkloads(this.#options.nodeName);
    this.#workloads = workloads;
    const next = new Map<string, Identity>();
    for (const w of workloads) next.set(w.identity.uri, w.identity);
    for (const [uri, identity] of next) {
      if (this.#identities.has(uri)) continue;
      this.#logger.info({ identity: uri }, 'local identity added; prefetching its certificate');
      this.#options.secrets.prefetch(identity);
    }
    for (const [uri, identity] of this.#identities) {
      if (next.has(uri)) continue;
      this.#logger.info({ identity: uri }, 'no local workload has this identity any more; forgetting its certificate');
      this.#options.secrets.forget(identity);
      this.#certificates.delete(uri);
      this.#options.onIdentityGone?.(identity);
    }
    this.#identities = next;
    this.#syncCapture(workloads);
  }

  #syncCapture(workloads: readonly Workload[]): void {
    const capture = this.#capture;
    if (capture === undefined) return;
    const list: CapturedWorkload[] = [];
    for (const w of workloads) {
      const ip = w.addresses.find((a) => isIPv4(a));
      if (ip !== undefined) list.push({ uid: w.uid, ip });
    }
    const key = list.map((w) => `${w.uid}=${w.ip}`).join(',');
    if (key === this.#captured) return;
    this.#captured = key;
    capture.setWorkloads(list).catch((err: unknown) => {
      this.#logger.error({ err }, 'capture: could not apply the local workloads; the next change retries');
      // Make the next snapshot try again even if the list is the same.
      if (this.#captured === key) this.#captured = '';
    });
  }
}
