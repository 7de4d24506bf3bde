/** Values of suite command-line flags, checked with errors that name the flag. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { BenchError } from './errors.js';

type FlagSpecs = NonNullable<ParseArgsConfig['options']>;
/** The values `parseArgs` gives for `O`, strict and without positionals: booleans and strings as declared. */
export type FlagValues<O extends FlagSpecs> = ReturnType<typeof parseArgs<{ args: string[]; strict: true; allowPositionals: false; options: O }>>['values'];

/** A suite's flags (no positionals, no unknown flags); BENCH_ERR_USAGE with the suite's usage text otherwise. */
export function parseFlags<const O extends FlagSpecs>(args: readonly string[], options: O, usage: string): FlagValues<O> {
  try {
    return parseArgs({ args: [...args], strict: true, allowPositionals: false, options }).values;
  } catch (cause) {
    throw new BenchError('BENCH_ERR_USAGE', `${(cause as Error).message}\n\n${usage}`, { cause });
  }
}

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
