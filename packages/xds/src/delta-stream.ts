/**
 * Incremental ADS (`DeltaAggregatedResources`), what ztunnel speaks with istiod.
 *
 * - The first request of each type on a stream carries the subscription (`resource_names_subscribe`) and
 *   `initial_resource_versions` for every resource the client has applied, so that the server can skip
 *   what is unchanged and send `removed_resources` for what went away while the client was disconnected.
 *   The Node goes in the first request of the stream only.
 * - Later subscription changes are sent as they happen, without a nonce.
 * - Each response is answered with an ACK (its nonce) or a NACK (its nonce and an `error_detail`).
 */
import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse } from '@ambit/protos';
import { countResponse, settle, type AdsSession, type SessionContext, type Sized } from './session.js';
import type { IncomingResource } from './type-state.js';

const EMPTY = new Uint8Array(0);

export type DeltaCall = ClientDuplexStream<DeltaDiscoveryRequest, Sized<DeltaDiscoveryResponse>>;

export class DeltaSession implements AdsSession {
  readonly #call: DeltaCall;
  readonly #ctx: SessionContext;
  #nodeSent = false;
  /** Types whose first request went out on this stream (it alone carries `initial_resource_versions`). */
  readonly #started = new Set<string>();

  constructor(call: DeltaCall, ctx: SessionContext) {
    this.#call = call;
    this.#ctx = ctx;
    call.on('data', (response: Sized<DeltaDiscoveryResponse>) => this.#onResponse(response));
  }

  start(): void {
    for (const [typeUrl, state] of this.#ctx.types) {
      if (state.subscriptions.size > 0) this.#sendFirst(typeUrl);
    }
  }

  subscriptionChanged(typeUrl: string, added: readonly string[], removed: readonly string[]): void {
    if (!this.#started.has(typeUrl)) {
      // Nothing sent for this type yet on this stream: the first request carries the whole subscription.
      if (added.length > 0) this.#sendFirst(typeUrl);
      return;
    }
    const request: DeltaDiscoveryRequest = { type_url: typeUrl };
    if (added.length > 0) request.resource_names_subscribe = [...added];
    if (removed.length > 0) request.resource_names_unsubscribe = [...removed];
    this.#send(request);
  }

  #sendFirst(typeUrl: string): void {
    const state = this.#ctx.types.get(typeUrl);
    if (!state) return;
    this.#started.add(typeUrl);
    const request: DeltaDiscoveryRequest = {
      type_url: typeUrl,
      resource_names_subscribe: [...state.subscriptions],
      initial_resource_versions: state.heldVersions(),
    };
    this.#send(request);
  }

  #send(request: DeltaDiscoveryRequest): void {
    if (!this.#nodeSent) {
      request.node = this.#ctx.node;
      this.#nodeSent = true;
    }
    this.#call.write(request);
  }

  #onResponse({ message, bytes }: Sized<DeltaDiscoveryResponse>): void {
    this.#ctx.onResponse();
    const typeUrl = message.type_url ?? '';
    const nonce = message.nonce ?? '';
    const version = message.system_version_info ?? '';
    countResponse(this.#ctx, typeUrl, bytes);
    const state = this.#ctx.types.get(typeUrl);
    const resources = message.resources ?? [];
    const removals = [...(message.removed_resources ?? [])];
    for (const r of message.removed_resource_names ?? []) if (r.name) removals.push(r.name);

    let rejections;
    if (!state) {
      rejections = [{ name: typeUrl || '(empty type_url)', reason: 'no resource type is registered for this type URL' }];
    } else {
      state.responses++;
      const incoming: IncomingResource[] = resources.map((r, index) => {
        const body = r.resource;
        let problem: string | undefined;
        if (!r.name) problem = 'the resource has no name';
        else if (!body) problem = 'the resource has no body';
        else if (body.type_url !== typeUrl) problem = `the resource has type ${body.type_url ?? '(none)'}, not ${typeUrl}`;
        return {
          name: r.name || `resources[${index}]`,
          index,
          version: r.version ?? '',
          bytes: body?.value ?? EMPTY,
          aliases: r.aliases ?? [],
          ...(problem === undefined ? {} : { problem }),
        };
      });
      rejections = state.apply(incoming, removals, false);
    }
    this.#ctx.logger.debug(
      { type_url: typeUrl, nonce, version, resources: resources.length, removed: removals.length, rejected: rejections.length },
      'delta response',
    );
    const errorDetail = settle(this.#ctx, typeUrl, state, nonce, version, rejections);
    const reply: DeltaDiscoveryRequest = { type_url: typeUrl, response_nonce: nonce };
    if (errorDetail) reply.error_detail = errorDetail;
    this.#call.write(reply);
  }
}
