/**
 * Data-path worker threads (`WorkerPool`), on loopback (root: the listeners are transparent). Two workers
 * share the capture ports; the main thread holds the store, the wire mirror and a real `SecretManager`
 * issuing from a root CA. Traffic: pod `client` (127.0.0.10) dials a service whose VIP is where the
 * outbound listeners are; the worker that accepts it tunnels over HBONE (joined over loopback, both pods
 * being on this node) to pod `web` (127.0.0.20), with certificates the workers ask the main thread for.
 */
import { once } from 'node:events';
import net from 'node:net';
import type { ExecutionContext } from 'ava';
import { Registry } from 'prom-client';
import { SecretManager, createRootCa, issueWorkloadCertificate } from '@ambit/mesh-core/identity';
import { silentLogger } from '@ambit/mesh-core/telemetry';
import { parseConfig } from '../src/config.js';
import { applyLocalConfig, parseLocalConfig } from '../src/state/local-config.js';
import { StateStore } from '../src/state/store.js';
import { WireMirror } from '../src/state/wire.js';
import { WorkerPool } from '../src/workers/worker-pool.js';
import { rootTest } from './helpers/root.js';

const CLIENT = '127.0.0.10';
const WEB = '127.0.0.20';
const VIP = '127.0.0.1';
const DAY = 86_400_000;
/** The pool's configuration: node `local`, no control plane (the state is put in the store here; the path is never read). */
const ENV = { NODE_NAME: 'local', XDS_ADDRESS: '', CA_ADDRESS: '', LOCAL_XDS_PATH: 'mesh.yaml', LOG_LEVEL: 'silent' };

function meshYaml(servicePort: number, webPort: number, extra = ''): string {
  return `
workloads:
  - { uid: Kubernetes//Pod/default/client, name: client, namespace: default, service_account: client, addresses: [${CLIENT}], tunnel_protocol: HBONE, node: local }
  - { uid: Kubernetes//Pod/default/web, name: web, namespace: default, service_account: web, addresses: [${WEB}], tunnel_protocol: HBONE, node: local,
      services: { default/web.default.svc.cluster.local: { ports: [{ service_port: ${servicePort}, target_port: ${webPort} }] } } }
services:
  - { name: web, namespace: default, hostname: web.default.svc.cluster.local, addresses: [{ address: ${VIP} }], ports: [{ service_port: ${servicePort}, target_port: ${webPort} }] }
${extra}`;
}

const DENY_WEB = `policies:
  - { name: deny-all, namespace: default, scope: NAMESPACE, action: DENY, rules: [{ clauses: [] }] }`;

interface Main {
  store: StateStore;
  mirror: WireMirror;
  pool: WorkerPool;
  registry: Registry;
  apply(yaml: string): void;
}

async function startMain(t: ExecutionContext, options: { count: number; restartDelayMs?: number } = { count: 2 }): Promise<Main> {
  const root = await createRootCa('cluster.local', DAY);
  const secrets = new SecretManager({ fetch: (identity) => issueWorkloadCertificate(root, identity, DAY), logger: silentLogger() });
  t.teardown(() => secrets.close());
  const store = new StateStore();
  const mirror = new WireMirror();
  const apply = (yaml: string): void => void applyLocalConfig(store, parseLocalConfig(yaml, 'mesh.yaml'), mirror);
  apply(meshYaml(1, 1));
  const config = parseConfig(ENV);
  const pool = new WorkerPool({
    count: options.count,
    config,
    mirror,
    secrets,
    logger: silentLogger(),
    listen: { host: '127.0.0.1', ports: { outbound: 0, inboundPlain: 0, inboundHbone: 0 }, mark: 0, transparentDial: false },
    ...(options.restartDelayMs === undefined ? {} : { restartDelayMs: options.restartDelayMs }),
  });
  t.teardown(() => pool.destroy());
  await pool.start();
  return { store, mirror, pool, registry: new Registry(), apply };
}

/** An echo server on `web` that first writes the peer address it saw. */
async function webServer(t: ExecutionContext): Promise<number> {
  const sockets: net.Socket[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.push(s);
    s.on('error', () => undefined);
    s.write(`${s.remoteAddress}\n`);
    s.pipe(s);
  });
  server.listen({ host: WEB, port: 0 });
  await once(server, 'listening');
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return (server.address() as net.AddressInfo).port;
}

/** A connection from `client` through the outbound listener; resolves with the first line, once it came. */
async function dial(t: ExecutionContext, port: number): Promise<{ socket: net.Socket; firstLine: string }> {
  const socket = net.connect({ host: VIP, port, localAddress: CLIENT });
  t.teardown(() => socket.destroy());
  socket.setEncoding('utf8');
  let text = '';
  const firstLine = await new Promise<string>((resolve, reject) => {
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.includes('\n')) resolve(text.slice(0, text.indexOf('\n')));
    });
    socket.once('close', () => reject(new Error(`closed before a line (got ${JSON.stringify(text)})`)));
    socket.once('error', reject);
  });
  return { socket, firstLine };
}

/** Retries `dial` while the workers have not applied the newest state yet (they follow asynchronously). */
async function dialOnceApplied(t: ExecutionContext, port: number): Promise<{ socket: net.Socket; firstLine: string }> {
  let last: unknown;
  for (let i = 0; i < 100; i++) {
    try {
      return await dial(t, port);
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw last;
}

rootTest('two workers share the capture ports, follow the state, get certificates from the main thread, and report merged metrics', async (t) => {
  const main = await startMain(t);
  const ports = main.pool.ports;
  t.not(ports.outbound, 0);
  t.deepEqual(main.pool.pending(), []);
  const webPort = await webServer(t);
  // The service is defined on the outbound listeners' port only now: the workers learn it from the mirror.
  main.apply(meshYaml(ports.outbound, webPort));

  const first = await dialOnceApplied(t, ports.outbound);
  t.is(first.firstLine, CLIENT, 'web sees the client pod address, through HBONE');
  const connections = [first.socket];
  // The kernel picks a listener by the connection's hash: 24 connections reach both workers unless the
  // listeners were not in one SO_REUSEPORT group (odds of all on one of two: 2^-23).
  for (let i = 1; i < 24; i++) connections.push((await dial(t, ports.outbound)).socket);

  const stats = await main.pool.stats();
  t.is(stats.workers.length, 2);
  const perWorker = stats.workers.map((w) => ('error' in w ? -1 : w.connections));
  t.true(perWorker.every((n) => n > 0), `connections per worker: ${perWorker.join(', ')}`);
  // Each connection is tracked twice in its worker: outbound, and inbound after the loopback HBONE hop.
  t.is(stats.connections, 48);

  const metrics = await main.pool.metricsOf(main.registry).metrics();
  const opened = [...metrics.matchAll(/^istio_tcp_connections_opened_total\{[^}]*reporter="source"[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
  t.is(opened, 24, 'the two workers’ counters are summed per label set');

  // A policy from the main store closes the live connections in both workers (the clients see resets).
  const closed = connections.map((s) => {
    s.on('error', () => undefined);
    return new Promise((resolve) => s.once('close', resolve));
  });
  main.apply(meshYaml(ports.outbound, webPort, DENY_WEB));
  await Promise.all(closed);
  t.is((await main.pool.stats()).connections, 0);

  t.is(await main.pool.drain(1_000), 'drained');
  t.deepEqual(
    main.pool.pending().map((line) => line.replace(/\d+/, 'N')),
    ['data-path worker N not listening', 'data-path worker N not listening'],
  );
});

rootTest('a worker that cannot follow the state ends; both are started again from the whole state and serve', async (t) => {
  const main = await startMain(t, { count: 2, restartDelayMs: 100 });
  const ports = main.pool.ports;
  const webPort = await webServer(t);
  main.apply(meshYaml(ports.outbound, webPort));
  t.is((await dialOnceApplied(t, ports.outbound)).firstLine, CLIENT);

  // Bytes that do not decode: the main thread never records such, but if it did, each replica would end.
  main.mirror.record({ addresses: { upserts: [{ name: 'Kubernetes//Pod/default/bad', bytes: Uint8Array.from([0x0a, 0x05, 0x01]) }], removals: [] } });
  for (let i = 0; i < 100 && main.pool.pending().length < 2; i++) await new Promise((r) => setTimeout(r, 20));
  t.deepEqual(
    main.pool.pending().map((line) => line.replace(/worker \d+/, 'worker N')),
    ['data-path worker N not listening (restarting: exited with code 1)', 'data-path worker N not listening (restarting: exited with code 1)'],
  );
  // Cleared before the restart (100 ms), the whole state is good again and the new threads take it.
  main.mirror.record({ addresses: { upserts: [], removals: ['Kubernetes//Pod/default/bad'] } });
  for (let i = 0; i < 200 && main.pool.pending().length > 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.deepEqual(main.pool.pending(), []);
  t.is((await dialOnceApplied(t, ports.outbound)).firstLine, CLIENT, 'the restarted workers serve with the state they were started from');
});

rootTest('a worker that cannot listen fails the start with its reason, and nothing is left running', async (t) => {
  // A listener outside any SO_REUSEPORT group holds the port the workers ask for.
  const holder = net.createServer();
  holder.listen({ host: '127.0.0.1', port: 0 });
  await once(holder, 'listening');
  t.teardown(() => holder.close());
  const taken = (holder.address() as net.AddressInfo).port;
  const root = await createRootCa('cluster.local', DAY);
  const secrets = new SecretManager({ fetch: (identity) => issueWorkloadCertificate(root, identity, DAY), logger: silentLogger() });
  t.teardown(() => secrets.close());
  const pool = new WorkerPool({
    count: 2,
    config: parseConfig(ENV),
    mirror: new WireMirror(),
    secrets,
    logger: silentLogger(),
    listen: { host: '127.0.0.1', ports: { outbound: taken, inboundPlain: 0, inboundHbone: 0 }, mark: 0, transparentDial: false },
  });
  const err = await t.throwsAsync(pool.start());
  t.is((err as { code?: string }).code, 'ZT_ERR_WORKER');
  t.is(err?.message, `data-path worker 0 could not start: outbound capture listener: cannot listen on 127.0.0.1:${taken}: bind on 127.0.0.1:${taken} failed: address already in use (EADDRINUSE)`);
  t.deepEqual(
    pool.pending().map((line) => line.replace(/\d+/, 'N')),
    ['data-path worker N not listening', 'data-path worker N not listening'],
  );
  t.throws(() => new WorkerPool({ count: 0, config: parseConfig(ENV), mirror: new WireMirror(), secrets, logger: silentLogger(), listen: { ports: { outbound: 0, inboundPlain: 0, inboundHbone: 0 }, mark: 0, transparentDial: false } }), {
    message: 'a worker pool needs at least one worker, got 0',
  });
});
