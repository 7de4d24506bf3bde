/** The small shared helpers: tools on PATH, flag values, counters from metrics, percentiles, launchers, run steps, child processes. */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { underLauncher } from '../src/lib/child.js';
import { intOption, subsetOption } from '../src/lib/cli-values.js';
import { BenchError } from '../src/lib/errors.js';
import { sumCounter } from '../src/lib/mesh.js';
import { childPids, parseStatParentPid } from '../src/lib/proc-stats.js';
import { percentile, percentileOfSorted } from '../src/lib/stats.js';
import { checkAborted, cpuOf, onPath } from '../src/lib/steps.js';
import { findTool } from '../src/lib/tools.js';

test('findTool finds a program on the search path, takes a path as it is, and names what is missing', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-tools-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const exe = path.join(dir, 'loadtool');
  await writeFile(exe, '#!/bin/sh\n');
  await chmod(exe, 0o755);
  const plain = path.join(dir, 'notexec');
  await writeFile(plain, '');
  t.is(await findTool('loadtool', 'hint', `/nonexistent:${dir}`), exe);
  t.is(await findTool(exe, 'hint', ''), exe);
  const missing = await t.throwsAsync(findTool('loadtool', 'install it with X', '/nonexistent'), { instanceOf: BenchError });
  t.is(missing.code, 'BENCH_ERR_TOOL');
  t.is(missing.message, 'loadtool was not found on PATH; install it with X');
  await t.throwsAsync(findTool(plain, 'or pass --tool'), { message: `${plain} is not an executable file; or pass --tool` });
});

test('integer flags and subsets of known names are checked, naming the flag', (t) => {
  t.is(intOption('--n', undefined, 1), undefined);
  t.is(intOption('--n', '0', 0), 0);
  t.is(intOption('--n', '42', 1), 42);
  for (const bad of ['0', '-1', '1.5', '1e3', '', '99999999999999999999']) {
    const err = t.throws(() => intOption('--n', bad, 1), { instanceOf: BenchError });
    t.is(err.code, 'BENCH_ERR_USAGE');
    t.is(err.message, `--n must be an integer >= 1, got ${JSON.stringify(bad)}`);
  }
  const known = ['a', 'b', 'c'] as const;
  t.deepEqual(subsetOption('--cases', 'c, a,c', known), ['a', 'c']);
  t.throws(() => subsetOption('--protocols', 'a,d', known, 'protocol'), { message: '--protocols: unknown protocol "d" (known: a, b, c)' });
});

test('sumCounter adds the samples of one counter whose labels match', (t) => {
  const text = [
    '# HELP istio_requests_total Requests.',
    '# TYPE istio_requests_total counter',
    'istio_requests_total{reporter="waypoint",response_code="200"} 40',
    'istio_requests_total{reporter="waypoint",response_code="503"} 2',
    'istio_requests_total{reporter="destination",response_code="200"} 7',
    'istio_requests_total_other{reporter="waypoint"} 1000',
    'istio_requests_total{reporter="waypoint",response_code="200",x="a}b"} 3',
  ].join('\n');
  t.is(
    sumCounter(text, 'istio_requests_total', (l) => l.includes('reporter="waypoint"')),
    45,
  );
  t.is(
    sumCounter(text, 'istio_requests_total', (l) => l.includes('response_code="200"') && l.includes('reporter="waypoint"')),
    43,
  );
  t.is(sumCounter(text, 'absent_total', () => true), 0);
});

test('percentiles are nearest-rank', (t) => {
  const values = Array.from({ length: 100 }, (_, i) => 100 - i);
  t.is(percentile(values, 50), 50);
  t.is(percentile(values, 99), 99);
  t.is(percentile(values, 100), 100);
  t.is(percentileOfSorted([1, 2, 3], 0), 1);
  t.throws(() => percentileOfSorted([], 50), { instanceOf: RangeError });
});

test('a launcher prefixes the program, and no launcher runs it as it is', (t) => {
  t.deepEqual(underLauncher(['ip', 'netns', 'exec', 'ns1'], 'wrk', ['-t1', 'url']), ['ip', ['netns', 'exec', 'ns1', 'wrk', '-t1', 'url']]);
  t.deepEqual(underLauncher(undefined, 'wrk', ['url']), ['wrk', ['url']]);
  t.deepEqual(underLauncher([], 'wrk', ['url']), ['wrk', ['url']]);
});

test('onPath names the path and workload of a failure, but lets an interruption through as it is', async (t) => {
  const err = await t.throwsAsync(onPath('nginx http2', 'full speed', () => Promise.reject(new Error('boom'))), { instanceOf: BenchError });
  t.is(err.code, 'BENCH_ERR_PATH');
  t.is(err.message, 'nginx http2: full speed failed: boom');
  const aborted = new BenchError('BENCH_ERR_ABORTED', 'interrupted');
  t.is(await t.throwsAsync(onPath('x', 'y', () => Promise.reject(aborted))), aborted);
  t.is(await onPath('x', 'y', () => Promise.resolve(7)), 7);
  const controller = new AbortController();
  t.notThrows(() => checkAborted(controller.signal));
  controller.abort();
  t.throws(() => checkAborted(controller.signal), { instanceOf: BenchError, message: 'interrupted' });
});

test('child processes are found by their parent pid, and CPU of several processes adds up', async (t) => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.teardown(() => child.kill('SIGKILL'));
  await new Promise((resolve) => child.once('spawn', resolve));
  t.true((await childPids(process.pid)).includes(child.pid!));
  t.deepEqual(await childPids(child.pid!), []);
  const mine = await cpuOf([process.pid]);
  t.true((await cpuOf([process.pid, process.pid])) >= 2 * mine);
  t.is(parseStatParentPid('77 (a (b) c) S 4242 77 77 0'), 4242);
  t.throws(() => parseStatParentPid('77 a S x'), { instanceOf: BenchError, message: /no parent pid/ });
});
