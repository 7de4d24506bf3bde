/**
 * The control plane's model: reads the Kubernetes-style input, computes Istio's ambient resources and
 * publishes them as immutable, versioned snapshots (`SnapshotSource`), again whenever the input changes.
 */
import { EventEmitter } from 'node:events';
import { MeshError } from '@ambit/mesh-core/errors';
import { Identity } from '@ambit/mesh-core/identity';
import { silentLogger, type Logger } from '@ambit/mesh-core/telemetry';
import { defaultRegistry } from '../input/kinds/index.js';
import { InputError, InputLoader } from '../input/loader.js';
import { checkDns1123Label, checkDns1123Subdomain } from '../input/names.js';
import type { KindRegistry } from '../input/registry.js';
import { InputWatcher, type Timers } from '../input/watcher.js';
import { ComputeCache, computeMesh } from './compute.js';
import { DEFAULT_MODEL_OPTIONS, type ModelOptions } from './options.js';
import type { InputDiagnostic, MeshSnapshot, SnapshotSource } from './snapshot.js';
import { EMPTY_SNAPSHOT, nextSnapshot } from './versioning.js';

export interface MeshModelOptions extends Partial<ModelOptions> {
  readonly logger?: Logger;
  /** Quiet time after the last file event before the input is re-read (default 100 ms). */
  readonly debounceMs?: number;
  /** The kinds understood (default: all of `defaultRegistry()`). */
  readonly registry?: KindRegistry;
  /** Timer functions for the debounce; tests pass a fake clock. */
  readonly timers?: Timers;
}

export class ModelOptionsError extends MeshError {
  constructor(reason: string) {
    super('CP_MODEL_INVALID_OPTION', reason);
  }
}

export const DEFAULT_DEBOUNCE_MS = 100;

export class MeshModel extends EventEmitter<{ snapshot: [MeshSnapshot] }> implements SnapshotSource {
  readonly inputPath: string;
  readonly options: ModelOptions;
  readonly #logger: Logger;
  readonly #loader: InputLoader;
  readonly #debounceMs: number;
  readonly #timers: Timers | undefined;
  /** Makes a reload after a small change cost what changed (see compute.ts). */
  readonly #cache = new ComputeCache();
  #current: MeshSnapshot = EMPTY_SNAPSHOT;
  #watcher: InputWatcher | undefined;
  #closed = false;
  /** Settles after the last scheduled reload; reloads run one at a time. */
  #tail: Promise<unknown> = Promise.resolve();
  /** A reload that is scheduled but has not started reading yet: later requests join it. */
  #queued: Promise<MeshSnapshot> | undefined;

  /**
   * Reads `inputPath` (a YAML file or a directory) and computes the first snapshot (version 1).
   * Throws `InputError` when the path does not exist, `ModelOptionsError` for a bad option.
   */
  static async load(inputPath: string, options: MeshModelOptions = {}): Promise<MeshModel> {
    const model = new MeshModel(inputPath, options);
    await model.reload();
    return model;
  }

  private constructor(inputPath: string, options: MeshModelOptions) {
    super();
    this.inputPath = inputPath;
    this.options = Object.freeze(validateOptions({ ...DEFAULT_MODEL_OPTIONS, ...definedOnly(options) }));
    this.#logger = (options.logger ?? silentLogger()).child({ component: 'mesh-model' });
    this.#loader = new InputLoader(inputPath, options.registry ?? defaultRegistry());
    this.#debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
    if (!(this.#debounceMs >= 0)) throw new ModelOptionsError(`debounceMs must be a non-negative number, got ${this.#debounceMs}`);
    this.#timers = options.timers;
  }

  /** The latest snapshot. */
  get current(): MeshSnapshot {
    return this.#current;
  }

  /**
   * Reads the input again now and publishes a snapshot if anything changed. Resolves with the current
   * snapshot (new or not). Calls made while a reload is waiting to start share it.
   */
  reload(): Promise<MeshSnapshot> {
    if (this.#closed) return Promise.resolve(this.#current);
    if (this.#queued !== undefined) return this.#queued;
    const run: Promise<MeshSnapshot> = this.#tail.then(() => {
      if (this.#queued === run) this.#queued = undefined;
      return this.#reloadNow();
    });
    this.#queued = run;
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /**
   * Starts watching the input; changes are re-read after `debounceMs` of quiet. Idempotent. Throws
   * `InputError` when the input path cannot be watched (e.g. it was removed since the load).
   */
  async watch(): Promise<void> {
    if (this.#closed || this.#watcher !== undefined) return;
    const watcher = new InputWatcher(this.inputPath, () => this.#onInputChanged(), {
      debounceMs: this.#debounceMs,
      ...(this.#timers !== undefined ? { timers: this.#timers } : {}),
      onError: (error) => this.#logger.warn({ err: error, path: this.inputPath }, 'watching the input failed; changes may be missed'),
    });
    this.#watcher = watcher;
    try {
      await watcher.start();
    } catch (cause) {
      watcher.close();
      if (this.#watcher === watcher) this.#watcher = undefined;
      const notFound = (cause as NodeJS.ErrnoException).code === 'ENOENT';
      throw new InputError(
        notFound ? 'CP_INPUT_NOT_FOUND' : 'CP_INPUT_UNREADABLE',
        this.inputPath,
        `cannot watch input path ${this.inputPath}: ${(cause as Error).message}`,
        { cause },
      );
    }
  }

  /** Stops watching and waits for a reload in progress. No snapshot is published afterwards. */
  async close(): Promise<void> {
    this.#stop();
    await this.#tail;
  }

  /** Stops watching at once; a reload in progress finishes without publishing. */
  destroy(): void {
    this.#stop();
  }

  #stop(): void {
    this.#closed = true;
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  #onInputChanged(): void {
    this.reload().catch((err: unknown) => this.#logger.error({ err }, 'reloading the input failed'));
  }

  async #reloadNow(): Promise<MeshSnapshot> {
    if (this.#closed) return this.#current;
    const started = performance.now();
    const input = await this.#loader.load();
    if (this.#closed) return this.#current;
    const read = performance.now();
    const previous = this.#current;
    const next = nextSnapshot(previous, computeMesh(input, this.options, this.#cache));
    const timing: ReloadTiming = { read_ms: round(read - started), compute_ms: round(performance.now() - read) };
    if (next === undefined) {
      this.#logger.debug({ version: previous.version, ...timing }, 'input re-read; nothing changed');
      return previous;
    }
    this.#current = next;
    this.#logSnapshot(previous, next, timing);
    this.emit('snapshot', next);
    return next;
  }

  #logSnapshot(previous: MeshSnapshot, next: MeshSnapshot, timing: ReloadTiming): void {
    const known = new Set(previous.diagnostics.map(diagnosticKey));
    for (const d of next.diagnostics) {
      if (known.has(diagnosticKey(d))) continue;
      const where = `${d.file}${d.line !== undefined ? `:${d.line}` : ''} document ${d.document}${d.path ? ` ${d.path}` : ''}`;
      this.#logger[d.severity === 'error' ? 'error' : 'warn'](`${where}: ${d.message}`);
    }
    this.#logger.info(
      {
        version: next.version,
        addresses: next.addresses.size,
        authorizations: next.authorizations.size,
        nodes: next.identitiesByNode.size,
        diagnostics: next.diagnostics.length,
        ...timing,
      },
      'published mesh snapshot',
    );
  }
}

/** How long a reload took: reading the input, then computing the snapshot (ms, logged with each snapshot). */
interface ReloadTiming {
  readonly read_ms: number;
  readonly compute_ms: number;
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

function diagnosticKey(d: InputDiagnostic): string {
  return `${d.file}\0${d.document}\0${d.path}\0${d.message}`;
}

function definedOnly(options: MeshModelOptions): Partial<ModelOptions> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(DEFAULT_MODEL_OPTIONS) as Array<keyof ModelOptions>) {
    if (options[key] !== undefined) out[key] = options[key];
  }
  return out;
}

function validateOptions(options: ModelOptions): ModelOptions {
  try {
    new Identity(options.trustDomain, 'default', 'default');
  } catch (err) {
    throw new ModelOptionsError(`trustDomain ${JSON.stringify(options.trustDomain)} is invalid: ${(err as Error).message}`);
  }
  if (options.clusterId.length === 0 || options.clusterId.includes('/')) {
    throw new ModelOptionsError(`clusterId ${JSON.stringify(options.clusterId)} must be non-empty and without "/" (it is part of workload uids)`);
  }
  const domain = checkDns1123Subdomain(options.domainSuffix);
  if (domain !== undefined) throw new ModelOptionsError(`domainSuffix: ${domain}`);
  const root = checkDns1123Label(options.rootNamespace);
  if (root !== undefined) throw new ModelOptionsError(`rootNamespace: ${root}`);
  if (options.network.includes('/')) throw new ModelOptionsError(`network ${JSON.stringify(options.network)} must not contain "/"`);
  return options;
}
