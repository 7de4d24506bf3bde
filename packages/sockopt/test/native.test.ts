import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SockoptError } from '../src/index.js';
import { ADDON_PATH, loadNative } from '../src/native.js';

test('the built addon loads with every function', (t) => {
  const addon = loadNative(ADDON_PATH);
  t.deepEqual(Object.keys(addon).sort(), [
    'getMark',
    'getOriginalDst',
    'getTransparent',
    'markedSocket',
    'setMark',
    'setTransparent',
    'transparentListener',
    'transparentSocket',
  ]);
});

test('a missing addon says to run scripts/setup.sh', (t) => {
  const err = t.throws(() => loadNative('/nonexistent/build/Release/sockopt.node'), { instanceOf: SockoptError });
  t.is(err?.code, 'SOCKOPT_ERR_NOT_BUILT');
  t.is(
    err?.message,
    'the sockopt native addon is not built (no /nonexistent/build/Release/sockopt.node): run scripts/setup.sh',
  );
});

test('a file that is not a loadable addon says so and to run scripts/setup.sh', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sockopt-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'sockopt.node');
  writeFileSync(file, 'not an ELF file');
  const err = t.throws(() => loadNative(file), { instanceOf: SockoptError });
  t.is(err?.code, 'SOCKOPT_ERR_NOT_BUILT');
  t.true(err?.message.startsWith(`the sockopt native addon does not load from ${file} (`));
  t.true(err?.message.endsWith('): run scripts/setup.sh'));
});
