/**
 * gc-client.js against a real Node process with its inspector open on loopback: a GC and the heap in use,
 * a heap snapshot written where asked, and a precise error when the snapshot cannot be written.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

const GC_CLIENT = path.resolve(import.meta.dirname, '..', 'src', 'ztunnel', 'gc-client.js');

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A Node process holding some objects, with its inspector on 127.0.0.1:<port>. */
async function target(t: ExecutionContext): Promise<number> {
  const port = await freePort();
  const child = spawn(process.execPath, [`--inspect=127.0.0.1:${port}`, '-e', 'globalThis.kept = Array.from({ length: 10000 }, (_, i) => ({ i })); setInterval(() => {}, 1000);'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (c: string) => {
      stderr += c;
      if (stderr.includes('Debugger listening')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the target exited (${code}): ${stderr}`)));
  });
  return port;
}

async function gcClient(args: string[]): Promise<{ code: number | null; events: Record<string, unknown>[] }> {
  const child = spawn(process.execPath, ['--experimental-websocket', '--no-warnings', GC_CLIENT, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  const [code] = (await once(child, 'exit')) as [number | null];
  const events = out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code, events };
}

test('collects garbage and reports the heap in use', async (t) => {
  const port = await target(t);
  const { code, events } = await gcClient([String(port)]);
  t.is(code, 0);
  t.is(events.length, 1);
  t.is(events[0]!['gc'], 'done');
  t.true(typeof events[0]!['heap_used'] === 'number' && events[0]!['heap_used'] > 1_000_000, `heap_used ${String(events[0]!['heap_used'])}`);
});

test('writes a heap snapshot where asked', async (t) => {
  const port = await target(t);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gc-client-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'node-a-after.heapsnapshot');
  const { code, events } = await gcClient([String(port), file]);
  t.is(code, 0);
  t.is(events[0]!['gc'], 'done');
  const snapshot = JSON.parse(await readFile(file, 'utf8')) as { snapshot: { node_count: number; meta: { node_fields: string[] } } };
  t.true(snapshot.snapshot.meta.node_fields.includes('self_size'));
  t.true(snapshot.snapshot.node_count > 10_000, 'the target’s objects are in it');
});

test('a snapshot that cannot be written is an error naming the file', async (t) => {
  const port = await target(t);
  const file = path.join(os.tmpdir(), 'no-such-dir-for-gc-client', 'x.heapsnapshot');
  const { code, events } = await gcClient([String(port), file]);
  t.is(code, 1);
  t.regex(String(events.at(-1)!['error']), new RegExp(`^writing ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: ENOENT`));
});
