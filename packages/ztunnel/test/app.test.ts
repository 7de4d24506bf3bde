/**
 * The app's wiring on loopback: the real secret manager (certificates from an in-process CA), the state
 * store, the proxy with plain listeners and dialer, and a recording capture lifecycle (the real one needs
 * root and is tested in the capture suites and end to end).
 */
import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { SecretManager, createRootCa, issueWorkloadCertificate } from '@ambit/mesh-core/identity';
import { silentLogger } from '@ambit/mesh-core/telemetry';
import { Ztunnel, type CaptureLifecycle, type Listeners } from '../src/app.js';
import { parseConfig } from '../src/config.js';
import type { ProxyServers } from '../src/proxy/proxy.js';
import { StateStore } from '../src/state/store.js';
import { capturingLogger, workloadResource } from './fixtures/resources.js';

const DAY = 86_400_000;
const LOOPBACK = { host: '127.0.0.1', port: 0 };

class RecordingCapture implements CaptureLifecycle {
  readonly calls: string[] = [];
  state = 'new';
  failStart = false;
  start(initial: readonly { uid: string; ip: string }[]): Promise<void> {
    this.calls.push(`start ${initial.map((w) => w.ip).join(',')}`);
    if (this.failStart) return Promise.reject(new Error('nft: Operation not permitted'));
    this.state = 'running';
    return Promise.resolve();
  }
  setWorkloads(list: readonly { uid: string; ip: string }[]): Promise<unknown> {
    this.calls.push(`set ${list.map((w) => w.ip).join(',')}`);
    return Promise.resolve();
  }
  close(): Promise<void> {
    this.calls.push('close');
    this.state = 'closed';
    return Promise.resolve();
  }
  destroy(): void {
    this.calls.push('destroy');
  }
  status(): { state: string; inSync: boolean; lastError: string | undefined } {
    return { state: this.state, inSync: true, lastError: undefined };
  }
}

async function listenAll(servers: ProxyServers, calls: string[]): Promise<Listeners> {
  const all: Server[] = [servers.outbound, servers.inboundPlain, servers.inboundHbone];
  for (const s of all) {
    s.listen(0, '127.0.0.1');
    await once(s, 'listening');
  }
  calls.push('listen');
  return {
    close: async () => {
      calls.push('listeners close');
      await Promise.all(all.map((s) => new Promise((resolve) => (s.listening ? s.close(resolve) : resolve(undefined)))));
    },
    destroy: () => {
      calls.push('listeners destroy');
      for (const s of all) if (s.listening) s.close();
    },
  };
}

async function setup(t: ExecutionContext, options: { failListen?: boolean; failCapture?: boolean; waitForSync?: boolean } = {}) {
  const root = await createRootCa('cluster.local', DAY);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const secrets = new SecretManager({
    fetch: async (id) => {
      await gate;
      return await issueWorkloadCertificate(root, id, DAY);
    },
    logger: silentLogger(),
  });
  t.teardown(() => secrets.destroy());
  const store = new StateStore();
  const pending = new Set(['type.googleapis.com/istio.workload.Address', 'type.googleapis.com/istio.security.Authorization']);
  let synced!: () => void;
  const whenSynced = new Promise<void>((resolve) => (synced = resolve));
  const sync = {
    get synced() {
      return pending.size === 0;
    },
    pending: () => [...pending],
    ...(options.waitForSync === true ? { whenSynced: () => whenSynced } : {}),
  };
  const markSynced = (): void => {
    pending.clear();
    synced();
  };
  const capture = new RecordingCapture();
  capture.failStart = options.failCapture === true;
  const calls = capture.calls;
  const { logger, lines } = capturingLogger('info');
  let quits = 0;
  const start = Ztunnel.start({
    config: parseConfig({ XDS_ADDRESS: '', CA_ADDRESS: '', LOCAL_XDS_PATH: 'unused.yaml', NODE_NAME: 'node-a', CONNECTION_TERMINATION_DEADLINE: '2s' }),
    logger,
    store,
    sync,
    secrets,
    dialer: { dial: () => Promise.reject(new Error('no upstreams in this test')) },
    listen: (servers) => (options.failListen === true ? Promise.reject(new Error('EADDRINUSE 127.0.0.1:15001')) : listenAll(servers, calls)),
    capture,
    endpoints: { admin: LOOPBACK, stats: LOOPBACK, readiness: LOOPBACK },
    onQuit: () => quits++,
  });
  return { start, store, pending, markSynced, capture, calls, lines, release, quits: () => quits };
}

async function get(port: number, path: string, method = 'GET'): Promise<{ status: number; text: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  return { status: r.status, text: await r.text() };
}

test('ready only once xDS is synced, local certificates are in hand and capture runs; config_dump shows it all', async (t) => {
  const s = await setup(t);
  const app = await s.start;
  t.teardown(() => app.destroy());
  const { readiness, admin, stats } = app.addresses();
  t.deepEqual(s.calls, ['listen', 'start '], 'capture starts after the listeners, with the workloads known then');
  const first = await get(readiness.port, '/healthz/ready');
  t.is(first.status, 500);
  t.is(first.text, 'not ready:\n- xds: waiting for the first Address response\n- xds: waiting for the first Authorization response\n');

  s.store.apply({ addresses: { upserts: [workloadResource('web', { ips: ['10.0.0.5'], node: 'node-a', sa: 'web' })], removals: [] } });
  s.pending.clear();
  t.deepEqual(s.calls.slice(2), ['set 10.0.0.5']);
  t.is((await get(readiness.port, '/healthz/ready')).text, 'not ready:\n- certificates: no certificate yet for spiffe://cluster.local/ns/default/sa/web\n');
  s.release();
  for (let i = 0; i < 200 && (await get(readiness.port, '/healthz/ready')).status !== 200; i++) await new Promise((r) => setTimeout(r, 10));
  t.is((await get(readiness.port, '/healthz/ready')).text, 'ready\n');

  const dump = JSON.parse((await get(admin.port, '/config_dump')).text) as Record<string, unknown>;
  t.like(dump, { xds: { synced: true, pending: [] }, ready: { ready: true }, capture: { state: 'running' }, localWorkloads: ['Kubernetes//Pod/default/web'] });
  t.like((dump['certificates'] as unknown[])[0], { identity: 'spiffe://cluster.local/ns/default/sa/web' });
  t.like(dump['config'], { nodeName: 'node-a', drainDeadlineMs: 2000 });
  t.is((dump['workloads'] as unknown[]).length, 1);
  t.is((await get(stats.port, '/metrics')).status, 200);
});

test('drain: readiness goes false, the proxy drains, then the listeners, the capture rules and the endpoints go', async (t) => {
  const s = await setup(t);
  const app = await s.start;
  t.teardown(() => app.destroy());
  const { readiness, admin } = app.addresses();
  const drained = app.drain();
  t.is(app.drain(), drained, 'one drain');
  t.is(await drained, 'drained');
  t.deepEqual(s.calls.slice(-2), ['listeners destroy', 'close']);
  await t.throwsAsync(get(readiness.port, '/healthz/ready'));
  await t.throwsAsync(get(admin.port, '/config_dump'));
  t.truthy(s.lines.find((l) => l['msg'] === 'every connection finished'));
});

test('/quitquitquit asks the owner to quit; readiness reports a drain in progress', async (t) => {
  const s = await setup(t);
  const app = await s.start;
  t.teardown(() => app.destroy());
  const { admin, readiness } = app.addresses();
  t.is((await get(admin.port, '/quitquitquit', 'POST')).status, 200);
  await new Promise((resolve) => setImmediate(resolve));
  t.is(s.quits(), 1);
  const draining = app.drain();
  t.true(app.readiness.status().pending.includes('drain: shutting down'));
  await draining;
  await t.throwsAsync(get(readiness.port, '/healthz/ready'), undefined, 'the endpoint is gone after the drain');
});

test('a failed start undoes what it started: endpoints freed, proxy gone, capture only closed if it started', async (t) => {
  const failedListen = await setup(t, { failListen: true });
  await t.throwsAsync(failedListen.start, { message: 'EADDRINUSE 127.0.0.1:15001' });
  t.deepEqual(failedListen.calls, [], 'capture never started');

  const failedCapture = await setup(t, { failCapture: true });
  await t.throwsAsync(failedCapture.start, { message: 'nft: Operation not permitted' });
  t.deepEqual(failedCapture.calls, ['listen', 'start ', 'listeners destroy'], 'a failed start cleans up after itself; nothing to close');
});

test('a failed endpoint listen fails the start with the error', async (t) => {
  const blocker = createServer();
  blocker.listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  t.teardown(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  const secrets = new SecretManager({ fetch: () => Promise.reject(new Error('no CA')), logger: silentLogger() });
  t.teardown(() => secrets.destroy());
  await t.throwsAsync(
    Ztunnel.start({
      config: parseConfig({ XDS_ADDRESS: '', CA_ADDRESS: '', LOCAL_XDS_PATH: 'unused.yaml' }),
      logger: silentLogger(),
      store: new StateStore(),
      sync: { synced: true, pending: () => [] },
      secrets,
      dialer: { dial: () => Promise.reject(new Error('unused')) },
      listen: () => Promise.reject(new Error('unreachable: the endpoints fail first')),
      endpoints: { readiness: LOOPBACK, stats: { host: '127.0.0.1', port }, admin: LOOPBACK },
    }),
    { code: 'EADDRINUSE' },
  );
});

test('with a control plane, capture waits for the first xDS responses, then starts with the workloads known', async (t) => {
  const s = await setup(t, { waitForSync: true });
  const app = await s.start;
  t.teardown(() => app.destroy());
  t.deepEqual(s.calls, ['listen'], 'no capture before xDS');
  t.true(app.readiness.status().pending.includes('capture: rules not installed (new)'));
  s.store.apply({ addresses: { upserts: [workloadResource('web', { ips: ['10.0.0.5'], node: 'node-a', sa: 'web' })], removals: [] } });
  s.markSynced();
  for (let i = 0; i < 100 && s.calls.length < 3; i++) await new Promise((r) => setTimeout(r, 5));
  t.deepEqual(s.calls, ['listen', 'start 10.0.0.5', 'set 10.0.0.5'], 'the follower then keeps it in step (a no-op change here)');
  t.truthy(s.lines.find((l) => l['msg'] === 'capture waits for the first xDS responses'));
});

test('a drain before xDS arrives: capture never starts', async (t) => {
  const s = await setup(t, { waitForSync: true });
  const app = await s.start;
  t.teardown(() => app.destroy());
  await app.drain();
  s.markSynced();
  await new Promise((r) => setTimeout(r, 20));
  t.deepEqual(s.calls, ['listen', 'listeners destroy', 'close']);
});
