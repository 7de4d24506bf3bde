import test from 'ava';
import path from 'node:path';
import { BenchError } from '../src/lib/errors.js';
import { parseHboneOptions } from '../src/hbone/options.js';

const MiB = 1024 * 1024;

test('defaults are the full run: 1 GiB, 20,000 round trips of 1 KiB, 3 runs, every case', (t) => {
  const o = parseHboneOptions([], '/r')!;
  t.is(o.bulkBytes, 1024 * MiB);
  t.is(o.roundTrips, 20_000);
  t.is(o.warmup, 1_000);
  t.is(o.messageSize, 1024);
  t.is(o.repeat, 3);
  t.deepEqual(o.cases, ['direct', 'node-tls', 'hbone', 'c-tunnel']);
  t.is(o.outDir, '/r');
  t.is(o.stunnel, 'stunnel4');
  t.false(o.quick);
});

test('--quick is 128 MiB, 2,000 round trips, one run; explicit flags still win', (t) => {
  const q = parseHboneOptions(['--quick'], '/r')!;
  t.is(q.bulkBytes, 128 * MiB);
  t.is(q.roundTrips, 2_000);
  t.is(q.warmup, 200);
  t.is(q.repeat, 1);
  t.true(q.quick);
  const o = parseHboneOptions(['--quick', '--bulk-mib', '8', '--repeat', '2', '--out', 'rel', '--size', '64'], '/r')!;
  t.is(o.bulkBytes, 8 * MiB);
  t.is(o.repeat, 2);
  t.is(o.messageSize, 64);
  t.is(o.outDir, path.resolve('rel'));
});

test('--cases picks a subset, reported in the canonical order without duplicates', (t) => {
  t.deepEqual(parseHboneOptions(['--cases', 'c-tunnel, direct,hbone,direct'], '/r')!.cases, ['direct', 'hbone', 'c-tunnel']);
});

test('--help returns no options (the suite prints usage)', (t) => {
  t.is(parseHboneOptions(['--help'], '/r'), undefined);
});

test('bad values and unknown flags are usage errors naming the flag', (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--repeat', '0'], /--repeat must be a positive integer, got "0"/],
    [['--bulk-mib', '1.5'], /--bulk-mib must be a positive integer, got "1.5"/],
    [['--round-trips=-3'], /--round-trips must be a positive integer, got "-3"/],
    [['--size', '99999999999999999999'], /--size must be a positive integer/],
    [['--cases', 'direct,udp'], /--cases: unknown case "udp" \(known: direct, node-tls, hbone, c-tunnel\)/],
    [['--fast'], /Unknown option '--fast'/],
    [['stray'], /Unexpected argument 'stray'/],
  ];
  for (const [args, message] of cases) {
    const err = t.throws(() => parseHboneOptions(args, '/r'), { instanceOf: BenchError, message }, args.join(' '));
    t.is(err?.code, 'BENCH_ERR_USAGE');
  }
});
