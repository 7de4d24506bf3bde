/**
 * Field decoders shared by Istio's networking kinds (DestinationRule, VirtualService): durations,
 * StringMatch, percentages, hostnames and header operations, checked as Istio's validating webhook checks
 * them.
 */
import type { Field } from '../field.js';
import { checkDns1123Subdomain } from '../names.js';
import type { HeaderOperations, HeadersSpec, StringMatchSpec } from '../traffic-objects.js';
import { checkHeaderName, checkRegex } from './gateway-api-fields.js';

/** Go's time.ParseDuration forms, which Istio accepts: `10s`, `1.5s`, `1m30s`, `100ms`, `2h`. */
const ISTIO_DURATION = /^(\d+(\.\d+)?(h|m|s|ms|us|µs|ns))+$/;
const ISTIO_DURATION_PART = /(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g;
const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000001 };

/** An Istio duration in milliseconds (fractions allowed); `min` in ms (Istio requires ≥ 1 ms for most). */
export function istioDuration(field: Field, min = 1): number | undefined {
  const text = field.string();
  if (text === undefined) return undefined;
  if (!ISTIO_DURATION.test(text)) {
    field.error(`${JSON.stringify(text)} is not a duration such as "10s", "1.5s", "1m30s" or "100ms"`);
    return undefined;
  }
  let ms = 0;
  for (const [, amount, unit] of text.matchAll(ISTIO_DURATION_PART)) ms += Number(amount) * UNIT_MS[unit!]!;
  if (ms < min) {
    field.error(`must be at least ${min} ms, got ${JSON.stringify(text)}`);
    return undefined;
  }
  return ms;
}

/** An Istio StringMatch: exactly one of `exact`, `prefix`, `regex`. */
export function stringMatchSpec(field: Field): StringMatchSpec | undefined {
  if (!field.object(true)) return undefined;
  field.onlyKeys(['exact', 'prefix', 'regex']);
  const set = (['exact', 'prefix', 'regex'] as const).filter((k) => field.child(k).present);
  if (set.length !== 1) {
    field.error(set.length === 0 ? 'must set one of exact, prefix or regex' : `sets ${set.join(' and ')}; set exactly one of exact, prefix or regex`);
    return undefined;
  }
  const kind = set[0]!;
  const value = field.child(kind).string({ ...(kind === 'regex' ? { check: checkRegex } : {}) });
  return value === undefined ? undefined : { kind, value };
}

/** `{ value: <0..100> }` (Istio's Percent). */
export function percentage(field: Field): number | undefined {
  if (!field.object()) return undefined;
  field.onlyKeys(['value']);
  return field.child('value').number({ required: true, min: 0, max: 100 });
}

/** A service host as Istio's networking kinds write it: a DNS name, or `*`/`*.suffix`. */
export function checkHost(value: string): string | undefined {
  if (value === '*') return undefined;
  const bare = value.startsWith('*.') ? value.slice(2) : value;
  if (checkDns1123Subdomain(bare) !== undefined) return `${JSON.stringify(value)} is not a host name (a DNS name such as "reviews" or "reviews.default.svc.cluster.local")`;
  return undefined;
}

function headerOperations(field: Field): HeaderOperations {
  const out: { set: { name: string; value: string }[]; add: { name: string; value: string }[]; remove: string[] } = { set: [], add: [], remove: [] };
  if (!field.object()) return out;
  field.onlyKeys(['set', 'add', 'remove']);
  for (const op of ['set', 'add'] as const) {
    for (const [name, value] of field.child(op).entries() ?? []) {
      const problem = checkHeaderName(name);
      if (problem !== undefined) {
        value.error(problem);
        continue;
      }
      const text = value.string();
      if (text !== undefined) out[op].push({ name: name.toLowerCase(), value: text });
    }
  }
  out.remove = (field.child('remove').stringList({ check: checkHeaderName }) ?? []).map((n) => n.toLowerCase());
  return out;
}

/** `headers: { request: {set, add, remove}, response: {…} }`. */
export function headersSpec(field: Field): HeadersSpec | undefined {
  if (!field.object()) return undefined;
  field.onlyKeys(['request', 'response']);
  return { request: headerOperations(field.child('request')), response: headerOperations(field.child('response')) };
}
