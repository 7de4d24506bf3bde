/**
 * Wires an `XdsClient` to a `StateStore`: registers the Address and Authorization decoders, subscribes to
 * both with a wildcard (ztunnel gets every address; no node filtering), applies each response as one
 * snapshot, and tracks whether each type has been ACKed at least once. ztunnel is not ready before both
 * have been: until then it would authorize and route against a partial mesh.
 */
import { ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL } from '@ambit/protos';
import type { AckEvent, Rejection, XdsClient } from '@ambit/xds';
import { silentLogger, type Logger } from '@ambit/mesh-core/telemetry';
import { StateClosedError } from '../errors.js';
import { addressResourceName, addressResourceType, authorizationResourceType } from './resource-types.js';
import type { StateStore } from './store.js';
import { keepingBytes, splitWired, type WireMirror } from './wire.js';

export interface XdsStateUpdaterOptions {
  /** A client that has not been started yet (types must be registered before the first request). */
  readonly client: XdsClient;
  readonly store: StateStore;
  /** Records every applied batch in wire form, for worker threads' replicas (docs/ztunnel.md, "More cores"). */
  readonly mirror?: WireMirror;
  readonly logger?: Logger;
}

/** The xDS types the updater subscribes to. */
export const STATE_TYPE_URLS: readonly string[] = Object.freeze([ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL]);

export class XdsStateUpdater {
  readonly #client: XdsClient;
  readonly #store: StateStore;
  readonly #logger: Logger;
  readonly #acked = new Set<string>();
  readonly #waiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  readonly #onAck = (event: AckEvent): void => this.#acknowledged(event);
  #closed = false;

  /** Registers both types on `client` and subscribes to them; throws the client's error if either is already registered. */
  constructor(options: XdsStateUpdaterOptions) {
    this.#client = options.client;
    this.#store = options.store;
    this.#logger = (options.logger ?? silentLogger()).child({ component: 'xds-state' });
    const mirror = options.mirror;
    if (mirror === undefined) {
      this.#client.addType(addressResourceType(), (batch) => this.#guard('apply Address resources', () => this.#store.applyAddresses(batch)));
      this.#client.addType(authorizationResourceType(), (batch) => this.#guard('apply Authorization resources', () => this.#store.applyAuthorizations(batch)));
    } else {
      this.#client.addType(keepingBytes(addressResourceType()), (wired) =>
        this.#guard('apply Address resources', () => {
          const { batch, wire } = splitWired(wired, addressResourceName);
          const rejections = this.#store.applyAddresses(batch);
          mirror.record({ addresses: wire });
          return rejections;
        }),
      );
      this.#client.addType(keepingBytes(authorizationResourceType()), (wired) =>
        this.#guard('apply Authorization resources', () => {
          const { batch, wire } = splitWired(wired, (policy) => policy.key);
          const rejections = this.#store.applyAuthorizations(batch);
          mirror.record({ authorizations: wire });
          return rejections;
        }),
      );
    }
    this.#client.on('ack', this.#onAck);
    for (const typeUrl of STATE_TYPE_URLS) this.#client.subscribe(typeUrl);
  }

  /** Whether every type has been ACKed at least once (readiness). */
  get synced(): boolean {
    return this.#acked.size === STATE_TYPE_URLS.length;
  }

  /** Type URLs not ACKed yet: what a readiness endpoint lists as pending. */
  pending(): string[] {
    return STATE_TYPE_URLS.filter((typeUrl) => !this.#acked.has(typeUrl));
  }

  /** Resolves once every type has been ACKed; rejects with `StateClosedError` if the updater closes first. */
  whenSynced(): Promise<void> {
    if (this.synced) return Promise.resolve();
    if (this.#closed) return Promise.reject(new StateClosedError('xDS state updater', 'wait for sync'));
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /**
   * Stops listening to the client; later responses are refused (NACKed) rather than silently dropped.
   * Close the client itself separately (its owner does).
   */
  close(): Promise<void> {
    this.destroy();
    return Promise.resolve();
  }

  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#client.off('ack', this.#onAck);
    const err = new StateClosedError('xDS state updater', 'wait for sync');
    for (const waiter of this.#waiters.splice(0)) waiter.reject(err);
  }

  #guard(operation: string, apply: () => readonly Rejection[]): readonly Rejection[] {
    if (this.#closed) throw new StateClosedError('xDS state updater', operation);
    return apply();
  }

  #acknowledged(event: AckEvent): void {
    if (!STATE_TYPE_URLS.includes(event.typeUrl) || this.#acked.has(event.typeUrl)) return;
    this.#acked.add(event.typeUrl);
    this.#logger.info({ typeUrl: event.typeUrl, version: event.version, generation: this.#store.current.generation }, 'first xDS response applied');
    if (this.synced) {
      this.#logger.info({ generation: this.#store.current.generation }, 'state synced: every xDS type ACKed');
      for (const waiter of this.#waiters.splice(0)) waiter.resolve();
    }
  }
}
