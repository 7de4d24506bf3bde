import test from 'ava';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backend, clientId, pki, readAll, serverId, startClient, startServer } from './helpers/mesh.js';

/**
 * Interop with a non-Node HBONE client: Python's ssl (OpenSSL) + hyper-h2, from Debian's python3-h2
 * (scripts/setup.sh installs it). curl 7.88 (Debian 12) cannot be that peer: it offers no ALPN to an
 * HTTPS proxy and speaks only HTTP/1.1 CONNECT to it (--proxy-http2 arrived in curl 8.1), so our h2-only
 * server refuses it, as it must.
 */
const PYTHON = '/usr/bin/python3';
const PEER = fileURLToPath(new URL('../../test/fixtures/hbone_peer.py', import.meta.url));

function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7) & 0xff;
  return b;
}

function runPeer(args: string[]): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(PYTHON, [PEER, ...args], { timeout: 30_000 }, (err, out, errOut) => {
      if (err) reject(new Error(`${err.message}\n${errOut}`));
      else resolve(JSON.parse(out.trim()) as Record<string, unknown>);
    });
  });
}

test('a Python hyper-h2 client tunnels through our server and gets the same echo as our client', async (t) => {
  if (!existsSync(PYTHON)) {
    t.fail(`${PYTHON} is missing: run scripts/setup.sh (installs python3-h2)`);
    return;
  }
  const echo = await backend(t);
  const { port, addr } = await startServer(t);
  const { clientCert } = await pki();
  const dir = mkdtempSync(join(tmpdir(), 'hbone-interop-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'cert.pem'), [clientCert.certPem, ...clientCert.chainPem].join(''));
  writeFileSync(join(dir, 'key.pem'), clientCert.privateKeyPem);
  writeFileSync(join(dir, 'ca.pem'), clientCert.rootsPem.join(''));
  // More than the 64 KiB default window the Python side starts with: exercises WINDOW_UPDATEs both ways.
  const size = 3 * 1024 * 1024 + 17;
  const py = await runPeer(['127.0.0.1', String(port), `127.0.0.1:${echo.port}`, join(dir, 'cert.pem'), join(dir, 'key.pem'), join(dir, 'ca.pem'), String(size)]);
  t.is(py['status'], 200);
  t.is(py['alpn'], 'h2');
  t.is(py['tls'], 'TLSv1.3');
  t.is(py['sent'], size);
  t.is(py['received'], size);
  t.is(py['sha256_received'], py['sha256_sent']);

  // The same bytes through our own client give the same digest.
  const client = await startClient(t);
  const tunnel = await client.connect({ source: clientId, destination: addr, expectedIdentities: [serverId], authority: `127.0.0.1:${echo.port}` });
  tunnel.end(pattern(size));
  const ours = createHash('sha256').update(await readAll(tunnel)).digest('hex');
  t.is(ours, String(py['sha256_received']));
});

test('the Python client gets 400 for a bad authority, like any client', async (t) => {
  const { port } = await startServer(t);
  const { clientCert } = await pki();
  const dir = mkdtempSync(join(tmpdir(), 'hbone-interop-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'cert.pem'), clientCert.certPem);
  writeFileSync(join(dir, 'key.pem'), clientCert.privateKeyPem);
  writeFileSync(join(dir, 'ca.pem'), clientCert.rootsPem.join(''));
  const py = await runPeer(['127.0.0.1', String(port), 'not-an-ip:80', join(dir, 'cert.pem'), join(dir, 'key.pem'), join(dir, 'ca.pem'), '10']);
  t.is(py['status'], 400);
});
