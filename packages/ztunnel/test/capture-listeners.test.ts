/**
 * The capture listeners and the transparent dial, on loopback in this namespace (root: IP_TRANSPARENT and
 * SO_MARK need CAP_NET_ADMIN). The same helpers carry real captured traffic in capture-netns.test.ts.
 */
import { spawn } from 'node:child_process';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ExecutionContext } from 'ava';
import { FakeClock } from '@ambit/mesh-core/lifecycle';
import { getMark, getTransparent, socketFd } from '@ambit/sockopt';
import { CaptureError, CaptureListeners, dialTransparent, listenTransparent } from '../src/capture/index.js';
import { rootTest } from './helpers/root.js';

const INDEX_JS = fileURLToPath(new URL('../src/capture/index.js', import.meta.url));

/** A plain loopback server that records its accepted sockets; closed when the test ends. */
async function plainServer(t: ExecutionContext): Promise<{ server: net.Server; port: number; accepted: net.Socket[] }> {
  const accepted: net.Socket[] = [];
  const server = net.createServer((s) => {
    accepted.push(s);
    s.on('error', () => undefined);
  });
  server.listen({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  t.teardown(() => {
    for (const s of accepted) s.destroy();
    server.close();
  });
  return { server, port: (server.address() as net.AddressInfo).port, accepted };
}

function connect(t: ExecutionContext, port: number): net.Socket {
  const client = net.connect({ host: '127.0.0.1', port });
  client.on('error', () => undefined);
  t.teardown(() => client.destroy());
  return client;
}

/**
 * A loopback port whose connects never complete: a child process listens with a backlog of 1 and then blocks
 * its event loop, so it never accepts; once two connections fill its accept queue the kernel drops every
 * further SYN. (A real unreachable upstream behaves the same: SYN retries for over a minute.)
 */
async function blackHolePort(t: ExecutionContext): Promise<number> {
  const script = `const net = require('node:net');
    const s = net.createServer().listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {
      process.stdout.write(s.address().port + '\\n');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
    });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => child.kill('SIGKILL'));
  const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
  const port = Number(chunk.toString().trim());
  // Three fillers; the queue holds two, so once two have connected the third (and every later SYN) is dropped.
  await new Promise<void>((resolve) => {
    let connected = 0;
    for (let i = 0; i < 3; i++) connect(t, port).once('connect', () => ++connected === 2 && resolve());
  });
  return port;
}

rootTest('listenTransparent: the listener and every accepted socket are transparent and carry the mark', async (t) => {
  const server = net.createServer();
  const address = await listenTransparent(server, { port: 0 });
  t.teardown(() => server.close());
  t.is(address.address, '127.0.0.1');
  t.is(getMark(socketFd(server)), 0x539);
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const client = connect(t, address.port);
  const [socket] = await accepted;
  t.teardown(() => socket.destroy());
  t.is(getMark(socketFd(socket)), 0x539);
  t.true(getTransparent(socketFd(socket)));
  t.is(socket.remotePort, (await once(client, 'connect'), client.localPort));

  const unmarked = net.createServer();
  await listenTransparent(unmarked, { port: 0, mark: 0 });
  t.teardown(() => unmarked.close());
  t.is(getMark(socketFd(unmarked)), 0);
});

rootTest('CaptureListeners: a port in use fails naming the listener, and the listeners already open are closed', async (t) => {
  const busy = await plainServer(t);
  const servers = { outbound: net.createServer(), inboundPlain: net.createServer(), inboundHbone: net.createServer() };
  const err = await t.throwsAsync(CaptureListeners.open(servers, { ports: { outbound: 0, inboundPlain: 0, inboundHbone: busy.port } }), {
    instanceOf: CaptureError,
  });
  t.is(err?.code, 'CAPTURE_ERR_LISTEN');
  t.is(err?.errno, 'EADDRINUSE');
  t.is(err?.message, `inboundHbone capture listener: cannot listen on 127.0.0.1:${busy.port}: bind on 127.0.0.1:${busy.port} failed: address already in use (EADDRINUSE)`);
  t.false(servers.outbound.listening);
  t.false(servers.inboundPlain.listening);
  t.false(servers.inboundHbone.listening);
});

rootTest('CaptureListeners: close() waits for accepted connections, destroy() ends them', async (t) => {
  const servers = { outbound: net.createServer(), inboundPlain: net.createServer(), inboundHbone: net.createServer() };
  const listeners = await CaptureListeners.open(servers, { ports: { outbound: 0, inboundPlain: 0, inboundHbone: 0 } });
  t.teardown(() => listeners.destroy());
  const ports = Object.values(listeners.addresses()).map((a) => a.port);
  t.is(new Set(ports).size, 3);
  t.true(ports.every((p) => p > 0));

  const accepted = once(servers.inboundPlain, 'connection');
  const client = connect(t, listeners.addresses().inboundPlain.port);
  await accepted;
  t.is(listeners.connections, 1);
  let closed = false;
  const closing = listeners.close().then(() => (closed = true));
  await new Promise((resolve) => setImmediate(resolve));
  t.false(closed, 'a graceful close waits for the open connection');
  t.false(servers.outbound.listening);
  const ended = once(client, 'close');
  listeners.destroy();
  await closing;
  await ended;
  t.is(listeners.connections, 0);
});

rootTest('dialTransparent connects from the given source address, marked', async (t) => {
  const { server, port } = await plainServer(t);
  const connection = once(server, 'connection') as Promise<[net.Socket]>;
  const socket = await dialTransparent('127.0.0.7', { host: '127.0.0.1', port });
  t.teardown(() => socket.destroy());
  t.is(socket.localAddress, '127.0.0.7');
  t.is(getMark(socketFd(socket)), 0x539);
  const [peer] = await connection;
  t.is(peer.remoteAddress, '127.0.0.7');
  t.is(peer.remotePort, socket.localPort);
  // Bytes flow both ways on the handed-over socket.
  peer.write('pong');
  const [data] = (await once(socket, 'data')) as [Buffer];
  t.is(data.toString(), 'pong');

  const unmarked = await dialTransparent('127.0.0.8', { host: '127.0.0.1', port }, { mark: 0, srcPort: 0 });
  t.teardown(() => unmarked.destroy());
  t.is(getMark(socketFd(unmarked)), 0);
});

rootTest('a refused dial rejects with CAPTURE_ERR_DIAL and the errno', async (t) => {
  const { server, port } = await plainServer(t);
  await new Promise((resolve) => server.close(resolve));
  const err = await t.throwsAsync(dialTransparent('127.0.0.7', { host: '127.0.0.1', port }), { instanceOf: CaptureError });
  t.is(err?.code, 'CAPTURE_ERR_DIAL');
  t.is(err?.errno, 'ECONNREFUSED');
  t.is(err?.message, `transparent dial from 127.0.0.7 to 127.0.0.1:${port} failed: connect ECONNREFUSED 127.0.0.1:${port}`);
});

rootTest('an unanswered dial times out on the clock it was given', async (t) => {
  const port = await blackHolePort(t);
  const clock = new FakeClock();
  const dialling = dialTransparent('127.0.0.7', { host: '127.0.0.1', port }, { clock, timeoutMs: 3_000 });
  let settled = false;
  void dialling.then(
    () => (settled = true),
    () => (settled = true),
  );
  await clock.advanceAsync(2_999);
  t.false(settled);
  await clock.advanceAsync(1);
  const err = await t.throwsAsync(dialling, { instanceOf: CaptureError });
  t.is(err?.code, 'CAPTURE_ERR_DIAL_TIMEOUT');
  t.is(err?.message, `transparent dial from 127.0.0.7 to 127.0.0.1:${port} timed out after 3000 ms`);
  t.is(clock.pendingTimers, 0);
});

rootTest('a dial is cancelled by its signal, before or during the connect', async (t) => {
  const port = await blackHolePort(t);
  const clock = new FakeClock();
  const controller = new AbortController();
  const dialling = dialTransparent('127.0.0.7', { host: '127.0.0.1', port }, { clock, signal: controller.signal });
  controller.abort();
  const err = await t.throwsAsync(dialling, { instanceOf: CaptureError });
  t.is(err?.code, 'CAPTURE_ERR_DIAL_ABORTED');
  t.is(err?.message, `transparent dial from 127.0.0.7 to 127.0.0.1:${port} was aborted`);
  t.is(clock.pendingTimers, 0, 'the deadline is cancelled with the dial');
  const again = await t.throwsAsync(dialTransparent('127.0.0.7', { host: '127.0.0.1', port }, { signal: controller.signal }), { instanceOf: CaptureError });
  t.is(again?.code, 'CAPTURE_ERR_DIAL_ABORTED');
});

rootTest('bad dial arguments are rejected before any socket exists', async (t) => {
  const cases: [Promise<unknown>, string][] = [
    [dialTransparent('pod-a', { host: '127.0.0.1', port: 80 }), 'transparent dial from pod-a to 127.0.0.1:80: source "pod-a" is not an IP address'],
    [dialTransparent('127.0.0.1', { host: 'localhost', port: 80 }), 'transparent dial from 127.0.0.1 to localhost:80: destination "localhost" is not an IPv4 address'],
    [dialTransparent('127.0.0.1', { host: '::1', port: 80 }), 'transparent dial from 127.0.0.1 to [::1]:80: destination "::1" is not an IPv4 address'],
    [dialTransparent('127.0.0.1', { host: '127.0.0.1', port: 0 }), 'transparent dial from 127.0.0.1 to 127.0.0.1:0: destination port must be 1-65535, got 0'],
    [dialTransparent('127.0.0.1', { host: '127.0.0.1', port: 80 }, { timeoutMs: 0 }), 'transparent dial from 127.0.0.1 to 127.0.0.1:80: timeoutMs must be positive, got 0'],
  ];
  for (const [dialling, message] of cases) {
    const err = await t.throwsAsync(dialling, { instanceOf: CaptureError });
    t.is(err?.code, 'CAPTURE_ERR_INVALID_OPTION');
    t.is(err?.message, message);
  }
  const badMark = await t.throwsAsync(dialTransparent('127.0.0.1', { host: '127.0.0.1', port: 80 }, { mark: -1 }), { instanceOf: CaptureError });
  t.is(badMark?.code, 'CAPTURE_ERR_INVALID_OPTION');
  t.is(badMark?.message, 'transparent dial from 127.0.0.1 to 127.0.0.1:80: mark must be an integer from 0 to 0xffffffff, got -1');
});

rootTest('without CAP_NET_ADMIN a transparent dial fails with EPERM, naming the option', async (t) => {
  const script = `
    const m = await import(${JSON.stringify(INDEX_JS)});
    try { await m.dialTransparent('127.0.0.7', { host: '127.0.0.1', port: 9 }); process.stdout.write('no error'); }
    catch (e) { process.stdout.write(JSON.stringify([e.code, e.errno, e.message])); }`;
  const { stdout } = await promisify(execFile)('setpriv', [
    '--bounding-set=-net_admin,-net_raw',
    '--inh-caps=-net_admin,-net_raw',
    process.execPath,
    '--input-type=module',
    '-e',
    script,
  ]);
  t.deepEqual(JSON.parse(stdout), [
    'CAPTURE_ERR_DIAL',
    'EPERM',
    'transparent dial from 127.0.0.7 to 127.0.0.1:9 failed: IP_TRANSPARENT needs CAP_NET_ADMIN (EPERM)',
  ]);
});
