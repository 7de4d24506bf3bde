/**
 * State-of-the-world ADS (`StreamAggregatedResources`).
 *
 * - Every request of a type carries its whole subscription in `resource_names` (`*` asks for everything)
 *   and the `version_info` of the last ACKed response: on a new stream, that tells the server what the
 *   client already has.
 * - A response carries every subscribed resource of its type. Resources come as bare `Any`s, so names are
 *   read from the decoded messages (`ResourceType.nameOf`); for types with `allResourcesRequiredInSotw`
 *   (the default), a held resource missing from a response is removed.
 * - An ACK repeats the response's `version_info` and nonce; a NACK carries the nonce, the last ACKed
 *   `version_info` (the version the client stays on) and an `error_detail`.
 */
import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { DiscoveryRequest, DiscoveryResponse } from '@ambit/protos';
import { countResponse, settle, type AdsSession, type SessionContext, type Sized } from './session.js';
import type { IncomingResource } from './type-state.js';

const EMPTY = new Uint8Array(0);
const NO_ALIASES: readonly string[] = Object.freeze([]);

export type SotwCall = ClientDuplexStream<DiscoveryRequest, Sized<DiscoveryResponse>>;

export class SotwSession implements AdsSession {
  readonly #call: SotwCall;
  readonly #ctx: SessionContext;
  #nodeSent = false;
  /** Nonce of the last response per type on this stream: a subscription change echoes it. */
  readonly #nonces = new Map<string, string>();
  readonly #started = new Set<string>();

  constructor(call: SotwCall, ctx: SessionContext) {
    this.#call = call;
    this.#ctx = ctx;
    call.on('data', (response: Sized<DiscoveryResponse>) => this.#onResponse(response));
  }

  start(): void {
    for (const [typeUrl, state] of this.#ctx.types) {
      if (state.subscriptions.size > 0) this.#sendRequest(typeUrl);
    }
  }

  subscriptionChanged(typeUrl: string, added: readonly string[], _removed: readonly string[]): void {
    // A type never requested on this stream that has nothing subscribed stays silent: an empty first
    // request would mean "everything" (legacy wildcard) to the server.
    if (!this.#started.has(typeUrl) && added.length === 0) return;
    this.#sendRequest(typeUrl);
  }

  #sendRequest(typeUrl: string, errorDetail?: DiscoveryRequest['error_detail']): void {
    const state = this.#ctx.types.get(typeUrl);
    const request: DiscoveryRequest = {
      type_url: typeUrl,
      version_info: state?.lastAckedVersion ?? '',
      resource_names: state ? [...state.subscriptions] : [],
    };
    const nonce = this.#nonces.get(typeUrl);
    if (nonce !== undefined) request.response_nonce = nonce;
    if (errorDetail) request.error_detail = errorDetail;
    if (!this.#nodeSent) {
      request.node = this.#ctx.node;
      this.#nodeSent = true;
    }
    this.#started.add(typeUrl);
    this.#call.write(request);
  }

  #onResponse({ message, bytes }: Sized<DiscoveryResponse>): void {
    this.#ctx.onResponse();
    const typeUrl = message.type_url ?? '';
    const nonce = message.nonce ?? '';
    const version = message.version_info ?? '';
    countResponse(this.#ctx, typeUrl, bytes);
    this.#nonces.set(typeUrl, nonce);
    const state = this.#ctx.types.get(typeUrl);
    const resources = message.resources ?? [];

    let rejections;
    if (!state) {
      rejections = [{ name: typeUrl || '(empty type_url)', reason: 'no resource type is registered for this type URL' }];
    } else {
      state.responses++;
      const incoming: IncomingResource[] = resources.map((any, index) => ({
        name: undefined,
        index,
        version,
        bytes: any.value ?? EMPTY,
        aliases: NO_ALIASES,
        ...(any.type_url === typeUrl ? {} : { problem: `the resource has type ${any.type_url ?? '(none)'}, not ${typeUrl}` }),
      }));
      rejections = state.apply(incoming, [], state.type.allResourcesRequiredInSotw ?? true);
    }
    this.#ctx.logger.debug({ type_url: typeUrl, nonce, version, resources: resources.length, rejected: rejections.length }, 'sotw response');
    const errorDetail = settle(this.#ctx, typeUrl, state, nonce, version, rejections);
    // An ACK moves to the response's version; a NACK stays on the last ACKed one.
    if (!errorDetail && state) state.lastAckedVersion = version;
    this.#sendRequest(typeUrl, errorDetail);
  }
}
