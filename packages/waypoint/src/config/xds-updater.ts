/**
 * Wires an `XdsClient` to a `WaypointSnapshotBuilder`: registers the five resource types, subscribes by
 * name along the chain the builder reports (Listener → its route configurations → their clusters →
 * their load assignments; Addresses with a wildcard), and after every applied batch moves the
 * subscriptions to what the builder now wants — new names subscribed, names no longer referenced dropped.
 *
 * Subscription changes are made after the batch's handler returns (a microtask later): unsubscribing
 * removes held resources through the handlers, and that must not run inside another handler.
 */
import type { Rejection, ResourceBatch, XdsClient } from '@ambit/xds';
import { silentLogger, type Logger } from '@ambit/mesh-core/telemetry';
import { MeshError } from '@ambit/mesh-core/errors';
import type { JwtOptions } from '../policy/jwt.js';
import { addressResourceType, clusterResourceType, listenerResourceType, loadAssignmentResourceType, routeConfigurationResourceType } from './resource-types.js';
import type { WaypointSnapshotBuilder } from './snapshot-builder.js';

export interface WaypointXdsUpdaterOptions {
  /** A client not started yet (types must be registered before the first request). */
  readonly client: XdsClient;
  readonly builder: WaypointSnapshotBuilder;
  /** The clock of JWT verification (tests pass a fake one). */
  readonly jwt?: JwtOptions;
  readonly logger?: Logger;
}

/** Raised by a handler after `close()`: the client NACKs the batch rather than dropping it silently. */
export class WaypointUpdaterClosedError extends MeshError {
  constructor() {
    super('WP_ERR_UPDATER_CLOSED', 'the waypoint xDS updater is closed');
  }
}

export class WaypointXdsUpdater {
  readonly #client: XdsClient;
  readonly #builder: WaypointSnapshotBuilder;
  readonly #logger: Logger;
  /** What this updater has subscribed, per type URL. */
  readonly #subscribed = new Map<string, Set<string>>();
  #syncQueued = false;
  #closed = false;

  /** Registers the types on `client` and subscribes to what the builder wants; throws the client's error if a type is already registered. */
  constructor(options: WaypointXdsUpdaterOptions) {
    this.#client = options.client;
    this.#builder = options.builder;
    this.#logger = (options.logger ?? silentLogger()).child({ component: 'waypoint-xds' });
    const b = this.#builder;
    this.#client.addType(listenerResourceType(options.jwt), (batch) => this.#handle(batch, (x) => b.applyListeners(x)));
    this.#client.addType(routeConfigurationResourceType(), (batch) => this.#handle(batch, (x) => b.applyRouteConfigurations(x)));
    this.#client.addType(clusterResourceType(), (batch) => this.#handle(batch, (x) => b.applyClusters(x)));
    this.#client.addType(loadAssignmentResourceType(), (batch) => this.#handle(batch, (x) => b.applyLoadAssignments(x)));
    this.#client.addType(addressResourceType(), (batch) => this.#handle(batch, (x) => b.applyAddresses(x)));
    this.#sync();
  }

  /** The names subscribed per type URL (for config dumps and tests). */
  subscriptions(): ReadonlyMap<string, readonly string[]> {
    return new Map([...this.#subscribed].map(([type, names]) => [type, [...names].sort()]));
  }

  /** Stops following the builder; later batches are refused (NACKed). Close the client separately. */
  close(): Promise<void> {
    this.destroy();
    return Promise.resolve();
  }

  destroy(): void {
    this.#closed = true;
  }

  #handle<T>(batch: ResourceBatch<T>, apply: (batch: ResourceBatch<T>) => readonly Rejection[]): readonly Rejection[] {
    if (this.#closed) throw new WaypointUpdaterClosedError();
    const rejections = apply(batch);
    if (!this.#syncQueued) {
      this.#syncQueued = true;
      queueMicrotask(() => {
        this.#syncQueued = false;
        if (!this.#closed) this.#sync();
      });
    }
    return rejections;
  }

  /** Moves the client's subscriptions to what the builder wants now. */
  #sync(): void {
    for (const [typeUrl, names] of this.#builder.wanted()) {
      let held = this.#subscribed.get(typeUrl);
      if (held === undefined) {
        held = new Set();
        this.#subscribed.set(typeUrl, held);
      }
      const want = new Set(names);
      const add = names.filter((n) => !held.has(n));
      const drop = [...held].filter((n) => !want.has(n));
      if (add.length > 0) {
        for (const n of add) held.add(n);
        this.#client.subscribe(typeUrl, add);
      }
      if (drop.length > 0) {
        for (const n of drop) held.delete(n);
        this.#logger.debug({ typeUrl, names: drop }, 'unsubscribing resources no longer referenced');
        this.#client.unsubscribe(typeUrl, drop);
      }
    }
  }
}
