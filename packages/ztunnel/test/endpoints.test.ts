/** ztunnel's own routes (admin and readiness), served by mesh-core's HttpEndpoint (tested there). */
import test, { type ExecutionContext } from 'ava';
import { HttpEndpoint, type Routes } from '@ambit/mesh-core/admin';
import { adminRoutes, readinessRoutes } from '../src/admin/endpoints.js';
import { Readiness } from '../src/readiness.js';
import { capturingLogger } from './fixtures/resources.js';

async function serve(t: ExecutionContext, routes: Routes): Promise<{ url: string; lines: Record<string, unknown>[] }> {
  const { logger, lines } = capturingLogger('info');
  const endpoint = new HttpEndpoint('test', routes, logger);
  const { port } = await endpoint.listen('127.0.0.1', 0);
  t.teardown(() => endpoint.destroy());
  return { url: `http://127.0.0.1:${port}`, lines };
}

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
