/**
 * The xDS client: one ADS stream at a time (delta or state of the world) to one control plane, kept up
 * with exponential backoff, carrying the subscriptions of every registered resource type and handing
 * each response to its type's handler as one batch. It knows no mesh semantics.
 */
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { adsServiceDefinition, type DeltaDiscoveryResponse, type DiscoveryResponse, type EnvoyNode } from '@ambit/protos';
import { pino, type Logger } from 'pino';
import { Registry } from 'prom-client';
import { Backoff, systemClock, type Clock } from './backoff.js';
import type { XdsClientEvents, XdsClientOptions, XdsClientStatus, XdsProtocol } from './client-options.js';
import { DeltaSession, type DeltaCall } from './delta-stream.js';
import { describeError, XdsClosedError, XdsConfigError, XdsStreamError, XdsTokenError } from './errors.js';
import { createXdsMetrics, type TerminationReason, type XdsMetrics } from './metrics.js';
import { buildNode } from './node.js';
import type { ResourceHandler, ResourceType } from './resource-type.js';
import type { AdsSession, SessionContext } from './session.js';
import { SotwSession, type SotwCall } from './sotw-stream.js';
import { buildChannelOptions, buildCredentials, buildMetadata, checkHeaders, sizedDeserializer, type TokenSource } from './transport.js';
import { TypeState, WILDCARD } from './type-state.js';

interface ActiveStream {
  readonly grpcClient: grpc.Client;
  readonly call: grpc.ClientDuplexStream<unknown, unknown>;
  readonly session: AdsSession;
  readonly startedAt: number;
  responses: number;
  connected: boolean;
  ended: boolean;
  /** Set when the client itself ends the stream. */
  ending: 'reconnect' | 'close' | undefined;
  readonly done: Promise<void>;
  readonly resolveDone: () => void;
}

/** gRPC status → termination reason (see `TerminationReason`). */
function reasonOf(code: grpc.status): TerminationReason {
  if (code === grpc.status.OK) return 'Complete';
  if (code === grpc.status.CANCELLED || code === grpc.status.DEADLINE_EXCEEDED) return 'Reconnect';
  if (code === grpc.status.UNAVAILABLE) return 'ConnectionError';
  return 'Error';
}

export class XdsClient extends EventEmitter<XdsClientEvents> {
  readonly #target: string;
  readonly #protocol: XdsProtocol;
  readonly #node: EnvoyNode;
  readonly #token: TokenSource | undefined;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #credentials: grpc.ChannelCredentials;
  readonly #channelOptions: grpc.ChannelOptions;
  readonly #logger: Logger;
  readonly #metrics: XdsMetrics;
  readonly #backoff: Backoff;
  readonly #clock: Clock;
  readonly #healthyStreamMs: number;
  readonly #types = new Map<string, TypeState<unknown>>();
  #stream: ActiveStream | undefined;
  #timer: unknown;
  #started = false;
  #closed = false;
  #connected = false;
  #attempts = 0;
  #lastError: string | undefined;

  /** Validates every option (throws `XdsConfigError`); connects only on `start()`. */
  constructor(options: XdsClientOptions) {
    super();
    this.#protocol = options.protocol ?? 'delta';
    if (this.#protocol !== 'delta' && this.#protocol !== 'sotw') throw new XdsConfigError(`protocol must be delta or sotw, not ${String(this.#protocol)}`);
    this.#node = buildNode(options.node);
    if (typeof options.token === 'string' && options.token === '') throw new XdsConfigError('token is empty');
    this.#token = options.token;
    this.#headers = { ...options.headers };
    checkHeaders(this.#headers);
    this.#credentials = buildCredentials(options.tls);
    this.#channelOptions = buildChannelOptions(options.tls, options.channelOptions);
    this.#target = options.target;
    try {
      // Parses the target now (grpc-js connects lazily, so this opens nothing).
      new grpc.Client(this.#target, this.#credentials, this.#channelOptions).close();
    } catch (cause) {
      throw new XdsConfigError(`invalid target '${this.#target}': ${describeError(cause)}`, { cause });
    }
    this.#logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'xds', target: this.#target });
    this.#metrics = createXdsMetrics(options.registry ?? new Registry());
    this.#backoff = new Backoff(options.backoff);
    this.#clock = options.clock ?? systemClock;
    this.#healthyStreamMs = options.healthyStreamMs ?? 5000;
  }

  /**
   * Registers a resource type and the handler of its responses. Nothing is requested until `subscribe`.
   * Throws `XdsConfigError` for a type URL registered twice, or, in state of the world, a type without `nameOf`.
   */
  addType<T>(type: ResourceType<T>, handler: ResourceHandler<T>): this {
    if (this.#closed) throw new XdsClosedError('add a resource type');
    if (!type.typeUrl) throw new XdsConfigError('a resource type needs a type URL');
    if (this.#types.has(type.typeUrl)) throw new XdsConfigError(`resource type ${type.typeUrl} is already registered`);
    if (this.#protocol === 'sotw' && !type.nameOf) {
      throw new XdsConfigError(`resource type ${type.typeUrl} has no nameOf, which state of the world needs to name resources`);
    }
    const state = new TypeState<T>(type, handler, this.#logger);
    this.#types.set(type.typeUrl, state as unknown as TypeState<unknown>);
    return this;
  }

  /**
   * Asks for resources of a registered type by name, or all of them with `*` (the default). Can be
   * called at any time: on a live stream, delta sends `resource_names_subscribe` at once and state of
   * the world resends the full name list. Names already subscribed are ignored.
   */
  subscribe(typeUrl: string, names: readonly string[] = [WILDCARD]): void {
    const state = this.#typeFor(typeUrl, 'subscribe');
    const added = this.#checkNames(names).filter((name) => !state.subscriptions.has(name));
    if (added.length === 0) return;
    for (const name of added) state.subscriptions.add(name);
    this.#stream?.session.subscriptionChanged(typeUrl, added, []);
  }

  /**
   * Stops asking for the named resources. Held resources of those names are removed through the handler
   * (unless `*` still covers them); resources that arrived under other names (aliases) stay until the
   * server removes them. Names not subscribed are ignored.
   */
  unsubscribe(typeUrl: string, names: readonly string[]): void {
    const state = this.#typeFor(typeUrl, 'unsubscribe');
    const removed = this.#checkNames(names).filter((name) => state.subscriptions.has(name));
    if (removed.length === 0) return;
    for (const name of removed) state.subscriptions.delete(name);
    this.#stream?.session.subscriptionChanged(typeUrl, [], removed);
    state.dropLocal(removed);
  }

  /** Starts connecting (once; later calls do nothing). */
  start(): void {
    if (this.#closed) throw new XdsClosedError('start');
    if (this.#started) return;
    this.#started = true;
    void this.#attempt();
  }

  /**
   * Ends the current stream and opens a new one after the shortest backoff delay (e.g. after the
   * server's address or trust changed). Counted as a `Reconnect` termination.
   */
  reconnect(): void {
    if (this.#closed || !this.#started) return;
    this.#backoff.reset();
    const stream = this.#stream;
    if (stream) {
      stream.ending = 'reconnect';
      stream.call.cancel();
    } else if (this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
      void this.#attempt();
    }
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** A snapshot of the connection and of every registered type, for readiness checks and config dumps. */
  status(): XdsClientStatus {
    return {
      target: this.#target,
      protocol: this.#protocol,
      connected: this.#connected,
      connectionAttempts: this.#attempts,
      lastError: this.#lastError,
      types: [...this.#types.values()].map((s) => ({
        typeUrl: s.type.typeUrl,
        subscriptions: [...s.subscriptions],
        resourceCount: s.resourceCount,
        responses: s.responses,
        lastAck: s.lastAck,
        lastNack: s.lastNack,
      })),
    };
  }

  /** Ends the stream, cancels the reconnect timer and closes the channel; resolves once the stream is gone. */
  async close(): Promise<void> {
    const stream = this.#shutdown();
    if (stream) await stream.done;
  }

  /** Like `close()`, without waiting. */
  destroy(): void {
    this.#shutdown();
  }

  #shutdown(): ActiveStream | undefined {
    this.#closed = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    const stream = this.#stream;
    if (stream && !stream.ended) {
      stream.ending = 'close';
      stream.call.cancel();
      stream.grpcClient.close();
    }
    return stream;
  }

  #typeFor(typeUrl: string, operation: string): TypeState<unknown> {
    if (this.#closed) throw new XdsClosedError(operation);
    const state = this.#types.get(typeUrl);
    if (!state) throw new XdsConfigError(`cannot ${operation}: no resource type is registered for ${typeUrl}`);
    return state;
  }

  #checkNames(names: readonly string[]): string[] {
    for (const name of names) if (typeof name !== 'string' || name === '') throw new XdsConfigError('resource names must be non-empty strings');
    return [...new Set(names)];
  }

  async #attempt(): Promise<void> {
    this.#timer = undefined;
    if (this.#closed) return;
    this.#attempts++;
    const startedAt = this.#clock.now();
    let metadata: grpc.Metadata;
    try {
      metadata = await buildMetadata(this.#token, this.#headers);
    } catch (error) {
      if (this.#closed) return;
      const tokenError = error instanceof XdsTokenError ? error : new XdsTokenError(describeError(error), { cause: error });
      this.#metrics.terminations.inc({ reason: 'ConnectionError' });
      this.#scheduleNext('ConnectionError', tokenError, false, false);
      return;
    }
    if (this.#closed) return;
    try {
      this.#open(metadata, startedAt);
    } catch (cause) {
      // Not expected (options were checked up front), but never a reason to stop retrying or to busy-loop.
      this.#logger.error({ err: cause }, 'cannot open an xDS stream');
      this.#metrics.terminations.inc({ reason: 'Error' });
      this.#scheduleNext('Error', new XdsStreamError(`cannot open a stream: ${describeError(cause)}`, undefined, { cause }), false, false);
    }
  }

  #open(metadata: grpc.Metadata, startedAt: number): void {
    const grpcClient = new grpc.Client(this.#target, this.#credentials, this.#channelOptions);
    const method = adsServiceDefinition().service[this.#protocol === 'delta' ? 'DeltaAggregatedResources' : 'StreamAggregatedResources']!;
    const call = grpcClient.makeBidiStreamRequest(
      method.path,
      method.requestSerialize,
      sizedDeserializer<DeltaDiscoveryResponse | DiscoveryResponse>(method.responseDeserialize),
      metadata,
    );
    let resolveDone!: () => void;
    const done = new Promise<void>((resolve) => (resolveDone = resolve));
    const ctx: SessionContext = {
      node: this.#node,
      logger: this.#logger,
      metrics: this.#metrics,
      types: this.#types,
      onResponse: () => {
        stream.responses++;
        this.#markConnected(stream);
      },
      onAck: (event) => this.emit('ack', event),
      onNack: (event) => this.emit('nack', event),
    };
    const session =
      this.#protocol === 'delta' ? new DeltaSession(call as unknown as DeltaCall, ctx) : new SotwSession(call as unknown as SotwCall, ctx);
    const stream: ActiveStream = { grpcClient, call, session, startedAt, responses: 0, connected: false, ended: false, ending: undefined, done, resolveDone };
    this.#stream = stream;
    // Every non-OK status is also emitted as 'error'; 'status' (always emitted) carries the same, so it alone is handled.
    call.on('error', () => {});
    call.on('status', (status: grpc.StatusObject) => this.#onStatus(stream, status));
    this.#watchReady(stream);
    session.start();
  }

  #watchReady(stream: ActiveStream): void {
    const channel = stream.grpcClient.getChannel();
    const check = (): void => {
      if (stream.ended || stream.connected) return;
      const state = channel.getConnectivityState(false);
      if (state === grpc.connectivityState.READY) this.#markConnected(stream);
      else if (state !== grpc.connectivityState.SHUTDOWN) channel.watchConnectivityState(state, Infinity, check);
    };
    check();
  }

  #markConnected(stream: ActiveStream): void {
    if (stream.connected || stream.ended) return;
    stream.connected = true;
    this.#connected = true;
    this.#logger.info({ protocol: this.#protocol, attempt: this.#attempts }, 'xDS connected');
    this.emit('connected');
  }

  #onStatus(stream: ActiveStream, status: grpc.StatusObject): void {
    if (stream.ended) return;
    stream.ended = true;
    stream.grpcClient.close();
    if (this.#stream === stream) this.#stream = undefined;
    this.#connected = false;
    if (stream.ending === 'close') {
      this.#logger.info('xDS stream closed');
      stream.resolveDone();
      return;
    }
    const reason = stream.ending === 'reconnect' ? 'Reconnect' : reasonOf(status.code);
    const error =
      status.code === grpc.status.OK || stream.ending === 'reconnect'
        ? undefined
        : new XdsStreamError(`${grpc.status[status.code]}: ${status.details}`, status.code);
    this.#metrics.terminations.inc({ reason });
    const healthy = stream.ending === 'reconnect' || stream.responses > 0 || this.#clock.now() - stream.startedAt >= this.#healthyStreamMs;
    this.#scheduleNext(reason, error, stream.connected, healthy);
    stream.resolveDone();
  }

  #scheduleNext(reason: TerminationReason, error: XdsStreamError | XdsTokenError | undefined, wasConnected: boolean, healthy: boolean): void {
    if (healthy) this.#backoff.reset();
    const retryInMs = this.#backoff.next();
    this.#lastError = error?.message;
    this.#logger.info({ reason, err: error?.message, retry_in_ms: retryInMs }, wasConnected ? 'xDS disconnected' : 'xDS connection attempt failed');
    this.#timer = this.#clock.setTimeout(() => void this.#attempt(), retryInMs);
    this.emit('disconnected', { reason, error, wasConnected, retryInMs });
  }
}
