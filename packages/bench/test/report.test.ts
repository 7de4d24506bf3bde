import test from 'ava';
import { formatReport, median, ratios, summarise } from '../src/hbone/report.js';
import type { CaseResult, CaseRuns, HboneReport } from '../src/hbone/report.js';
import type { CaseName } from '../src/hbone/paths.js';

const GiB = 1024 ** 3;

function pp(p50Us: number, p99Us: number): CaseRuns['pingPong'][number] {
  return { roundTrips: 1000, bytes: 2_048_000, seconds: 0.2, p50Us, p90Us: p50Us, p99Us, maxUs: p99Us, meanUs: p50Us };
}

test('median of odd and even counts', (t) => {
  t.is(median([3, 1, 2]), 2);
  t.is(median([4, 1, 3, 2]), 2.5);
  t.true(Number.isNaN(median([])));
});

test('summarise: median throughput and latency, CPU of the pair per GiB, RSS as given', (t) => {
  const runs: CaseRuns = {
    name: 'hbone',
    bulk: [
      { bytes: GiB, seconds: 2 },
      { bytes: GiB, seconds: 1 },
      { bytes: GiB, seconds: 4 },
    ],
    pingPong: [pp(150, 300), pp(170, 500), pp(160, 400)],
    proxyCpuSeconds: 9,
    peakRssMiB: 88.04,
    hasProxies: true,
  };
  t.deepEqual(summarise(runs), {
    case: 'hbone',
    throughput_MBps: Math.round((GiB / 2 / 1e6) * 10) / 10,
    p50_us: 160,
    p99_us: 400,
    cpu_s_per_GiB: 3,
    rss_MB: 88,
    bulk_bytes: GiB,
    round_trips: 1000,
    runs: 3,
  });
});

test('summarise: a path without proxies has null CPU and RSS', (t) => {
  const r = summarise({ name: 'direct', bulk: [{ bytes: GiB, seconds: 0.25 }], pingPong: [pp(20, 40)], proxyCpuSeconds: 0, peakRssMiB: undefined, hasProxies: false });
  t.is(r.cpu_s_per_GiB, null);
  t.is(r.rss_MB, null);
});

function row(name: CaseName, mbps: number, p50: number): CaseResult {
  return { case: name, throughput_MBps: mbps, p50_us: p50, p99_us: p50 * 2, cpu_s_per_GiB: 1, rss_MB: 80, bulk_bytes: GiB, round_trips: 1000, runs: 1 };
}

test('ratios: PASS at the targets, MISS beyond them', (t) => {
  const pass = ratios([row('direct', 4000, 80), row('node-tls', 600, 150), row('hbone', 480, 180), row('c-tunnel', 1000, 120)]);
  t.deepEqual(pass, [
    { name: 'hbone/node-tls throughput', value: 0.8, target: '>= 0.8', met: true },
    { name: 'hbone p50 - direct p50 (us)', value: 100, target: '<= 100', met: true },
    { name: 'hbone/c-tunnel throughput', value: 0.48, target: null, met: null },
  ]);
  const miss = ratios([row('direct', 4000, 80), row('node-tls', 600, 150), row('hbone', 479, 180.1), row('c-tunnel', 1000, 120)]);
  t.deepEqual(
    miss.map((r) => r.met),
    [false, false, null],
  );
});

test('ratios: n/a when a case was not run', (t) => {
  const r = ratios([row('direct', 4000, 80), row('node-tls', 600, 150)]);
  t.deepEqual(
    r.map((x) => [x.value, x.met]),
    [
      [null, null],
      [null, null],
      [null, null],
    ],
  );
});

test('the printed report has a row per case and a verdict per target', (t) => {
  const cases = [row('direct', 4000, 80), row('node-tls', 600, 150), row('hbone', 400, 250), row('c-tunnel', 1000, 120)];
  const report: HboneReport = {
    suite: 'hbone',
    started_at: '2026-01-01T00:00:00.000Z',
    config: { bulk_bytes: GiB, round_trips: 20_000, message_size: 1024, repeat: 3, quick: false, node: 'v20', cpus: 2 },
    cases,
    ratios: ratios(cases),
  };
  const text = formatReport(report);
  t.regex(text, /^hbone\s+400\.0\s+250\.0\s+500\.0\s+1\.00\s+80\.0$/m);
  t.regex(text, /^hbone\/node-tls throughput: 0\.667 {2}\(target >= 0\.8: MISS\)$/m);
  t.regex(text, /^hbone p50 - direct p50 \(us\): 170 {2}\(target <= 100: MISS\)$/m);
  t.regex(text, /^hbone\/c-tunnel throughput: 0\.4$/m);
  t.regex(text, /bulk 1024 MiB one way, ping-pong 20000 x 1024 B; median of 3 run\(s\)/);
});
