/**
 * runMain, run as a real process: the exit code main resolves with; 2 with every configuration problem on
 * stderr; 1 with the stack for anything else.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import path from 'node:path';

const FIXTURE = path.join(import.meta.dirname, 'fixtures', 'run-main.js');

/** Runs the fixture to its end; a non-zero exit is a result here, not a failure. */
function run(scenario: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [FIXTURE, scenario], (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
    });
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
