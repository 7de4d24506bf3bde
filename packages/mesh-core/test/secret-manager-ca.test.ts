// SecretManager fed by the real CaClient from the real CA service (gRPC + TLS on loopback, real clock).
// Short lifetimes make a rotation happen within the test; nothing here asserts how long anything took.
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { X509Certificate } from 'node:crypto';
import {
  CaClient,
  CaClientError,
  Identity,
  SecretManager,
  SecretManagerError,
  StaticTokenAuthenticator,
  createIntermediateCa,
  createRootCa,
  type CertificateUpdate,
} from '../src/identity/index.js';
import { silentLogger } from '../src/telemetry/index.js';
import { CA_SERVER_NAME, startCaServer } from './fixtures/ca-harness.js';

const DAY_MS = 24 * 3600 * 1000;
const cart = Identity.parse('spiffe://cluster.local/ns/shop/sa/cart');
const orders = Identity.parse('spiffe://cluster.local/ns/shop/sa/orders');
const payments = Identity.parse('spiffe://cluster.local/ns/shop/sa/payments');

test('node proxy flow: prefetch, serve, rotate with the same roots, refuse what the node may not have', async (t) => {
  const root = await createRootCa('cluster.local', 365 * DAY_MS);
  const inter = await createIntermediateCa(root, 'cluster.local', 30 * DAY_MS);
  const onNode = new Set([cart.uri, orders.uri]);
  const authenticator = new StaticTokenAuthenticator([['node-a', { node: 'node-a', mayImpersonate: (id) => onNode.has(id.uri) }]]);
  const h = await startCaServer(t, { ca: inter, authenticator });
  const client = new CaClient({ address: h.address, rootCertPem: h.rootsPem, serverName: CA_SERVER_NAME, token: 'node-a' });
  t.teardown(() => client.destroy());
  const manager = new SecretManager({
    // Two-second certificates: the manager refreshes them after its one-second floor.
    fetch: (identity) => client.createCertificate(identity, { impersonate: true, ttlSeconds: 2 }),
    logger: silentLogger(),
  });
  t.teardown(() => manager.destroy());

  const updates: CertificateUpdate[] = [];
  const rotated = new Promise<CertificateUpdate>((resolve) =>
    manager.onCertificate((u) => {
      updates.push(u);
      if (u.previous && u.identity.equals(cart)) resolve(u);
    }),
  );
  manager.prefetch(cart);
  manager.prefetch(orders);
  const [c1, o1] = await Promise.all([manager.getCertificate(cart), manager.getCertificate(orders)]);
  t.is(c1.identity, cart);
  t.is(o1.identity, orders);
  t.deepEqual(c1.chainPem.length, 1);
  const leaf = new X509Certificate(c1.certPem);
  t.is(leaf.subjectAltName, `URI:${cart.uri}`);
  t.true(leaf.verify(new X509Certificate(c1.chainPem[0]!).publicKey));
  t.true(updates.filter((u) => !u.previous).every((u) => u.rootsChanged));

  const rotation = await rotated;
  t.is(rotation.previous, c1);
  t.false(rotation.rootsChanged);
  t.not(rotation.certificate.privateKeyPem, c1.privateKeyPem);
  t.not(rotation.certificate.certPem, c1.certPem);
  t.not(await manager.getCertificate(cart), c1);

  const err = await t.throwsAsync(manager.getCertificate(payments), { instanceOf: SecretManagerError });
  t.is(err?.code, 'SECRET_ERR_UNAVAILABLE');
  t.true(err?.cause instanceof CaClientError);
  t.is((err?.cause as CaClientError).grpcCode, grpc.status.PERMISSION_DENIED);
  t.regex(err?.message ?? '', /caller node\/node-a may not impersonate spiffe:\/\/cluster.local\/ns\/shop\/sa\/payments; next attempt in \d+ ms$/);

  manager.forget(orders);
  t.deepEqual(manager.identities().map(String).sort(), [cart.uri, payments.uri]);
  await manager.close();
  await client.close();
});
