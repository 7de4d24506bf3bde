/**
 * A cursor over one value of a parsed YAML document, used by the kind decoders to read typed fields and
 * record precise problems (field path + message) instead of throwing at the first one. Gathering every
 * problem of a document at once is what lets a user fix a file in one pass.
 */

export type PathSegment = string | number;
export type Severity = 'error' | 'warning';

export interface Issue {
  readonly path: readonly PathSegment[];
  readonly message: string;
  readonly severity: Severity;
}

/** Where issues go; an error makes the document invalid, a warning does not. */
export class IssueSink {
  readonly issues: Issue[] = [];

  add(path: readonly PathSegment[], message: string, severity: Severity): void {
    this.issues.push({ path, message, severity });
  }

  get hasErrors(): boolean {
    return this.issues.some((i) => i.severity === 'error');
  }
}

const SIMPLE_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `spec.ports[0].targetPort`; keys that are not identifiers are quoted: `metadata.labels["istio.io/rev"]`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (SIMPLE_KEY.test(segment)) out += out.length === 0 ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

/** How a value reads in a message: "a list", "the string \"abc\"", … */
export function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (Buffer.isBuffer(value)) return 'binary data';
  switch (typeof value) {
    case 'string':
      return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
    case 'number':
      return `the number ${value}`;
    case 'boolean':
      return `the boolean ${value}`;
    case 'bigint':
      return `the number ${value}`;
    case 'object':
      return 'a mapping';
    case 'function':
    case 'symbol':
    case 'undefined':
      break;
  }
  return typeof value;
}

export interface StringOptions {
  readonly required?: boolean;
  /** Returns a problem description when the value is not acceptable. */
  readonly check?: (value: string) => string | undefined;
}

export interface IntegerOptions {
  readonly required?: boolean;
  readonly min?: number;
  readonly max?: number;
}

export class Field {
  readonly value: unknown;
  readonly path: readonly PathSegment[];
  readonly #sink: IssueSink;

  constructor(value: unknown, path: readonly PathSegment[], sink: IssueSink) {
    this.value = value;
    this.path = path;
    this.#sink = sink;
  }

  /** YAML `null` and a missing key both mean "not set", as in Kubernetes. */
  get present(): boolean {
    return this.value !== undefined && this.value !== null;
  }

  get sink(): IssueSink {
    return this.#sink;
  }

  child(key: PathSegment): Field {
    let value: unknown;
    if (typeof key === 'number') value = Array.isArray(this.value) ? (this.value as unknown[])[key] : undefined;
    else if (isMapping(this.value)) value = Object.hasOwn(this.value, key) ? this.value[key] : undefined;
    return new Field(value, [...this.path, key], this.#sink);
  }

  error(message: string): void {
    this.#sink.add(this.path, message, 'error');
  }

  warn(message: string): void {
    this.#sink.add(this.path, message, 'warning');
  }

  #missing(required: boolean | undefined): undefined {
    if (required) this.error('is required');
    return undefined;
  }

  #wrongType(expected: string, hint = ''): undefined {
    this.error(`must be ${expected}, got ${describe(this.value)}${hint}`);
    return undefined;
  }

  /** The mapping at this field, or undefined (with an error if it is something else). */
  object(required = false): Record<string, unknown> | undefined {
    if (!this.present) return this.#missing(required);
    if (!isMapping(this.value)) return this.#wrongType('a mapping');
    return this.value;
  }

  string(options: StringOptions = {}): string | undefined {
    if (!this.present) return this.#missing(options.required);
    if (typeof this.value !== 'string') {
      const scalar = typeof this.value === 'number' || typeof this.value === 'boolean';
      return this.#wrongType('a string', scalar ? ' (quote it)' : '');
    }
    if (options.required && this.value.length === 0) {
      this.error('must not be empty');
      return undefined;
    }
    const problem = options.check?.(this.value);
    if (problem !== undefined) {
      this.error(problem);
      return undefined;
    }
    return this.value;
  }

  integer(options: IntegerOptions = {}): number | undefined {
    if (!this.present) return this.#missing(options.required);
    if (typeof this.value !== 'number' || !Number.isInteger(this.value)) return this.#wrongType('an integer');
    const { min, max } = options;
    if ((min !== undefined && this.value < min) || (max !== undefined && this.value > max)) {
      this.error(`must be between ${min ?? '-∞'} and ${max ?? '∞'}, got ${this.value}`);
      return undefined;
    }
    return this.value;
  }

  /** A number, fractions allowed (percentages), within `min`..`max` when given. */
  number(options: IntegerOptions = {}): number | undefined {
    if (!this.present) return this.#missing(options.required);
    if (typeof this.value !== 'number' || !Number.isFinite(this.value)) return this.#wrongType('a number');
    const { min, max } = options;
    if ((min !== undefined && this.value < min) || (max !== undefined && this.value > max)) {
      this.error(`must be between ${min ?? '-∞'} and ${max ?? '∞'}, got ${this.value}`);
      return undefined;
    }
    return this.value;
  }

  boolean(required = false): boolean | undefined {
    if (!this.present) return this.#missing(required);
    if (typeof this.value !== 'boolean') return this.#wrongType('a boolean (true or false)');
    return this.value;
  }

  /** One of a fixed set of strings. */
  oneOf<T extends string>(allowed: readonly T[], required = false): T | undefined {
    const value = this.string({ required });
    if (value === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(value)) {
      this.error(`must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
      return undefined;
    }
    return value as T;
  }

  /** The items of a list as fields; undefined when absent (or not a list, with an error). */
  list(required = false): Field[] | undefined {
    if (!this.present) return this.#missing(required);
    if (!Array.isArray(this.value)) return this.#wrongType('a list');
    return (this.value as unknown[]).map((_, i) => this.child(i));
  }

  /** The entries of a mapping as fields. */
  entries(required = false): Array<[string, Field]> | undefined {
    const obj = this.object(required);
    if (obj === undefined) return undefined;
    return Object.keys(obj).map((key) => [key, this.child(key)]);
  }

  /** A list of strings; wrong items are reported and dropped (the document is invalid anyway). */
  stringList(options: StringOptions = {}): string[] | undefined {
    const items = this.list(options.required);
    if (items === undefined) return undefined;
    const out: string[] = [];
    for (const item of items) {
      const value = item.string({ required: true, ...(options.check ? { check: options.check } : {}) });
      if (value !== undefined) out.push(value);
    }
    return out;
  }

  /** A string-to-string mapping such as labels; `check` validates each key and value. */
  stringMap(check?: (key: string, value: string) => string | undefined): Record<string, string> | undefined {
    const entries = this.entries();
    if (entries === undefined) return undefined;
    const out: Record<string, string> = {};
    for (const [key, field] of entries) {
      if (!field.present) {
        // Dropping the key instead would silently widen a selector.
        field.error('must be a string; write "" for an empty value');
        continue;
      }
      const value = field.string(check ? { check: (v) => check(key, v) } : {});
      if (value !== undefined) out[key] = value;
    }
    return out;
  }

  /**
   * Reports every key of this mapping that is not in `known`. Used for the security kinds, where a
   * misspelt field (`selectr`) would otherwise silently widen a policy; `kubectl apply` refuses those too.
   */
  onlyKeys(known: readonly string[]): void {
    if (!isMapping(this.value)) return;
    for (const key of Object.keys(this.value)) {
      if (!known.includes(key)) this.child(key).error(`unknown field; expected one of ${known.join(', ')}`);
    }
  }
}

export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}
