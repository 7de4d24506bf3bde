/**
 * The policy routing capture needs in the node's namespace, all tagged `protocol 133` (ROUTE_PROTOCOL) so that
 * a later run finds exactly what an earlier one left, whatever its settings:
 *
 *   pref P    iif lo fwmark 0x539/0xfff lookup main   ztunnel's own marked sockets are routed normally
 *   pref P+1  fwmark 0x539/0xfff lookup T             captured packets (marked by nft) are delivered locally…
 *   table T   local 0.0.0.0/0 dev lo                  …to the TPROXY listener or transparent socket they belong to
 *
 * Without the first rule, every packet ztunnel itself sends (SO_MARK 0x539), including the SYN-ACKs of its
 * marked listeners, would be routed back into the node instead of out to the pod or peer.
 */
import { MARK_MASK, ROUTE_PROTOCOL, ZTUNNEL_MARK } from './constants.js';
import { runCommand, runCommandSync } from './command.js';
import { CaptureError } from './errors.js';

export interface RoutingConfig {
  /** The `ip` binary. */
  readonly ip: string;
  readonly table: number;
  /** The preference of the first rule; the second gets priority + 1. */
  readonly priority: number;
  readonly timeoutMs: number;
}

/** One entry of `ip -j rule show`; only the fields we read. */
interface RuleEntry {
  readonly priority?: number;
  readonly iif?: string;
  readonly fwmark?: string;
  readonly fwmask?: string;
  readonly table?: string;
  readonly protocol?: string;
}

/** One entry of `ip -j route show table all`; only the fields we read. */
interface RouteEntry {
  readonly type?: string;
  readonly dst?: string;
  readonly dev?: string;
  readonly table?: string;
  readonly protocol?: string;
}

/** What we own, as `ip` shows it: for status, tests and reconcile. */
export interface OwnedRouting {
  /** Each rule as `pref … lookup …` text, in priority order. */
  readonly rules: readonly string[];
  /** Each route as `<type> <dst> dev <dev> table <table>` text. */
  readonly routes: readonly string[];
}

const PROTOCOL = String(ROUTE_PROTOCOL);
const FWMARK = `0x${ZTUNNEL_MARK.toString(16)}/0x${MARK_MASK.toString(16)}`;

export class PolicyRouting {
  readonly #config: RoutingConfig;

  constructor(config: RoutingConfig) {
    this.#config = config;
  }

  /** The two rules, in the order they must be installed (and the reverse of removal). */
  get desiredRules(): readonly string[] {
    const { priority, table } = this.#config;
    return [`pref ${priority} iif lo fwmark ${FWMARK} lookup main`, `pref ${priority + 1} fwmark ${FWMARK} lookup ${table}`];
  }

  get desiredRoute(): string {
    return `local default dev lo table ${this.#config.table}`;
  }

  /**
   * Fails with CAPTURE_ERR_CONFLICT when the routing table holds routes, or is the target of rules, that are
   * not ours: sharing it would deliver someone else's traffic to ztunnel, or ours to them.
   */
  async checkTableIsFree(): Promise<void> {
    const table = String(this.#config.table);
    const [rules, routes] = await Promise.all([this.#rules(), this.#routes()]);
    const foreignRoutes = routes.filter((r) => r.table === table && r.protocol !== PROTOCOL);
    const foreignRules = rules.filter((r) => r.table === table && r.protocol !== PROTOCOL);
    if (foreignRoutes.length === 0 && foreignRules.length === 0) return;
    const found = [...foreignRules.map((r) => `rule ${ruleText(r)}`), ...foreignRoutes.map((r) => `route ${routeText(r)}`)];
    throw new CaptureError(
      'CAPTURE_ERR_CONFLICT',
      `routing table ${table} is already in use (${found.join('; ')}); configure capture with another routing table`,
    );
  }

  /**
   * Makes ours exactly the desired rules and route: keeps what already matches (so a restart leaves no
   * window where captured packets are misrouted), deletes what does not, adds what is missing.
   */
  async install(): Promise<void> {
    const [rules, routes] = await Promise.all([this.#rules(), this.#routes()]);
    const ownRules = rules.filter((r) => r.protocol === PROTOCOL);
    const ownRoutes = routes.filter((r) => r.protocol === PROTOCOL);
    const wanted = new Set(this.desiredRules);
    const present = new Set<string>();
    // A rule must go before the route and rule that depend on it, and the stale ones first of all.
    for (const rule of byPriorityDescending(ownRules)) {
      const text = ruleText(rule);
      if (wanted.has(text) && !present.has(text)) present.add(text);
      else await this.#ip('rule', 'del', ...ruleArgs(rule));
    }
    let routePresent = false;
    for (const route of ownRoutes) {
      if (routeText(route) === this.desiredRoute && !routePresent) routePresent = true;
      else await this.#ip('route', 'del', ...routeArgs(route));
    }
    const [loRule, captureRule] = this.desiredRules as [string, string];
    if (!present.has(loRule)) await this.#ip('rule', 'add', ...loRule.split(' '), 'protocol', PROTOCOL);
    if (!routePresent) await this.#ip('route', 'add', ...this.desiredRoute.split(' '), 'proto', PROTOCOL);
    if (!present.has(captureRule)) await this.#ip('rule', 'add', ...captureRule.split(' '), 'protocol', PROTOCOL);
  }

  /**
   * Removes every rule and route tagged as ours, whatever its priority or table. Rules go in reverse priority
   * order, so the `iif lo` exception is the last to go and ztunnel's marked sockets never loop back meanwhile.
   */
  async remove(): Promise<void> {
    const rules = (await this.#rules()).filter((r) => r.protocol === PROTOCOL);
    for (const rule of byPriorityDescending(rules)) await this.#ip('rule', 'del', ...ruleArgs(rule));
    await this.#ip('route', 'flush', 'table', 'all', 'proto', PROTOCOL);
  }

  /** remove(), synchronously (for destroy()). */
  removeSync(): void {
    const { ip, timeoutMs } = this.#config;
    const listed = runCommandSync([ip, '-4', '-j', 'rule', 'show'], { timeoutMs });
    const rules = parseJson<RuleEntry>(listed, 'ip -j rule show').filter((r) => r.protocol === PROTOCOL);
    for (const rule of byPriorityDescending(rules)) runCommandSync([ip, '-4', 'rule', 'del', ...ruleArgs(rule)], { timeoutMs });
    runCommandSync([ip, '-4', 'route', 'flush', 'table', 'all', 'proto', PROTOCOL], { timeoutMs });
  }

  /** What the kernel holds that is ours. */
  async owned(): Promise<OwnedRouting> {
    const [rules, routes] = await Promise.all([this.#rules(), this.#routes()]);
    return {
      rules: rules.filter((r) => r.protocol === PROTOCOL).map(ruleText),
      routes: routes.filter((r) => r.protocol === PROTOCOL).map(routeText),
    };
  }

  async #rules(): Promise<RuleEntry[]> {
    return parseJson<RuleEntry>(await this.#ip('-j', 'rule', 'show'), 'ip -j rule show');
  }

  async #routes(): Promise<RouteEntry[]> {
    return parseJson<RouteEntry>(await this.#ip('-j', 'route', 'show', 'table', 'all'), 'ip -j route show table all');
  }

  #ip(...args: string[]): Promise<string> {
    return runCommand([this.#config.ip, '-4', ...args], { timeoutMs: this.#config.timeoutMs });
  }
}

function byPriorityDescending(rules: readonly RuleEntry[]): RuleEntry[] {
  return rules.slice().sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0));
}

function ruleText(r: RuleEntry): string {
  const parts = [`pref ${String(r.priority ?? '?')}`];
  if (r.iif !== undefined) parts.push(`iif ${r.iif}`);
  if (r.fwmark !== undefined) parts.push(`fwmark ${r.fwmark}/${r.fwmask ?? '0xffffffff'}`);
  parts.push(`lookup ${r.table ?? '?'}`);
  return parts.join(' ');
}

/** Selectors that name exactly this rule for `ip rule del`. */
function ruleArgs(r: RuleEntry): string[] {
  const args = ['pref', String(r.priority ?? 0)];
  if (r.iif !== undefined) args.push('iif', r.iif);
  if (r.fwmark !== undefined) args.push('fwmark', r.fwmask === undefined ? r.fwmark : `${r.fwmark}/${r.fwmask}`);
  if (r.table !== undefined) args.push('table', r.table);
  args.push('protocol', PROTOCOL);
  return args;
}

function routeText(r: RouteEntry): string {
  return `${r.type ?? 'unicast'} ${r.dst ?? '?'}${r.dev === undefined ? '' : ` dev ${r.dev}`} table ${r.table ?? 'main'}`;
}

function routeArgs(r: RouteEntry): string[] {
  const args = [r.type ?? 'unicast', r.dst ?? 'default'];
  if (r.dev !== undefined) args.push('dev', r.dev);
  args.push('table', r.table ?? 'main', 'proto', PROTOCOL);
  return args;
}

function parseJson<T>(text: string, what: string): T[] {
  try {
    const parsed: unknown = JSON.parse(text.trim() === '' ? '[]' : text);
    if (!Array.isArray(parsed)) throw new Error('not an array');
    return parsed as T[];
  } catch (err) {
    throw new CaptureError('CAPTURE_ERR_COMMAND', `${what} printed output that is not a JSON array: ${(err as Error).message}`, { cause: err });
  }
}
