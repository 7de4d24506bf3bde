/**
 * `pnpm bench ztunnel --quick` end to end through its real entry point (root only): every path delivers, the
 * JSON has the agreed shape, the targets are printed, and nothing is left behind (namespaces, processes,
 * temp dirs); SIGINT in the middle of a run cleans up too.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import type { ZtunnelReport } from '../src/ztunnel/report.js';
import { rootOnly } from './helpers/root.js';
import { leftoverProcesses, meshNamespaces, meshRunName, runCli, sandbox } from './support.js';

test.serial('quick mode: every path delivers and ztunnel.json has the agreed shape', async (t) => {
  if (!rootOnly(t)) return;
  const box = await sandbox();
  t.teardown(() => box.dispose());
  const out = path.join(box.tmp, 'results');
  const run = await runCli(['ztunnel', '--quick', '--out', out], box.env);
  t.is(run.code, 0, run.stderr);
  const report = JSON.parse(await readFile(path.join(out, 'ztunnel.json'), 'utf8')) as ZtunnelReport;
  t.deepEqual(Object.keys(report).slice(0, 2), ['cases', 'idle_conn_bytes']);
  t.deepEqual(
    report.cases.map((c) => c.case),
    ['direct', 'ztunnel', 'c-tunnel'],
  );
  for (const c of report.cases) {
    t.deepEqual(Object.keys(c).slice(0, 6), ['case', 'throughput_MBps', 'p50_us', 'p99_us', 'cpu_s_per_GiB', 'rss_MB']);
    for (const key of ['throughput_MBps', 'p50_us', 'p99_us'] as const) t.true(c[key] > 0, `${c.case} ${key} = ${c[key]}`);
    t.true(c.p99_us >= c.p50_us);
    t.true(c.bulk_bytes > 0, `${c.case} delivered bulk bytes`);
    t.is(c.round_trips, 2000, `${c.case} completed every round trip`);
    if (c.case === 'direct') {
      t.is(c.cpu_s_per_GiB, null);
      t.is(c.rss_MB, null);
    } else {
      t.true(c.cpu_s_per_GiB !== null && c.cpu_s_per_GiB > 0, `${c.case} cpu`);
      t.true(c.rss_MB !== null && c.rss_MB > 1, `${c.case} rss`);
    }
  }
  t.true(typeof report.idle_conn_bytes === 'number');
  t.like(report.idle, { connections: 500, gc: true });
  const byNode = report.idle_conn_bytes_by_node!;
  t.deepEqual(Object.keys(byNode), ['node-a', 'node-b']);
  t.is(report.idle_conn_bytes, Math.max(byNode['node-a']!, byNode['node-b']!));
  t.is(report.idle_conn_bytes_both_ends, byNode['node-a']! + byNode['node-b']!);
  for (const node of ['node-a', 'node-b']) t.true(report.idle!.heap_after[node]! > 0, `${node} reported its heap`);
  for (const node of ['node-a', 'node-b']) t.true(report.idle!.held[node]! >= 500, `${node} held every idle connection`);
  t.deepEqual(
    report.targets.map((x) => x.name),
    ['ztunnel p50 - direct p50 (us)', 'ztunnel/c-tunnel throughput', 'idle_conn_bytes'],
  );
  for (const x of report.targets) t.is(typeof x.met, 'boolean', x.name);
  t.regex(run.stdout, /^ztunnel p50 - direct p50 \(us\): -?[\d.]+ {2}\(target <= 150: (PASS|MISS)\)$/m);
  t.regex(run.stdout, /^ztunnel\/c-tunnel throughput: [\d.]+ {2}\(target >= 0\.6: (PASS|MISS)\)$/m);
  t.regex(run.stdout, /^idle_conn_bytes: -?\d+ {2}\(target <= 8192: (PASS|MISS)\)$/m);
  t.regex(run.stdout, /^idle_conn_bytes_by_node: node-a -?\d+, node-b -?\d+; idle_conn_bytes_both_ends: -?\d+; idle_conn_bytes is the larger end\.$/m);
  t.deepEqual(meshNamespaces(meshRunName(run.stderr)), []);
  t.deepEqual(await leftoverProcesses(box.marker), []);
  t.deepEqual(await readdir(box.tmp), ['results'], 'temp dirs removed');
});

test.serial('SIGINT during the run exits 130 and removes the namespaces, processes and temp dirs', async (t) => {
  if (!rootOnly(t)) return;
  const box = await sandbox();
  t.teardown(() => box.dispose());
  const run = await runCli(['ztunnel', '--quick', '--out', box.tmp], box.env, (err) => err.includes('direct: '));
  t.is(run.code, 130, run.stderr);
  t.deepEqual(meshNamespaces(meshRunName(run.stderr)), []);
  t.deepEqual(await leftoverProcesses(box.marker), []);
  t.deepEqual(await readdir(box.tmp), []);
});

test.serial('a missing iperf3 fails the run naming it, and cleans up', async (t) => {
  if (!rootOnly(t)) return;
  const box = await sandbox();
  t.teardown(() => box.dispose());
  const run = await runCli(['ztunnel', '--quick', '--cases', 'direct', '--idle-conns', '0', '--iperf3', '/nonexistent/iperf3', '--out', box.tmp], box.env);
  t.is(run.code, 1);
  t.regex(run.stderr, /error: .*iperf3-server.*(\/nonexistent\/iperf3|No such file)/s);
  t.deepEqual(await leftoverProcesses(box.marker), []);
  t.deepEqual(await readdir(box.tmp), []);
});
