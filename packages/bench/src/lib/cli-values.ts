/** Values of suite command-line flags, checked with errors that name the flag. */
import { BenchError } from './errors.js';

/** An integer flag of at least `min`; undefined when the flag was not given. */
export function intOption(flag: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) {
    throw new BenchError('BENCH_ERR_USAGE', `${flag} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/**
 * A comma-separated subset of `known` (`--cases direct,ztunnel`), returned in `known`'s order whatever order
 * it was given in, each name once.
 */
export function subsetOption<T extends string>(flag: string, list: string, known: readonly T[], what = 'case'): T[] {
  const picked = new Set<string>();
  for (const raw of list.split(',')) {
    const name = raw.trim();
    if (!(known as readonly string[]).includes(name)) {
      throw new BenchError('BENCH_ERR_USAGE', `${flag}: unknown ${what} ${JSON.stringify(name)} (known: ${known.join(', ')})`);
    }
    picked.add(name);
  }
  return known.filter((k) => picked.has(k));
}
