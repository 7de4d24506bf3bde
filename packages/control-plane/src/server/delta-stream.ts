/**
 * One `DeltaAggregatedResources` stream: decodes requests, keeps a TypeWatch per type, matches ACKs and
 * NACKs to nonces and writes responses.
 *
 * At most one response per type is unacknowledged at a time. Changes that arrive meanwhile accumulate in
 * the watch and go out together once the client answers, so a burst of snapshots costs a slow client one
 * response, not one per snapshot.
 */
import * as grpc from '@grpc/grpc-js';
import { envoyCodec, type DeltaDiscoveryRequest, type EnvoyNode, type MessageCodec } from '@ambit/protos';
import type { Logger } from '@ambit/mesh-core/telemetry';
import { XdsServerError } from './errors.js';
import type { XdsServerMetrics } from './metrics.js';
import type { ResourceTable, TableDiff } from './resource-table.js';
import { structToJson, type JsonValue } from './struct-json.js';
import { TypeWatch } from './type-watch.js';
import type { DeltaResponseEncoder } from './wire.js';

/** What a stream needs from its server. */
export interface StreamHost {
  /** The current table of `typeUrl`, or undefined when the server does not serve that type. */
  table(typeUrl: string): ResourceTable | undefined;
  readonly servedTypes: readonly string[];
  /** The version of the snapshot the tables come from (sent as `system_version_info`). */
  snapshotVersion(): number;
  readonly encoder: DeltaResponseEncoder;
  nextNonce(): string;
  readonly metrics: XdsServerMetrics;
  /** Called once when the stream is over, whichever side ended it. */
  streamEnded(stream: DeltaStream): void;
}

export interface AckRecord {
  readonly nonce: string;
  readonly at: string;
}

export interface NackRecord extends AckRecord {
  /** google.rpc.Code the client reported. */
  readonly code: number;
  readonly message: string;
  /** `system_version_info` of the rejected response. */
  readonly systemVersion: string;
}

/** One type of one stream, for config_dump. */
export interface TypeStatus {
  readonly typeUrl: string;
  readonly wildcard: boolean;
  readonly subscriptions: readonly string[];
  /** Resources the client holds (as far as the server knows). */
  readonly held: number;
  /** Nonce of the response awaiting ACK/NACK. */
  readonly pendingNonce?: string;
  readonly responses: number;
  readonly nacks: number;
  readonly lastAck?: AckRecord;
  readonly lastNack?: NackRecord;
}

/** One connected client, for config_dump. */
export interface StreamStatus {
  readonly id: number;
  readonly peer: string;
  /** The authenticated caller (`node/<name>` or a SPIFFE ID), when the server checks tokens. */
  readonly caller?: string;
  readonly node: { readonly id?: string; readonly cluster?: string; readonly metadata: Record<string, JsonValue> };
  readonly connectedAt: string;
  readonly types: readonly TypeStatus[];
}

interface TypeState {
  readonly watch: TypeWatch;
  outstanding?: { readonly nonce: string; readonly systemVersion: string } | undefined;
  responses: number;
  nacks: number;
  lastAck?: AckRecord;
  lastNack?: NackRecord;
}

let requestCodec: MessageCodec<DeltaDiscoveryRequest> | undefined;

function decodeRequest(bytes: Buffer): DeltaDiscoveryRequest {
  requestCodec ??= envoyCodec<DeltaDiscoveryRequest>('envoy.service.discovery.v3.DeltaDiscoveryRequest');
  return requestCodec.decode(bytes);
}

export type DeltaCall = grpc.ServerDuplexStream<Buffer, Buffer>;

export class DeltaStream {
  readonly id: number;
  readonly peer: string;
  readonly caller: string | undefined;
  readonly connectedAt = new Date();
  readonly #call: DeltaCall;
  readonly #host: StreamHost;
  readonly #logger: Logger;
  readonly #types = new Map<string, TypeState>();
  #node: EnvoyNode | undefined;
  #ended = false;
  #cleaned = false;
  readonly #finished: Promise<void>;
  #resolveFinished!: () => void;

  constructor(call: DeltaCall, host: StreamHost, logger: Logger, id: number, caller?: string) {
    this.id = id;
    this.peer = call.getPeer();
    this.caller = caller;
    this.#call = call;
    this.#host = host;
    this.#logger = logger.child({ stream: id, peer: this.peer });
    this.#finished = new Promise((resolve) => (this.#resolveFinished = resolve));
  }

  /** The node id the client sent (empty until its first request carries one). */
  get nodeId(): string {
    return this.#node?.id ?? '';
  }

  /** Starts reading requests. Until then the call is paused (requests wait in grpc-js). */
  start(): void {
    const call = this.#call;
    call.on('data', (bytes: Buffer) => this.#onRequest(bytes));
    // The client half-closed: nothing more will be asked, so the stream is done.
    call.on('end', () => this.#finish(grpc.status.OK, 'client closed the stream'));
    call.on('error', (err: Error) => {
      this.#logger.debug({ err }, 'xDS stream error');
      this.#ended = true;
      this.#cleanup();
    });
    call.on('cancelled', () => {
      this.#ended = true;
      this.#cleanup();
    });
    call.on('finish', () => this.#cleanup());
    call.on('close', () => this.#cleanup());
  }

  /** A new snapshot: tell each started watch what changed and push where nothing is outstanding. */
  onSnapshot(diffs: ReadonlyMap<string, TableDiff>): void {
    if (this.#ended) return;
    for (const [typeUrl, state] of this.#types) {
      const diff = diffs.get(typeUrl);
      if (diff) state.watch.noteChanges(diff);
      this.#flush(typeUrl, state);
    }
  }

  /** Ends the stream with status OK (the client reconnects, to us or another server). */
  close(): Promise<void> {
    this.#finish(grpc.status.OK, 'server is shutting down');
    return this.#finished;
  }

  /** Ends the stream now with `err`'s status (UNAVAILABLE when none is given). */
  destroy(err?: XdsServerError): void {
    if (err) this.#fail(err);
    else this.#finish(grpc.status.UNAVAILABLE, 'server is shutting down');
  }

  status(): StreamStatus {
    const types: TypeStatus[] = [];
    for (const [typeUrl, s] of this.#types) {
      types.push({
        typeUrl,
        wildcard: s.watch.wildcard,
        subscriptions: s.watch.subscriptions(),
        held: s.watch.heldCount,
        ...(s.outstanding ? { pendingNonce: s.outstanding.nonce } : {}),
        responses: s.responses,
        nacks: s.nacks,
        ...(s.lastAck ? { lastAck: s.lastAck } : {}),
        ...(s.lastNack ? { lastNack: s.lastNack } : {}),
      });
    }
    const node = this.#node;
    return {
      id: this.id,
      peer: this.peer,
      ...(this.caller !== undefined ? { caller: this.caller } : {}),
      node: {
        ...(node?.id ? { id: node.id } : {}),
        ...(node?.cluster ? { cluster: node.cluster } : {}),
        metadata: structToJson(node?.metadata),
      },
      connectedAt: this.connectedAt.toISOString(),
      types,
    };
  }

  #onRequest(bytes: Buffer): void {
    if (this.#ended) return;
    let request: DeltaDiscoveryRequest;
    try {
      request = decodeRequest(bytes);
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      this.#fail(new XdsServerError('XDS_ERR_BAD_REQUEST', `malformed DeltaDiscoveryRequest: ${reason}`, { cause }));
      return;
    }
    const typeUrl = request.type_url ?? '';
    if (typeUrl === '') {
      this.#fail(new XdsServerError('XDS_ERR_BAD_REQUEST', 'DeltaDiscoveryRequest has no type_url'));
      return;
    }
    if (!this.#host.table(typeUrl)) {
      this.#fail(
        new XdsServerError(
          'XDS_ERR_BAD_REQUEST',
          `type_url ${JSON.stringify(typeUrl)} is not served here; this server serves ${listOf(this.#host.servedTypes)}`,
        ),
      );
      return;
    }
    if (request.node && !this.#node) {
      this.#node = request.node;
      this.#logger.info({ node: request.node.id ?? '' }, 'xDS client connected');
    }
    let state = this.#types.get(typeUrl);
    if (!state) {
      state = { watch: new TypeWatch(typeUrl), responses: 0, nacks: 0 };
      this.#types.set(typeUrl, state);
    }
    const first = !state.watch.started;
    const nonce = request.response_nonce ?? '';
    if (!first && nonce !== '') this.#onAnswer(typeUrl, state, nonce, request);
    state.watch.applyRequest(
      request.resource_names_subscribe ?? [],
      request.resource_names_unsubscribe ?? [],
      first ? request.initial_resource_versions : undefined,
    );
    this.#flush(typeUrl, state);
  }

  /** An ACK or NACK of the response carrying `nonce`. */
  #onAnswer(typeUrl: string, state: TypeState, nonce: string, request: DeltaDiscoveryRequest): void {
    const outstanding = state.outstanding;
    if (outstanding?.nonce !== nonce) {
      // Only the latest response can be outstanding; an older nonce was already answered.
      this.#logger.debug({ typeUrl, nonce }, 'ignoring an answer to a stale nonce');
      return;
    }
    state.outstanding = undefined;
    const at = new Date().toISOString();
    const error = request.error_detail;
    if (error) {
      state.nacks++;
      state.lastNack = { nonce, at, code: error.code ?? 0, message: error.message ?? '', systemVersion: outstanding.systemVersion };
      this.#host.metrics.rejects.inc({ type: typeUrl });
      // The client keeps what it had; the rejected versions are recorded as sent, so they are not
      // resent until their content changes.
      this.#logger.warn(
        { node: this.nodeId, typeUrl, nonce, code: error.code ?? 0, reason: error.message ?? '' },
        'xDS client rejected a response (NACK)',
      );
    } else {
      state.lastAck = { nonce, at };
    }
  }

  #flush(typeUrl: string, state: TypeState): void {
    if (this.#ended || state.outstanding || !state.watch.pending) return;
    const table = this.#host.table(typeUrl);
    if (!table) return;
    const response = state.watch.take(table);
    if (!response) return;
    const nonce = this.#host.nextNonce();
    const systemVersion = String(this.#host.snapshotVersion());
    let bytes: Buffer;
    try {
      bytes = this.#host.encoder.encode({
        systemVersionInfo: systemVersion,
        typeUrl,
        nonce,
        resources: response.resources,
        removed: response.removed,
        withAliases: response.withAliases,
      });
    } catch (cause) {
      this.#logger.error({ err: cause, typeUrl }, 'cannot encode an xDS response');
      this.#fail(new XdsServerError('XDS_ERR_INTERNAL', 'the server could not encode a response', { cause }));
      return;
    }
    state.outstanding = { nonce, systemVersion };
    state.responses++;
    this.#host.metrics.pushes.inc({ type: typeUrl });
    this.#logger.debug(
      { typeUrl, nonce, resources: response.resources.length, removed: response.removed.length },
      'xDS response sent',
    );
    this.#call.write(bytes);
  }

  #fail(err: XdsServerError): void {
    const code =
      err.code === 'XDS_ERR_BAD_REQUEST'
        ? grpc.status.INVALID_ARGUMENT
        : err.code === 'XDS_ERR_UNAUTHENTICATED'
          ? grpc.status.UNAUTHENTICATED
          : grpc.status.INTERNAL;
    if (!this.#ended) this.#logger.warn({ node: this.nodeId, code: err.code, reason: err.reason }, 'ending xDS stream');
    this.#finish(code, err.reason);
  }

  /** Sends the final status once; the call finishes (and cleans up) when grpc-js has written it. */
  #finish(code: grpc.status, details: string): void {
    if (this.#ended) {
      this.#cleanup();
      return;
    }
    this.#ended = true;
    if (code === grpc.status.OK) {
      this.#call.end();
    } else {
      // grpc-js turns an 'error' event on a server call into the final status (code + details).
      this.#call.emit('error', Object.assign(new Error(details), { code, details }));
    }
    if (this.#call.writableFinished || this.#call.destroyed) this.#cleanup();
  }

  #cleanup(): void {
    this.#ended = true;
    if (this.#cleaned) return;
    this.#cleaned = true;
    this.#host.streamEnded(this);
    this.#resolveFinished();
  }
}

/** `a`, `a and b`, `a, b and c`. */
function listOf(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? 'nothing') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}
