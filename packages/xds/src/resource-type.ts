/**
 * How the client learns about a kind of resource without knowing what it means: a pure decoder per type
 * URL (grpc-js-xds's resource types) and a handler that receives each response as one batch (ztunnel's
 * convert first, apply once). Decoders and handlers report problems as values; the client turns them into
 * one NACK listing every rejected resource.
 */
import { compactMessage, StringInterner, type MessageCodec } from '@ambit/protos';
import { describeError } from './errors.js';

/**
 * The outcome of decoding or validating one resource. A failure may carry the resource's `name` when the
 * decoder could read it (state of the world, where only the message knows its name).
 */
export type ValidationResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: string; readonly name?: string };

/** A kind of resource, identified by its type URL, e.g. `type.googleapis.com/istio.workload.Address`. */
export interface ResourceType<T> {
  readonly typeUrl: string;
  /**
   * Decodes and validates one resource's bytes. Must not throw (a throw is caught and reported as a
   * rejection) and must not have side effects: it runs before anything is applied. `name` is the resource
   * name the server gave (delta), or `''` in state of the world, whose responses carry no names.
   */
  decode(bytes: Uint8Array, name: string): ValidationResult<T>;
  /**
   * The name of a decoded resource. Needed for state of the world, where the server sends bare
   * `Any`s (the name is inside the message: a Listener's `name`, a Workload's `uid`). Unused by delta.
   */
  nameOf?(value: T): string;
  /**
   * State of the world only: whether every response carries the full set of subscribed resources, so that
   * a held resource absent from a response has been removed. True for Listener/Cluster-like types
   * (default), false for RouteConfiguration/ClusterLoadAssignment-like ones.
   */
  readonly allResourcesRequiredInSotw?: boolean;
}

/** One resource added or changed. */
export interface ResourceUpsert<T> {
  readonly name: string;
  /** The resource's version (delta) or the response's `version_info` (state of the world). */
  readonly version: string;
  readonly resource: T;
  /** Other names the server says this resource answers to (delta `aliases`, e.g. `network/IP`). */
  readonly aliases: readonly string[];
}

/**
 * Everything one response changed for one type, valid resources only. Resources whose bytes are identical
 * to what the handler already holds are left out, so the handler sees only real changes.
 */
export interface ResourceBatch<T> {
  readonly typeUrl: string;
  readonly upserts: readonly ResourceUpsert<T>[];
  /** Names of resources the handler holds that are gone. */
  readonly removals: readonly string[];
}

/** A resource refused by the decoder, the handler, or the client's own checks. */
export interface Rejection {
  readonly name: string;
  readonly reason: string;
}

/**
 * Applies a batch at once (e.g. builds one new immutable snapshot) and returns the names it refused on
 * semantic grounds. A refused name must be left in its last good state: the client will not record its
 * version, so the server sends it again. Handlers are synchronous so that a response is fully applied
 * before its ACK; a throw rejects the whole batch.
 */
export type ResourceHandler<T> = (batch: ResourceBatch<T>) => readonly Rejection[] | void;

export interface CodecResourceTypeOptions<T> {
  /** Semantic checks after decoding; return a reason to reject. */
  readonly validate?: (value: T, name: string) => string | undefined;
  readonly nameOf?: (value: T) => string;
  readonly allResourcesRequiredInSotw?: boolean;
  /**
   * Hold accepted values compactly (`compactMessage`): strings shared through an interner (this one, or
   * the type's own when `true`), bytes copied out of the response so that a held resource does not pin
   * the whole response in memory. Default true: decoded resources live as long as the handler keeps them.
   */
  readonly compact?: boolean | StringInterner;
}

/**
 * A resource type over a protos `MessageCodec`: decode failures (malformed bytes) and `validate` reasons
 * become rejections, never throws.
 */
export function codecResourceType<T extends object>(codec: MessageCodec<T>, options: CodecResourceTypeOptions<T> = {}): ResourceType<T> {
  const { validate, nameOf, allResourcesRequiredInSotw } = options;
  const compact = options.compact ?? true;
  const interner = compact === false ? undefined : compact === true ? new StringInterner() : compact;
  const type: ResourceType<T> = {
    typeUrl: codec.typeUrl,
    decode(bytes: Uint8Array, name: string): ValidationResult<T> {
      let value: T;
      try {
        value = codec.decode(bytes);
      } catch (error) {
        return { ok: false, reason: describeError(error) };
      }
      const problem = validate?.(value, name);
      if (problem === undefined) {
        if (!interner) return { ok: true, value };
        // The name first: a field that repeats it (a Workload's uid) then shares the instance the client
        // and its handler key the resource by.
        if (name) interner.intern(name);
        return { ok: true, value: compactMessage(value, interner) };
      }
      if (name || !nameOf) return { ok: false, reason: problem };
      // State of the world: name the rejected resource if its message has a name.
      let found = '';
      try {
        found = nameOf(value);
      } catch {
        // A resource too broken to name is reported by its position instead.
      }
      return found ? { ok: false, reason: problem, name: found } : { ok: false, reason: problem };
    },
    ...(nameOf ? { nameOf } : {}),
    ...(allResourcesRequiredInSotw === undefined ? {} : { allResourcesRequiredInSotw }),
  };
  return type;
}
