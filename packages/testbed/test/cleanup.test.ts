/**
 * What is left when a process using the testbed dies, and the CLI that removes what is left. Serial: `down`
 * without a name acts on every stale run on the machine, so no other test in this file may have one in flight.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ExecutionContext } from 'ava';
import { down } from '../src/index.js';
import { DEFAULT_STATE_DIR } from '../src/index.js';
import { TWO_NODES_FILE, hasRecord, prefixFor, runNamespaces } from './helpers/cluster.js';
import { rootTest } from './helpers/root.js';

const CRASH = fileURLToPath(new URL('./fixtures/crash.js', import.meta.url));
const TESTBED_SH = fileURLToPath(new URL('../../../../scripts/testbed.sh', import.meta.url));
const execFileAsync = promisify(execFile);

/** Starts fixtures/crash.js and resolves once its cluster is up. */
async function crashing(t: ExecutionContext, mode: string): Promise<{ prefix: string; child: ReturnType<typeof spawn> }> {
  const prefix = prefixFor('crash');
  // Whatever happens, nothing of this run may outlive the test.
  t.teardown(() => void down(DEFAULT_STATE_DIR, { prefixes: [prefix] }));
  const child = spawn(process.execPath, [CRASH, prefix, mode], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
  t.deepEqual(JSON.parse(line), { event: 'ready', prefix });
  t.is(runNamespaces(prefix).length, 6);
  child.stdin.end('go\n');
  return { prefix, child };
}

/** Whether `pid` is gone or a zombie within a few seconds (SIGKILL lands asynchronously). */
async function dies(pid: number): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    let state: string | undefined;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    } catch {
      return true;
    }
    if (state === 'Z' || state === 'X') return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return false;
}

async function testbedSh(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('bash', [TESTBED_SH, ...args]);
  return stdout;
}

for (const mode of ['throw', 'reject', 'exit']) {
  rootTest(`a process that ends by "${mode}" without destroy() leaves no namespace and no record`, async (t) => {
    const { prefix, child } = await crashing(t, mode);
    const [code] = (await once(child, 'exit')) as [number | null];
    t.not(code, 0);
    t.deepEqual(runNamespaces(prefix), []);
    t.false(hasRecord(prefix));
  });
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  rootTest(`a process killed by ${signal} cleans up and still dies of the signal`, async (t) => {
    const { prefix, child } = await crashing(t, 'wait');
    child.kill(signal);
    t.deepEqual(await once(child, 'exit'), [null, signal]);
    t.deepEqual(runNamespaces(prefix), []);
    t.false(hasRecord(prefix));
  });
}

rootTest('a run leaked by SIGKILL shows as dead and `testbed.sh down --stale` removes it and its processes', async (t) => {
  const { prefix, child } = await crashing(t, 'wait');
  child.kill('SIGKILL');
  await once(child, 'exit');
  t.is(runNamespaces(prefix).length, 6);
  const leftover = (await execFileAsync('ip', ['netns', 'pids', `ambit-${prefix}-p0`])).stdout.trim();
  t.regex(leftover, /^\d+$/, 'the sleep started in the pod outlived its parent');

  t.regex(await testbedSh('status'), new RegExp(`^${prefix}  dead pid ${child.pid}  6 namespaces`, 'm'));
  t.regex(await testbedSh('down', '--stale'), new RegExp(`^removed run ${prefix} \\(dead, 6 namespaces\\)$`, 'm'));
  t.deepEqual(runNamespaces(prefix), []);
  t.false(hasRecord(prefix));
  t.true(await dies(Number(leftover)), `pid ${leftover} still runs`);
});

rootTest('namespaces without a record are orphans that `down` removes; live runs are left alone', async (t) => {
  const orphan = prefixFor('orphan');
  t.teardown(() => void down(DEFAULT_STATE_DIR, { prefixes: [orphan] }));
  await execFileAsync('ip', ['netns', 'add', `ambit-${orphan}-n0`]);
  const { prefix: live } = await crashing(t, 'wait');

  const status = JSON.parse(await testbedSh('status', '--json')) as { prefix: string; state: string }[];
  t.like(status.find((r) => r.prefix === orphan), { state: 'orphan' });
  t.like(status.find((r) => r.prefix === live), { state: 'live' });
  t.regex(await testbedSh('down', '--stale'), new RegExp(`^removed run ${orphan} \\(orphan, 1 namespaces\\)$`, 'm'));
  t.deepEqual(runNamespaces(orphan), []);
  t.is(runNamespaces(live).length, 6);
});

rootTest('testbed.sh up builds a detached cluster that survives the CLI, and down <prefix> removes it', async (t) => {
  const prefix = prefixFor('cli');
  t.teardown(() => void down(DEFAULT_STATE_DIR, { prefixes: [prefix] }));
  const up = await testbedSh('up', TWO_NODES_FILE, '--prefix', prefix);
  t.regex(up, new RegExp(`^run ${prefix} is up`));
  t.regex(up, new RegExp(`^  pod  shop/server  ambit-${prefix}-p2  10\\.244\\.1\\.20  on node-b via veth2$`, 'm'));
  t.regex(await testbedSh('status'), new RegExp(`^${prefix}  detached  6 namespaces`, 'm'));
  const { stdout } = await execFileAsync('ip', ['netns', 'exec', `ambit-${prefix}-p0`, 'ip', 'route', 'get', '10.244.1.20']);
  t.regex(stdout, /via 10\.244\.255\.1 dev eth0 src 10\.244\.0\.10/);

  const again = await t.throwsAsync(testbedSh('up', TWO_NODES_FILE, '--prefix', prefix));
  t.regex(String((again as { stderr?: string }).stderr), new RegExp(`testbed: namespaces of run ${prefix} already exist`));
  t.regex(await testbedSh('down', prefix), new RegExp(`^removed run ${prefix} \\(detached, 6 namespaces\\)$`, 'm'));
  t.deepEqual(runNamespaces(prefix), []);
  t.false(hasRecord(prefix));
});

rootTest('testbed.sh reports bad usage, bad input, unknown runs and a missing root clearly', async (t) => {
  const fails = async (args: string[], command = 'bash'): Promise<{ code: number; stderr: string; stdout: string }> => {
    const err = (await t.throwsAsync(execFileAsync(command, command === 'bash' ? [TESTBED_SH, ...args] : args))) as unknown as {
      code: number;
      stderr: string;
      stdout: string;
    };
    return err;
  };
  t.like(await fails(['launch']), { code: 2, stderr: 'usage: testbed.sh up <cluster.yaml> [--prefix NAME] | down [NAME...] [--stale] [--all] | status [--json]\n' });
  t.like(await fails(['up']), { code: 2 });
  const missing = await fails(['up', '/nonexistent.yaml']);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /^testbed: .*ENOENT.*\/nonexistent\.yaml/);
  const invalid = await fails(['up', fileURLToPath(new URL('../../test/fixtures/crash.ts', import.meta.url))]);
  t.is(invalid.code, 1);
  t.regex(invalid.stderr, /^testbed: invalid cluster topology:\n {2}document 0: /);
  t.like(await fails(['down', 'nosuchrun']), { code: 1, stdout: 'nothing to remove\nno run named nosuchrun\n' });
  const notRoot = await fails(['--reuid=65534', '--regid=65534', '--clear-groups', 'bash', TESTBED_SH, 'status'], 'setpriv');
  t.is(notRoot.code, 1);
  t.is(notRoot.stderr, 'testbed: the testbed needs root: network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN\n');
});
