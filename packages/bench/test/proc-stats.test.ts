import test from 'ava';
import net from 'node:net';
import { BenchError } from '../src/lib/errors.js';
import {
  clockTicksPerSecond,
  listeningPorts,
  parseStatCpuTicks,
  parseStatusPeakRssKiB,
  parseTcpTable,
  readCpuSeconds,
  readPeakRssMiB,
} from '../src/lib/proc-stats.js';

test('CPU ticks are utime + stime, counted after a command name holding spaces and parentheses', (t) => {
  // Fields 14 and 15 (utime, stime) are 250 and 40; the name tries to shift the count.
  const stat = '4242 (we (ird) name) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 40 0 0 20 0 5 0 100 1000000 300 18446744073709551615';
  t.is(parseStatCpuTicks(stat), 290);
});

test('an unreadable stat line is refused with the reason', (t) => {
  t.throws(() => parseStatCpuTicks('no parenthesis here'), { instanceOf: BenchError, message: /no "\)" after the command name/ });
  t.throws(() => parseStatCpuTicks('1 (x) S 1 2'), { instanceOf: BenchError, message: /utime undefined stime undefined/ });
});

test('peak RSS comes from VmHWM, and a status without it is refused', (t) => {
  t.is(parseStatusPeakRssKiB('Name:\tnode\nVmPeak:\t  900000 kB\nVmHWM:\t   81234 kB\nVmRSS:\t   80000 kB\n'), 81234);
  t.throws(() => parseStatusPeakRssKiB('Name:\tnode\nVmRSS:\t 1 kB\n'), { instanceOf: BenchError, message: /no VmHWM/ });
});

test('this process: CPU grows with work, peak RSS is plausible', async (t) => {
  t.true((await clockTicksPerSecond()) > 0);
  const before = await readCpuSeconds(process.pid);
  // Burn 100 ms of CPU (not wall time: the machine may be busy), ten /proc ticks at the usual 100 Hz.
  const start = process.cpuUsage();
  let x = 0;
  while (process.cpuUsage(start).user < 100_000) x += Math.sqrt(x + 1);
  t.true(x > 0);
  t.true((await readCpuSeconds(process.pid)) > before);
  const rss = await readPeakRssMiB(process.pid);
  t.true(rss > 5 && rss < 10_000, `rss ${rss} MiB`);
});

test('a process that is gone is reported, not read as zero', async (t) => {
  // Pid 0 has no /proc entry.
  await t.throwsAsync(readCpuSeconds(0), { instanceOf: BenchError, message: /cannot read \/proc\/0\/stat/ });
  await t.throwsAsync(readPeakRssMiB(0), { instanceOf: BenchError, message: /cannot read \/proc\/0\/status/ });
});

test('/proc/net/tcp rows: port in hex, LISTEN state, inode', (t) => {
  const text = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:801D 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 8654 1 0000000033545008 100 0 0 10 0',
    '   1: 0100007F:9C40 0100007F:801D 01 00000000:00000000 00:00000000 00000000     0        0 8700 1 0000000033545008 20 4 30 10 -1',
    '',
  ].join('\n');
  t.deepEqual(parseTcpTable(text), [
    { localPort: 0x801d, listening: true, inode: '8654' },
    { localPort: 0x9c40, listening: false, inode: '8700' },
  ]);
});

test('listeningPorts finds the port this process listens on', async (t) => {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => srv.close(() => r())));
  const port = (srv.address() as net.AddressInfo).port;
  t.true((await listeningPorts(process.pid)).includes(port));
});
