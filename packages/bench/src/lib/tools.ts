/** Finding the external programs a suite runs before it starts anything, so that a missing one fails the run at once, by name. */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { BenchError } from './errors.js';

/**
 * The absolute path of `program`: itself when it holds a slash, else the first executable of that name on
 * `searchPath` (PATH by default). Throws BENCH_ERR_TOOL naming the program and `hint` (where it comes from).
 */
export async function findTool(program: string, hint: string, searchPath = process.env['PATH'] ?? ''): Promise<string> {
  const candidates = program.includes('/') ? [path.resolve(program)] : searchPath.split(':').filter((d) => d !== '').map((d) => path.join(d, program));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here, or not executable: try the next directory.
    }
  }
  const where = program.includes('/') ? 'is not an executable file' : 'was not found on PATH';
  throw new BenchError('BENCH_ERR_TOOL', `${program} ${where}; ${hint}`);
}
