/**
 * The kinds the input understands, each a decoder from a validated document to a typed object. Adding a
 * kind means writing one decoder in `kinds/` and registering it in `defaultRegistry()`: the loader,
 * duplicate detection and diagnostics need no change.
 */
import type { Field } from './field.js';
import type { InputObject, ObjectMeta, SourceRef } from './objects.js';

export interface DecodeContext {
  readonly apiVersion: string;
  readonly metadata: ObjectMeta;
  readonly source: SourceRef;
}

export interface KindDecoder<T extends InputObject = InputObject> {
  readonly kind: T['kind'];
  /** Accepted `apiVersion`s, e.g. `security.istio.io/v1` and `security.istio.io/v1beta1`. */
  readonly apiVersions: readonly string[];
  readonly namespaced: boolean;
  /** Syntax of `metadata.name` for this kind (DNS label, subdomain, …). */
  readonly checkName: (name: string) => string | undefined;
  /**
   * Decodes the document (`doc` is its root) after its metadata was read. Records every problem in the
   * field's sink; the result is discarded when any of them is an error.
   */
  decode(doc: Field, context: DecodeContext): T | undefined;
}

export class KindRegistry {
  readonly #byKind = new Map<string, KindDecoder>();

  register<T extends InputObject>(decoder: KindDecoder<T>): this {
    if (this.#byKind.has(decoder.kind)) throw new Error(`kind ${decoder.kind} is already registered`);
    this.#byKind.set(decoder.kind, decoder);
    return this;
  }

  /** The decoder for `kind`, whatever the apiVersion (the caller checks it, to say which ones are known). */
  lookup(kind: string): KindDecoder | undefined {
    return this.#byKind.get(kind);
  }

  get kinds(): string[] {
    return [...this.#byKind.keys()].sort();
  }
}
