import { spawn } from 'node:child_process';
import test from 'ava';
import { LocalMeshError } from '../src/errors.js';
import { MeshProcess } from '../src/mesh-process.js';
import { until } from '../src/wait.js';

/** A real child running `script`, wrapped; killed at teardown. */
function start(t: { teardown(fn: () => void): void }, script: string): MeshProcess {
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  return new MeshProcess('probe', 'here', child);
}

const HOLD = 'setInterval(() => {}, 1000);';

test('JSON lines become records, other lines { msg }; access() picks component access; stderr is kept', async (t) => {
  const p = start(t, `console.log(JSON.stringify({ msg: 'one' })); console.log('plain text'); console.log(JSON.stringify({ component: 'access', n: 1 })); console.log('[1,2]'); console.error('oops');`);
  t.like(await p.exited, { code: 0, signal: null });
  t.deepEqual(p.logs, [{ msg: 'one' }, { msg: 'plain text' }, { component: 'access', n: 1 }, { msg: '[1,2]' }]);
  t.deepEqual(p.access(), [{ component: 'access', n: 1 }]);
  t.is(p.stderr.trim(), 'oops');
  t.false(p.running);
  t.like(p.exitStatus, { code: 0 });
  t.regex(p.describe(), /probe in here exited with code 0; stderr: oops/);
});

test('waitForLog resolves with a line logged later, and with one already logged', async (t) => {
  const p = start(t, `console.log(JSON.stringify({ msg: 'early' })); setTimeout(() => console.log(JSON.stringify({ msg: 'late', v: 2 })), 50); ${HOLD}`);
  t.like(await p.waitForLog((r) => r['msg'] === 'late', 'the late line'), { v: 2 });
  t.like(await p.waitForLog((r) => r['msg'] === 'early', 'the early line'), { msg: 'early' });
  t.true(p.running);
});

test('waitForLog fails with LOCAL_MESH_ERR_START when the process exits without the line, after reading its last words', async (t) => {
  const p = start(t, `console.log(JSON.stringify({ msg: 'last words' })); process.exit(3);`);
  const err = await t.throwsAsync(p.waitForLog((r) => r['msg'] === 'never', 'a line that never comes'), { instanceOf: LocalMeshError });
  t.is(err.code, 'LOCAL_MESH_ERR_START');
  t.regex(err.message, /exited with code 3/);
  t.regex(err.message, /last words/);
});

test('waitForLog fails with LOCAL_MESH_ERR_WAIT when nothing matches in time', async (t) => {
  const p = start(t, HOLD);
  const err = await t.throwsAsync(p.waitForLog(() => false, 'nothing', 100), { instanceOf: LocalMeshError });
  t.is(err.code, 'LOCAL_MESH_ERR_WAIT');
  t.regex(err.message, /no log line for nothing in 100 ms/);
});

test('stop() sends SIGTERM; a process that ignores it is killed after the grace period; kill() is SIGKILL', async (t) => {
  const polite = start(t, HOLD);
  t.like(await polite.stop(), { signal: 'SIGTERM' });
  t.like(await polite.stop(), { signal: 'SIGTERM' }, 'stopping a stopped process returns its status');
  const stubborn = start(t, `process.on('SIGTERM', () => console.log('ignored')); console.log('ready'); ${HOLD}`);
  await stubborn.waitForLog((r) => r['msg'] === 'ready', 'ready');
  t.like(await stubborn.stop('SIGTERM', 200), { signal: 'SIGKILL' });
  t.truthy(stubborn.logs.find((r) => r['msg'] === 'ignored'));
  const killed = start(t, HOLD);
  t.like(await killed.kill(), { signal: 'SIGKILL' });
  t.like(await killed.kill(), { signal: 'SIGKILL' });
});

test('a child without piped output is refused', (t) => {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  t.teardown(() => child.kill('SIGKILL'));
  const err = t.throws(() => new MeshProcess('quiet', 'here', child), { instanceOf: LocalMeshError });
  t.is(err.code, 'LOCAL_MESH_ERR_START');
});

test('until: resolves once the condition holds; LOCAL_MESH_ERR_START when the awaited process died; LOCAL_MESH_ERR_WAIT at the deadline', async (t) => {
  let n = 0;
  await until(() => ++n >= 3, () => 'three polls');
  t.is(n, 3);
  const dead = await t.throwsAsync(until(() => false, () => 'a dead thing', { dead: () => true }), { instanceOf: LocalMeshError });
  t.is(dead.code, 'LOCAL_MESH_ERR_START');
  t.regex(dead.message, /a dead thing: the process exited/);
  const late = await t.throwsAsync(until(async () => Promise.resolve(false), () => 'never', { waitMs: 100 }), { instanceOf: LocalMeshError });
  t.is(late.code, 'LOCAL_MESH_ERR_WAIT');
});
