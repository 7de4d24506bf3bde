/**
 * Loads the compiled addon (build/Release/sockopt.node, built by `pnpm --filter @ambit/sockopt run build:native`,
 * which scripts/setup.sh runs). Loading is lazy so that importing this package never fails: only the first call
 * does, with a message that says how to build it.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { SockoptError } from './errors.js';

/** The raw functions of src/sockopt.c. They throw Errors with `errno` and `syscall`; index.ts wraps them. */
export interface NativeSockopt {
  setTransparent(fd: number): void;
  getTransparent(fd: number): boolean;
  setMark(fd: number, mark: number): void;
  getMark(fd: number): number;
  getOriginalDst(fd: number): { address: string; port: number; family: 4 | 6 };
  transparentSocket(ip: string, port: number): number;
  transparentListener(ip: string, port: number, backlog: number, reusePort: number): number;
  markedSocket(mark: number, family: 4 | 6): number;
}

/** Where the build puts the addon, relative to this file's compiled location (dist/src/native.js). */
export const ADDON_PATH = fileURLToPath(new URL('../../build/Release/sockopt.node', import.meta.url));

const require = createRequire(import.meta.url);
let loaded: NativeSockopt | undefined;

/** Loads the addon at `file`; throws SOCKOPT_ERR_NOT_BUILT when it is missing or built for another Node. */
export function loadNative(file: string): NativeSockopt {
  try {
    return require(file) as NativeSockopt;
  } catch (err) {
    const missing = (err as { code?: unknown }).code === 'MODULE_NOT_FOUND';
    const what = missing ? `is not built (no ${file})` : `does not load from ${file} (${(err as Error).message})`;
    throw new SockoptError('SOCKOPT_ERR_NOT_BUILT', `the sockopt native addon ${what}: run scripts/setup.sh`, {
      cause: err,
    });
  }
}

/** The addon at ADDON_PATH, loaded on first use. */
export function native(): NativeSockopt {
  loaded ??= loadNative(ADDON_PATH);
  return loaded;
}
