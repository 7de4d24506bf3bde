/**
 * The delta ADS server: serves ztunnels `istio.workload.Address` and `istio.security.Authorization`, and
 * waypoints Envoy's Listener, RouteConfiguration, Cluster and ClusterLoadAssignment (see envoy-tables.ts),
 * from a SnapshotSource over `DeltaAggregatedResources`, as istiod does on port 15012.
 *
 * Each snapshot is encoded once into one table per type; consecutive tables are diffed once, and every
 * stream is told the changed names, so a change to one pod costs each stream one small response. The
 * state-of-the-world method answers UNIMPLEMENTED: ztunnel speaks delta only.
 *
 * The server adds its service to a grpc.Server the caller owns (shared with the CA on one TLS port) and
 * ends its own streams on close; it does not bind or shut down the gRPC server.
 */
import * as grpc from '@grpc/grpc-js';
import { ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL, addressCodec, adsServiceDefinition, authorizationCodec } from '@ambit/protos';
import type { Address, Authorization } from '@ambit/protos';
import { CaAuthenticationError, bearerTokenFrom, type Authenticator } from '@ambit/mesh-core/identity';
import type { Logger } from '@ambit/mesh-core/telemetry';
import type { Registry } from 'prom-client';
import type { MeshSnapshot, SnapshotSource } from '../model/snapshot.js';
import { DeltaStream, type DeltaCall, type StreamHost, type StreamStatus } from './delta-stream.js';
import { diffEnvoyTables, ENVOY_TYPES, EnvoyTables } from './envoy-tables.js';
import { XdsServerError } from './errors.js';
import { createXdsServerMetrics, type XdsServerMetrics } from './metrics.js';
import {
  addressTableBuilder,
  authorizationTableBuilder,
  diffTables,
  type EncodeProblem,
  type ResourceTable,
  type TableBuilder,
  type TableDiff,
} from './resource-table.js';
import { DeltaResponseEncoder } from './wire.js';

export interface XdsServerOptions {
  readonly source: SnapshotSource;
  readonly logger: Logger;
  /** The process's metrics registry; the server registers `pilot_xds*` in it. */
  readonly registry: Registry;
  /**
   * When set, every stream must carry `authorization: Bearer <token>` that this accepts (the same tokens
   * as the CA); others end with UNAUTHENTICATED. When absent, xDS is open (as istiod's plaintext port).
   */
  readonly authenticator?: Authenticator;
}

/** The encoded view of one snapshot. */
export interface ServedSnapshot {
  readonly snapshot: MeshSnapshot;
  readonly addresses: ResourceTable;
  readonly authorizations: ResourceTable;
  /** The waypoints' Envoy resources (Listener, RouteConfiguration, Cluster, ClusterLoadAssignment), by type URL. */
  readonly envoy: ReadonlyMap<string, ResourceTable>;
  /** Resources left out because they cannot be encoded (a model bug); the rest serve. */
  readonly encodeProblems: readonly EncodeProblem[];
}

export const SERVED_TYPES: readonly string[] = Object.freeze([ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL, ...ENVOY_TYPES]);

export class XdsServer {
  readonly metrics: XdsServerMetrics;
  readonly #source: SnapshotSource;
  readonly #logger: Logger;
  readonly #authenticator: Authenticator | undefined;
  readonly #addressBuilder: TableBuilder<Address>;
  readonly #authorizationBuilder: TableBuilder<Authorization>;
  readonly #envoyTables = new EnvoyTables();
  readonly #streams = new Set<DeltaStream>();
  readonly #host: StreamHost;
  #served: ServedSnapshot;
  #nextStreamId = 0;
  #nonce = 0;
  #closing = false;
  readonly #onSnapshot = (snapshot: MeshSnapshot): void => this.#publish(snapshot);

  constructor(options: XdsServerOptions) {
    this.#source = options.source;
    this.#logger = options.logger.child({ component: 'xds-server' });
    this.#authenticator = options.authenticator;
    this.metrics = createXdsServerMetrics(options.registry);
    this.#addressBuilder = addressTableBuilder(addressCodec());
    this.#authorizationBuilder = authorizationTableBuilder(authorizationCodec());
    this.#served = this.#build(options.source.current);
    const encoder = new DeltaResponseEncoder();
    const streams = this.#streams;
    const metrics = this.metrics;
    this.#host = {
      table: (typeUrl) => this.#tableOf(typeUrl),
      servedTypes: SERVED_TYPES,
      snapshotVersion: () => this.#served.snapshot.version,
      encoder,
      nextNonce: () => (++this.#nonce).toString(36),
      metrics,
      streamEnded: (stream) => {
        if (streams.delete(stream)) metrics.connected.set(streams.size);
      },
    };
    this.#source.on('snapshot', this.#onSnapshot);
  }

  /** The snapshot being served, encoded. */
  get served(): ServedSnapshot {
    return this.#served;
  }

  /** Every connected client, for config_dump. */
  clients(): StreamStatus[] {
    return [...this.#streams].map((s) => s.status());
  }

  /** Adds the ADS service to `server` (before it starts). */
  register(server: grpc.Server): void {
    const ads = adsServiceDefinition().service;
    const delta = ads['DeltaAggregatedResources'];
    const sotw = ads['StreamAggregatedResources'];
    if (!delta || !sotw) throw new XdsServerError('XDS_ERR_INTERNAL', 'the ADS service definition lacks its methods');
    // Requests are decoded by the stream (so that a bad one gets a precise INVALID_ARGUMENT rather than
    // grpc-js's bare INTERNAL); responses arrive already encoded by DeltaResponseEncoder.
    const passThrough = (bytes: Buffer): Buffer => bytes;
    const definition: grpc.ServiceDefinition = {
      DeltaAggregatedResources: { ...delta, requestDeserialize: passThrough, responseSerialize: passThrough },
      StreamAggregatedResources: sotw,
    };
    server.addService(definition, {
      DeltaAggregatedResources: (call: DeltaCall) => void this.#accept(call),
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<unknown, unknown>) => {
        call.emit(
          'error',
          Object.assign(new Error('unimplemented'), {
            code: grpc.status.UNIMPLEMENTED,
            details: 'state-of-the-world ADS is not served; use DeltaAggregatedResources',
          }),
        );
      },
    });
  }

  /** Stops following the source and ends every stream with status OK; resolves when they are done. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#source.off('snapshot', this.#onSnapshot);
    await Promise.all([...this.#streams].map((s) => s.close()));
  }

  /** Ends every stream now with UNAVAILABLE. */
  destroy(): void {
    this.#closing = true;
    this.#source.off('snapshot', this.#onSnapshot);
    for (const s of [...this.#streams]) s.destroy();
  }

  #tableOf(typeUrl: string): ResourceTable | undefined {
    if (typeUrl === ADDRESS_TYPE_URL) return this.#served.addresses;
    if (typeUrl === AUTHORIZATION_TYPE_URL) return this.#served.authorizations;
    return this.#served.envoy.get(typeUrl);
  }

  /** Encodes `snapshot`; with `changed` (the model's hint relative to the snapshot served before), only what changed. */
  #build(snapshot: MeshSnapshot, changed?: MeshSnapshot['changed']): ServedSnapshot {
    const encodeProblems: EncodeProblem[] = [];
    const addresses = this.#addressBuilder.build(snapshot.addresses, encodeProblems, changed?.addresses);
    const authorizations = this.#authorizationBuilder.build(snapshot.authorizations, encodeProblems, changed?.authorizations);
    const envoy = this.#envoyTables.build(snapshot, encodeProblems);
    for (const p of encodeProblems) {
      this.#logger.warn({ version: snapshot.version, typeUrl: p.typeUrl, name: p.name, reason: p.message }, 'resource cannot be encoded; not served');
    }
    return { snapshot, addresses, authorizations, envoy, encodeProblems };
  }

  #publish(snapshot: MeshSnapshot): void {
    const previous = this.#served;
    // The hint is relative to the previous version: usable only when no snapshot was skipped.
    const hint = snapshot.version === previous.snapshot.version + 1 ? snapshot.changed : undefined;
    const next = this.#build(snapshot, hint);
    this.#served = next;
    const diffs = new Map<string, TableDiff>([
      [ADDRESS_TYPE_URL, diffTables(previous.addresses, next.addresses, hint?.addresses)],
      [AUTHORIZATION_TYPE_URL, diffTables(previous.authorizations, next.authorizations, hint?.authorizations)],
      ...diffEnvoyTables(previous.envoy, next.envoy),
    ]);
    let changed = 0;
    for (const d of diffs.values()) changed += d.upserted.length + d.removed.length;
    this.#logger.info({ version: snapshot.version, changed, streams: this.#streams.size }, 'serving new snapshot');
    if (changed === 0) return;
    for (const stream of this.#streams) stream.onSnapshot(diffs);
  }

  async #accept(call: DeltaCall): Promise<void> {
    const id = ++this.#nextStreamId;
    if (this.#closing) {
      refuse(call, grpc.status.UNAVAILABLE, 'server is shutting down');
      return;
    }
    let caller: string | undefined;
    if (this.#authenticator) {
      try {
        caller = (await this.#authenticator.authenticate(bearerTokenFrom(call.metadata), call.metadata)).name;
      } catch (err) {
        const unauthenticated = err instanceof CaAuthenticationError;
        const reason = unauthenticated ? err.reason : 'the authenticator could not decide; retry later';
        this.#logger.warn({ peer: call.getPeer(), reason, err: unauthenticated ? undefined : err }, 'xDS stream refused');
        refuse(call, unauthenticated ? grpc.status.UNAUTHENTICATED : grpc.status.UNAVAILABLE, reason);
        return;
      }
      // The client may have gone, or we may have started closing, while the token was checked.
      if (call.cancelled || call.destroyed) return;
      if (this.#closing) {
        refuse(call, grpc.status.UNAVAILABLE, 'server is shutting down');
        return;
      }
    }
    const stream = new DeltaStream(call, this.#host, this.#logger, id, caller);
    this.#streams.add(stream);
    this.metrics.connected.set(this.#streams.size);
    stream.start();
  }
}

function refuse(call: DeltaCall, code: grpc.status, details: string): void {
  call.emit('error', Object.assign(new Error(details), { code, details }));
}
