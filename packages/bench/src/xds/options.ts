/** Command-line options of `pnpm bench xds`. */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BenchError } from '../lib/errors.js';
import { DEFAULT_MESH, type MeshGenOptions } from './mesh-gen.js';

export interface XdsBenchOptions {
  readonly mesh: MeshGenOptions;
  /** One-pod changes to time. */
  readonly changes: number;
  /** Where xds.json goes. */
  readonly outDir: string;
  readonly quick: boolean;
  /** Where to write CPU profiles and the control plane's GC trace (`--profile`), if anywhere. */
  readonly profileDir: string | undefined;
}

export const XDS_USAGE = `usage: pnpm bench xds [options]

Runs the control plane (the ambit-control-plane command) over a generated mesh and an xDS client in
another process: cold start to the first full push applied, one-pod changes on disk to applied at the
client (p50/p99), bytes of the full push, and the client's heap per workload.

  --quick             smoke test: 1,000 pods, 100 services, 20 policies, 10 changes
  --pods N            pods (default ${DEFAULT_MESH.pods})
  --services N        services (default ${DEFAULT_MESH.services})
  --policies N        authorization policies (default ${DEFAULT_MESH.policies})
  --changes N         one-pod changes to time (default 50)
  --out DIR           directory for xds.json (default <repo>/bench-results)
  --profile DIR       also write CPU profiles of the control plane and the client (node --cpu-prof), and
                      the control plane's log with its GC trace (--trace-gc), into DIR (this slows them)
  --help              this text
`;

/** Parses the suite's arguments; throws BENCH_ERR_USAGE naming the bad flag. Returns undefined for --help. */
export function parseXdsOptions(args: readonly string[], defaultOutDir: string): XdsBenchOptions | undefined {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        quick: { type: 'boolean', default: false },
        pods: { type: 'string' },
        services: { type: 'string' },
        policies: { type: 'string' },
        changes: { type: 'string' },
        out: { type: 'string' },
        profile: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (cause) {
    throw new BenchError('BENCH_ERR_USAGE', `${(cause as Error).message}\n\n${XDS_USAGE}`, { cause });
  }
  const v = parsed.values;
  if (v.help) return undefined;
  if (v.profile !== undefined && v.profile.trim() === '') throw new BenchError('BENCH_ERR_USAGE', '--profile must name a directory');
  const quick = v.quick;
  const mesh: MeshGenOptions = {
    ...DEFAULT_MESH,
    pods: positiveInt('--pods', v.pods) ?? (quick ? 1_000 : DEFAULT_MESH.pods),
    services: positiveInt('--services', v.services) ?? (quick ? 100 : DEFAULT_MESH.services),
    policies: positiveInt('--policies', v.policies) ?? (quick ? 20 : DEFAULT_MESH.policies),
  };
  if (mesh.services > mesh.pods) throw new BenchError('BENCH_ERR_USAGE', `--services (${mesh.services}) cannot exceed --pods (${mesh.pods}): every service selects at least one pod`);
  if (mesh.pods / mesh.nodes > 62_500 || mesh.services > 62_500) throw new BenchError('BENCH_ERR_USAGE', 'at most 250,000 pods and 62,500 services');
  return {
    mesh,
    changes: positiveInt('--changes', v.changes) ?? (quick ? 10 : 50),
    outDir: path.resolve(v.out ?? defaultOutDir),
    quick,
    profileDir: v.profile === undefined ? undefined : path.resolve(v.profile),
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
