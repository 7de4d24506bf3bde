/**
 * HttpEndpoint, the proxies' own small HTTP server, and the stats routes both proxies serve: exact paths
 * and methods, 404/405/500 answers that say why, nothing a client sends taking it down; the registry in
 * Prometheus text at /metrics and /stats/prometheus.
 */
import test, { type ExecutionContext } from 'ava';
import { Counter, Registry } from 'prom-client';
import { HttpEndpoint, json, statsRoutes, text, type EndpointResponse, type Routes } from '../src/admin/index.js';
import { captureLogger } from './helpers/mesh.js';

async function serve(t: ExecutionContext, routes: Routes): Promise<{ url: string; records: Record<string, unknown>[] }> {
  const { logger, records } = captureLogger();
  const endpoint = new HttpEndpoint('test', routes, logger);
  const { port } = await endpoint.listen('127.0.0.1', 0);
  t.teardown(() => endpoint.destroy());
  return { url: `http://127.0.0.1:${port}`, records };
}

test('exact paths and methods: 404 names the known paths, 405 says what is allowed, a throw is a logged 500', async (t) => {
  const { url, records } = await serve(t, {
    '/ok': { GET: () => json(200, { fine: true }) },
    '/boom': {
      GET: () => {
        throw new Error('handler bug');
      },
    },
    '/slow-boom': { GET: () => Promise.reject(new Error('async bug')) },
  });
  const ok = await fetch(`${url}/ok?verbose=1`);
  t.is(ok.status, 200);
  t.is(ok.headers.get('content-type'), 'application/json');
  t.deepEqual(await ok.json(), { fine: true });
  const missing = await fetch(`${url}/nope`);
  t.is(missing.status, 404);
  t.is(await missing.text(), 'no such endpoint /nope; try /ok, /boom, /slow-boom\n');
  const wrong = await fetch(`${url}/ok`, { method: 'POST', body: 'x' });
  t.is(wrong.status, 405);
  t.is(wrong.headers.get('allow'), 'GET');
  t.is(await wrong.text(), '/ok takes GET\n');
  const boom = await fetch(`${url}/boom`);
  t.is(boom.status, 500);
  t.is(await boom.text(), 'internal error: handler bug\n');
  t.like(records.find((l) => l['msg'] === 'endpoint handler failed'), { component: 'test', path: '/boom' });
  const slow = await fetch(`${url}/slow-boom`);
  t.is(slow.status, 500);
  t.is(await slow.text(), 'internal error: async bug\n');
  t.is((await fetch(`${url}/ok`)).status, 200, 'still serving');
});

test('a path with GET and POST: each method its handler; the request is passed in', async (t) => {
  const { url } = await serve(t, {
    '/both': { GET: () => text(200, 'read'), POST: (req) => text(200, `wrote ${String(req.headers['x-what'])}`) },
  });
  t.is(await (await fetch(`${url}/both`)).text(), 'read\n');
  t.is(await (await fetch(`${url}/both`, { method: 'POST', headers: { 'x-what': 'it' }, body: 'ignored' })).text(), 'wrote it\n');
  const put = await fetch(`${url}/both`, { method: 'PUT' });
  t.is(put.status, 405);
  t.is(put.headers.get('allow'), 'GET, POST');
  t.is(await put.text(), '/both takes GET or POST\n');
});

test('text ends with exactly one newline; json is pretty-printed; plain text is the default type', (t) => {
  t.deepEqual(text(200, 'ready'), { status: 200, body: 'ready\n' });
  t.deepEqual(text(503, 'a\nb\n'), { status: 503, body: 'a\nb\n' });
  t.deepEqual(json(200, { a: 1 }), { status: 200, body: '{\n  "a": 1\n}\n', contentType: 'application/json' });
});

test('listening on a port in use fails with the error; close() is harmless twice', async (t) => {
  const { logger } = captureLogger();
  const first = new HttpEndpoint('a', {}, logger);
  const { port } = await first.listen('127.0.0.1', 0);
  t.teardown(() => first.destroy());
  const second = new HttpEndpoint('b', {}, logger);
  t.teardown(() => second.destroy());
  await t.throwsAsync(second.listen('127.0.0.1', port), { code: 'EADDRINUSE' });
  await first.close();
  await first.close();
});

test('destroy() cuts a request in flight, which close() would wait for; other endpoints are untouched', async (t) => {
  const { url } = await serve(t, { '/ok': { GET: () => text(200, 'ok') } });
  let arrived!: () => void;
  const arrival = new Promise<void>((resolve) => (arrived = resolve));
  let release!: (r: EndpointResponse) => void;
  const held = new Promise<EndpointResponse>((resolve) => (release = resolve));
  const endpoint = new HttpEndpoint('held', { '/hold': { GET: () => (arrived(), held) } }, captureLogger().logger);
  const { port } = await endpoint.listen('127.0.0.1', 0);
  t.teardown(() => {
    release(text(200, 'late'));
    endpoint.destroy();
  });
  const pending = fetch(`http://127.0.0.1:${port}/hold`);
  await arrival;
  endpoint.destroy();
  await t.throwsAsync(pending);
  t.is((await fetch(`${url}/ok`)).status, 200);
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
