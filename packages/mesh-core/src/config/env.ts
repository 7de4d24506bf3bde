/**
 * Typed readers for environment variables that gather every problem as `VAR=value: reason` instead of
 * stopping at the first (an operator fixes a Deployment once, not once per restart), in the manner of
 * ztunnel's `config.rs` parse helpers. Shared by the proxies' startup configurations (ztunnel, waypoint).
 */
import { isIP } from 'node:net';
import { MeshError } from '../errors.js';

export type Env = Readonly<Record<string, string | undefined>>;

const UNITS_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

/**
 * `30s`, `5m`, `1h30m`, `250ms`, `1.5h`, or a bare number of seconds (as ztunnel's duration parser) →
 * milliseconds; returns the reason for anything else.
 */
export function parseDuration(text: string): number | string {
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (text === '') return 'empty; want a duration such as 30s, 5m or 1h30m';
  let total = 0;
  DURATION_PART.lastIndex = 0;
  let at = 0;
  while (at < text.length) {
    DURATION_PART.lastIndex = at;
    const m = DURATION_PART.exec(text);
    if (m === null) return `not a duration (want e.g. 30s, 5m, 1h30m or a number of seconds)`;
    total += Number(m[1]) * UNITS_MS[m[2]!]!;
    at = DURATION_PART.lastIndex;
  }
  return Math.round(total);
}

/** DNS-1123 subdomain (host names). */
const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/i;

/**
 * `host:port`, `[v6]:port` or `https://` followed by either (ztunnel's form) → the gRPC target
 * `host:port`; returns the reason for anything else.
 */
export function parseServerAddress(text: string): string | { reason: string } {
  let rest = text;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text);
  if (scheme) {
    const name = scheme[1]!.toLowerCase();
    if (name === 'http') return { reason: 'plaintext http:// is not allowed; the control plane is reached over TLS (https://)' };
    if (name !== 'https') return { reason: `unsupported scheme ${name}:// (want https://host:port or host:port)` };
    rest = text.slice(scheme[0].length).replace(/\/$/, '');
  }
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(rest) ?? /^([^:[\]/]+):(\d+)$/.exec(rest);
  if (!m) return { reason: 'not host:port (an IPv6 address as [addr]:port)' };
  const host = m[1]!;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return { reason: `port ${m[2]!} is out of range 1-65535` };
  if (rest.startsWith('[') && isIP(host) !== 6) return { reason: `${host} is not an IPv6 address` };
  if (!rest.startsWith('[') && isIP(host) === 0 && !DNS_NAME.test(host)) return { reason: `${host} is neither an IP address nor a host name` };
  return rest.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The environment does not make a valid configuration; `problems` lists every `VAR=value: reason`. Each
 * binary throws its own subclass (with its own stable `code`); its main turns it into exit code 2.
 */
export class EnvConfigError extends MeshError {
  readonly problems: readonly string[];

  constructor(code: string, problems: readonly string[]) {
    super(code, problems.length === 1 ? `invalid configuration: ${problems[0]!}` : `${problems.length} configuration problems:\n  ${problems.join('\n  ')}`);
    this.problems = Object.freeze([...problems]);
  }
}

/** Reads variables from `env`, recording each problem; the caller checks `problems` at the end. */
export class EnvReader {
  readonly #env: Env;
  readonly problems: string[] = [];

  constructor(env: Env) {
    this.#env = env;
  }

  /** The raw value; `undefined` when unset. */
  raw(name: string): string | undefined {
    return this.#env[name];
  }

  /** Records `NAME=value: reason` (or `NAME (unset): reason`). */
  problem(name: string, reason: string): void {
    const value = this.#env[name];
    this.problems.push(value === undefined ? `${name} (unset): ${reason}` : `${name}=${value}: ${reason}`);
  }

  string(name: string, fallback: string): string {
    return this.#env[name] ?? fallback;
  }

  /** A value that must not be empty when set. */
  nonEmpty(name: string, fallback: string): string {
    const value = this.#env[name];
    if (value === undefined) return fallback;
    if (value.trim() === '') {
      this.problem(name, 'empty');
      return fallback;
    }
    return value;
  }

  /** A DNS name (to verify in a server's certificate); `undefined` when unset or empty. */
  dnsName(name: string): string | undefined {
    const value = this.#env[name];
    if (value === undefined || value === '') return undefined;
    if (!DNS_NAME.test(value)) this.problem(name, 'not a DNS name');
    return value;
  }

  /**
   * A server address (`parseServerAddress`) as a gRPC target; `fallback` when unset or malformed, `''`
   * when set empty: what an empty address means (no server, or a mistake) is the caller's to say.
   */
  serverAddress(name: string, fallback: string): string {
    const value = this.#env[name];
    if (value === undefined) return fallback;
    if (value === '') return '';
    const parsed = parseServerAddress(value);
    if (typeof parsed === 'string') return parsed;
    this.problem(name, parsed.reason);
    return fallback;
  }

  /** A decimal integer in [min, max]. */
  integer(name: string, fallback: number, min: number, max: number): number {
    const value = this.#env[name];
    if (value === undefined) return fallback;
    if (!/^\d+$/.test(value.trim())) {
      this.problem(name, 'not a whole number');
      return fallback;
    }
    const n = Number(value.trim());
    if (n < min || n > max) {
      this.problem(name, `out of range ${min}-${max}`);
      return fallback;
    }
    return n;
  }

  /** A duration in milliseconds; with `positive`, zero is refused. */
  duration(name: string, fallbackMs: number, positive = false): number {
    const value = this.#env[name];
    if (value === undefined) return fallbackMs;
    const ms = parseDuration(value.trim());
    if (typeof ms === 'string') {
      this.problem(name, ms);
      return fallbackMs;
    }
    if (positive && ms <= 0) {
      this.problem(name, 'must be longer than zero');
      return fallbackMs;
    }
    return ms;
  }

  /** One of `allowed`. */
  choice<const T extends string>(name: string, fallback: T, allowed: readonly T[]): T {
    const value = this.#env[name];
    if (value === undefined) return fallback;
    if ((allowed as readonly string[]).includes(value)) return value as T;
    this.problem(name, `want one of ${allowed.join(', ')}`);
    return fallback;
  }
}
