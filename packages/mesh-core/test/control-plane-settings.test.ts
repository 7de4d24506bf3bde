/**
 * connectCa and xdsConnectionOptions: a proxy's startup settings (root files, alternative names, token
 * file, cluster id) become a CA client that gets a certificate from a real CA over gRPC/TLS on loopback,
 * and the connection options of an xDS client. A root that cannot be read fails the call with its path.
 */
import test, { type ExecutionContext } from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Identity, StaticTokenAuthenticator, createRootCa } from '../src/identity/index.js';
import { connectCa, xdsConnectionOptions, type ControlPlaneSettings } from '../src/process/index.js';
import { CA_SERVER_NAME, capturingLogger, startCaServer } from './fixtures/ca-harness.js';

const DAY_MS = 24 * 3600 * 1000;
const waypoint = Identity.parse('spiffe://cluster.local/ns/demo/sa/waypoint');

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'cp-settings-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function settings(dir: string, overrides: Partial<ControlPlaneSettings> = {}): ControlPlaneSettings {
  return {
    xdsRootCaPath: path.join(dir, 'xds-root.pem'),
    altXdsHostname: undefined,
    caRootCaPath: path.join(dir, 'ca-root.pem'),
    altCaHostname: undefined,
    authTokenPath: path.join(dir, 'token'),
    clusterId: 'east',
    ...overrides,
  };
}

test('xdsConnectionOptions: the root from its file, the name to verify only when set, the token re-read, the cluster header', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'xds-root.pem'), 'ROOT PEM');
  await writeFile(path.join(dir, 'token'), 'token-1\n');
  const plain = await xdsConnectionOptions(settings(dir));
  t.deepEqual(plain.tls, { rootCa: 'ROOT PEM' });
  t.deepEqual(plain.headers, { clusterid: 'east' });
  t.is(await plain.token(), 'token-1');
  await writeFile(path.join(dir, 'token'), 'token-2\n');
  t.is(await plain.token(), 'token-2', 'a rotated token is read again');
  const named = await xdsConnectionOptions(settings(dir, { altXdsHostname: 'istiod.istio-system.svc' }));
  t.deepEqual(named.tls, { rootCa: 'ROOT PEM', serverName: 'istiod.istio-system.svc' });
});

test('xdsConnectionOptions: a root that cannot be read rejects with its path', async (t) => {
  const dir = await tempDir(t);
  await t.throwsAsync(xdsConnectionOptions(settings(dir)), { code: 'ENOENT', message: /xds-root\.pem/ });
});

test('connectCa: a certificate from a real CA, verified under the alternative name, with the token and cluster id', async (t) => {
  const dir = await tempDir(t);
  const root = await createRootCa('cluster.local', 365 * DAY_MS);
  const seen: Array<{ token: string; clusterid: unknown }> = [];
  const inner = new StaticTokenAuthenticator([['waypoint-token', { identity: waypoint }]]);
  const h = await startCaServer(t, {
    ca: root,
    authenticator: {
      authenticate: (token, md) => {
        seen.push({ token, clusterid: md.get('clusterid')[0] });
        return inner.authenticate(token);
      },
    },
  });
  await writeFile(path.join(dir, 'ca-root.pem'), h.rootsPem);
  await writeFile(path.join(dir, 'token'), 'waypoint-token\n');
  const { logger, records } = capturingLogger();
  const ca = await connectCa(h.address, settings(dir, { altCaHostname: CA_SERVER_NAME }), logger);
  t.teardown(() => ca.destroy());
  t.is(ca.address, h.address);
  const cert = await ca.createCertificate(waypoint, { ttlSeconds: 600 });
  t.is(cert.identity.uri, waypoint.uri);
  t.deepEqual(seen, [{ token: 'waypoint-token', clusterid: 'east' }]);
  t.true(records.every((r) => r['component'] === 'ca-client'), 'the client logs as ca-client');
});

test('connectCa: a CA root that cannot be read rejects with its path', async (t) => {
  const dir = await tempDir(t);
  await t.throwsAsync(connectCa('127.0.0.1:1', settings(dir), capturingLogger().logger), { code: 'ENOENT', message: /ca-root\.pem/ });
});
