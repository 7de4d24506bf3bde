/**
 * The HBONE benchmark end to end, in quick mode, through its real entry point: every path must move every
 * byte, the JSON must have the agreed shape, and nothing may be left behind whether the run ends normally,
 * with an error, or on SIGINT.
 */
import test from 'ava';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { HboneReport } from '../src/hbone/report.js';
import { leftoverProcesses, runCli, sandbox } from './support.js';

const QUICK_BULK_BYTES = 128 * 1024 * 1024;
const QUICK_ROUND_TRIPS = 2000;

test.serial('quick mode: every path moves every byte and hbone.json has the agreed shape', async (t) => {
  const box = await sandbox();
  t.teardown(() => box.dispose());
  const out = path.join(box.tmp, 'results');
  const run = await runCli(['hbone', '--quick', '--out', out], box.env);
  t.is(run.code, 0, run.stderr);

  const report = JSON.parse(await readFile(path.join(out, 'hbone.json'), 'utf8')) as HboneReport;
  t.deepEqual(
    report.cases.map((c) => c.case),
    ['direct', 'node-tls', 'hbone', 'c-tunnel'],
  );
  for (const c of report.cases) {
    t.deepEqual(Object.keys(c).slice(0, 6), ['case', 'throughput_MBps', 'p50_us', 'p99_us', 'cpu_s_per_GiB', 'rss_MB']);
    t.is(c.bulk_bytes, QUICK_BULK_BYTES, `${c.case} bulk bytes`);
    t.is(c.round_trips, QUICK_ROUND_TRIPS, `${c.case} round trips`);
    t.is(c.runs, 1);
    for (const key of ['throughput_MBps', 'p50_us', 'p99_us'] as const) {
      t.true(typeof c[key] === 'number' && c[key] > 0, `${c.case} ${key} = ${c[key]}`);
    }
    t.true(c.p99_us >= c.p50_us, `${c.case} p99 >= p50`);
    if (c.case === 'direct') {
      t.is(c.cpu_s_per_GiB, null);
      t.is(c.rss_MB, null);
    } else {
      // Any proxy spends CPU moving 128 MiB and holds some memory.
      t.true(c.cpu_s_per_GiB !== null && c.cpu_s_per_GiB > 0, `${c.case} cpu ${c.cpu_s_per_GiB}`);
      t.true(c.rss_MB !== null && c.rss_MB > 1, `${c.case} rss ${c.rss_MB}`);
    }
  }
  t.deepEqual(
    report.ratios.map((r) => r.name),
    ['hbone/node-tls throughput', 'hbone p50 - direct p50 (us)', 'hbone/c-tunnel throughput'],
  );
  for (const r of report.ratios) t.is(typeof r.value, 'number', r.name);
  t.regex(run.stdout, /^hbone\/node-tls throughput: [\d.]+ {2}\(target >= 0\.8: (PASS|MISS)\)$/m);
  t.regex(run.stdout, /^hbone p50 - direct p50 \(us\): -?[\d.]+ {2}\(target <= 100: (PASS|MISS)\)$/m);

  t.deepEqual(await leftoverProcesses(box.marker), []);
  t.deepEqual(await readdir(box.tmp), ['results'], 'temp dirs removed');
});

test.serial('a path that cannot start fails the run with the reason, and cleans up what did start', async (t) => {
  const box = await sandbox();
  t.teardown(() => box.dispose());
  const run = await runCli(
    ['hbone', '--quick', '--cases', 'direct,node-tls,c-tunnel', '--stunnel', '/nonexistent/stunnel', '--out', box.tmp],
    box.env,
  );
  t.is(run.code, 1);
  t.regex(run.stderr, /error: cannot run stunnel-server \(\/nonexistent\/stunnel\): spawn \/nonexistent\/stunnel ENOENT/);
  t.deepEqual(await leftoverProcesses(box.marker), []);
  t.deepEqual(await readdir(box.tmp), []);
});

test.serial('SIGINT stops the run, exits 130 and leaves no process or temp dir behind', async (t) => {
  const box = await sandbox();
  t.teardown(() => box.dispose());
  // Interrupt once proxies are up and load is flowing.
  const run = await runCli(['hbone', '--quick', '--repeat', '3', '--out', box.tmp], box.env, (err) =>
    err.includes('run 1/3 node-tls'),
  );
  t.is(run.code, 130, run.stderr);
  t.regex(run.stderr, /SIGINT: stopping and cleaning up/);
  t.false(run.stderr.includes('run 3/3'));
  t.deepEqual(await leftoverProcesses(box.marker), []);
  t.deepEqual(await readdir(box.tmp), []);
});

test.serial('command-line errors exit 2 with the reason', async (t) => {
  const box = await sandbox();
  t.teardown(() => box.dispose());
  const unknown = await runCli(['nope'], box.env);
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /unknown suite "nope"/);
  t.regex(unknown.stderr, /^ {2}hbone$/m);

  const none = await runCli([], box.env);
  t.is(none.code, 2);
  t.regex(none.stdout, /usage: pnpm bench <suite>/);

  const badFlag = await runCli(['hbone', '--repeat', '0'], box.env);
  t.is(badFlag.code, 2);
  t.regex(badFlag.stderr, /--repeat must be a positive integer, got "0"/);

  const help = await runCli(['hbone', '--help'], box.env);
  t.is(help.code, 0);
  t.regex(help.stdout, /--quick/);
});
