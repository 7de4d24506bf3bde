/**
 * Programs the node's kernel so that the traffic of enrolled workloads on this node reaches ztunnel's three
 * transparent listeners (listeners.ts): an nftables table `inet ambit-ztunnel` whose sets hold the workloads,
 * and two ip rules plus one route that deliver marked packets locally. It owns those and nothing else.
 *
 * `setWorkloads` is declarative (the whole list of local enrolled workloads) and incremental in the kernel:
 * one nft transaction adding and deleting only the set elements that changed, never touching a rule. Calls
 * are serialised, so concurrent callers each see their change applied in order.
 *
 * docs/capture.md explains every rule; the same-node decision (ztunnel short-circuits pod → pod traffic on
 * its node in process, see `localWorkload`) is explained there too.
 */
import type { Logger } from '@ambit/mesh-core/telemetry';
import { runCommand, runCommandSync } from './command.js';
import {
  DEFAULT_CAPTURE_PORTS,
  DEFAULT_ROUTING_TABLE,
  DEFAULT_RULE_PRIORITY,
  MARK_MASK,
  NFT_TABLE,
  ZTUNNEL_MARK,
} from './constants.js';
import type { CapturePorts } from './constants.js';
import { CaptureError } from './errors.js';
import { deltaScript, installScript, removeScript, resyncScript } from './nft-script.js';
import { hasNetAdmin } from './privileges.js';
import { PolicyRouting } from './routing.js';
import { diffElements, elementsOf, isEmptyDelta, validateWorkloads } from './workloads.js';
import type { CaptureElements, CaptureWorkload } from './workloads.js';

export interface CaptureOptions {
  readonly logger: Logger;
  /** The listener ports TPROXY targets; they must match the listeners'. Default 15001 / 15006 / 15008. */
  readonly ports?: Partial<CapturePorts>;
  /** The routing table for `local 0.0.0.0/0 dev lo` (default 133); start() fails if something else uses it. */
  readonly routingTable?: number;
  /** The preference of the first of our two ip rules (default 1337; the second is this + 1). */
  readonly rulePriority?: number;
  /** The `nft` binary (default `nft`, from PATH). */
  readonly nft?: string;
  /** The `ip` binary (default `ip`, from PATH). */
  readonly ip?: string;
  /** Guard against a wedged `nft` or `ip` (default 10 s); never reached when healthy. */
  readonly commandTimeoutMs?: number;
}

export type CaptureState = 'new' | 'starting' | 'running' | 'failed' | 'closing' | 'closed';

/** For readiness and /config_dump. */
export interface CaptureStatus {
  readonly state: CaptureState;
  /** The kernel holds exactly `workloads`. False after a failed change, until a later one succeeds. */
  readonly inSync: boolean;
  /** `inet ambit-ztunnel`. */
  readonly table: string;
  readonly routingTable: number;
  readonly rulePriorities: readonly [number, number];
  /** `0x539/0xfff`. */
  readonly mark: string;
  readonly ports: CapturePorts;
  /** The workloads last applied, in the order given. */
  readonly workloads: readonly CaptureWorkload[];
  /** Successful workload changes since start (no-op calls do not count). */
  readonly changes: number;
  /** The last failure's message, cleared by the next success. */
  readonly lastError: string | undefined;
}

/** What a setWorkloads call changed, by uid. */
export interface CaptureChange {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Same uid, new address or interface. */
  readonly updated: readonly string[];
  /** The sets were rewritten whole because an earlier change had failed. */
  readonly resynced: boolean;
}

/** What the kernel holds that is ours, read back (for /config_dump and tests). */
export interface CaptureKernelState {
  /** `nft list table inet ambit-ztunnel`, or undefined when there is no such table. */
  readonly nft: string | undefined;
  readonly rules: readonly string[];
  readonly routes: readonly string[];
}

const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;
const NO_ELEMENTS: CaptureElements = elementsOf([]);

export class CaptureManager {
  readonly #logger: Logger;
  readonly #ports: CapturePorts;
  readonly #routingTable: number;
  readonly #priority: number;
  readonly #nft: string;
  readonly #timeoutMs: number;
  readonly #routing: PolicyRouting;
  #state: CaptureState = 'new';
  #workloads: readonly CaptureWorkload[] = [];
  #byIp = new Map<string, CaptureWorkload>();
  #elements: CaptureElements = NO_ELEMENTS;
  #inSync = true;
  #changes = 0;
  #lastError: string | undefined;
  /** The tail of the queue every kernel change waits in. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: CaptureOptions) {
    this.#logger = options.logger.child({ component: 'capture' });
    this.#ports = checkPorts({ ...DEFAULT_CAPTURE_PORTS, ...options.ports });
    this.#routingTable = checkInteger('routingTable', options.routingTable ?? DEFAULT_ROUTING_TABLE, 1, 0xffffffff);
    if (this.#routingTable >= 253 && this.#routingTable <= 255) {
      throw new CaptureError('CAPTURE_ERR_INVALID_OPTION', `routingTable ${this.#routingTable} is a reserved table (default, main or local)`);
    }
    // The second rule must still come before the main table's rule at 32766.
    this.#priority = checkInteger('rulePriority', options.rulePriority ?? DEFAULT_RULE_PRIORITY, 1, 32764);
    this.#nft = checkBinary('nft', options.nft ?? 'nft');
    this.#timeoutMs = checkInteger('commandTimeoutMs', options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS, 1, 600_000);
    this.#routing = new PolicyRouting({
      ip: checkBinary('ip', options.ip ?? 'ip'),
      table: this.#routingTable,
      priority: this.#priority,
      timeoutMs: this.#timeoutMs,
    });
  }

  /**
   * Reconciles the kernel to a fresh capture setup: a crashed run's table is replaced (atomically, so exactly
   * one copy exists at every instant), its ip rules and route are kept if they match and replaced if not, and
   * `initial` workloads are captured from the first instant. Open the listeners before calling this: until
   * they listen, captured connections are refused.
   *
   * Fails with CAPTURE_ERR_PERMISSION without CAP_NET_ADMIN, CAPTURE_ERR_CONFLICT when the routing table is
   * used by something else, CAPTURE_ERR_COMMAND when `nft` or `ip` fails. A failed start removes whatever of
   * ours it finds (it can be called again).
   */
  async start(initial: readonly CaptureWorkload[] = []): Promise<void> {
    // Everything before the first await runs synchronously, so two start() calls cannot both pass this check.
    if (this.#state !== 'new' && this.#state !== 'failed') {
      throw new CaptureError('CAPTURE_ERR_STATE', `start() needs a new or failed capture manager; it is ${this.#state}`);
    }
    const workloads = validateWorkloads(initial);
    this.#state = 'starting';
    await this.#enqueue(() => this.#start(workloads));
  }

  /**
   * Makes `workloads` (every enrolled workload on this node) the captured set, adding and deleting only the
   * set elements that changed, in one nft transaction. An invalid list is rejected whole with
   * CAPTURE_ERR_INVALID_WORKLOAD before the kernel is touched; a failed nft run rejects with
   * CAPTURE_ERR_COMMAND, leaves the previous list in `status().workloads`, and makes the next call rewrite the
   * sets whole.
   */
  async setWorkloads(workloads: readonly CaptureWorkload[]): Promise<CaptureChange> {
    const checked = validateWorkloads(workloads);
    return await this.#enqueue(() => this.#apply(checked));
  }

  /**
   * The enrolled workload on this node with address `ip`, if any. The data path asks this for each outbound
   * connection: a destination on this node is served in process (its inbound handling runs directly) rather
   * than by an HBONE dial to podIP:15008, which, being ztunnel's own locally generated traffic, would go
   * straight to the pod and never reach the 15008 listener.
   */
  localWorkload(ip: string): CaptureWorkload | undefined {
    return this.#byIp.get(ip);
  }

  status(): CaptureStatus {
    return {
      state: this.#state,
      inSync: this.#inSync,
      table: `inet ${NFT_TABLE}`,
      routingTable: this.#routingTable,
      rulePriorities: [this.#priority, this.#priority + 1],
      mark: `0x${ZTUNNEL_MARK.toString(16)}/0x${MARK_MASK.toString(16)}`,
      ports: this.#ports,
      workloads: this.#workloads,
      changes: this.#changes,
      lastError: this.#lastError,
    };
  }

  /** Reads back what the kernel holds that is ours. */
  async inspect(): Promise<CaptureKernelState> {
    let nft: string | undefined;
    try {
      nft = await runCommand([this.#nft, 'list', 'table', 'inet', NFT_TABLE], { timeoutMs: this.#timeoutMs });
    } catch (err) {
      if (!(err instanceof CaptureError && /No such file or directory/.test(err.stderr ?? ''))) throw err;
    }
    const owned = await this.#routing.owned();
    return { nft, rules: owned.rules, routes: owned.routes };
  }

  /**
   * Removes everything capture owns (table, ip rules, route), after any change in progress. Enrolled pods'
   * new connections go direct from then on. Idempotent; rejects with the first failure after trying each step.
   */
  close(): Promise<void> {
    if (this.#state === 'closed' || this.#state === 'closing') return this.#queue.then(() => undefined);
    const owned = this.#state !== 'new';
    this.#state = 'closing';
    return this.#enqueue(async () => {
      try {
        if (owned) await this.#removeAll();
        this.#logger.info('capture removed');
      } finally {
        this.#forget();
      }
    });
  }

  /**
   * Removes everything capture owns synchronously (usable from a process 'exit' handler) and never throws:
   * failures are logged. A change in flight fails afterwards, finding the table gone.
   */
  destroy(): void {
    if (this.#state === 'closed') return;
    const owned = this.#state !== 'new';
    this.#forget();
    if (!owned) return;
    for (const step of [
      () => runCommandSync([this.#nft, '-f', '-'], { input: removeScript(), timeoutMs: this.#timeoutMs }),
      () => this.#routing.removeSync(),
    ]) {
      try {
        step();
      } catch (err) {
        this.#logger.error({ err }, 'capture destroy: could not remove kernel state');
      }
    }
  }

  async #start(workloads: readonly CaptureWorkload[]): Promise<void> {
    try {
      if (hasNetAdmin() === false) {
        throw new CaptureError(
          'CAPTURE_ERR_PERMISSION',
          'capture needs CAP_NET_ADMIN in the node network namespace to change nftables and routing, and this process does not have it',
        );
      }
      await this.#routing.checkTableIsFree();
      this.#checkStarting();
      await this.#routing.install();
      this.#checkStarting();
      const elements = elementsOf(workloads);
      await this.#runNft(installScript(this.#ports, elements));
      this.#checkStarting();
      this.#state = 'running';
      this.#setApplied(workloads, elements);
      this.#lastError = undefined;
      this.#logger.info({ workloads: workloads.length, routingTable: this.#routingTable, ports: this.#ports }, 'capture installed');
    } catch (err) {
      this.#lastError = (err as Error).message;
      if (this.#state === 'starting') {
        this.#state = 'failed';
        if (!(err instanceof CaptureError && err.code === 'CAPTURE_ERR_PERMISSION')) await this.#cleanupAfterFailedStart();
      } else if (this.#state === 'closed') {
        // destroy() ran between two of our steps and removed what existed then; remove what came after.
        await this.#cleanupAfterFailedStart();
      }
      throw err;
    }
  }

  async #apply(workloads: readonly CaptureWorkload[]): Promise<CaptureChange> {
    if (this.#state !== 'running') {
      throw new CaptureError('CAPTURE_ERR_STATE', `setWorkloads() needs a started capture manager; it is ${this.#state}`);
    }
    const elements = elementsOf(workloads);
    const change = describeChange(this.#workloads, workloads, !this.#inSync);
    const delta = diffElements(this.#elements, elements);
    if (this.#inSync && isEmptyDelta(delta)) {
      this.#setApplied(workloads, elements);
      return change;
    }
    try {
      await this.#runNft(this.#inSync ? deltaScript(delta) : resyncScript(elements));
    } catch (err) {
      this.#inSync = false;
      this.#lastError = (err as Error).message;
      this.#logger.error({ err }, 'capture: workload change failed; the next change rewrites the sets');
      throw err;
    }
    this.#setApplied(workloads, elements);
    this.#inSync = true;
    this.#changes++;
    this.#lastError = undefined;
    this.#logger.info({ added: change.added, removed: change.removed, updated: change.updated, resynced: change.resynced }, 'capture workloads changed');
    return change;
  }

  async #removeAll(): Promise<void> {
    let first: Error | undefined;
    for (const step of [() => this.#runNft(removeScript()), () => this.#routing.remove()]) {
      try {
        await step();
      } catch (err) {
        first ??= err as Error;
      }
    }
    if (first !== undefined) throw first;
  }

  async #cleanupAfterFailedStart(): Promise<void> {
    try {
      await this.#removeAll();
    } catch (err) {
      this.#logger.error({ err }, 'capture: could not clean up after a failed start');
    }
  }

  #checkStarting(): void {
    if (this.#state !== 'starting') throw new CaptureError('CAPTURE_ERR_STATE', 'close() or destroy() was called while start() was running');
  }

  #setApplied(workloads: readonly CaptureWorkload[], elements: CaptureElements): void {
    this.#workloads = workloads;
    this.#elements = elements;
    this.#byIp = new Map(workloads.map((w) => [w.ip, w]));
  }

  #forget(): void {
    this.#state = 'closed';
    this.#setApplied([], NO_ELEMENTS);
  }

  async #runNft(script: string): Promise<void> {
    this.#logger.debug({ script }, 'nft -f -');
    await runCommand([this.#nft, '-f', '-'], { input: script, timeoutMs: this.#timeoutMs });
  }

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

function describeChange(before: readonly CaptureWorkload[], after: readonly CaptureWorkload[], resynced: boolean): CaptureChange {
  const old = new Map(before.map((w) => [w.uid, w]));
  const added: string[] = [];
  const updated: string[] = [];
  for (const w of after) {
    const prev = old.get(w.uid);
    if (prev === undefined) added.push(w.uid);
    else if (prev.ip !== w.ip || prev.interface !== w.interface) updated.push(w.uid);
    old.delete(w.uid);
  }
  return { added, removed: [...old.keys()], updated, resynced };
}

function checkInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new CaptureError('CAPTURE_ERR_INVALID_OPTION', `${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

function checkPorts(ports: CapturePorts): CapturePorts {
  for (const [name, port] of Object.entries(ports)) checkInteger(`ports.${name}`, port as number, 1, 65535);
  if (new Set([ports.outbound, ports.inboundPlain, ports.inboundHbone]).size !== 3) {
    throw new CaptureError('CAPTURE_ERR_INVALID_OPTION', `the three capture ports must differ, got ${JSON.stringify(ports)}`);
  }
  return Object.freeze({ outbound: ports.outbound, inboundPlain: ports.inboundPlain, inboundHbone: ports.inboundHbone });
}

function checkBinary(name: string, value: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new CaptureError('CAPTURE_ERR_INVALID_OPTION', `${name} must be a non-empty command name or path`);
  }
  return value;
}
