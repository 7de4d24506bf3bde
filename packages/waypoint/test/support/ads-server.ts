/**
 * A minimal but real delta ADS server on @grpc/grpc-js (loopback, port 0) for the waypoint's xDS tests:
 * it holds resources by type and name, sends each stream what it subscribed to (names, or `*`), pushes
 * changes as they are made, and records every request, ACK and NACK.
 */
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { adsServiceDefinition, type DeltaDiscoveryRequest, type DeltaDiscoveryResponse } from '@ambit/protos';

interface Held {
  readonly version: string;
  readonly bytes: Buffer;
}

interface TypeSubscription {
  wildcard: boolean;
  readonly names: Set<string>;
  /** name → version this stream was sent. */
  readonly sent: Map<string, string>;
}

interface Stream {
  readonly call: grpc.ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;
  readonly types: Map<string, TypeSubscription>;
}

export interface Nack {
  readonly typeUrl: string;
  readonly error: string;
}

export class MiniAdsServer extends EventEmitter<{ request: [DeltaDiscoveryRequest]; nack: [Nack]; ack: [string] }> {
  readonly #server = new grpc.Server();
  readonly #store = new Map<string, Map<string, Held>>();
  readonly #streams = new Set<Stream>();
  #version = 0;
  #nonce = 0;
  port = 0;
  readonly requests: DeltaDiscoveryRequest[] = [];
  readonly nacks: Nack[] = [];

  static async start(): Promise<MiniAdsServer> {
    const s = new MiniAdsServer();
    s.#server.addService(adsServiceDefinition().service, {
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>) => s.#accept(call),
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<unknown, unknown>) => call.end(),
    });
    s.port = await new Promise<number>((resolve, reject) =>
      s.#server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    );
    return s;
  }

  get target(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Adds or replaces a resource and pushes it to the streams subscribed to it. */
  set(typeUrl: string, name: string, bytes: Buffer): void {
    let byName = this.#store.get(typeUrl);
    if (!byName) {
      byName = new Map();
      this.#store.set(typeUrl, byName);
    }
    byName.set(name, { version: `v${++this.#version}`, bytes });
    for (const stream of this.#streams) this.#push(stream, typeUrl, false);
  }

  remove(typeUrl: string, name: string): void {
    this.#store.get(typeUrl)?.delete(name);
    for (const stream of this.#streams) this.#push(stream, typeUrl, false);
  }

  /** Names a stream is subscribed to for `typeUrl` (`*` included), over every stream. */
  subscribed(typeUrl: string): string[] {
    const names = new Set<string>();
    for (const s of this.#streams) {
      const sub = s.types.get(typeUrl);
      if (sub?.wildcard) names.add('*');
      for (const n of sub?.names ?? []) names.add(n);
    }
    return [...names].sort();
  }

  close(): Promise<void> {
    for (const s of this.#streams) s.call.end();
    this.#streams.clear();
    this.#server.forceShutdown();
    return new Promise((resolve) => setImmediate(resolve));
  }

  #accept(call: grpc.ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>): void {
    const stream: Stream = { call, types: new Map() };
    this.#streams.add(stream);
    call.on('data', (request: DeltaDiscoveryRequest) => this.#onRequest(stream, request));
    call.on('error', () => this.#streams.delete(stream));
    call.on('end', () => {
      this.#streams.delete(stream);
      call.end();
    });
  }

  #onRequest(stream: Stream, request: DeltaDiscoveryRequest): void {
    this.requests.push(request);
    this.emit('request', request);
    const typeUrl = request.type_url ?? '';
    if (request.response_nonce) {
      if (request.error_detail) {
        const nack = { typeUrl, error: request.error_detail.message ?? '' };
        this.nacks.push(nack);
        this.emit('nack', nack);
      } else {
        this.emit('ack', typeUrl);
      }
      return;
    }
    let sub = stream.types.get(typeUrl);
    const first = sub === undefined;
    if (!sub) {
      sub = { wildcard: false, names: new Set(), sent: new Map() };
      stream.types.set(typeUrl, sub);
    }
    for (const [name, version] of Object.entries(request.initial_resource_versions ?? {})) sub.sent.set(name, version);
    for (const name of request.resource_names_subscribe ?? []) {
      if (name === '*') sub.wildcard = true;
      else sub.names.add(name);
    }
    for (const name of request.resource_names_unsubscribe ?? []) {
      if (name === '*') sub.wildcard = false;
      sub.names.delete(name);
      sub.sent.delete(name);
    }
    this.#push(stream, typeUrl, first);
  }

  /** Sends what the stream lacks for `typeUrl`; the first response of a type is sent even when empty. */
  #push(stream: Stream, typeUrl: string, always: boolean): void {
    const sub = stream.types.get(typeUrl);
    if (!sub) return;
    const held = this.#store.get(typeUrl) ?? new Map<string, Held>();
    const resources: NonNullable<DeltaDiscoveryResponse['resources']> = [];
    for (const [name, r] of held) {
      if (!sub.wildcard && !sub.names.has(name)) continue;
      if (sub.sent.get(name) === r.version) continue;
      sub.sent.set(name, r.version);
      resources.push({ name, version: r.version, resource: { type_url: typeUrl, value: r.bytes } });
    }
    const removed: string[] = [];
    for (const name of [...sub.sent.keys()]) {
      if (!held.has(name)) {
        sub.sent.delete(name);
        removed.push(name);
      }
    }
    if (!always && resources.length === 0 && removed.length === 0) return;
    stream.call.write({ type_url: typeUrl, system_version_info: `v${this.#version}`, nonce: `n${++this.#nonce}`, resources, removed_resources: removed });
  }
}
