/** Command-line options of `pnpm bench ztunnel`. */
import path from 'node:path';
import { intOption as int, parseFlags, subsetOption } from '../lib/cli-values.js';

/** Every path, in the order they are reported. */
export const CASE_NAMES = ['direct', 'ztunnel', 'c-tunnel'] as const;
export type CaseName = (typeof CASE_NAMES)[number];

export interface ZtunnelBenchOptions {
  /** Seconds of bulk transfer (iperf3) per path. */
  readonly bulkSeconds: number;
  /** Measured ping-pong round trips per path. */
  readonly roundTrips: number;
  /** Unmeasured round trips before them. */
  readonly warmup: number;
  readonly messageSize: number;
  /** Parallel iperf3 streams (`-P`) in the bulk transfer. */
  readonly streams: number;
  /** `ZTUNNEL_WORKER_THREADS` of both ztunnels. */
  readonly workers: number;
  /** Idle connections held open through the mesh for `idle_conn_bytes`; 0 skips the measurement. */
  readonly idleConnections: number;
  readonly cases: readonly CaseName[];
  readonly outDir: string;
  readonly stunnel: string;
  readonly iperf3: string;
  /** Where the ztunnels write `--cpu-prof` profiles; undefined: no profiling. */
  readonly cpuProfDir: string | undefined;
  /** Where heap snapshots of both ztunnels are written before and with the idle connections; undefined: none. */
  readonly heapSnapshotDir: string | undefined;
  readonly quick: boolean;
}

export const ZTUNNEL_USAGE = `usage: pnpm bench ztunnel [options]   (as root)

Pod to pod across two nodes of a network-namespace testbed: direct (pods not enrolled), through the two
ztunnels (HBONE), and through a pair of stunnel mutual-TLS 1.3 tunnels in the same node namespaces. Bulk
throughput (iperf3), 1 KiB ping-pong latency (the C load generator), the proxies' CPU and memory, and
ztunnel's memory per idle proxied connection.

  --quick             smoke test: 2 s bulk, 2,000 round trips, 500 idle connections
  --seconds N         seconds of bulk transfer per path (default 10)
  --round-trips N     measured ping-pong round trips (default 20000)
  --size N            bytes per ping-pong message (default 1024)
  --streams N         parallel TCP streams in the bulk transfer (iperf3 -P; default 1)
  --workers N         data-path worker threads of each ztunnel (ZTUNNEL_WORKER_THREADS; default 1)
  --idle-conns N      idle connections held through the mesh (default 5000; 0 skips it)
  --cases LIST        comma-separated subset of ${CASE_NAMES.join(',')} (default all)
  --cpu-prof DIR      run the ztunnels with --cpu-prof, profiles written to DIR when they exit
  --heap-snapshot DIR write heap snapshots of both ztunnels to DIR, before and with the idle connections
                      (after the RSS readings; they take a while)
  --out DIR           directory for ztunnel.json (default <repo>/bench-results)
  --stunnel PATH      stunnel binary (default stunnel4)
  --iperf3 PATH       iperf3 binary (default iperf3)
  --help              this text
`;

/** Parses the suite's arguments; throws BENCH_ERR_USAGE naming the bad flag. Returns undefined for --help. */
export function parseZtunnelOptions(args: readonly string[], defaultOutDir: string): ZtunnelBenchOptions | undefined {
  const v = parseFlags(
    args,
    {
      quick: { type: 'boolean', default: false },
      seconds: { type: 'string' },
      'round-trips': { type: 'string' },
      size: { type: 'string' },
      streams: { type: 'string' },
      workers: { type: 'string' },
      'idle-conns': { type: 'string' },
      cases: { type: 'string' },
      'cpu-prof': { type: 'string' },
      'heap-snapshot': { type: 'string' },
      out: { type: 'string' },
      stunnel: { type: 'string', default: 'stunnel4' },
      iperf3: { type: 'string', default: 'iperf3' },
      help: { type: 'boolean', default: false },
    },
    ZTUNNEL_USAGE,
  );
  if (v.help) return undefined;
  const quick = v.quick;
  const roundTrips = int('--round-trips', v['round-trips'], 1) ?? (quick ? 2_000 : 20_000);
  const cpuProf = v['cpu-prof'];
  const heapSnapshot = v['heap-snapshot'];
  return {
    bulkSeconds: int('--seconds', v.seconds, 1) ?? (quick ? 2 : 10),
    roundTrips,
    warmup: Math.min(1_000, Math.ceil(roundTrips / 10)),
    messageSize: int('--size', v.size, 1) ?? 1024,
    streams: int('--streams', v.streams, 1) ?? 1,
    workers: int('--workers', v.workers, 1) ?? 1,
    idleConnections: int('--idle-conns', v['idle-conns'], 0) ?? (quick ? 500 : 5_000),
    cases: v.cases === undefined ? CASE_NAMES : subsetOption('--cases', v.cases, CASE_NAMES),
    outDir: path.resolve(v.out ?? defaultOutDir),
    stunnel: v.stunnel,
    iperf3: v.iperf3,
    cpuProfDir: cpuProf === undefined ? undefined : path.resolve(cpuProf),
    heapSnapshotDir: heapSnapshot === undefined ? undefined : path.resolve(heapSnapshot),
    quick,
  };
}
