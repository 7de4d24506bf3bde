/**
 * google.protobuf.Struct / Value (as protobufjs decodes them) to plain JSON, for showing a client's Node
 * metadata in config_dump.
 */
import type { ProtoStruct, ProtoValue } from '@ambit/protos';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export function structToJson(struct: ProtoStruct | undefined): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [key, value] of Object.entries(struct?.fields ?? {})) out[key] = valueToJson(value);
  return out;
}

export function valueToJson(value: ProtoValue): JsonValue {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.numberValue !== undefined) return value.numberValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.structValue !== undefined) return structToJson(value.structValue);
  if (value.listValue !== undefined) return (value.listValue.values ?? []).map(valueToJson);
  return null;
}
