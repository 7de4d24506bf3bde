import test from 'ava';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

interface Measured {
  tunnels: number;
  elapsedMs: number;
  initial: { count: number; byType: Record<string, number> };
  baseline: { count: number; byType: Record<string, number> };
  after: { count: number; byType: Record<string, number> };
  final: { count: number; byType: Record<string, number> };
  heapBaseline: number;
  heapAfter: number;
  stats: { client: { connections: number; streams: number }; server: { sessions: number; streams: number } };
}

test('10,000 tunnels through the pool leave no handles behind and the heap bounded', async (t) => {
  const script = fileURLToPath(new URL('./fixtures/leak-scenario.js', import.meta.url));
  // --expose-gc must be given to node itself, and ava's workers cannot take it per file: run a child.
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['--expose-gc', script, '10000'], { timeout: 110_000, maxBuffer: 1 << 20 }, (err, out, errOut) => {
      if (err) reject(new Error(`${err.message}\n${errOut}`));
      else resolve(out);
    });
  });
  const m = JSON.parse(stdout.trim().split('\n').pop()!) as Measured;
  t.log(`${m.tunnels} tunnels in ${m.elapsedMs} ms; heap ${(m.heapBaseline / 1e6).toFixed(1)} → ${(m.heapAfter / 1e6).toFixed(1)} MB`);
  t.log(`resources: initial ${JSON.stringify(m.initial.byType)}, with pool ${JSON.stringify(m.baseline.byType)}, after ${JSON.stringify(m.after.byType)}, final ${JSON.stringify(m.final.byType)}`);
  t.is(m.tunnels, 10_000);
  t.deepEqual(m.after.byType, m.baseline.byType, 'same open handles after 10,000 tunnels as before them');
  t.deepEqual(m.final.byType, m.initial.byType, 'everything closed after close()');
  t.deepEqual(m.stats.client, { connections: 1, streams: 0, draining: 0 }, 'one pooled connection carried them all');
  t.deepEqual(m.stats.server, { sessions: 1, streams: 0 });
  t.true(m.heapAfter - m.heapBaseline < 8 * 1024 * 1024, `heap grew by ${m.heapAfter - m.heapBaseline} bytes`);
});
