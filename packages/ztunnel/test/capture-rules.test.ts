/** The pure parts of capture: workload validation, set diffs, the nft scripts, option checks, the command runner. */
import test from 'ava';
import { silentLogger } from '@ambit/mesh-core/telemetry';
import { CaptureError, CaptureManager } from '../src/capture/index.js';
import { runCommand, runCommandSync } from '../src/capture/command.js';
import { deltaScript, installScript, removeScript, resyncScript } from '../src/capture/nft-script.js';
import { hasNetAdmin } from '../src/capture/privileges.js';
import { diffElements, elementsOf, isEmptyDelta, validateWorkloads } from '../src/capture/workloads.js';
import { DEFAULT_CAPTURE_PORTS } from '../src/capture/constants.js';

const a = { uid: 'a', ip: '10.0.0.1', interface: 'veth0' };
const b = { uid: 'b', ip: '10.0.0.2' };

test('a valid workload list comes back as a frozen copy', (t) => {
  const input = [a, { ...b, interface: undefined }];
  const out = validateWorkloads(input);
  t.deepEqual(out, [a, b]);
  t.true(Object.isFrozen(out) && Object.isFrozen(out[0]));
  t.not(out[0], a);
});

test('every problem in a workload list is reported at once, naming its entry', (t) => {
  const err = t.throws(
    () =>
      validateWorkloads([
        { uid: '', ip: '10.0.0.1' },
        { uid: 'v6', ip: 'fd00::1' },
        { uid: 'bad', ip: '10.0.0.300' },
        { uid: 'lo', ip: '127.0.0.2' },
        { uid: 'a', ip: '10.0.0.1', interface: 'veth0" } ; flush ruleset ; {"' },
        { uid: 'a', ip: '10.0.0.3' },
        { uid: 'c', ip: '10.0.0.3' },
        { uid: 'd', ip: '10.0.0.4', interface: 'a-very-long-interface' },
        7,
      ]),
    { instanceOf: CaptureError },
  );
  t.is(err?.code, 'CAPTURE_ERR_INVALID_WORKLOAD');
  t.is(
    err?.message,
    'invalid workload list (9 problems): ' +
      [
        'workloads[0]: uid must be a non-empty string, got ""',
        'workloads[1] (v6): ip fd00::1 is IPv6; capture handles IPv4 only',
        'workloads[2] (bad): ip "10.0.0.300" is not an IPv4 address',
        'workloads[3] (lo): ip 127.0.0.2 cannot be a pod address (unspecified, loopback, multicast or reserved)',
        'workloads[4] (a): interface must be a Linux interface name (1-15 of A-Z a-z 0-9 _ . + -), got "veth0\\" } ; flush ruleset ; {\\""',
        'workloads[5] (a): uid already given by workloads[4]',
        'workloads[6] (c): ip 10.0.0.3 is also claimed by a',
        'workloads[7] (d): interface must be a Linux interface name (1-15 of A-Z a-z 0-9 _ . + -), got "a-very-long-interface"',
        'workloads[8]: expected an object, got number 7',
      ].join('; '),
  );
  t.is(t.throws(() => validateWorkloads({}))?.message, 'invalid workload list: expected an array of workloads, got an object');
});

test('a diff holds only the elements that changed; a new interface moves a workload between sets', (t) => {
  const before = elementsOf([a, b]);
  t.deepEqual(
    [...before].map(([set, els]) => [set, [...els]]),
    [
      ['enrolled_v4', ['10.0.0.1', '10.0.0.2']],
      ['outbound_if_v4', ['"veth0" . 10.0.0.1']],
      ['outbound_rpf_v4', ['10.0.0.2']],
    ],
  );
  t.true(isEmptyDelta(diffElements(before, elementsOf([b, a]))));
  const delta = diffElements(before, elementsOf([{ ...a, interface: 'veth9' }, { uid: 'c', ip: '10.0.0.3' }]));
  t.deepEqual([...delta.add], [
    ['enrolled_v4', ['10.0.0.3']],
    ['outbound_if_v4', ['"veth9" . 10.0.0.1']],
    ['outbound_rpf_v4', ['10.0.0.3']],
  ]);
  t.deepEqual([...delta.delete], [
    ['enrolled_v4', ['10.0.0.2']],
    ['outbound_if_v4', ['"veth0" . 10.0.0.1']],
    ['outbound_rpf_v4', ['10.0.0.2']],
  ]);
  t.is(
    deltaScript(delta),
    [
      'delete element inet ambit-ztunnel enrolled_v4 { 10.0.0.2 }',
      'delete element inet ambit-ztunnel outbound_if_v4 { "veth0" . 10.0.0.1 }',
      'delete element inet ambit-ztunnel outbound_rpf_v4 { 10.0.0.2 }',
      'add element inet ambit-ztunnel enrolled_v4 { 10.0.0.3 }',
      'add element inet ambit-ztunnel outbound_if_v4 { "veth9" . 10.0.0.1 }',
      'add element inet ambit-ztunnel outbound_rpf_v4 { 10.0.0.3 }',
      '',
    ].join('\n'),
  );
});

test('the install script replaces the table in one transaction and targets the configured ports', (t) => {
  const script = installScript({ outbound: 1, inboundPlain: 2, inboundHbone: 3 }, elementsOf([a]));
  const lines = script.split('\n');
  t.deepEqual(lines.slice(0, 3), ['add table inet ambit-ztunnel', 'delete table inet ambit-ztunnel', 'table inet ambit-ztunnel {']);
  t.regex(script, /chain outbound \{\n {4}meta l4proto tcp tproxy ip to 127\.0\.0\.1:1 meta mark set meta mark & 0xfffff000 \| 0x539 accept/);
  t.regex(script, /tproxy ip to 127\.0\.0\.1:2 /);
  t.regex(script, /tproxy ip to 127\.0\.0\.1:3 /);
  // The pods' HBONE port stays 15008 whatever port ztunnel's own HBONE listener uses.
  t.regex(script, /ip daddr @enrolled_v4 tcp dport 15008 goto inbound_hbone/);
  t.deepEqual(lines.slice(-4), ['}', 'add element inet ambit-ztunnel enrolled_v4 { 10.0.0.1 }', 'add element inet ambit-ztunnel outbound_if_v4 { "veth0" . 10.0.0.1 }', '']);
  // Rule order is the point: transparent sockets first, our own mark next, capture last.
  const order = ['socket transparent 1', 'meta mark & 0xfff == 0x539 accept', 'tcp flags & (syn | ack) != syn return', 'fib daddr type local return', '@outbound_if_v4 goto outbound', '@outbound_rpf_v4 fib saddr . iif oif exists goto outbound', 'goto inbound_hbone', 'goto inbound_plain'];
  const positions = order.map((needle) => script.indexOf(needle));
  t.false(positions.includes(-1), String(positions));
  t.deepEqual(positions, [...positions].sort((x, y) => x - y));
  t.is(removeScript(), 'add table inet ambit-ztunnel\ndelete table inet ambit-ztunnel\n');
});

test('the resync script flushes the three sets and adds everything back', (t) => {
  t.is(
    resyncScript(elementsOf([b])),
    [
      'flush set inet ambit-ztunnel enrolled_v4',
      'flush set inet ambit-ztunnel outbound_if_v4',
      'flush set inet ambit-ztunnel outbound_rpf_v4',
      'add element inet ambit-ztunnel enrolled_v4 { 10.0.0.2 }',
      'add element inet ambit-ztunnel outbound_rpf_v4 { 10.0.0.2 }',
      '',
    ].join('\n'),
  );
});

test('CAP_NET_ADMIN is read from the effective capability set', (t) => {
  t.true(hasNetAdmin('Name:\tnode\nCapEff:\t000001ffffffffff\n'));
  t.false(hasNetAdmin('CapEff:\t0000000000000000\n'));
  t.false(hasNetAdmin('CapEff:\t0000000000002000\n'), 'bit 13 is CAP_NET_RAW, not CAP_NET_ADMIN');
  t.true(hasNetAdmin('CapEff:\t0000000000001000\n'));
  t.is(hasNetAdmin('no such line'), undefined);
  t.is(typeof hasNetAdmin(), 'boolean', 'this process has a /proc/self/status');
});

test('capture options are checked in the constructor', (t) => {
  const logger = silentLogger();
  const cases: [() => unknown, string][] = [
    [() => new CaptureManager({ logger, routingTable: 254 }), 'routingTable 254 is a reserved table (default, main or local)'],
    [() => new CaptureManager({ logger, routingTable: 0 }), 'routingTable must be an integer from 1 to 4294967295, got 0'],
    [() => new CaptureManager({ logger, rulePriority: 32765 }), 'rulePriority must be an integer from 1 to 32764, got 32765'],
    [() => new CaptureManager({ logger, ports: { outbound: 70000 } }), 'ports.outbound must be an integer from 1 to 65535, got 70000'],
    [() => new CaptureManager({ logger, ports: { inboundPlain: 15001 } }), 'the three capture ports must differ, got {"outbound":15001,"inboundPlain":15001,"inboundHbone":15008}'],
    [() => new CaptureManager({ logger, nft: '' }), 'nft must be a non-empty command name or path'],
    [() => new CaptureManager({ logger, commandTimeoutMs: 0 }), 'commandTimeoutMs must be an integer from 1 to 600000, got 0'],
  ];
  for (const [make, message] of cases) {
    const err = t.throws(make, { instanceOf: CaptureError });
    t.is(err?.code, 'CAPTURE_ERR_INVALID_OPTION');
    t.is(err?.message, message);
  }
});

test('setWorkloads before start(), and start() after close(), are state errors that touch nothing', async (t) => {
  // `false` as both binaries: had anything been run, the call would fail with CAPTURE_ERR_COMMAND instead.
  const capture = new CaptureManager({ logger: silentLogger(), nft: 'false', ip: 'false' });
  t.like(capture.status(), { state: 'new', inSync: true, workloads: [], changes: 0, mark: '0x539/0xfff', ports: DEFAULT_CAPTURE_PORTS });
  const early = await t.throwsAsync(capture.setWorkloads([a]), { instanceOf: CaptureError });
  t.is(early?.code, 'CAPTURE_ERR_STATE');
  t.is(early?.message, 'setWorkloads() needs a started capture manager; it is new');
  const invalid = await t.throwsAsync(capture.setWorkloads([{ uid: 'x', ip: 'nope' }]), { instanceOf: CaptureError });
  t.is(invalid?.code, 'CAPTURE_ERR_INVALID_WORKLOAD');
  await capture.close();
  capture.destroy();
  t.is(capture.status().state, 'closed');
  const late = await t.throwsAsync(capture.start(), { instanceOf: CaptureError });
  t.is(late?.message, 'start() needs a new or failed capture manager; it is closed');
});

test('a failing command is reported with its command line, exit status and stderr', async (t) => {
  const argv = ['sh', '-c', 'echo "Error: no such table" >&2; exit 3', 'nft'];
  const err = await t.throwsAsync(runCommand(argv, { timeoutMs: 10_000, input: 'add element x' }), { instanceOf: CaptureError });
  t.is(err?.code, 'CAPTURE_ERR_COMMAND');
  t.is(err?.message, `${argv.join(' ')} failed: exited 3: Error: no such table`);
  t.deepEqual(err?.command, argv);
  t.is(err?.stderr, 'Error: no such table\n');
  t.is(err?.input, 'add element x');
  const sync = t.throws(() => runCommandSync(argv, { timeoutMs: 10_000 }), { instanceOf: CaptureError });
  t.is(sync?.message, err?.message);
  t.is(await runCommand(['sh', '-c', 'cat'], { timeoutMs: 10_000, input: 'echoed' }), 'echoed');
});

test('a command that cannot start, or hangs, fails with a clear error', async (t) => {
  const missing = await t.throwsAsync(runCommand(['/nonexistent/nft', '-f', '-'], { timeoutMs: 10_000 }), { instanceOf: CaptureError });
  t.is(missing?.message, '/nonexistent/nft -f - failed: could not run /nonexistent/nft: spawn /nonexistent/nft ENOENT');
  const missingSync = t.throws(() => runCommandSync(['/nonexistent/nft'], { timeoutMs: 10_000 }), { instanceOf: CaptureError });
  t.regex(missingSync?.message ?? '', /^\/nonexistent\/nft failed: could not run \/nonexistent\/nft: .*ENOENT/);
  // The deadline is a guard, not what is being measured: the command would otherwise sleep for a minute.
  const hung = await t.throwsAsync(runCommand(['sleep', '60'], { timeoutMs: 50 }), { instanceOf: CaptureError });
  t.is(hung?.message, 'sleep 60 failed: timed out after 50 ms');
  const hungSync = t.throws(() => runCommandSync(['sleep', '60'], { timeoutMs: 50 }), { instanceOf: CaptureError });
  t.is(hungSync?.message, 'sleep 60 failed: timed out after 50 ms');
});
