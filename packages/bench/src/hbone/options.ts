/** Command-line options of `pnpm bench hbone`. */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BenchError } from '../lib/errors.js';
import { CASE_NAMES, isCaseName } from './paths.js';
import type { CaseName } from './paths.js';

export interface HboneBenchOptions {
  /** Bytes per bulk transfer. */
  readonly bulkBytes: number;
  /** Measured round trips per ping-pong run. */
  readonly roundTrips: number;
  /** Unmeasured round trips before them (connection set-up, JIT warm-up). */
  readonly warmup: number;
  /** Bytes per ping-pong message. */
  readonly messageSize: number;
  /** Runs of each workload on each path, interleaved across paths so that machine noise hits all alike. */
  readonly repeat: number;
  readonly cases: readonly CaseName[];
  /** Where hbone.json goes. */
  readonly outDir: string;
  readonly stunnel: string;
  readonly quick: boolean;
}

export const HBONE_USAGE = `usage: pnpm bench hbone [options]

Compares direct TCP, a Node TLS relay pair, the HBONE client/server pair and an stunnel pair (C) on
loopback: one-way bulk throughput and ping-pong latency, plus the proxies' CPU and memory.

  --quick             smoke test: 128 MiB bulk, 2,000 round trips, 1 run
  --bulk-mib N        MiB per bulk transfer (default 1024)
  --round-trips N     measured ping-pong round trips (default 20000)
  --size N            bytes per ping-pong message (default 1024)
  --repeat N          runs per workload and path; medians are reported (default 3)
  --cases LIST        comma-separated subset of ${CASE_NAMES.join(',')} (default all)
  --out DIR           directory for hbone.json (default <repo>/bench-results)
  --stunnel PATH      stunnel binary (default stunnel4)
  --help              this text
`;

const MiB = 1024 * 1024;

/** Parses the suite's arguments; throws BENCH_ERR_USAGE naming the bad flag. Returns undefined for --help. */
export function parseHboneOptions(args: readonly string[], defaultOutDir: string): HboneBenchOptions | undefined {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        quick: { type: 'boolean', default: false },
        'bulk-mib': { type: 'string' },
        'round-trips': { type: 'string' },
        size: { type: 'string' },
        repeat: { type: 'string' },
        cases: { type: 'string' },
        out: { type: 'string' },
        stunnel: { type: 'string', default: 'stunnel4' },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (cause) {
    throw new BenchError('BENCH_ERR_USAGE', `${(cause as Error).message}\n\n${HBONE_USAGE}`, { cause });
  }
  const v = parsed.values;
  if (v.help) return undefined;
  const quick = v.quick;
  const roundTrips = positiveInt('--round-trips', v['round-trips']) ?? (quick ? 2_000 : 20_000);
  return {
    bulkBytes: (positiveInt('--bulk-mib', v['bulk-mib']) ?? (quick ? 128 : 1024)) * MiB,
    roundTrips,
    warmup: Math.min(1_000, Math.ceil(roundTrips / 10)),
    messageSize: positiveInt('--size', v.size) ?? 1024,
    repeat: positiveInt('--repeat', v.repeat) ?? (quick ? 1 : 3),
    cases: v.cases === undefined ? CASE_NAMES : parseCases(v.cases),
    outDir: path.resolve(v.out ?? defaultOutDir),
    stunnel: v.stunnel,
    quick,
  };
}

function positiveInt(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n <= 0) {
    throw new BenchError('BENCH_ERR_USAGE', `${flag} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return n;
}

function parseCases(list: string): CaseName[] {
  const out: CaseName[] = [];
  for (const raw of list.split(',')) {
    const name = raw.trim();
    if (!isCaseName(name)) {
      throw new BenchError('BENCH_ERR_USAGE', `--cases: unknown case ${JSON.stringify(name)} (known: ${CASE_NAMES.join(', ')})`);
    }
    if (!out.includes(name)) out.push(name);
  }
  // Report in the canonical order whatever order they were asked in.
  return CASE_NAMES.filter((c) => out.includes(c));
}
