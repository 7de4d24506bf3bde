/**
 * `pnpm bench <suite> [options]`: finds the suite, runs it, and guarantees cleanup on success, error and
 * SIGINT/SIGTERM. Exit codes: 0 done (targets may have been missed: they are reported, not failed),
 * 1 error, 2 bad command line, 130 interrupted.
 */
import path from 'node:path';
import { Cleanup } from './lib/cleanup.js';
import { BenchError } from './lib/errors.js';
import { PACKAGE_ROOT } from './lib/loadgen.js';
import { SUITES } from './suites.js';
import type { SuiteContext } from './suite.js';

function usage(): string {
  return `usage: pnpm bench <suite> [options]   (pnpm bench <suite> --help for a suite's options)\n\nsuites:\n${Object.keys(SUITES)
    .map((name) => `  ${name}`)
    .join('\n')}\n`;
}

function exitCodeFor(err: unknown): number {
  if (!(err instanceof BenchError)) return 1;
  switch (err.code) {
    case 'BENCH_ERR_USAGE':
      return 2;
    case 'BENCH_ERR_ABORTED':
      return 130;
    case 'BENCH_ERR_TOOL':
    case 'BENCH_ERR_CHILD':
    case 'BENCH_ERR_PATH':
      return 1;
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const load = SUITES[name];
  if (!load) {
    process.stderr.write(`unknown suite ${JSON.stringify(name)}\n\n${usage()}`);
    return 2;
  }

  const cleanup = new Cleanup();
  const abort = new AbortController();
  // Last resort if something calls process.exit before the asynchronous cleanup ran.
  process.on('exit', () => cleanup.killRemainingSync());
  const onSignal = (signal: NodeJS.Signals): void => {
    if (abort.signal.aborted) {
      // Second signal: stop waiting for a graceful cleanup.
      cleanup.killRemainingSync();
      process.exit(130);
    }
    process.stderr.write(`\n${signal}: stopping and cleaning up\n`);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const ctx: SuiteContext = {
    cleanup,
    signal: abort.signal,
    out: (text) => process.stdout.write(text),
    log: (line) => process.stderr.write(`[bench ${name}] ${line}\n`),
    resultsDir: path.resolve(PACKAGE_ROOT, '..', '..', 'bench-results'),
  };
  let code = 0;
  try {
    await (await load()).run(args, ctx);
  } catch (err) {
    code = exitCodeFor(err);
    // On Ctrl-C the terminal signals the children too, so the run may fail on a dead proxy before it
    // sees the abort: that is an interruption, not a broken path.
    const interrupted = code === 130 || abort.signal.aborted;
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`bench ${name}: ${interrupted ? 'interrupted' : `error: ${message}`}\n`);
  }
  const cleanupErrors = await cleanup.run();
  for (const err of cleanupErrors) process.stderr.write(`bench ${name}: cleanup: ${err.message}\n`);
  if (abort.signal.aborted) return 130;
  return code !== 0 ? code : cleanupErrors.length > 0 ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
// Children's IPC channels and stray handles must not keep a finished run alive.
process.exit();
