import http from 'node:http';
import test from 'ava';
import { Registry } from 'prom-client';
import { AdminServer } from '../src/admin/admin-server.js';
import { capturingLogger } from './fixtures/harness.js';

function get(port: number, pathname: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: pathname, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

test('a failing config_dump answers 500 and is logged; the server keeps serving', async (t) => {
  const { logger, lines } = capturingLogger();
  let fail = true;
  const admin = new AdminServer({
    host: '127.0.0.1',
    port: 0,
    logger,
    registry: new Registry(),
    configDump: () => {
      if (fail) throw new Error('dump exploded');
      return { ok: true };
    },
    readiness: () => ({ ready: false, reasons: ['starting', 'no snapshot'] }),
  });
  const { port } = await admin.listen();
  t.teardown(() => admin.destroy());
  t.deepEqual(await get(port, '/debug/config_dump'), { status: 500, body: 'internal error\n' });
  const logged = lines.find((l) => l['msg'] === 'admin request failed');
  t.is((logged?.['err'] as { message?: string } | undefined)?.message, 'dump exploded');
  fail = false;
  t.deepEqual(await get(port, '/config_dump'), { status: 200, body: '{\n  "ok": true\n}\n' });
  t.deepEqual(await get(port, '/ready'), { status: 503, body: 'not ready:\n- starting\n- no snapshot\n' });
  await admin.close();
  await t.throwsAsync(get(port, '/ready'));
});

test('listen() rejects when the port is taken; close() on a server that never listened resolves', async (t) => {
  const { logger } = capturingLogger();
  const opts = { host: '127.0.0.1', logger, registry: new Registry(), configDump: () => ({}), readiness: () => ({ ready: true, reasons: [] }) };
  const first = new AdminServer({ ...opts, port: 0 });
  const { port } = await first.listen();
  t.teardown(() => first.destroy());
  const second = new AdminServer({ ...opts, port });
  await t.throwsAsync(second.listen(), { code: 'EADDRINUSE' });
  await second.close();
  t.pass();
});
