/**
 * The hbone path's two halves in process, on real mutual TLS and HTTP/2: plain TCP in on the client
 * proxy, through an HBONE tunnel, out of the HboneServer to the backend.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Identity } from '@ambit/mesh-core/identity';
import { silentLogger } from '@ambit/mesh-core/telemetry';
import { writeBenchCertificates } from '../src/hbone/certs.js';
import type { BenchCertificates } from '../src/hbone/certs.js';
import { HboneClientProxy, createHboneServerProxy, readWorkloadCertificate } from '../src/proxies/hbone-proxy.js';

async function certs(t: ExecutionContext): Promise<BenchCertificates> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-hbone-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return await writeBenchCertificates(dir);
}

/** Echoes, and answers a half-close with "bye". */
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

async function exchange(port: number, payload: Buffer): Promise<Buffer> {
  return await new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', () => undefined);
    s.on('end', () => s.end());
    s.on('close', () => resolve(Buffer.concat(chunks)));
    s.end(payload);
  });
}

async function start(t: ExecutionContext, c: BenchCertificates, peerIdentity = c.server.identity): Promise<number> {
  const backend = await echo(t);
  const server = createHboneServerProxy({
    listen: { host: '127.0.0.1', port: 0 },
    upstream: { host: '127.0.0.1', port: backend },
    certificate: await readWorkloadCertificate(c.server),
    logger: silentLogger(),
  });
  const { port: hbonePort } = await server.listen(0, '127.0.0.1');
  t.teardown(() => server.destroy());
  const client = new HboneClientProxy({
    listen: { host: '127.0.0.1', port: 0 },
    hbone: { host: '127.0.0.1', port: hbonePort },
    target: { host: '127.0.0.1', port: backend },
    certificate: await readWorkloadCertificate(c.client),
    peerIdentity: Identity.parse(peerIdentity),
    logger: silentLogger(),
  });
  const { port } = await client.listen();
  t.teardown(() => client.destroy());
  return port;
}

test('the PEM files read back into the certificate the CertificateSource hands out', async (t) => {
  const c = await certs(t);
  const cert = await readWorkloadCertificate(c.client);
  t.is(cert.identity.uri, 'spiffe://cluster.local/ns/bench/sa/client-proxy');
  t.regex(cert.certPem, /BEGIN CERTIFICATE/);
  t.regex(cert.privateKeyPem, /BEGIN PRIVATE KEY/);
  t.is(cert.rootsPem.length, 1);
  t.true(cert.notBefore < new Date() && new Date() < cert.notAfter);
});

test('bytes and the half-close cross the HBONE proxy pair, for several connections on one pool', async (t) => {
  const c = await certs(t);
  const port = await start(t, c);
  for (const size of [1, 64 * 1024, 2 * 1024 * 1024 + 3]) {
    const payload = Buffer.alloc(size, size & 0xff);
    const back = await exchange(port, payload);
    t.true(back.subarray(0, size).equals(payload), `${size} bytes echoed`);
    t.is(back.subarray(size).toString(), 'bye');
  }
});

test('a server without the expected identity gets no tunnel: the client connection is closed', async (t) => {
  const c = await certs(t);
  const port = await start(t, c, 'spiffe://cluster.local/ns/bench/sa/someone-else');
  t.is((await exchange(port, Buffer.from('hello'))).length, 0);
});
