/**
 * Fixtures for HBONE tests: a mesh CA with workload certificates, TCP backends on loopback, and an HBONE
 * server and client wired to them. Everything created here is torn down with `t.teardown`.
 */
import type { ExecutionContext } from 'ava';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
// @peculiar/x509 needs the Reflect metadata API loaded before it (pki.ts does the same).
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import {
  Identity,
  StaticCertificateSource,
  createRootCa,
  generateKeyPair,
  privateKeyToPem,
  issueWorkloadCertificate,
  type CaMaterial,
  type WorkloadCertificate,
} from '../../src/identity/index.js';
import { HboneClient, HboneServer, type HboneClientOptions, type HboneServerOptions } from '../../src/hbone/index.js';

export const TRUST_DOMAIN = 'cluster.local';
export const DAY = 24 * 3600 * 1000;
export const serverId = Identity.parse('spiffe://cluster.local/ns/default/sa/server');
export const clientId = Identity.parse('spiffe://cluster.local/ns/default/sa/client');

export interface Pki {
  root: CaMaterial;
  serverCert: WorkloadCertificate;
  clientCert: WorkloadCertificate;
}

let shared: Promise<Pki> | undefined;

/** One CA and two workload certificates per test file (key generation is the slow part). */
export function pki(): Promise<Pki> {
  shared ??= (async () => {
    const root = await createRootCa(TRUST_DOMAIN, 365 * DAY);
    return {
      root,
      serverCert: await issueWorkloadCertificate(root, serverId, DAY),
      clientCert: await issueWorkloadCertificate(root, clientId, DAY),
    };
  })();
  return shared;
}

/** A pino logger whose records the test can read. */
export function captureLogger(): { logger: Logger; records: Array<Record<string, unknown>> } {
  const records: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) records.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), records };
}

export interface Backend {
  port: number;
  server: Server;
  /** Sockets accepted so far, in order. */
  sockets: Socket[];
}

/** A TCP server on loopback; `onSocket` defaults to echo (half-close aware: our FIN follows theirs). */
export async function backend(t: ExecutionContext, onSocket: (s: Socket) => void = (s) => s.pipe(s)): Promise<Backend> {
  const sockets: Socket[] = [];
  const server = createServer({ allowHalfOpen: true }, (s) => {
    sockets.push(s);
    s.on('error', () => {});
    onSocket(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { port: (server.address() as AddressInfo).port, server, sockets };
}

export async function startServer(t: ExecutionContext, extra: Partial<HboneServerOptions> = {}): Promise<{ server: HboneServer; port: number; addr: string }> {
  const { serverCert } = await pki();
  const server = new HboneServer({
    identity: serverId,
    certificates: new StaticCertificateSource([serverCert]),
    trustDomain: TRUST_DOMAIN,
    ...extra,
  });
  const { port } = await server.listen(0, '127.0.0.1');
  t.teardown(() => server.destroy());
  return { server, port, addr: `127.0.0.1:${port}` };
}

export async function startClient(t: ExecutionContext, extra: Partial<HboneClientOptions> = {}): Promise<HboneClient> {
  const { clientCert } = await pki();
  const client = new HboneClient({ certificates: new StaticCertificateSource([clientCert]), ...extra });
  t.teardown(() => client.destroy());
  return client;
}

/** Reads a stream to its end. */
export async function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Polls `cond` every few ms until it holds; fails after `ms` (a safety net, not a timing assertion). */
export async function until(cond: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * A leaf certificate with exactly the given SANs (URI and DNS), signed by `ca`: for certificates the
 * mesh CA would never issue (DNS-only, several SPIFFE IDs, foreign trust domains).
 */
export async function customLeaf(
  ca: CaMaterial,
  names: Array<{ type: 'url' | 'dns'; value: string }>,
  identity: Identity = clientId,
): Promise<WorkloadCertificate> {
  const keys = await generateKeyPair();
  const caCert = new x509.X509Certificate(ca.certPem);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '01',
    subject: 'CN=custom',
    issuer: caCert.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + DAY),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(names, false),
    ],
  });
  return {
    identity,
    privateKeyPem: await privateKeyToPem(keys.privateKey),
    certPem: cert.toString('pem'),
    chainPem: [],
    rootsPem: ca.rootsPem,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + DAY),
  };
}
