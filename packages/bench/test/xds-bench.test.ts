/**
 * The xDS benchmark in quick mode through its real entry point (control plane and client as child
 * processes): the JSON has the agreed shape and sane values, and nothing is left behind.
 */
import test from 'ava';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { XdsReport } from '../src/xds/report.js';
import { leftoverProcesses, runCli, sandbox } from './support.js';

test.serial('quick mode: xds.json has the agreed figures, every change was applied, nothing is left behind', async (t) => {
  const box = await sandbox();
  t.teardown(() => box.dispose());
  const out = path.join(box.tmp, 'results');
  const run = await runCli(['xds', '--quick', '--out', out], box.env);
  t.is(run.code, 0, run.stderr);
  const report = JSON.parse(await readFile(path.join(out, 'xds.json'), 'utf8')) as XdsReport;
  t.deepEqual(Object.keys(report).slice(0, 4), ['cold_push_ms', 'one_change_p99_ms', 'full_push_bytes', 'client_heap_bytes_per_workload']);
  t.deepEqual(report.config, { pods: 1000, services: 100, policies: 20, namespaces: 20, nodes: 4, changes: 10, input_files: report.config.input_files, input_bytes: report.config.input_bytes });
  t.is(report.client_heap.workloads, 1000);
  t.is(report.client_heap.services, 100);
  // 20 policies plus the static STRICT policy of the mesh-wide PeerAuthentication.
  t.is(report.client_heap.authorizations, 21);
  t.is(report.full_push_responses, 2);
  t.true(report.full_push_bytes > 1000 * 100, `${report.full_push_bytes} bytes`);
  t.true(report.cold_push_ms > report.cold_start.serving_ms);
  t.true(report.one_change_p99_ms >= report.one_change_p50_ms);
  t.true(report.one_change_from_write_p50_ms >= report.one_change_p50_ms);
  t.true(report.client_heap_bytes_per_workload > 0);
  t.is(report.one_change_slowest.length, 5);
  for (const c of report.one_change_slowest) {
    t.true(Math.abs(c.read_ms + c.compute_ms + c.serve_ms + c.deliver_ms - c.total_ms) < 0.5, JSON.stringify(c));
    t.true(c.serve_ms >= 0 && c.deliver_ms > 0, JSON.stringify(c));
  }
  t.is(report.one_change_slowest[0]!.total_ms, report.one_change_p99_ms);
  t.regex(run.stdout, /^slowest change: +[\d.]+ ms = read [\d.]+ \+ compute [\d.]+ \+ serve -?[\d.]+ \+ deliver [\d.]+$/m);
  t.deepEqual(report.targets.map((x) => x.name), ['one_change_p99_ms', 'client_heap_bytes_per_workload']);
  t.regex(run.stdout, /^one_change_p99_ms: [\d.]+ {2}\(target < 50: (PASS|MISS)\)$/m);
  t.regex(run.stdout, /^client_heap_bytes_per_workload: \d+ {2}\(target <= 2048: (PASS|MISS)\)$/m);
  t.deepEqual(await leftoverProcesses(box.marker), []);
  t.deepEqual(await readdir(box.tmp), ['results'], 'temp dirs removed');
});

test.serial('--profile writes both CPU profiles and the control plane log with its GC trace', async (t) => {
  const box = await sandbox();
  t.teardown(() => box.dispose());
  const out = path.join(box.tmp, 'results');
  const profile = path.join(box.tmp, 'profile');
  const run = await runCli(['xds', '--quick', '--changes', '2', '--out', out, '--profile', profile], box.env);
  t.is(run.code, 0, run.stderr);
  t.deepEqual((await readdir(profile)).sort(), ['control-plane.cpuprofile', 'control-plane.log', 'xds-client.cpuprofile']);
  for (const name of ['control-plane.cpuprofile', 'xds-client.cpuprofile']) {
    const cpu = JSON.parse(await readFile(path.join(profile, name), 'utf8')) as { nodes: unknown[]; samples: unknown[] };
    t.true(cpu.nodes.length > 0 && cpu.samples.length > 0, name);
  }
  const log = await readFile(path.join(profile, 'control-plane.log'), 'utf8');
  t.regex(log, /"msg":"published mesh snapshot"/);
  t.regex(log, /"msg":"serving new snapshot"/);
  t.regex(log, /Scavenge|Mark-Compact/, 'the GC trace is interleaved with the log');
  t.deepEqual(await leftoverProcesses(box.marker), []);
});

test.serial('xds command-line errors exit 2 with the reason', async (t) => {
  const box = await sandbox();
  t.teardown(() => box.dispose());
  const bad = await runCli(['xds', '--changes', '0'], box.env);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--changes must be a positive integer, got "0"/);
  const more = await runCli(['xds', '--pods', '10', '--services', '20'], box.env);
  t.is(more.code, 2);
  t.regex(more.stderr, /--services \(20\) cannot exceed --pods \(10\)/);
  const help = await runCli(['xds', '--help'], box.env);
  t.is(help.code, 0);
  t.regex(help.stdout, /--quick/);
});
