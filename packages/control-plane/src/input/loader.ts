/**
 * Reads the input (a YAML file, or a directory searched recursively for `*.yaml`/`*.yml`) into an
 * `InputSet`, remembering enough between loads to apply the input's update rules:
 *
 * - files are read in sorted path order, so the same tree always yields the same snapshot;
 * - a file whose text did not change is not parsed again;
 * - a file that fails to parse (or to read) keeps its last good parse, so a half-saved file does not
 *   remove workloads; the failure is reported either way;
 * - names starting with `.` are skipped (editor swap and lock files, and the `..data` directories of
 *   a mounted ConfigMap, whose files are reached through the top-level symlinks instead).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { MeshError } from '@ambit/mesh-core/errors';
import type { InputDiagnostic } from '../model/snapshot.js';
import { EMPTY_INPUT, assembleInput, type InputSet, type ParsedFile } from './input-set.js';
import { parseFile, type FileParse } from './parse-file.js';
import type { KindRegistry } from './registry.js';

export class InputError extends MeshError {
  readonly inputPath: string;

  constructor(code: 'CP_INPUT_NOT_FOUND' | 'CP_INPUT_UNREADABLE', inputPath: string, reason: string, options?: { cause?: unknown }) {
    super(code, reason, options);
    this.inputPath = inputPath;
  }
}

export interface InputLoaderOptions {
  /** How files are read (default `fs.promises.readFile` as UTF-8); tests inject failures here. */
  readonly readFile?: (file: string) => Promise<string>;
  /**
   * Skip files whose stamp (inode, size, mtime, ctime) did not change since they were read. Default: on
   * with the default reader, off with a custom one (whose content need not follow the file system).
   */
  readonly skipUnchangedFiles?: boolean;
  /** Wall clock in ms, to tell how recent a file's change time is (tests move it). Default `Date.now`. */
  readonly now?: () => number;
}

interface CachedFile {
  readonly text: string;
  readonly parse: FileParse;
  /** The file's identity and change times when it was read (see `sameStat`). */
  readonly stat: FileStamp | undefined;
}

/** What tells that a file was not written since: inode, size, and modification and change times in ns. */
interface FileStamp {
  readonly ino: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
}

function sameStamp(a: FileStamp | undefined, b: FileStamp | undefined): boolean {
  return a !== undefined && b !== undefined && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

export class InputLoader {
  readonly inputPath: string;
  readonly #registry: KindRegistry;
  readonly #readFile: (file: string) => Promise<string>;
  /** Whether files are read from disk, so that an unchanged stat means unchanged content. */
  readonly #statShortcut: boolean;
  readonly #now: () => number;
  readonly #cache = new Map<string, CachedFile>();
  readonly #lastGood = new Map<string, ParsedFile>();
  #previous: InputSet = EMPTY_INPUT;
  #loadedOnce = false;

  constructor(inputPath: string, registry: KindRegistry, options: InputLoaderOptions = {}) {
    this.inputPath = inputPath;
    this.#registry = registry;
    this.#readFile = options.readFile ?? ((file) => readFile(file, 'utf8'));
    this.#statShortcut = options.skipUnchangedFiles ?? options.readFile === undefined;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Reads everything again. The first load throws `InputError` when the input path does not exist or
   * cannot be listed; later loads report that as a diagnostic and keep the previous input.
   */
  async load(): Promise<InputSet> {
    let files: string[];
    try {
      files = await listInputFiles(this.inputPath);
    } catch (cause) {
      const notFound = (cause as NodeJS.ErrnoException).code === 'ENOENT';
      const reason = notFound ? `input path ${this.inputPath} does not exist` : `cannot read input path ${this.inputPath}: ${(cause as Error).message}`;
      if (!this.#loadedOnce) throw new InputError(notFound ? 'CP_INPUT_NOT_FOUND' : 'CP_INPUT_UNREADABLE', this.inputPath, reason, { cause });
      const diagnostic: InputDiagnostic = {
        file: this.inputPath,
        document: 0,
        path: '',
        message: `${reason}; the last loaded input stays in effect`,
        severity: 'error',
      };
      return { ...this.#previous, diagnostics: [diagnostic, ...this.#previous.diagnostics] };
    }
    this.#loadedOnce = true;

    // Files are independent (each touches only its own cache entries): check and read them concurrently,
    // so that a large input costs one round of stat calls, not one per file in turn.
    const parsed = await Promise.all(files.map((file) => this.#loadFile(file)));
    const present = new Set(files);
    for (const file of [...this.#cache.keys()]) if (!present.has(file)) this.#cache.delete(file);
    for (const file of [...this.#lastGood.keys()]) if (!present.has(file)) this.#lastGood.delete(file);

    this.#previous = assembleInput(parsed, this.#previous);
    return this.#previous;
  }

  async #loadFile(file: string): Promise<ParsedFile> {
    let parse: FileParse;
    try {
      const cached = this.#cache.get(file);
      // A file not written since it was read (same inode, size, mtime and ctime, to the nanosecond; ctime
      // changes with every write and cannot be set back) is not read again: a one-file change to a large
      // input costs one read, not one per file.
      const readAtNs = BigInt(Math.floor(this.#now())) * 1_000_000n;
      const stamp = this.#statShortcut ? await stampOf(file) : undefined;
      if (cached !== undefined && sameStamp(cached.stat, stamp)) {
        parse = cached.parse;
      } else {
        const text = await this.#readFile(file);
        parse = cached !== undefined && cached.text === text ? cached.parse : parseFile(file, text, this.#registry);
        // File times come from a coarse clock (a few ms): a write in the same tick as this read would
        // leave the stamp unchanged. A stamp that recent is not trusted ("racily clean", as git says); the
        // file is read again next time, and an unchanged text is still not parsed again.
        const trusted = stamp !== undefined && stamp.ctimeNs + RACY_WINDOW_NS < readAtNs ? stamp : undefined;
        this.#cache.set(file, { text, parse, stat: trusted });
      }
    } catch (cause) {
      this.#cache.delete(file);
      parse = {
        ok: false,
        diagnostics: [{ file, document: 0, path: '', message: `cannot read file: ${(cause as Error).message}`, severity: 'error' }],
      };
    }
    if (parse.ok) {
      const good: ParsedFile = { file, documents: parse.documents, diagnostics: parse.diagnostics };
      this.#lastGood.set(file, good);
      return good;
    }
    const lastGood = this.#lastGood.get(file);
    const consequence = lastGood ? 'the last good content of this file stays in effect' : 'nothing in this file is applied';
    const failures = parse.diagnostics.map((d) => ({ ...d, message: `${d.message}; ${consequence}` }));
    return { file, documents: lastGood?.documents ?? [], diagnostics: [...failures, ...(lastGood?.diagnostics ?? [])] };
  }
}

/** How old a file's change time must be, when it is read, for its stamp to vouch for its content. */
const RACY_WINDOW_NS = 2_000_000_000n;

async function stampOf(file: string): Promise<FileStamp> {
  const s = await stat(file, { bigint: true });
  return { ino: s.ino, size: s.size, mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs };
}

const YAML_FILE = /\.ya?ml$/;

/** The YAML files of the input, sorted; a file path stands for itself whatever its extension. */
export async function listInputFiles(inputPath: string): Promise<string[]> {
  const info = await stat(inputPath);
  if (!info.isDirectory()) return [inputPath];
  const out: string[] = [];
  await walk(inputPath, out);
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

async function walk(dir: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      await walk(full, out);
    } else if (YAML_FILE.test(entry.name)) {
      if (entry.isFile()) {
        out.push(full);
      } else if (entry.isSymbolicLink()) {
        // Symlinked files count (ConfigMap mounts); symlinked directories are not followed, to avoid cycles.
        const target = await stat(full).catch(() => undefined);
        if (target?.isFile()) out.push(full);
      }
    }
  }
}
