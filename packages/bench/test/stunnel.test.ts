/**
 * The c-tunnel path: the stunnel configuration we generate, and a real stunnel pair on it (verifying the
 * peer's chain against our root, refusing a client from another CA).
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { writeBenchCertificates } from '../src/hbone/certs.js';
import type { BenchCertificates } from '../src/hbone/certs.js';
import { startStunnel, stunnelConfig } from '../src/hbone/stunnel.js';
import { Cleanup } from '../src/lib/cleanup.js';
import { BenchError } from '../src/lib/errors.js';

async function tmp(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-stunnel-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function cleanupFor(t: ExecutionContext): Cleanup {
  const c = new Cleanup();
  t.teardown(() => c.run());
  return c;
}

async function echo(t: ExecutionContext): Promise<number> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('data', (d) => s.write(d));
    s.on('end', () => s.end());
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => srv.close(() => r()));
  });
  return (srv.address() as net.AddressInfo).port;
}

/** Writes `payload` and collects what comes back until `want` bytes arrived or the connection closed. */
async function roundTrip(port: number, payload: Buffer, want: number): Promise<Buffer> {
  return await new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let got = 0;
    const done = (): void => {
      s.destroy();
      resolve(Buffer.concat(chunks));
    };
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got >= want) done();
    });
    s.on('error', done);
    s.on('close', done);
    s.write(payload);
  });
}

async function stunnelPair(t: ExecutionContext, serverCerts: BenchCertificates, clientCerts: BenchCertificates): Promise<number> {
  const cleanup = cleanupFor(t);
  const dir = await tmp(t);
  const backend = await echo(t);
  const server = await startStunnel('stunnel4', { mode: 'server', listenHost: '127.0.0.1', upstream: { host: '127.0.0.1', port: backend }, tls: serverCerts.server }, dir, { cleanup });
  const client = await startStunnel('stunnel4', { mode: 'client', listenHost: '127.0.0.1', upstream: { host: '127.0.0.1', port: server.port }, tls: clientCerts.client }, dir, { cleanup });
  return client.port;
}

test('the config pins TLS 1.3, AES-GCM, chain verification, our files, loopback and the foreground', (t) => {
  const files = { identity: 'spiffe://x/ns/a/sa/b', caFile: '/d/ca.pem', certFile: '/d/c.pem', keyFile: '/d/k.pem' };
  const text = stunnelConfig({ mode: 'client', listenHost: '127.0.0.1', upstream: { host: '127.0.0.1', port: 4000 }, tls: files }, '/d/s.pid');
  const lines = text.split('\n');
  for (const expected of [
    'foreground = yes',
    'pid = /d/s.pid',
    'client = yes',
    'accept = 127.0.0.1:0',
    'connect = 127.0.0.1:4000',
    'sslVersion = TLSv1.3',
    'ciphersuites = TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384',
    'verifyChain = yes',
    'CAfile = /d/ca.pem',
    'cert = /d/c.pem',
    'key = /d/k.pem',
  ]) {
    t.true(lines.includes(expected), expected);
  }
  t.regex(stunnelConfig({ mode: 'server', listenHost: '127.0.0.1', upstream: { host: '127.0.0.1', port: 1 }, tls: files }, '/p'), /^client = no$/m);
});

test('a stunnel pair carries bytes with certificates from our CA', async (t) => {
  const dir = await tmp(t);
  const c = await writeBenchCertificates(dir);
  const port = await stunnelPair(t, c, c);
  const payload = Buffer.alloc(256 * 1024, 3);
  const back = await roundTrip(port, payload, payload.length);
  t.true(back.equals(payload));
});

test('a stunnel pair whose sides hold certificates from different CAs carries nothing', async (t) => {
  const ours = await writeBenchCertificates(await tmp(t));
  const theirs = await writeBenchCertificates(await tmp(t));
  const port = await stunnelPair(t, ours, theirs);
  t.is((await roundTrip(port, Buffer.from('hello'), 5)).length, 0);
});

test('a stunnel that rejects its configuration is reported with its own words', async (t) => {
  const dir = await tmp(t);
  const missing = { identity: 'spiffe://x/ns/a/sa/b', caFile: path.join(dir, 'nope.pem'), certFile: path.join(dir, 'nope.pem'), keyFile: path.join(dir, 'nope.pem') };
  const err = await t.throwsAsync(
    startStunnel('stunnel4', { mode: 'server', listenHost: '127.0.0.1', upstream: { host: '127.0.0.1', port: 1 }, tls: missing }, dir, { cleanup: cleanupFor(t) }),
    { instanceOf: BenchError },
  );
  t.is(err.code, 'BENCH_ERR_CHILD');
  t.regex(err.message, /stunnel-server did not start: stunnel-server \(pid \d+\) exited with code 1; its last output:[\s\S]*nope\.pem/);
});
