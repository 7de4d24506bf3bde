/** The ztunnel suite's pure parts: options, iperf3's report, the stunnel and nft configs, targets and the table. */
import test from 'ava';
import { BenchError } from '../src/lib/errors.js';
import { steeringRules, tunnelConfig } from '../src/ztunnel/c-tunnel.js';
import { parseIperf } from '../src/ztunnel/iperf.js';
import { parseZtunnelOptions } from '../src/ztunnel/options.js';
import { formatReport, idleConnFigures, summarise, targets, type ZtunnelReport } from '../src/ztunnel/report.js';

test('options: defaults, --quick, subsets in canonical order, and precise errors', (t) => {
  const d = parseZtunnelOptions([], '/r')!;
  t.like(d, { bulkSeconds: 10, roundTrips: 20_000, warmup: 1_000, messageSize: 1024, streams: 1, workers: 1, idleConnections: 5_000, outDir: '/r', cpuProfDir: undefined, heapSnapshotDir: undefined, quick: false });
  t.deepEqual(d.cases, ['direct', 'ztunnel', 'c-tunnel']);
  t.like(parseZtunnelOptions(['--quick'], '/r'), { bulkSeconds: 2, roundTrips: 2_000, idleConnections: 500 });
  t.like(parseZtunnelOptions(['--streams', '4', '--workers', '2'], '/r'), { streams: 4, workers: 2 });
  t.throws(() => parseZtunnelOptions(['--workers', '0'], '/r'), { message: /--workers/ });
  t.deepEqual(parseZtunnelOptions(['--cases', 'c-tunnel,direct,direct'], '/r')!.cases, ['direct', 'c-tunnel']);
  t.like(parseZtunnelOptions(['--idle-conns', '0', '--cpu-prof', '/p'], '/r'), { idleConnections: 0, cpuProfDir: '/p', heapSnapshotDir: undefined });
  t.like(parseZtunnelOptions(['--heap-snapshot', '/h'], '/r'), { heapSnapshotDir: '/h' });
  t.is(parseZtunnelOptions(['--help'], '/r'), undefined);
  for (const [args, msg] of [
    [['--seconds', '0'], /--seconds must be an integer >= 1, got "0"/],
    [['--round-trips', '1e3'], /--round-trips must be an integer >= 1/],
    [['--idle-conns=-1'], /--idle-conns must be an integer >= 0, got "-1"/],
    [['--cases', 'direct,hbone'], /--cases: unknown case "hbone" \(known: direct, ztunnel, c-tunnel\)/],
    [['--bogus'], /Unknown option '--bogus'/],
  ] as const) {
    const err = t.throws(() => parseZtunnelOptions(args, '/r'), { instanceOf: BenchError });
    t.is(err.code, 'BENCH_ERR_USAGE');
    t.regex(err.message, msg);
  }
});

test('iperf3 report: the receiver side is read; errors and empty transfers are path failures', (t) => {
  t.deepEqual(parseIperf(JSON.stringify({ end: { sum_received: { bytes: 1000, seconds: 2 } } })), { bytes: 1000, seconds: 2 });
  const refused = t.throws(() => parseIperf(JSON.stringify({ error: 'unable to connect to server: Connection refused' })), { instanceOf: BenchError });
  t.is(refused.code, 'BENCH_ERR_PATH');
  t.regex(refused.message, /Connection refused/);
  t.is(t.throws(() => parseIperf(JSON.stringify({ end: { sum_received: { bytes: 0, seconds: 2 } } })), { instanceOf: BenchError }).code, 'BENCH_ERR_PATH');
  t.is(t.throws(() => parseIperf('{"end":{}}'), { instanceOf: BenchError }).code, 'BENCH_ERR_CHILD');
  t.is(t.throws(() => parseIperf('iperf3: error'), { instanceOf: BenchError }).code, 'BENCH_ERR_CHILD');
});

test('the stunnel configs and the steering rule', (t) => {
  const conf = tunnelConfig('client', [{ name: 'p5201', accept: '10.244.255.1:16000', connect: '10.244.255.2:17000' }], { identity: 'x', caFile: '/ca', certFile: '/c', keyFile: '/k' }, '/pid');
  for (const line of ['[p5201]', 'client = yes', 'accept = 10.244.255.1:16000', 'connect = 10.244.255.2:17000', 'sslVersion = TLSv1.3', 'verifyChain = yes', 'CAfile = /ca', 'socket = r:TCP_NODELAY=1']) {
    t.true(conf.split('\n').includes(line), line);
  }
  const rules = steeringRules('10.244.255.1', [5201, 9000]);
  t.regex(rules, /ip saddr 10\.244\.0\.10 ip daddr 10\.244\.1\.10 tcp dport 5201 dnat to 10\.244\.255\.1:16000/);
  t.regex(rules, /tcp dport 9000 dnat to 10\.244\.255\.1:16001/);
  t.regex(rules, /type nat hook prerouting priority dstnat/);
});

test('targets: PASS and MISS against the same run, n/a without a baseline; the table prints them', (t) => {
  const row = (name: 'direct' | 'ztunnel' | 'c-tunnel', mbps: number, p50: number, proxies: boolean) =>
    summarise({ name, bulk: { bytes: mbps * 1e6 * 10, seconds: 10 }, p50Us: p50, p99Us: p50 * 2, roundTrips: 100, proxyCpuSeconds: proxies ? 2 : undefined, peakRssMiB: proxies ? 50 : undefined });
  const cases = [row('direct', 2000, 30, false), row('ztunnel', 400, 170, true), row('c-tunnel', 600, 120, true)];
  t.is(cases[1]!.cpu_s_per_GiB, Math.round((2 / ((4000e6) / 1024 ** 3)) * 1000) / 1000);
  t.is(cases[0]!.cpu_s_per_GiB, null);
  const got = targets(cases, 9000);
  t.deepEqual(
    got.map((x) => [x.value, x.met]),
    [
      [140, true],
      [0.667, true],
      [9000, false],
    ],
  );
  t.deepEqual(
    targets(cases.slice(0, 1), null).map((x) => x.met),
    [null, null, null],
  );
  const idle = {
    connections: 10,
    rss_before: {},
    rss_after: {},
    bytes_per_conn: { 'node-a': 5000, 'node-b': 4000 },
    heap_before: {},
    heap_after: {},
    heap_bytes_per_conn: { 'node-a': 3000, 'node-b': 2500 },
    held: { 'node-a': 10, 'node-b': 10 },
    gc: true,
  };
  const report: ZtunnelReport = {
    cases,
    ...idleConnFigures(idle),
    suite: 'ztunnel',
    started_at: 'now',
    config: { bulk_seconds: 10, round_trips: 100, message_size: 1024, streams: 1, workers: 1, idle_connections: 10, quick: false, node: 'v20', cpus: 2, load_average_at_start: [1, 1, 1], load_average_at_end: [2, 2, 2] },
    idle,
    targets: targets(cases, 5000),
  };
  const text = formatReport(report);
  t.regex(text, /^ztunnel +400\.0 +170\.0 +340\.0 +0\.54 +50\.0$/m);
  t.regex(text, /^ztunnel p50 - direct p50 \(us\): 140 {2}\(target <= 150: PASS\)$/m);
  t.regex(text, /^idle_conn_bytes: 5000 {2}\(target <= 8192: PASS\)$/m);
  t.regex(text, /RSS growth per connection node-a 5000, node-b 4000 bytes, each measured after a GC; of which V8 heap node-a 3000, node-b 2500\./);
  t.regex(text, /^idle_conn_bytes_by_node: node-a 5000, node-b 4000; idle_conn_bytes_both_ends: 9000; idle_conn_bytes is the larger end\.$/m);
});

test('idle_conn_bytes is the larger end; each end and the sum are kept; all null without a measurement', (t) => {
  const idle = (perConn: Record<string, number>) => ({
    connections: 5000,
    rss_before: {},
    rss_after: {},
    bytes_per_conn: perConn,
    heap_before: {},
    heap_after: {},
    heap_bytes_per_conn: {},
    held: {},
    gc: true,
  });
  t.deepEqual(idleConnFigures(idle({ 'node-a': 10531, 'node-b': 5758 })), {
    idle_conn_bytes: 10531,
    idle_conn_bytes_by_node: { 'node-a': 10531, 'node-b': 5758 },
    idle_conn_bytes_both_ends: 16289,
  });
  t.is(idleConnFigures(idle({ 'node-a': 3000, 'node-b': 7000 })).idle_conn_bytes, 7000);
  const none = { idle_conn_bytes: null, idle_conn_bytes_by_node: null, idle_conn_bytes_both_ends: null };
  t.deepEqual(idleConnFigures(null), none);
  t.deepEqual(idleConnFigures(idle({})), none);
  const text = formatReport({
    cases: [],
    ...none,
    suite: 'ztunnel',
    started_at: 'now',
    config: { bulk_seconds: 1, round_trips: 1, message_size: 1, streams: 4, workers: 2, idle_connections: 0, quick: true, node: 'v20', cpus: 2, load_average_at_start: [0, 0, 0], load_average_at_end: [0, 0, 0] },
    idle: null,
    targets: targets([], null),
  });
  t.notRegex(text, /idle_conn_bytes_by_node/);
  t.regex(text, /^idle_conn_bytes: n\/a {2}\(target <= 8192: n\/a\)$/m);
});
