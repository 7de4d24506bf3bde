/**
 * A small but real ADS server on @grpc/grpc-js for tests: serves delta and state of the world from an
 * in-memory resource map the test changes, records every request (with its headers), can go silent,
 * end or break its streams, and can be stopped and restarted on the same port.
 *
 * Delta follows the protocol as istiod does: a first request's `initial_resource_versions` count as
 * sent (unchanged resources are skipped, gone ones are reported in `removed_resources`), the first
 * request of a type always gets a response. State of the world answers a first request whose
 * `version_info` is current with nothing, and otherwise sends the full set.
 */
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { adsServiceDefinition } from '@ambit/protos';
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse } from '@ambit/protos';

export interface StoredResource {
  readonly version: string;
  readonly bytes: Buffer;
}

export type RecordedRequest =
  | { readonly kind: 'delta'; readonly stream: number; readonly request: DeltaDiscoveryRequest; readonly metadata: Record<string, unknown> }
  | { readonly kind: 'sotw'; readonly stream: number; readonly request: DiscoveryRequest; readonly metadata: Record<string, unknown> };

export interface TestServerTls {
  readonly cert: string;
  readonly key: string;
  /** CA that client certificates must chain to; with it, a client certificate is required. */
  readonly clientCa?: string;
}

interface DeltaTypeState {
  wildcard: boolean;
  readonly names: Set<string>;
  /** What this stream's client has, as far as the server knows: name → version. */
  readonly sent: Map<string, string>;
}

interface LiveStream {
  readonly id: number;
  readonly kind: 'delta' | 'sotw';
  readonly call: grpc.ServerDuplexStream<unknown, unknown>;
  readonly delta: Map<string, DeltaTypeState>;
  /** State of the world: subscribed names per type, and the type version last sent. */
  readonly sotw: Map<string, { names: string[]; sentVersion: string | undefined }>;
}

export class TestAdsServer extends EventEmitter<{ request: [RecordedRequest] }> {
  readonly #tls: TestServerTls | undefined;
  #server: grpc.Server | undefined;
  #port = 0;
  #nonce = 0;
  #streamIds = 0;
  readonly #store = new Map<string, Map<string, StoredResource>>();
  readonly #typeVersions = new Map<string, number>();
  readonly #live = new Set<LiveStream>();
  readonly requests: RecordedRequest[] = [];
  /** Encoded bytes and count of the responses sent, per type URL. */
  readonly sent = new Map<string, { responses: number; bytes: number }>();
  /** When true, streams are accepted and requests recorded, but nothing is ever sent. */
  mute = false;

  constructor(tls?: TestServerTls) {
    super();
    this.#tls = tls;
  }

  get port(): number {
    return this.#port;
  }

  get target(): string {
    return `127.0.0.1:${this.#port}`;
  }

  /** Streams currently open. */
  get liveStreams(): number {
    return this.#live.size;
  }

  /** Streams opened since the server was created (over restarts). */
  get streamsOpened(): number {
    return this.#streamIds;
  }

  async start(port = this.#port): Promise<number> {
    const server = new grpc.Server();
    const service = adsServiceDefinition().service;
    // Same methods, but a Buffer is written as is: lets a test send bytes that are not a valid response.
    const rawCapable: grpc.ServiceDefinition = Object.fromEntries(
      Object.entries(service).map(([name, method]) => [
        name,
        { ...method, responseSerialize: (v: unknown) => (Buffer.isBuffer(v) ? v : method.responseSerialize(v)) },
      ]),
    );
    server.addService(rawCapable, {
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<unknown, unknown>) => this.#accept('delta', call),
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<unknown, unknown>) => this.#accept('sotw', call),
    });
    const creds = this.#tls
      ? grpc.ServerCredentials.createSsl(
          this.#tls.clientCa ? Buffer.from(this.#tls.clientCa) : null,
          [{ cert_chain: Buffer.from(this.#tls.cert), private_key: Buffer.from(this.#tls.key) }],
          this.#tls.clientCa !== undefined,
        )
      : grpc.ServerCredentials.createInsecure();
    this.#port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${port}`, creds, (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    this.#server = server;
    return this.#port;
  }

  /** Kills every stream at once (the client sees the connection drop) and frees the port. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    this.#live.clear();
    if (!server) return;
    server.forceShutdown();
    // forceShutdown frees the listener synchronously in grpc-js; let the sockets' close events run.
    await new Promise((resolve) => setImmediate(resolve));
  }

  /** Starts again on the same port, with the same resources. */
  async restart(): Promise<void> {
    await this.start(this.#port);
  }

  // ---- The resource map ----

  set(typeUrl: string, name: string, bytes: Buffer, version?: string): void {
    const resources = this.#store.get(typeUrl) ?? new Map<string, StoredResource>();
    this.#store.set(typeUrl, resources);
    this.#typeVersions.set(typeUrl, (this.#typeVersions.get(typeUrl) ?? 0) + 1);
    resources.set(name, { version: version ?? `v${this.#typeVersions.get(typeUrl)}`, bytes });
  }

  remove(typeUrl: string, name: string): void {
    if (this.#store.get(typeUrl)?.delete(name)) this.#typeVersions.set(typeUrl, (this.#typeVersions.get(typeUrl) ?? 0) + 1);
  }

  get(typeUrl: string, name: string): StoredResource | undefined {
    return this.#store.get(typeUrl)?.get(name);
  }

  /** The state-of-the-world version of a type (changes with every set/remove). */
  typeVersion(typeUrl: string): string {
    return String(this.#typeVersions.get(typeUrl) ?? 0);
  }

  /** Sends what changed to every live stream. */
  push(): void {
    if (this.mute) return;
    for (const stream of this.#live) {
      if (stream.kind === 'delta') for (const typeUrl of stream.delta.keys()) this.#pushDelta(stream, typeUrl, false);
      else for (const typeUrl of stream.sotw.keys()) this.#pushSotw(stream, typeUrl, false);
    }
  }

  /** Ends every live stream with a status (OK ends it cleanly). */
  endStreams(code: grpc.status, details = ''): void {
    for (const stream of this.#live) {
      if (code === grpc.status.OK) stream.call.end();
      else stream.call.emit('error', { code, details });
    }
    this.#live.clear();
  }

  /** Writes raw bytes as a response on every live stream. */
  sendRaw(bytes: Buffer): void {
    for (const stream of this.#live) stream.call.write(bytes);
  }

  /** Requests of one kind, in order. */
  deltaRequests(): Array<{ stream: number; request: DeltaDiscoveryRequest; metadata: Record<string, unknown> }> {
    return this.requests.flatMap((r) => (r.kind === 'delta' ? [r] : []));
  }

  sotwRequests(): Array<{ stream: number; request: DiscoveryRequest; metadata: Record<string, unknown> }> {
    return this.requests.flatMap((r) => (r.kind === 'sotw' ? [r] : []));
  }

  #accept(kind: 'delta' | 'sotw', call: grpc.ServerDuplexStream<unknown, unknown>): void {
    const stream: LiveStream = { id: ++this.#streamIds, kind, call, delta: new Map(), sotw: new Map() };
    this.#live.add(stream);
    const metadata = call.metadata.getMap();
    call.on('data', (request: DeltaDiscoveryRequest | DiscoveryRequest) => {
      const recorded = { kind, stream: stream.id, request, metadata } as RecordedRequest;
      this.requests.push(recorded);
      this.emit('request', recorded);
      if (!this.#live.has(stream)) return;
      if (kind === 'delta') this.#onDelta(stream, request);
      else this.#onSotw(stream, request);
    });
    call.on('end', () => {
      this.#live.delete(stream);
      call.end();
    });
    call.on('error', () => this.#live.delete(stream));
    call.on('cancelled', () => this.#live.delete(stream));
  }

  #onDelta(stream: LiveStream, request: DeltaDiscoveryRequest): void {
    const typeUrl = request.type_url ?? '';
    let state = stream.delta.get(typeUrl);
    const first = !state;
    if (!state) {
      state = { wildcard: false, names: new Set(), sent: new Map(Object.entries(request.initial_resource_versions ?? {})) };
      stream.delta.set(typeUrl, state);
      if (!request.resource_names_subscribe?.length) state.wildcard = true; // legacy wildcard
    }
    const subscribe = request.resource_names_subscribe ?? [];
    const unsubscribe = request.resource_names_unsubscribe ?? [];
    for (const name of subscribe) if (name === '*') state.wildcard = true; else state.names.add(name);
    for (const name of unsubscribe) {
      if (name === '*') state.wildcard = false;
      else {
        state.names.delete(name);
        state.sent.delete(name);
      }
    }
    if (first || subscribe.length > 0) this.#pushDelta(stream, typeUrl, first);
  }

  #pushDelta(stream: LiveStream, typeUrl: string, always: boolean): void {
    const state = stream.delta.get(typeUrl);
    if (!state || this.mute) return;
    const resources = this.#store.get(typeUrl) ?? new Map<string, StoredResource>();
    const upserts: NonNullable<DeltaDiscoveryResponse['resources']> = [];
    for (const [name, r] of resources) {
      if (!state.wildcard && !state.names.has(name)) continue;
      if (state.sent.get(name) === r.version) continue;
      upserts.push({ name, version: r.version, resource: { type_url: typeUrl, value: r.bytes } });
      state.sent.set(name, r.version);
    }
    const removed: string[] = [];
    for (const name of state.sent.keys()) if (!resources.has(name)) removed.push(name);
    for (const name of removed) state.sent.delete(name);
    if (!always && upserts.length === 0 && removed.length === 0) return;
    const response: DeltaDiscoveryResponse = { type_url: typeUrl, nonce: `n${++this.#nonce}`, resources: upserts, removed_resources: removed };
    this.#write(stream, typeUrl, response);
  }

  #onSotw(stream: LiveStream, request: DiscoveryRequest): void {
    const typeUrl = request.type_url ?? '';
    const names = request.resource_names ?? [];
    const state = stream.sotw.get(typeUrl);
    if (!state) {
      // A client that already has the current version gets nothing until something changes.
      const current = this.typeVersion(typeUrl);
      stream.sotw.set(typeUrl, { names, sentVersion: request.version_info === current ? current : undefined });
      this.#pushSotw(stream, typeUrl, false);
      return;
    }
    if (names.join('\n') !== state.names.join('\n')) {
      state.names = names;
      this.#pushSotw(stream, typeUrl, true);
    }
  }

  #pushSotw(stream: LiveStream, typeUrl: string, always: boolean): void {
    const state = stream.sotw.get(typeUrl);
    if (!state || this.mute) return;
    const version = this.typeVersion(typeUrl);
    if (!always && state.sentVersion === version) return;
    state.sentVersion = version;
    const wildcard = state.names.length === 0 || state.names.includes('*');
    const resources = [...(this.#store.get(typeUrl) ?? new Map<string, StoredResource>())]
      .filter(([name]) => wildcard || state.names.includes(name))
      .map(([, r]) => ({ type_url: typeUrl, value: r.bytes }));
    const response: DiscoveryResponse = { type_url: typeUrl, version_info: version, nonce: `n${++this.#nonce}`, resources };
    this.#write(stream, typeUrl, response);
  }

  /** Serializes here (the service passes Buffers through) so that the bytes on the wire are counted. */
  #write(stream: LiveStream, typeUrl: string, response: DeltaDiscoveryResponse | DiscoveryResponse): void {
    const method = adsServiceDefinition().service[stream.kind === 'delta' ? 'DeltaAggregatedResources' : 'StreamAggregatedResources']!;
    const bytes = method.responseSerialize(response);
    const sent = this.sent.get(typeUrl) ?? { responses: 0, bytes: 0 };
    this.sent.set(typeUrl, { responses: sent.responses + 1, bytes: sent.bytes + bytes.length });
    stream.call.write(bytes);
  }
}
