/**
 * Small readers shared by the compilers: durations, wrapper types, percentages, enums and typed Anys,
 * each checking its value and naming the field when it is wrong.
 */
import { envoyCodec, type MessageCodec } from '@ambit/protos';
import type { EnumValue, FractionalPercent, ProtoAny, ProtoDuration, UInt32Value } from './envoy-types.js';
import { invalid, join } from './errors.js';

export const TYPE_URL_PREFIX = 'type.googleapis.com/';

/** A Duration in whole milliseconds (sub-millisecond parts round up, so a 1 ns timeout is not 0 = none). */
export function durationMs(d: ProtoDuration, at: string): number {
  const seconds = d.seconds ?? 0;
  const nanos = d.nanos ?? 0;
  if (!Number.isSafeInteger(seconds) || seconds < 0) invalid(join(at, 'seconds'), `must be a non-negative integer, got ${seconds}`);
  if (!Number.isInteger(nanos) || nanos < 0 || nanos > 999_999_999) invalid(join(at, 'nanos'), `must be 0-999999999, got ${nanos}`);
  const ms = seconds * 1000 + Math.ceil(nanos / 1e6);
  // A timer longer than ~24.8 days overflows Node's timers; nothing in a route or cluster needs that long.
  if (ms > 0x7fffffff) invalid(at, `${seconds}s is longer than the longest supported duration (2147483 s)`);
  return ms;
}

/** A Duration field with a default when absent. */
export function optionalDurationMs(d: ProtoDuration | undefined, at: string, defaultMs: number): number {
  return d === undefined ? defaultMs : durationMs(d, at);
}

/** A `google.protobuf.UInt32Value` with a default when absent. */
export function uint32(v: UInt32Value | undefined, defaultValue: number): number {
  return v === undefined ? defaultValue : (v.value ?? 0);
}

const DENOMINATORS: Record<string, number> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };

/** envoy.type.v3.FractionalPercent → parts per million (numerators above the denominator mean 100%). */
export function fractionToPpm(p: FractionalPercent, at: string): number {
  const denominatorName = p.denominator ?? 'HUNDRED';
  const denominator = typeof denominatorName === 'string' ? DENOMINATORS[denominatorName] : undefined;
  if (denominator === undefined) invalid(join(at, 'denominator'), `unknown value ${JSON.stringify(denominatorName)} (want HUNDRED, TEN_THOUSAND or MILLION)`);
  const numerator = p.numerator ?? 0;
  // Envoy clamps a numerator above its denominator to 100%.
  return Math.min(1_000_000, numerator * (1_000_000 / denominator));
}

/** An enum field with its default when absent; refuses values outside `allowed` with the list. */
export function enumOf<const T extends string>(value: EnumValue<string> | undefined, defaultValue: T, allowed: readonly T[], at: string): T {
  const v = value ?? defaultValue;
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  return invalid(at, `unsupported value ${JSON.stringify(v)} (supported: ${allowed.join(', ')})`);
}

/** A port number 1-65535. */
export function port(value: number | undefined, at: string): number {
  const p = value ?? 0;
  if (!Number.isInteger(p) || p < 1 || p > 65535) invalid(at, `port ${p} is out of range 1-65535`);
  return p;
}

/**
 * Unpacks a `typed_config` Any that must be `expected` (a full message name); refuses a missing Any, a
 * different type and bytes that do not decode.
 */
export function unpackTyped<T extends object>(any: ProtoAny | undefined, expected: string, at: string): T {
  if (any === undefined) invalid(at, `missing (want ${expected})`);
  const url = any.type_url ?? '';
  if (url !== TYPE_URL_PREFIX + expected) invalid(join(at, 'type_url'), `${JSON.stringify(url)} is not ${TYPE_URL_PREFIX}${expected}`);
  let codec: MessageCodec<T>;
  try {
    codec = envoyCodec<T>(expected);
  } catch (err) {
    return invalid(at, `cannot load ${expected}: ${err instanceof Error ? err.message : String(err)}`);
  }
  try {
    return codec.decode(any.value ?? Buffer.alloc(0));
  } catch (err) {
    return invalid(at, err instanceof Error ? err.message : String(err));
  }
}

/** Refuses fields the waypoint does not implement, naming the first one set. */
export function refuseFields(message: object, fields: readonly string[], at: string, why = 'is not supported by the waypoint'): void {
  const record = message as Record<string, unknown>;
  for (const field of fields) {
    if (record[field] !== undefined) invalid(join(at, field), why);
  }
}

/** `[]` for an absent repeated field; keeps the hot path free of `?? []` everywhere else. */
export function list<T>(value: readonly T[] | undefined): readonly T[] {
  return value ?? EMPTY;
}

const EMPTY: readonly never[] = Object.freeze([]);

