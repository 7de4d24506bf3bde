/** `pnpm bench waypoint`'s options, figures, targets and printed report. */
import test from 'ava';
import { BenchError } from '../src/lib/errors.js';
import { PathTally, checkProof, checkUntouched, type PathPlan } from '../src/waypoint/measure.js';
import { parseWaypointOptions } from '../src/waypoint/options.js';
import { formatReport, summarise, targets, type CaseRaw, type CaseResult, type WaypointReport } from '../src/waypoint/report.js';

test('defaults, --quick, and every flag', (t) => {
  const d = parseWaypointOptions([], '/results')!;
  t.like(d, { loadSeconds: 10, rateSeconds: 10, warmupSeconds: 1, rate: 1000, rateClients: 10, concurrency: 32, h2Connections: 4, bodyBytes: 1024, outDir: '/results', wrk: 'wrk', h2load: 'h2load', nginx: 'nginx', cpuProfDir: undefined, quick: false });
  t.deepEqual(d.cases, ['direct', 'ztunnel', 'waypoint', 'nginx']);
  t.deepEqual(d.protocols, ['http1', 'http2']);
  t.like(parseWaypointOptions(['--quick'], '/r'), { loadSeconds: 2, rateSeconds: 2, rounds: 2, quick: true });
  t.is(d.rounds, 5);
  const all = parseWaypointOptions(
    ['--seconds', '3', '--rate-seconds', '4', '--rate', '500', '--rate-clients', '5', '--concurrency', '12', '--h2-connections', '3', '--size', '4000', '--cases', 'nginx,direct', '--protocols', 'http2', '--cpu-prof', 'prof', '--out', 'o', '--wrk', '/w', '--h2load', '/h', '--nginx', '/n'],
    '/r',
  )!;
  t.like(all, { loadSeconds: 3, rateSeconds: 4, rate: 500, rateClients: 5, concurrency: 12, h2Connections: 3, bodyBytes: 4000, wrk: '/w', h2load: '/h', nginx: '/n' });
  t.deepEqual(all.cases, ['direct', 'nginx']);
  t.deepEqual(all.protocols, ['http2']);
  t.true(all.cpuProfDir!.endsWith('/prof') && all.outDir.endsWith('/o'));
  t.is(parseWaypointOptions(['--concurrency', '2'], '/r')!.h2Connections, 2, 'no more HTTP/2 connections than requests in flight');
  t.is(parseWaypointOptions(['--help'], '/r'), undefined);
});

test('bad flags are refused with the reason', (t) => {
  const cases: [string[], RegExp][] = [
    [['--rate', '0'], /--rate must be an integer >= 1, got "0"/],
    [['--rate', '1000', '--rate-clients', '3'], /--rate-clients \(3\) must divide --rate \(1000\)/],
    [['--concurrency', '32', '--h2-connections', '5'], /--h2-connections \(5\) must divide --concurrency \(32\)/],
    [['--size', '4001'], /--size must be at most 4000, got 4001/],
    [['--rate-seconds', '1', '--rate', '100', '--rounds', '20'], /--rounds \(20\) leaves fewer requests per round than --rate-clients \(10\) connections/],
    [['--cases', 'direct,envoy'], /--cases: unknown case "envoy" \(known: direct, ztunnel, waypoint, nginx\)/],
    [['--protocols', 'http3'], /--protocols: unknown protocol "http3" \(known: http1, http2\)/],
    [['--bogus'], /Unknown option '--bogus'[\s\S]*usage: pnpm bench waypoint/],
    [['extra'], /Unexpected argument 'extra'/],
  ];
  for (const [args, message] of cases) {
    const err = t.throws(() => parseWaypointOptions(args, '/r'), { instanceOf: BenchError, message }, args.join(' '));
    t.is(err.code, 'BENCH_ERR_USAGE');
  }
});

function raw(name: CaseRaw['name'], protocol: CaseRaw['protocol'], p99: number, cpu: number | undefined): CaseRaw {
  // 100 latencies 1..100 µs, scaled so that the 99th is `p99`.
  const latenciesUs = Array.from({ length: 100 }, (_, i) => ((i + 1) * p99) / 99);
  return {
    name,
    protocol,
    load: { requests: 20_000, seconds: 2 },
    latenciesUs,
    rate: { target: 1000, achieved: 998.4, segments: 5 },
    proxyCpuSeconds: cpu,
    meshCpuSeconds: name === 'direct' ? undefined : 1.5,
    peakRssMiB: cpu === undefined ? undefined : 55.55,
    serverRequests: 31_000,
    proof: { counter: 'c', rose: 31_000, expected: '>= 31000' },
  };
}

test('a row: rps at full speed, percentiles at the fixed rate, CPU per 1,000 requests', (t) => {
  const row = summarise(raw('waypoint', 'http2', 990, 0.9));
  t.deepEqual(Object.keys(row).slice(0, 7), ['case', 'protocol', 'rps', 'p50_us', 'p99_us', 'cpu_s_per_1k_req', 'rss_MB']);
  t.like(row, { case: 'waypoint', protocol: 'http2', rps: 10_000, p50_us: 500, p99_us: 990, p90_us: 900, max_us: 1000, cpu_s_per_1k_req: 0.045, mesh_cpu_s_per_1k_req: 0.075, rss_MB: 55.6 });
  t.like(row, { load_requests: 20_000, load_seconds: 2, rate_target_rps: 1000, rate_achieved_rps: 998.4, rate_requests: 100, rate_segments: 5, server_requests: 31_000 });
  t.deepEqual(row.path_proof, { counter: 'c', rose: 31_000, expected: '>= 31000' });
  const direct = summarise(raw('direct', 'http1', 99, undefined));
  t.like(direct, { cpu_s_per_1k_req: null, mesh_cpu_s_per_1k_req: null, rss_MB: null });
});

test('targets: added p99 over ztunnel, and requests per CPU-second against nginx, per protocol', (t) => {
  const rows = [
    summarise(raw('ztunnel', 'http1', 2000, 0.1)),
    summarise(raw('waypoint', 'http1', 2900, 0.4)),
    summarise(raw('nginx', 'http1', 3000, 0.2)),
    summarise(raw('ztunnel', 'http2', 2000, 0.1)),
    summarise(raw('waypoint', 'http2', 3100, 0.5)),
    summarise(raw('nginx', 'http2', 3000, 0.2)),
  ];
  t.deepEqual(targets(rows, ['http1', 'http2']), [
    { name: 'http1: waypoint p99 - ztunnel p99 at the fixed rate (us)', value: 900, target: '<= 1000', met: true },
    { name: 'http2: waypoint p99 - ztunnel p99 at the fixed rate (us)', value: 1100, target: '<= 1000', met: false },
    { name: 'http1: waypoint/nginx requests per CPU-second', value: 0.5, target: '>= 0.5', met: true },
    { name: 'http2: waypoint/nginx requests per CPU-second', value: 0.4, target: '>= 0.5', met: false },
    // nginx in the waypoint's place against the same bound; the whole paths' CPU (each row's mesh CPU 0.075 s per 1k).
    { name: 'http1: reference: nginx p99 - ztunnel p99 at the fixed rate (us)', value: 1000, target: null, met: null },
    { name: 'http2: reference: nginx p99 - ztunnel p99 at the fixed rate (us)', value: 1000, target: null, met: null },
    { name: 'http1: reference: waypoint path/nginx path requests per CPU-second (the L7 proxy and both ztunnels)', value: 0.895, target: null, met: null },
    { name: 'http2: reference: waypoint path/nginx path requests per CPU-second (the L7 proxy and both ztunnels)', value: 0.85, target: null, met: null },
  ]);
  const without = targets(rows.filter((r) => r.case !== 'nginx'), ['http1']);
  t.deepEqual(without.map((x) => [x.value, x.met]), [
    [900, true],
    [null, null],
    [null, null],
    [null, null],
  ]);
});

test('the printed report: a row per path and protocol, how it was measured, and PASS/MISS per target', (t) => {
  const cases: CaseResult[] = [summarise(raw('direct', 'http1', 300, undefined)), summarise(raw('waypoint', 'http1', 1500, 0.3)), summarise({ ...raw('nginx', 'http1', 1000, 0.2), rate: { target: 1000, achieved: 700, segments: 5 } })];
  cases.push(summarise(raw('ztunnel', 'http1', 400, 0.1)));
  const report: WaypointReport = {
    cases,
    suite: 'waypoint',
    started_at: '2026-01-01T00:00:00.000Z',
    config: {
      load_seconds: 10,
      rate_seconds: 10,
      rate_rounds: 5,
      warmup_seconds: 1,
      rate: 1000,
      rate_clients: 10,
      concurrency: 32,
      h2_connections: 4,
      body_bytes: 1024,
      nginx_in_mesh: true,
      quick: false,
      node: 'v20',
      cpus: 2,
      load_average_at_start: [1, 2, 3],
      load_average_at_end: [4, 5, 6],
    },
    targets: targets(cases, ['http1']),
  };
  const text = formatReport(report);
  t.regex(text, /^case\s+proto\s+rps\s+p50 us\s+p99 us\s+CPU-s\/1k\s+mesh CPU\s+RSS MB$/m);
  t.regex(text, /^direct\s+http1\s+10000\s+152\s+300\s+-\s+-\s+-$/m);
  t.regex(text, /^waypoint\s+http1\s+10000\s+758\s+1500\s+0\.0150\s+0\.0750\s+55\.6$/m);
  t.regex(text, /^note: nginx http1 reached 700 of the 1000 requests\/s asked for$/m);
  t.regex(text, /^load average at start 1\.00 2\.00 3\.00, at end 4\.00 5\.00 6\.00$/m);
  t.regex(text, /^http1: waypoint p99 - ztunnel p99 at the fixed rate \(us\): 1100 {2}\(target <= 1000: MISS\)$/m);
  t.regex(text, /^http1: waypoint\/nginx requests per CPU-second: 0\.667 {2}\(target >= 0\.5: PASS\)$/m);
});

test('each path proves it carried the traffic: a counter unchanged, or risen by the requests or the connections', (t) => {
  const plan = (expect: 'unchanged' | 'requests' | 'connections') => ({ name: 'ztunnel' as const, proof: { what: 'the counter', read: () => Promise.resolve(0), expect } });
  t.deepEqual(checkProof(plan('unchanged'), 'http1', 0, 5000, 74), { counter: 'the counter', rose: 0, expected: '= 0' });
  t.throws(() => checkProof(plan('unchanged'), 'http1', 3, 5000, 74), { instanceOf: BenchError, message: 'ztunnel http1: the counter rose by 3; the traffic went through the mesh' });
  t.deepEqual(checkProof(plan('requests'), 'http2', 5000, 5000, 18), { counter: 'the counter', rose: 5000, expected: '>= 5000' });
  const short = t.throws(() => checkProof(plan('requests'), 'http2', 4999, 5000, 18), { instanceOf: BenchError });
  t.is(short.code, 'BENCH_ERR_PATH');
  t.is(short.message, 'ztunnel http2: the counter rose by 4999, expected at least 5000; the traffic did not take this path');
  t.deepEqual(checkProof(plan('connections'), 'http1', 74, 5000, 74).expected, '>= 74');
  t.throws(() => checkProof(plan('connections'), 'http2', 17, 5000, 18), { message: /rose by 17, expected at least 18/ });
});

function tallyPlan(expect: 'requests' | 'connections'): PathPlan {
  const counter = { what: 'c', read: () => Promise.resolve(0) };
  return { name: 'nginx', url: { http1: 'u1', http2: 'u2' }, proxies: () => [], rss: 'sum', proof: { ...counter, expect }, untouched: [] };
}

test('a tally adds the segments of a path up: latencies of every round, the rate over their time, the proof over them all', (t) => {
  const tally = new PathTally(tallyPlan('requests'), 'http2');
  t.is(tally.label, 'nginx http2');
  t.throws(() => tally.toRaw(1000), { instanceOf: BenchError, message: 'nginx http2: not measured at full speed and at the fixed rate' });
  tally.setLoad({ requests: 9000, seconds: 3, proxyCpuSeconds: 0.9, meshCpuSeconds: 2, peakRssMiB: 12 });
  tally.addSegment(9100, 9100, 9100, 8);
  tally.addRate([30, 10, 20], 0.5);
  tally.addSegment(3, 3, 3, 10);
  tally.addRate([5, 40], 0.5);
  tally.addSegment(2, 2, 2, 10);
  const raw = tally.toRaw(1000);
  t.deepEqual(raw.latenciesUs, [5, 10, 20, 30, 40]);
  t.deepEqual(raw.rate, { target: 1000, achieved: 5, segments: 2 });
  t.like(raw, { name: 'nginx', protocol: 'http2', load: { requests: 9000, seconds: 3 }, proxyCpuSeconds: 0.9, meshCpuSeconds: 2, peakRssMiB: 12, serverRequests: 9105 });
  t.deepEqual(raw.proof, { counter: 'c', rose: 9105, expected: '>= 9105' });
});

test('a tally refuses a path whose server saw fewer requests than were answered, or whose counter did not move enough', (t) => {
  const lost = new PathTally(tallyPlan('requests'), 'http1');
  lost.setLoad({ requests: 10, seconds: 1, proxyCpuSeconds: undefined, meshCpuSeconds: undefined, peakRssMiB: undefined });
  lost.addRate([1], 1);
  lost.addSegment(100, 99, 100, 1);
  t.throws(() => lost.toRaw(1000), { instanceOf: BenchError, message: "nginx http1: the server pod's nginx served 99 requests, fewer than the 100 answered" });
  const few = new PathTally(tallyPlan('connections'), 'http1');
  few.setLoad({ requests: 10, seconds: 1, proxyCpuSeconds: undefined, meshCpuSeconds: undefined, peakRssMiB: undefined });
  few.addRate([1], 1);
  few.addSegment(100, 100, 40, 64);
  few.addSegment(10, 10, 10, 10);
  t.throws(() => few.toRaw(1000), { message: 'nginx http1: c rose by 50, expected at least 74; the traffic did not take this path' });
});

test("a path whose segment moved another path's counter went through that path's proxy, and is refused", (t) => {
  const waypoint = { what: "the waypoint's istio_requests_total", read: () => Promise.resolve(0) };
  t.notThrows(() => checkUntouched('ztunnel http1', [waypoint], [40], [40]));
  t.notThrows(() => checkUntouched('ztunnel http1', [], [], []));
  const err = t.throws(() => checkUntouched('nginx http2', [waypoint], [40], [41]), { instanceOf: BenchError });
  t.is(err.code, 'BENCH_ERR_PATH');
  t.is(err.message, "nginx http2: the waypoint's istio_requests_total rose by 1; this path's traffic went through another path's proxy");
});
