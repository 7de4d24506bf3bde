import test, { type ExecutionContext } from 'ava';
import { Counter, Registry } from 'prom-client';
import { adminRoutes, readinessRoutes, statsRoutes } from '../src/admin/endpoints.js';
import { HttpEndpoint, json, type Routes } from '../src/admin/http-endpoint.js';
import { Readiness } from '../src/readiness.js';
import { capturingLogger } from './fixtures/resources.js';

async function serve(t: ExecutionContext, routes: Routes): Promise<{ url: string; lines: Record<string, unknown>[] }> {
  const { logger, lines } = capturingLogger('info');
  const endpoint = new HttpEndpoint('test', routes, logger);
  const { port } = await endpoint.listen('127.0.0.1', 0);
  t.teardown(() => endpoint.destroy());
  return { url: `http://127.0.0.1:${port}`, lines };
}

test('exact paths and methods: 404 names the known paths, 405 says what is allowed, a throw is a logged 500', async (t) => {
  const { url, lines } = await serve(t, {
    '/ok': { GET: () => json(200, { fine: true }) },
    '/boom': {
      GET: () => {
        throw new Error('handler bug');
      },
    },
  });
  const ok = await fetch(`${url}/ok?verbose=1`);
  t.is(ok.status, 200);
  t.is(ok.headers.get('content-type'), 'application/json');
  t.deepEqual(await ok.json(), { fine: true });
  const missing = await fetch(`${url}/nope`);
  t.is(missing.status, 404);
  t.is(await missing.text(), 'no such endpoint /nope; try /ok, /boom\n');
  const wrong = await fetch(`${url}/ok`, { method: 'POST', body: 'x' });
  t.is(wrong.status, 405);
  t.is(wrong.headers.get('allow'), 'GET');
  const boom = await fetch(`${url}/boom`);
  t.is(boom.status, 500);
  t.is(await boom.text(), 'internal error: handler bug\n');
  t.like(lines.find((l) => l['msg'] === 'endpoint handler failed'), { component: 'test', path: '/boom' });
  t.is((await fetch(`${url}/ok`)).status, 200, 'still serving');
});

test('listening on a port in use fails with the error; close() is harmless twice', async (t) => {
  const { logger } = capturingLogger();
  const first = new HttpEndpoint('a', {}, logger);
  const { port } = await first.listen('127.0.0.1', 0);
  t.teardown(() => first.destroy());
  const second = new HttpEndpoint('b', {}, logger);
  await t.throwsAsync(second.listen('127.0.0.1', port), { code: 'EADDRINUSE' });
  await first.close();
  await first.close();
});

test('admin: config_dump and quitquitquit (answered before the quit runs)', async (t) => {
  let quits = 0;
  const { url } = await serve(t, adminRoutes({ configDump: () => ({ workloads: [], config: { nodeName: 'node-a' } }), quit: () => quits++ }));
  t.deepEqual(await (await fetch(`${url}/config_dump`)).json(), { workloads: [], config: { nodeName: 'node-a' } });
  t.is((await fetch(`${url}/quitquitquit`)).status, 405, 'GET does not quit');
  t.is(quits, 0);
  const quit = await fetch(`${url}/quitquitquit`, { method: 'POST' });
  t.is(quit.status, 200);
  t.is(await quit.text(), 'OK\n');
  await new Promise((resolve) => setImmediate(resolve));
  t.is(quits, 1);
  t.regex(await (await fetch(`${url}/`)).text(), /POST \/quitquitquit/);
});

test('stats: the registry in Prometheus text at /metrics and /stats/prometheus', async (t) => {
  const registry = new Registry();
  new Counter({ name: 'istio_build', help: 'build', registers: [registry] }).inc();
  const { url } = await serve(t, statsRoutes(registry));
  for (const path of ['/metrics', '/stats/prometheus']) {
    const r = await fetch(`${url}${path}`);
    t.is(r.status, 200);
    t.is(r.headers.get('content-type'), registry.contentType);
    t.regex(await r.text(), /^istio_build 1$/m);
  }
});

test('readiness: 200 ready, or 500 with one pending item a line', async (t) => {
  let pending = ['waiting for the first Address response', 'waiting for the first Authorization response'];
  const { url } = await serve(t, readinessRoutes(new Readiness([{ name: 'xds', pending: () => pending }])));
  const waiting = await fetch(`${url}/healthz/ready`);
  t.is(waiting.status, 500);
  t.is(await waiting.text(), 'not ready:\n- xds: waiting for the first Address response\n- xds: waiting for the first Authorization response\n');
  pending = [];
  const ready = await fetch(`${url}/healthz/ready`);
  t.is(ready.status, 200);
  t.is(await ready.text(), 'ready\n');
});
