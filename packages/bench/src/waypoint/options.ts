/** Command-line options of `pnpm bench waypoint`. */
import path from 'node:path';
import { intOption, parseFlags, subsetOption } from '../lib/cli-values.js';
import { BenchError } from '../lib/errors.js';

/** Every path, in the order they are reported. */
export const CASE_NAMES = ['direct', 'ztunnel', 'waypoint', 'nginx'] as const;
export type CaseName = (typeof CASE_NAMES)[number];
export const PROTOCOLS = ['http1', 'http2'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** The largest body the server can answer with (see nginx.ts). */
export const MAX_BODY_BYTES = 4000;

export interface WaypointBenchOptions {
  /** Seconds of load at full speed (the `rps` figure and the CPU), per path and protocol. */
  readonly loadSeconds: number;
  /** Seconds at the fixed rate (the latency percentiles), per path and protocol. */
  readonly rateSeconds: number;
  /** Rounds the fixed-rate seconds are cut into, the paths in the mesh taking turns in each. */
  readonly rounds: number;
  /** Unmeasured seconds at full speed before each path and protocol. */
  readonly warmupSeconds: number;
  /** The fixed rate, requests per second in all. */
  readonly rate: number;
  /** Connections sharing the fixed rate (each sends `rate / rateClients` a second, one request at a time). */
  readonly rateClients: number;
  /** Requests in flight at full speed: HTTP/1.1 connections, or HTTP/2 streams over `h2Connections`. */
  readonly concurrency: number;
  readonly h2Connections: number;
  /** Bytes of each request body and each response body. */
  readonly bodyBytes: number;
  readonly cases: readonly CaseName[];
  readonly protocols: readonly Protocol[];
  readonly outDir: string;
  readonly wrk: string;
  readonly h2load: string;
  readonly nginx: string;
  /** Where the waypoint writes a `--cpu-prof` profile when it exits; undefined: no profiling. */
  readonly cpuProfDir: string | undefined;
  readonly quick: boolean;
}

export const WAYPOINT_USAGE = `usage: pnpm bench waypoint [options]   (as root)

HTTP/1.1 and HTTP/2 POSTs with 1 KiB bodies, pod to pod across two nodes of a local mesh, over four paths:
direct (not enrolled), through the ztunnels, through ztunnel + waypoint + ztunnel (the service labelled
istio.io/use-waypoint), and through nginx at the waypoint's place (in the mesh). Per path and protocol:
the most requests per second at a fixed concurrency (wrk, h2load), the latency percentiles at a fixed
rate (h2load --rps), the proxy's CPU per 1,000 requests and its memory.

  --quick               smoke test: 2 s at full speed and 2 s (2 rounds) at the fixed rate per path and protocol
  --seconds N           seconds at full speed per path and protocol (default 10)
  --rate-seconds N      seconds at the fixed rate per path and protocol (default 10)
  --rounds N            rounds those seconds are cut into, the paths taking turns (default 5)
  --rate N              the fixed rate, requests per second (default 1000)
  --rate-clients N      connections sharing the fixed rate; must divide --rate (default 10)
  --concurrency N       requests in flight at full speed (default 32)
  --h2-connections N    HTTP/2 connections carrying them; must divide --concurrency (default 4)
  --size N              bytes of each request and response body, at most 4000 (default 1024)
  --cases LIST          comma-separated subset of ${CASE_NAMES.join(',')} (default all)
  --protocols LIST      comma-separated subset of ${PROTOCOLS.join(',')} (default both)
  --cpu-prof DIR        run the waypoint with --cpu-prof, its profile written to DIR when it exits
  --out DIR             directory for waypoint.json (default <repo>/bench-results)
  --wrk PATH            wrk binary (default wrk)
  --h2load PATH         h2load binary (default h2load)
  --nginx PATH          nginx binary (default nginx)
  --help                this text
`;

/** Parses the suite's arguments; throws BENCH_ERR_USAGE naming the bad flag. Returns undefined for --help. */
export function parseWaypointOptions(args: readonly string[], defaultOutDir: string): WaypointBenchOptions | undefined {
  const v = parseFlags(
    args,
    {
      quick: { type: 'boolean', default: false },
      seconds: { type: 'string' },
      'rate-seconds': { type: 'string' },
      rounds: { type: 'string' },
      rate: { type: 'string' },
      'rate-clients': { type: 'string' },
      concurrency: { type: 'string' },
      'h2-connections': { type: 'string' },
      size: { type: 'string' },
      cases: { type: 'string' },
      protocols: { type: 'string' },
      'cpu-prof': { type: 'string' },
      out: { type: 'string' },
      wrk: { type: 'string', default: 'wrk' },
      h2load: { type: 'string', default: 'h2load' },
      nginx: { type: 'string', default: 'nginx' },
      help: { type: 'boolean', default: false },
    },
    WAYPOINT_USAGE,
  );
  if (v.help) return undefined;
  const quick = v.quick;
  const rate = intOption('--rate', v.rate, 1) ?? 1000;
  const rateClients = intOption('--rate-clients', v['rate-clients'], 1) ?? 10;
  if (rate % rateClients !== 0) throw new BenchError('BENCH_ERR_USAGE', `--rate-clients (${rateClients}) must divide --rate (${rate}): each connection sends rate / clients requests a second`);
  const concurrency = intOption('--concurrency', v.concurrency, 1) ?? 32;
  const h2Connections = intOption('--h2-connections', v['h2-connections'], 1) ?? Math.min(4, concurrency);
  if (concurrency % h2Connections !== 0) {
    throw new BenchError('BENCH_ERR_USAGE', `--h2-connections (${h2Connections}) must divide --concurrency (${concurrency}): each connection carries the same number of streams`);
  }
  const bodyBytes = intOption('--size', v.size, 1) ?? 1024;
  // The server's body is a literal in nginx.conf, and nginx refuses a token of 4 KiB or more.
  if (bodyBytes > MAX_BODY_BYTES) throw new BenchError('BENCH_ERR_USAGE', `--size must be at most ${MAX_BODY_BYTES}, got ${bodyBytes}`);
  const rateSeconds = intOption('--rate-seconds', v['rate-seconds'], 1) ?? (quick ? 2 : 10);
  const rounds = intOption('--rounds', v.rounds, 1) ?? (quick ? 2 : 5);
  if ((rate * rateSeconds) / rounds < rateClients) {
    throw new BenchError('BENCH_ERR_USAGE', `--rounds (${rounds}) leaves fewer requests per round than --rate-clients (${rateClients}) connections`);
  }
  const cpuProf = v['cpu-prof'];
  return {
    loadSeconds: intOption('--seconds', v.seconds, 1) ?? (quick ? 2 : 10),
    rateSeconds,
    rounds,
    warmupSeconds: 1,
    rate,
    rateClients,
    concurrency,
    h2Connections,
    bodyBytes,
    cases: v.cases === undefined ? CASE_NAMES : subsetOption('--cases', v.cases, CASE_NAMES),
    protocols: v.protocols === undefined ? PROTOCOLS : subsetOption('--protocols', v.protocols, PROTOCOLS, 'protocol'),
    outDir: path.resolve(v.out ?? defaultOutDir),
    wrk: v.wrk,
    h2load: v.h2load,
    nginx: v.nginx,
    cpuProfDir: cpuProf === undefined ? undefined : path.resolve(cpuProf),
    quick,
  };
}
