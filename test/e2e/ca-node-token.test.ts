/**
 * The node-bound CA of the control plane, from the YAML input: a node's generated token (read from the
 * state directory, as a ztunnel would read its mounted token) obtains certificates for the pods on its
 * node through the real CaClient, and is refused any other; a SecretManager over that client serves them.
 */
import { X509Certificate } from 'node:crypto';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { CaClient, CaClientError, Identity, SecretManager, SecretManagerError, readTokenFile } from '@ambit/mesh-core/identity';
import { silentLogger } from '@ambit/mesh-core/telemetry';
import path from 'node:path';
import { MeshDir, podYaml } from './support/mesh-dir.js';
import { startPlane } from './support/plane.js';
import { SERVER_NAME } from './support/recording-client.js';

const sleep = Identity.parse('spiffe://cluster.local/ns/demo/sa/sleep');
const httpbin = Identity.parse('spiffe://cluster.local/ns/demo/sa/httpbin');
const web = Identity.parse('spiffe://cluster.local/ns/demo/sa/web');

async function refusal(promise: Promise<unknown>): Promise<CaClientError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof CaClientError)) throw new Error(`expected a CaClientError, got ${String(err)}`);
  return err;
}

test('a node token gets certificates for pods on its node only, follows pods across nodes, and feeds a SecretManager', async (t) => {
  const dir = await MeshDir.create(t);
  await dir.copyExample();
  // web runs on node-b; sleep on node-a; httpbin on both (one replica each).
  await dir.write('web.yaml', podYaml('web-1', 'demo', '10.244.2.60', { node: 'node-b', sa: 'web', labels: { app: 'web' } }));
  const h = await startPlane(t, dir);
  const tokenFile = path.join(h.stateDir, 'node-tokens', 'node-a.token');
  const ca = new CaClient({ address: h.plane.grpcAddress, rootCertPem: h.rootPem, serverName: SERVER_NAME, token: readTokenFile(tokenFile) });
  t.teardown(() => ca.destroy());

  const cert = await ca.createCertificate(sleep, { impersonate: true });
  const leaf = new X509Certificate(cert.certPem);
  t.is(leaf.subjectAltName, `URI:${sleep.uri}`);
  t.true(leaf.verify(new X509Certificate(h.rootPem).publicKey), 'signed by the root in the state directory');
  t.truthy(await ca.createCertificate(httpbin, { impersonate: true }));

  const denied = await refusal(ca.createCertificate(web, { impersonate: true }));
  t.is(denied.grpcCode, grpc.status.PERMISSION_DENIED);
  t.regex(denied.message, /caller node\/node-a may not impersonate spiffe:\/\/cluster\.local\/ns\/demo\/sa\/web/);
  // A node token carries no identity of its own.
  t.is((await refusal(ca.createCertificate(sleep))).grpcCode, grpc.status.PERMISSION_DENIED);

  // web is rescheduled onto node-a (the YAML changes): node-a may now have it.
  await dir.write('web.yaml', podYaml('web-1', 'demo', '10.244.1.60', { node: 'node-a', sa: 'web', labels: { app: 'web' } }));
  await new Promise<void>((resolve) => {
    const check = (): void => {
      if (h.model.current.identitiesByNode.get('node-a')?.has(web.uri) !== true) return;
      h.model.off('snapshot', check);
      resolve();
    };
    h.model.on('snapshot', check);
    check();
  });
  t.truthy(await ca.createCertificate(web, { impersonate: true }));

  // ztunnel's certificate cache over the same client.
  const manager = new SecretManager({ fetch: (identity) => ca.createCertificate(identity, { impersonate: true }), logger: silentLogger() });
  t.teardown(() => manager.destroy());
  manager.prefetch(sleep);
  const served = await manager.getCertificate(sleep);
  t.is(served.identity.uri, sleep.uri);
  t.is(new X509Certificate(served.certPem).subjectAltName, `URI:${sleep.uri}`);
  t.is(await manager.getCertificate(sleep), served, 'served from the cache');
  const unavailable = await t.throwsAsync(manager.getCertificate(Identity.parse('spiffe://cluster.local/ns/legacy/sa/default')), { instanceOf: SecretManagerError });
  t.is(unavailable?.code, 'SECRET_ERR_UNAVAILABLE');
  t.is((unavailable?.cause as CaClientError).grpcCode, grpc.status.PERMISSION_DENIED);

  const counters = h.plane.ca.counters();
  t.is(counters.issued, 4);
  t.is(counters.refused['CA_ERR_PERMISSION_DENIED'], 3);
  await manager.close();
  await ca.close();
});
