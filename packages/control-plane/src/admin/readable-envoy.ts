/**
 * Envoy resources (as decoded from the bytes served) in a form people can read: every nested
 * `google.protobuf.Any` is unpacked in place and labelled with its `@type`, as Envoy's own config_dump
 * shows it; `filter_metadata` Structs become plain JSON; other bytes become base64. Used by config_dump.
 */
import { unpackAny, type ProtoStruct } from '@ambit/protos';
import { structToJson, type JsonValue } from '../server/struct-json.js';

function isAny(obj: Record<string, unknown>): boolean {
  return typeof obj['type_url'] === 'string' && (Buffer.isBuffer(obj['value']) || obj['value'] instanceof Uint8Array);
}

function convert(value: unknown, key: string): JsonValue {
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (Array.isArray(value)) return value.map((v) => convert(v, key));
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    if (isAny(obj)) {
      let inner: JsonValue;
      try {
        inner = convert(unpackAny(obj), '');
      } catch (err) {
        inner = { error: err instanceof Error ? err.message : String(err) };
      }
      return { '@type': obj['type_url'] as string, ...(inner as Record<string, JsonValue>) };
    }
    const out: Record<string, JsonValue> = {};
    for (const [k, v] of Object.entries(obj)) {
      if (v === undefined) continue;
      out[k] = key === 'filter_metadata' ? structToJson(v as ProtoStruct) : convert(v, k);
    }
    return out;
  }
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || value === null) return value;
  return null;
}

export function readableEnvoy(message: object): Record<string, JsonValue> {
  return convert(message, '') as Record<string, JsonValue>;
}
