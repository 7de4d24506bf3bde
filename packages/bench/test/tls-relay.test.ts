/**
 * The node-tls baseline relays, in process with real certificates from our CA: bytes and half-close cross
 * the pair, and either side refuses a peer without the expected identity or from another CA.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '@ambit/mesh-core/telemetry';
import { writeBenchCertificates } from '../src/hbone/certs.js';
import type { BenchCertificates } from '../src/hbone/certs.js';
import { TlsRelayClient, TlsRelayServer, readTlsMaterial } from '../src/proxies/tls-relay.js';

async function certs(t: ExecutionContext): Promise<BenchCertificates> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-relay-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return await writeBenchCertificates(dir);
}

/** An echo server that, on the client's half-close, answers "bye" and ends. */
async function echo(t: ExecutionContext): Promise<number> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('data', (d) => s.write(d));
    s.on('end', () => s.end('bye'));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => srv.close(() => r()));
  });
  return (srv.address() as net.AddressInfo).port;
}

interface Pair {
  readonly port: number;
  readonly server: TlsRelayServer;
  readonly client: TlsRelayClient;
}

async function pair(
  t: ExecutionContext,
  serverCerts: BenchCertificates,
  clientCerts: BenchCertificates,
  expect: { server?: string; client?: string } = {},
): Promise<Pair> {
  const backend = await echo(t);
  const logger = silentLogger();
  const server = new TlsRelayServer({
    listen: { host: '127.0.0.1', port: 0 },
    upstream: { host: '127.0.0.1', port: backend },
    tls: await readTlsMaterial(serverCerts.server),
    peerIdentity: expect.client ?? serverCerts.client.identity,
    logger,
  });
  const { port: serverPort } = await server.listen();
  t.teardown(() => server.destroy());
  const client = new TlsRelayClient({
    listen: { host: '127.0.0.1', port: 0 },
    upstream: { host: '127.0.0.1', port: serverPort },
    tls: await readTlsMaterial(clientCerts.client),
    peerIdentity: expect.server ?? clientCerts.server.identity,
    logger,
  });
  const { port } = await client.listen();
  t.teardown(() => client.destroy());
  return { port, server, client };
}

/** Sends `payload`, half-closes, and returns everything received until the far end closes. */
async function exchange(port: number, payload: Buffer): Promise<{ data: Buffer; error?: Error }> {
  return await new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', (error) => resolve({ data: Buffer.concat(chunks), error }));
    s.on('end', () => s.end());
    s.on('close', () => resolve({ data: Buffer.concat(chunks) }));
    s.end(payload);
  });
}

test('bytes and the half-close cross the relay pair both ways', async (t) => {
  const c = await certs(t);
  const { port } = await pair(t, c, c);
  const payload = Buffer.alloc(3 * 1024 * 1024 + 5, 9);
  const { data, error } = await exchange(port, payload);
  t.is(error, undefined);
  t.true(data.subarray(0, payload.length).equals(payload));
  t.is(data.subarray(payload.length).toString(), 'bye', 'the reply after the half-close arrives');
});

test('the client relay refuses a server without the expected identity', async (t) => {
  const c = await certs(t);
  const { port } = await pair(t, c, c, { server: 'spiffe://cluster.local/ns/bench/sa/someone-else' });
  const { data } = await exchange(port, Buffer.from('hello'));
  t.is(data.length, 0);
});

test('the server relay refuses a client without the expected identity', async (t) => {
  const c = await certs(t);
  const { port } = await pair(t, c, c, { client: 'spiffe://cluster.local/ns/bench/sa/someone-else' });
  const { data } = await exchange(port, Buffer.from('hello'));
  t.is(data.length, 0);
});

test('certificates from another CA are refused', async (t) => {
  const ours = await certs(t);
  const theirs = await certs(t);
  const { port } = await pair(t, ours, theirs);
  const { data } = await exchange(port, Buffer.from('hello'));
  t.is(data.length, 0);
});

test('an unreachable upstream closes the client connection', async (t) => {
  const c = await certs(t);
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const deadPort = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const client = new TlsRelayClient({
    listen: { host: '127.0.0.1', port: 0 },
    upstream: { host: '127.0.0.1', port: deadPort },
    tls: await readTlsMaterial(c.client),
    peerIdentity: c.server.identity,
    logger: silentLogger(),
  });
  const { port } = await client.listen();
  t.teardown(() => client.destroy());
  const { data } = await exchange(port, Buffer.from('hello'));
  t.is(data.length, 0);
});
