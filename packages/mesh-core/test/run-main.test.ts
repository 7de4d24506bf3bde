/**
 * runMain, run as a real process: the exit code main resolves with; 2 with every configuration problem on
 * stderr; 1 with the stack for anything else.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import path from 'node:path';

const FIXTURE = path.join(import.meta.dirname, 'fixtures', 'run-main.js');

function run(scenario: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FIXTURE, scenario], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('the code main resolves with is the exit code', async (t) => {
  t.like(await run('code:0'), { code: 0, stdout: '', stderr: '' });
  t.like(await run('code:3'), { code: 3, stdout: '', stderr: '' });
});

test('a configuration error: exit 2, every problem on stderr, named by the binary', async (t) => {
  const r = await run('config');
  t.is(r.code, 2);
  t.is(r.stderr, 'fixture: 2 configuration problems:\n  A=x: bad\n  B (unset): required\n');
  t.is(r.stdout, '');
});

test('anything else: exit 1 with the stack', async (t) => {
  const r = await run('crash');
  t.is(r.code, 1);
  t.regex(r.stderr, /^fixture: unexpected failure: Error: crashed on "crash"\n\s+at /);
});
