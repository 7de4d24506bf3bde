/**
 * Generated bearer tokens on disk: 32 random bytes in base64url, one per file, mode 0600, written to a
 * temporary name and renamed so that a reader never sees half a token.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';

export const TOKEN_SUFFIX = '.token';
/** What a generated token looks like (files holding anything else are ignored). */
export const GENERATED_TOKEN_RE = /^[A-Za-z0-9_-]{16,}$/;

export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

/** The token in `file`, or undefined when it does not hold a generated token. */
export async function readTokenFile(file: string): Promise<string | undefined> {
  const token = (await readFile(file, 'utf8')).trim();
  return GENERATED_TOKEN_RE.test(token) ? token : undefined;
}

export async function writeTokenFile(file: string, token: string): Promise<void> {
  await writeFile(`${file}.tmp`, `${token}\n`, { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}
