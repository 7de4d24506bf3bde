/**
 * InputWatcher: the debounce (on a fake clock) and the real file-system watch.
 */
import test, { type ExecutionContext } from 'ava';
import { watch } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InputWatcher, type Timers } from '../src/input/watcher.js';

/** A manual clock: timers fire only when the test advances time. */
class FakeClock implements Timers {
  now = 0;
  readonly #timers = new Map<number, { at: number; callback: () => void }>();
  #nextId = 1;

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.now + ms, callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  get pending(): number {
    return this.#timers.size;
  }

  advance(ms: number): void {
    this.now += ms;
    for (const [id, timer] of [...this.#timers].sort((a, b) => a[1].at - b[1].at)) {
      if (timer.at > this.now) continue;
      this.#timers.delete(id);
      timer.callback();
    }
  }
}

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ambit-watch-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('bursts of changes are debounced into one callback after the quiet period', (t) => {
  const clock = new FakeClock();
  let calls = 0;
  const watcher = new InputWatcher('/unused', () => calls++, { debounceMs: 100, timers: clock });
  watcher.notify();
  clock.advance(60);
  watcher.notify();
  clock.advance(60);
  watcher.notify();
  clock.advance(99);
  t.is(calls, 0);
  t.is(clock.pending, 1);
  clock.advance(1);
  t.is(calls, 1);
  t.is(clock.pending, 0);
  watcher.notify();
  clock.advance(100);
  t.is(calls, 2);
});

test('close() drops a pending callback and ignores later events', (t) => {
  const clock = new FakeClock();
  let calls = 0;
  const watcher = new InputWatcher('/unused', () => calls++, { debounceMs: 100, timers: clock });
  watcher.notify();
  watcher.close();
  t.is(clock.pending, 0);
  watcher.notify();
  clock.advance(1000);
  t.is(calls, 0);
  watcher.close();
});

test('a real change in a watched directory reaches the callback', async (t) => {
  const dir = await tempDir(t);
  let resolve!: () => void;
  const changed = new Promise<void>((r) => (resolve = r));
  const watcher = new InputWatcher(dir, () => resolve(), { debounceMs: 0 });
  t.teardown(() => watcher.close());
  await watcher.start();
  await watcher.start();
  await writeFile(path.join(dir, 'mesh.yaml'), 'a: 1\n');
  await changed;
  t.pass();
});

test('a single file is watched through its directory', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'mesh.yaml');
  await writeFile(file, 'a: 1\n');
  let resolve!: () => void;
  const changed = new Promise<void>((r) => (resolve = r));
  const watcher = new InputWatcher(file, () => resolve(), { debounceMs: 0 });
  t.teardown(() => watcher.close());
  await watcher.start();
  await writeFile(file, 'a: 2\n');
  await changed;
  t.pass();
});

test('starting on a missing path rejects; starting after close does nothing', async (t) => {
  const dir = await tempDir(t);
  const missing = new InputWatcher(path.join(dir, 'nope'), () => {}, { debounceMs: 0 });
  await t.throwsAsync(missing.start(), { code: 'ENOENT' });
  const closed = new InputWatcher(dir, () => {}, { debounceMs: 0 });
  closed.close();
  await closed.start();
  t.pass();
});

test('an error from the OS watch goes to onError instead of crashing the process', async (t) => {
  const dir = await tempDir(t);
  let emitError: ((error: Error) => void) | undefined;
  const errors: Error[] = [];
  const watcher = new InputWatcher(dir, () => {}, {
    debounceMs: 0,
    onError: (error) => errors.push(error),
    // The real watch, whose 'error' event the test fires: the OS only raises it on resource exhaustion.
    watch: ((...args: Parameters<typeof watch>) => {
      const real = watch(...args);
      emitError = (error) => real.emit('error', error);
      return real;
    }) as typeof watch,
  });
  t.teardown(() => watcher.close());
  await watcher.start();
  emitError!(Object.assign(new Error('ENOSPC: System limit for number of file watchers reached'), { code: 'ENOSPC' }));
  t.is(errors.length, 1);
  t.is((errors[0] as NodeJS.ErrnoException).code, 'ENOSPC');
});

/** Resolves on the next callback of a watcher built with `onChange: () => next.fire()`. */
class Signal {
  #resolve: (() => void) | undefined;
  count = 0;
  fire(): void {
    this.count++;
    this.#resolve?.();
  }
  next(): Promise<void> {
    return new Promise((resolve) => (this.#resolve = resolve));
  }
}

test('a file replaced by renaming a new one over it is noticed every time (Node 20 recursive watch lost some)', async (t) => {
  const dir = await tempDir(t);
  await mkdir(path.join(dir, 'ns'));
  const file = path.join(dir, 'churn.yaml');
  await writeFile(file, 'a: 0\n');
  const signal = new Signal();
  const watcher = new InputWatcher(dir, () => signal.fire(), { debounceMs: 0 });
  t.teardown(() => watcher.close());
  await watcher.start();
  t.deepEqual(watcher.watchedDirectories, [dir, path.join(dir, 'ns')]);
  for (let i = 1; i <= 20; i++) {
    const changed = signal.next();
    await writeFile(path.join(dir, '.churn.yaml.tmp'), `a: ${i}\n`);
    await rename(path.join(dir, '.churn.yaml.tmp'), file);
    await changed;
  }
  t.true(signal.count >= 20);
});

test('new subdirectories are watched after the next change, removed ones are dropped; dot directories are skipped', async (t) => {
  const dir = await tempDir(t);
  const signal = new Signal();
  const watcher = new InputWatcher(dir, () => signal.fire(), { debounceMs: 0 });
  t.teardown(() => watcher.close());
  await watcher.start();
  let changed = signal.next();
  await mkdir(path.join(dir, 'team-a', 'deep'), { recursive: true });
  await mkdir(path.join(dir, '..data'));
  await changed;
  while (watcher.watchedDirectories.length < 3) await new Promise((r) => setTimeout(r, 5));
  t.deepEqual(watcher.watchedDirectories, [dir, path.join(dir, 'team-a'), path.join(dir, 'team-a', 'deep')]);
  // A change deep inside the new directory is seen.
  changed = signal.next();
  await writeFile(path.join(dir, 'team-a', 'deep', 'pods.yaml'), 'a: 1\n');
  await changed;
  changed = signal.next();
  await rm(path.join(dir, 'team-a'), { recursive: true });
  await changed;
  while (watcher.watchedDirectories.length > 1) await new Promise((r) => setTimeout(r, 5));
  t.deepEqual(watcher.watchedDirectories, [dir]);
});
