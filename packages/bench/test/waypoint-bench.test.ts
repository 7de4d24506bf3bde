/**
 * `pnpm bench waypoint --quick` end to end through its real entry point (root only): every path delivers and
 * proves it, the JSON has the agreed shape, the targets are printed, and nothing is left behind
 * (namespaces, processes, temp dirs); a missing tool and an nginx that cannot start fail the run cleanly.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import type { WaypointReport } from '../src/waypoint/report.js';
import { rootOnly } from './helpers/root.js';
import { leftoverProcesses, meshNamespaces, meshRunName, runCli, sandbox } from './support.js';

/** What proves each path carried the traffic. */
const COUNTERS = {
  direct: "node-b's ztunnel's connections from the client",
  ztunnel: "node-b's ztunnel's connections from the client",
  waypoint: "the waypoint's istio_requests_total",
  nginx: "the proxy nginx's request count",
} as const;

test.serial('quick mode: every path carries HTTP/1.1 and HTTP/2 and proves it, and waypoint.json has the agreed shape', async (t) => {
  if (!rootOnly(t)) return;
  const box = await sandbox();
  t.teardown(() => box.dispose());
  const out = path.join(box.tmp, 'results');
  const run = await runCli(['waypoint', '--quick', '--out', out], box.env);
  t.is(run.code, 0, run.stderr);
  const report = JSON.parse(await readFile(path.join(out, 'waypoint.json'), 'utf8')) as WaypointReport;
  t.deepEqual(Object.keys(report)[0], 'cases');
  t.deepEqual(
    report.cases.map((c) => `${c.case} ${c.protocol}`),
    ['direct http1', 'direct http2', 'ztunnel http1', 'ztunnel http2', 'waypoint http1', 'waypoint http2', 'nginx http1', 'nginx http2'],
  );
  for (const c of report.cases) {
    const name = `${c.case} ${c.protocol}`;
    t.deepEqual(Object.keys(c).slice(0, 7), ['case', 'protocol', 'rps', 'p50_us', 'p99_us', 'cpu_s_per_1k_req', 'rss_MB']);
    for (const key of ['rps', 'p50_us', 'p99_us'] as const) t.true(c[key] > 0, `${name} ${key} = ${c[key]}`);
    t.true(c.p99_us >= c.p50_us, name);
    // 2 s at 1,000 requests/s in two rounds: every one timed.
    t.is(c.rate_requests, 2000, name);
    t.is(c.rate_segments, 2, name);
    t.true(c.server_requests >= c.load_requests + c.rate_requests, `${name}: the server pod served them all`);
    if (c.case === 'direct') {
      t.is(c.cpu_s_per_1k_req, null);
      t.is(c.rss_MB, null);
      t.like(c.path_proof, { rose: 0, expected: '= 0' }, 'node-b\'s ztunnel saw none of it');
    } else {
      t.true(c.cpu_s_per_1k_req !== null && c.cpu_s_per_1k_req > 0, `${name} cpu`);
      t.true(c.rss_MB !== null && c.rss_MB > 1, `${name} rss`);
      t.true(c.mesh_cpu_s_per_1k_req !== null && c.mesh_cpu_s_per_1k_req > 0, `${name}: the ztunnels worked`);
      const need = Number(/^>= (\d+)$/.exec(c.path_proof.expected)?.[1]);
      t.true(c.path_proof.rose >= need && need > 0, `${name}: ${JSON.stringify(c.path_proof)}`);
    }
    t.is(c.path_proof.counter, COUNTERS[c.case], name);
    if (c.case === 'waypoint' || c.case === 'nginx') t.true(c.path_proof.rose >= c.load_requests + c.rate_requests, `${name}: the proxy counted every request`);
  }
  t.deepEqual(
    report.targets.map((x) => x.name),
    [
      'http1: waypoint p99 - ztunnel p99 at the fixed rate (us)',
      'http2: waypoint p99 - ztunnel p99 at the fixed rate (us)',
      'http1: waypoint/nginx requests per CPU-second',
      'http2: waypoint/nginx requests per CPU-second',
      'http1: reference: nginx p99 - ztunnel p99 at the fixed rate (us)',
      'http2: reference: nginx p99 - ztunnel p99 at the fixed rate (us)',
      'http1: reference: waypoint path/nginx path requests per CPU-second (the L7 proxy and both ztunnels)',
      'http2: reference: waypoint path/nginx path requests per CPU-second (the L7 proxy and both ztunnels)',
    ],
  );
  for (const x of report.targets) t.is(typeof x.met, x.target === null ? 'object' : 'boolean', x.name);
  for (const x of report.targets.filter((r) => r.target === null)) t.true(typeof x.value === 'number', x.name);
  t.regex(run.stdout, /^http1: waypoint p99 - ztunnel p99 at the fixed rate \(us\): -?[\d.]+ {2}\(target <= 1000: (PASS|MISS)\)$/m);
  t.regex(run.stdout, /^http2: waypoint\/nginx requests per CPU-second: [\d.]+ {2}\(target >= 0\.5: (PASS|MISS)\)$/m);
  t.deepEqual(meshNamespaces(meshRunName(run.stderr)), []);
  t.deepEqual(await leftoverProcesses(box.marker), []);
  t.deepEqual(await readdir(box.tmp), ['results'], 'temp dirs removed');
});

test.serial('a missing load generator fails the run at once, naming it and how to get it', async (t) => {
  if (!rootOnly(t)) return;
  const box = await sandbox();
  t.teardown(() => box.dispose());
  const run = await runCli(['waypoint', '--quick', '--h2load', '/nonexistent/h2load', '--out', box.tmp], box.env);
  t.is(run.code, 1);
  t.regex(run.stderr, /error: \/nonexistent\/h2load is not an executable file; install it with scripts\/setup\.sh .* --h2load/);
  t.notRegex(run.stderr, /mesh run/, 'nothing was started');
  t.deepEqual(await readdir(box.tmp), []);
});

test.serial('an nginx that cannot start fails the run naming it, and cleans up', async (t) => {
  if (!rootOnly(t)) return;
  const box = await sandbox();
  t.teardown(() => box.dispose());
  // An executable that exits at once: found, but never serving.
  const run = await runCli(['waypoint', '--quick', '--cases', 'direct', '--nginx', '/bin/false', '--out', box.tmp], box.env);
  t.is(run.code, 1, run.stderr);
  t.regex(run.stderr, /error: .*server-nginx/s);
  t.deepEqual(meshNamespaces(meshRunName(run.stderr)), []);
  t.deepEqual(await leftoverProcesses(box.marker), []);
  t.deepEqual(await readdir(box.tmp), []);
});

test.serial('SIGINT during the run exits 130 and removes the namespaces, processes and temp dirs', async (t) => {
  if (!rootOnly(t)) return;
  const box = await sandbox();
  t.teardown(() => box.dispose());
  const run = await runCli(['waypoint', '--quick', '--cases', 'direct,nginx', '--out', box.tmp], box.env, (err) => err.includes('direct http1: '));
  t.is(run.code, 130, run.stderr);
  t.deepEqual(meshNamespaces(meshRunName(run.stderr)), []);
  t.deepEqual(await leftoverProcesses(box.marker), []);
  t.deepEqual(await readdir(box.tmp), []);
});
