/**
 * The follower of local workloads with the real secret manager (certificates from a real CA, issued in
 * process) and a recording capture control.
 */
import test from 'ava';
import { SecretManager, createRootCa, issueWorkloadCertificate, type Identity } from '@ambit/mesh-core/identity';
import { silentLogger } from '@ambit/mesh-core/telemetry';
import { LocalWorkloads, type CapturedWorkload } from '../src/local-workloads.js';
import { StateStore } from '../src/state/store.js';
import { capturingLogger, uidOf, workloadResource } from './fixtures/resources.js';

const DAY = 86_400_000;

async function setup(captureFails = () => false) {
  const root = await createRootCa('cluster.local', DAY);
  const fetched: string[] = [];
  const secrets = new SecretManager({
    fetch: async (id: Identity) => {
      fetched.push(id.uri);
      return await issueWorkloadCertificate(root, id, DAY);
    },
    logger: silentLogger(),
  });
  const store = new StateStore();
  const applied: CapturedWorkload[][] = [];
  const gone: string[] = [];
  const { logger, lines } = capturingLogger('info');
  const local = new LocalWorkloads({
    nodeName: 'node-a',
    state: store,
    secrets,
    logger,
    onIdentityGone: (id) => gone.push(id.uri),
    capture: {
      setWorkloads: (list) => {
        applied.push([...list]);
        return captureFails() ? Promise.reject(new Error('nft: no such table')) : Promise.resolve();
      },
    },
  });
  return { secrets, store, local, fetched, applied, gone, lines };
}

function until(cond: () => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 10_000;
    const tick = (): void => {
      if (cond()) resolve();
      else if (Date.now() > deadline) reject(new Error('timed out'));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

test('identities are prefetched as local workloads appear and forgotten when the last one leaves', async (t) => {
  const { secrets, store, local, fetched, gone } = await setup();
  t.teardown(() => secrets.destroy());
  store.apply({ addresses: { upserts: [workloadResource('web-1', { ips: ['10.0.0.1'], sa: 'web' }), workloadResource('remote', { ips: ['10.0.1.1'], sa: 'remote', node: 'node-b' })], removals: [] } });
  local.start();
  t.deepEqual(local.pendingCertificates(), ['spiffe://cluster.local/ns/default/sa/web']);
  await until(() => local.pendingCertificates().length === 0);
  t.deepEqual(fetched, ['spiffe://cluster.local/ns/default/sa/web'], 'only node-a workloads');
  const held = local.certificates();
  t.is(held.length, 1);
  t.is(held[0]!.identity, 'spiffe://cluster.local/ns/default/sa/web');
  t.true(Date.parse(held[0]!.notAfter) > Date.now());

  // A second replica with the same identity, and a plaintext workload (not proxied).
  store.apply({ addresses: { upserts: [workloadResource('web-2', { ips: ['10.0.0.2'], sa: 'web' }), workloadResource('legacy', { ips: ['10.0.0.3'], protocol: 'NONE' })], removals: [] } });
  t.deepEqual(local.workloads.map((w) => w.name), ['web-1', 'web-2']);
  t.is(fetched.length, 1, 'the identity is already kept');
  store.apply({ addresses: { upserts: [], removals: [uidOf('web-1')] } });
  t.deepEqual(gone, [], 'web-2 still has the identity');
  t.is(secrets.identities().length, 1);
  store.apply({ addresses: { upserts: [], removals: [uidOf('web-2')] } });
  t.deepEqual(gone, ['spiffe://cluster.local/ns/default/sa/web']);
  t.deepEqual(secrets.identities(), []);
  t.deepEqual(local.certificates(), []);
  t.deepEqual(local.pendingCertificates(), []);

  // After stop(), snapshots are no longer followed.
  local.stop();
  store.apply({ addresses: { upserts: [workloadResource('late', { ips: ['10.0.0.9'], sa: 'late' })], removals: [] } });
  t.deepEqual(secrets.identities(), []);
});

test('the capture set follows the local HBONE workloads, changed only when it changes, retried after a failure', async (t) => {
  let fail = false;
  const { secrets, store, local, applied, lines } = await setup(() => fail);
  t.teardown(() => secrets.destroy());
  local.start();
  t.deepEqual(applied, [], 'an empty list is what capture starts with: nothing to change');
  store.apply({ addresses: { upserts: [workloadResource('a', { ips: ['fd00::1', '10.0.0.1'] }), workloadResource('b', { ips: ['fd00::2'] })], removals: [] } });
  t.deepEqual(applied.at(-1), [{ uid: uidOf('a'), ip: '10.0.0.1' }], 'IPv4 addresses only');
  const count = applied.length;
  store.apply({ addresses: { upserts: [workloadResource('remote', { ips: ['10.0.1.1'], node: 'node-b' })], removals: [] } });
  t.is(applied.length, count, 'unchanged for a workload elsewhere');

  fail = true;
  store.apply({ addresses: { upserts: [workloadResource('c', { ips: ['10.0.0.3'] })], removals: [] } });
  await until(() => lines.some((l) => l['msg'] === 'capture: could not apply the local workloads; the next change retries'));
  fail = false;
  // The same list again (a snapshot that changes nothing local) is applied again, since it failed.
  store.apply({ addresses: { upserts: [workloadResource('remote-2', { ips: ['10.0.1.2'], node: 'node-b' })], removals: [] } });
  t.deepEqual(applied.at(-1), [
    { uid: uidOf('a'), ip: '10.0.0.1' },
    { uid: uidOf('c'), ip: '10.0.0.3' },
  ]);
  t.is(applied.length, count + 2);
});
