/**
 * Envoy's `*_headers_to_add` / `*_headers_to_remove` → `HeaderMutation`. Values are Envoy format strings:
 * `%%` is a literal `%` (Istio escapes user values that way) and the waypoint implements no `%COMMAND%`
 * substitutions, so those are refused rather than sent literally.
 */
import type { HeaderMutation } from './types.js';
import type { HeaderValueOption } from './envoy-types.js';
import { invalid, join } from './errors.js';
import { headerName } from './request-matchers.js';
import { enumOf, list } from './values.js';

const EMPTY: HeaderMutation = Object.freeze({ set: Object.freeze([]), remove: Object.freeze([]) });

/** The shared empty mutation (most routes have none; the data path can test identity). */
export const NO_HEADER_MUTATION: HeaderMutation = EMPTY;

function checkMutable(name: string, at: string): void {
  // Pseudo-headers and Host are the request's identity; Envoy refuses to add or remove them this way.
  if (name.startsWith(':') || name === 'host') invalid(at, `${JSON.stringify(name)} cannot be modified`);
}

function formatValue(option: HeaderValueOption, at: string): string {
  const header = option.header ?? {};
  if (header.value !== undefined && header.raw_value !== undefined && header.raw_value.length > 0) invalid(at, 'sets both value and raw_value');
  const raw = header.raw_value !== undefined && header.raw_value.length > 0 ? header.raw_value.toString('utf8') : (header.value ?? '');
  if (/[\r\n\0]/.test(raw)) invalid(join(at, 'value'), 'contains CR, LF or NUL');
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c !== '%') {
      out += c;
      continue;
    }
    if (raw[i + 1] === '%') {
      out += '%';
      i += 1;
      continue;
    }
    invalid(join(at, 'value'), `${JSON.stringify(raw)} uses a %COMMAND% substitution, which the waypoint does not implement (write a literal % as %%)`);
  }
  return out;
}

/** Compiles one `*_headers_to_add` / `*_headers_to_remove` pair at `at` (the message holding them). */
export function compileHeaderMutation(add: readonly HeaderValueOption[] | undefined, remove: readonly string[] | undefined, addField: string, removeField: string, at: string): HeaderMutation {
  const adds = list(add);
  const removes = list(remove);
  if (adds.length === 0 && removes.length === 0) return EMPTY;
  const set = adds.map((option, i) => {
    const where = join(at, `${addField}[${i}]`);
    const name = headerName(option.header?.key, join(where, 'header.key'));
    checkMutable(name, join(where, 'header.key'));
    if (option.append !== undefined && option.append_action !== undefined) invalid(where, 'sets both append (deprecated) and append_action');
    let append: boolean;
    if (option.append !== undefined) append = option.append.value === true;
    else append = enumOf(option.append_action, 'APPEND_IF_EXISTS_OR_ADD', ['APPEND_IF_EXISTS_OR_ADD', 'OVERWRITE_IF_EXISTS_OR_ADD'], join(where, 'append_action')) === 'APPEND_IF_EXISTS_OR_ADD';
    return Object.freeze({ name, value: formatValue(option, join(where, 'header')), append });
  });
  const removed = removes.map((n, i) => {
    const where = join(at, `${removeField}[${i}]`);
    const name = headerName(n, where);
    checkMutable(name, where);
    return name;
  });
  return Object.freeze({ set: Object.freeze(set), remove: Object.freeze(removed) });
}

/** The request and response mutations of a message with the four standard fields. */
export function compileHeaderMutations(
  m: { request_headers_to_add?: HeaderValueOption[]; request_headers_to_remove?: string[]; response_headers_to_add?: HeaderValueOption[]; response_headers_to_remove?: string[] },
  at: string,
): { readonly requestHeaders: HeaderMutation; readonly responseHeaders: HeaderMutation } {
  return {
    requestHeaders: compileHeaderMutation(m.request_headers_to_add, m.request_headers_to_remove, 'request_headers_to_add', 'request_headers_to_remove', at),
    responseHeaders: compileHeaderMutation(m.response_headers_to_add, m.response_headers_to_remove, 'response_headers_to_add', 'response_headers_to_remove', at),
  };
}
