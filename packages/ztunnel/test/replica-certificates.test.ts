/**
 * A worker's certificate source: answers from what the main thread posted, asks the main thread once per
 * identity for what it lacks, and fails its waiters with the main thread's reason or when the worker stops.
 */
import test from 'ava';
import { Identity, createRootCa, issueWorkloadCertificate } from '@ambit/mesh-core/identity';
import { fromCertificateMessage, toCertificateMessage } from '../src/workers/protocol.js';
import { ReplicaCertificates } from '../src/workers/replica-certificates.js';

const WEB = new Identity('cluster.local', 'shop', 'web');
const CLIENT = new Identity('cluster.local', 'shop', 'client');

test('asks once per identity, hands the posted certificate to every waiter, then answers from it', async (t) => {
  const root = await createRootCa('cluster.local', 86_400_000);
  const asked: string[] = [];
  const source = new ReplicaCertificates((uri) => asked.push(uri));
  const waiting = [source.getCertificate(WEB), source.getCertificate(WEB)];
  t.deepEqual(asked, [WEB.uri]);
  // Through the thread message and back, as the pool posts it.
  const issued = fromCertificateMessage(structuredClone(toCertificateMessage(await issueWorkloadCertificate(root, WEB, 86_400_000))));
  t.true(issued.identity instanceof Identity);
  t.true(issued.notAfter instanceof Date);
  source.put(issued);
  const [a, b] = await Promise.all(waiting);
  t.is(a, issued);
  t.is(b, issued);
  t.is(await source.getCertificate(WEB), issued);
  t.deepEqual(asked, [WEB.uri], 'a held certificate is not asked for again');
  t.is(source.size, 1);

  // A rotation replaces it; a forgotten identity is asked for again.
  const rotated = await issueWorkloadCertificate(root, WEB, 86_400_000);
  source.put(rotated);
  t.is(await source.getCertificate(WEB), rotated);
  source.forget(WEB.uri);
  t.is(source.size, 0);
  void source.getCertificate(WEB).catch(() => undefined);
  t.deepEqual(asked, [WEB.uri, WEB.uri]);
  source.destroy();
});

test('the main thread’s failure reaches the waiters with its reason; the next ask asks again; destroy fails the rest', async (t) => {
  const asked: string[] = [];
  const source = new ReplicaCertificates((uri) => asked.push(uri));
  const waiting = source.getCertificate(CLIENT);
  source.fail(CLIENT.uri, 'CA unavailable: connection refused');
  const err = await t.throwsAsync(waiting);
  t.is((err as { code?: string }).code, 'ZT_ERR_WORKER');
  t.is(err?.message, `no certificate for ${CLIENT.uri}: CA unavailable: connection refused`);
  source.fail(WEB.uri, 'nobody waits: nothing happens');

  const again = source.getCertificate(CLIENT);
  t.deepEqual(asked, [CLIENT.uri, CLIENT.uri]);
  source.destroy();
  t.is((await t.throwsAsync(again))?.message, `no certificate for ${CLIENT.uri}: the worker is stopping`);
  t.is((await t.throwsAsync(source.getCertificate(WEB)))?.message, `no certificate for ${WEB.uri}: the worker is stopping`);
  t.deepEqual(asked, [CLIENT.uri, CLIENT.uri], 'a stopped source asks for nothing');
});
