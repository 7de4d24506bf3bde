/**
 * The control plane process (the `ambit-control-plane` command) killed with SIGKILL and started again on
 * the same port and state directory, while the input changes in between: the client reconnects on its
 * own, resumes with `initial_resource_versions`, receives exactly what changed (removals included) and
 * applies nothing twice.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { kill, nodeToken, startCli } from './support/cli.js';
import { MeshDir, podYaml } from './support/mesh-dir.js';
import { ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL, deltaResponses, recordingClient } from './support/recording-client.js';

const pod = (n: number, ip: string): string => podYaml(`web-${n}`, 'demo', ip, { labels: { app: 'web' } });
const uid = (n: number): string => `Kubernetes//Pod/demo/web-${n}`;

test('SIGKILL and restart on the same port: the client resumes, loses nothing, applies nothing twice, and gets what was removed meanwhile', async (t) => {
  const dir = await MeshDir.create(t);
  await dir.copyExample();
  await dir.write('web/1.yaml', pod(1, '10.244.1.41'));
  await dir.write('web/2.yaml', pod(2, '10.244.1.42'));
  const stateDir = path.join(dir.root, 'state');
  const args = (listen: string): string[] => ['--config', dir.config, '--listen', listen, '--admin', '127.0.0.1:0', '--state-dir', stateDir];

  const first = startCli(t, args('127.0.0.1:0'));
  const { grpc: address } = await first.serving();
  const rootPem = await readFile(path.join(stateDir, 'root-cert.pem'), 'utf8');
  const token = await nodeToken(stateDir, 'node-a');
  const c = recordingClient(t, address, rootPem);
  const acked = (type: string, n: number): boolean => c.acks.filter((a) => a.typeUrl === type).length >= n;
  await c.until(() => acked(ADDRESS_TYPE_URL, 1) && acked(AUTHORIZATION_TYPE_URL, 1), 'initial sync');
  const synced = { addresses: c.addresses.names(), policies: c.policies.names(), upserts: c.addresses.upserts + c.policies.upserts };
  t.true(synced.addresses.includes(uid(2)));
  const addressBatches = c.addresses.batches.length;
  const policyBatches = c.policies.batches.length;
  const responsesBefore = deltaResponses(c.lines).length;

  await kill(first, 'SIGKILL');
  await c.until(() => !c.client.connected, 'the client notices');

  // While the control plane is down: one pod changes, one goes, one comes, and a policy is deleted.
  await dir.write('web/1.yaml', pod(1, '10.244.1.51'));
  await dir.remove('web/2.yaml');
  await dir.write('web/3.yaml', pod(3, '10.244.1.43'));
  await dir.edit('mesh.yaml', /---\napiVersion: security\.istio\.io\/v1\nkind: AuthorizationPolicy\nmetadata:\n {2}name: deny-legacy\n[\s\S]*?namespaces: \[legacy\]\n/, '');

  const second = startCli(t, args(address));
  t.is((await second.serving()).grpc, address);
  await c.until(() => acked(ADDRESS_TYPE_URL, 2) && acked(AUTHORIZATION_TYPE_URL, 2), 'resynced');

  // Exactly the differences, in one batch per type.
  const addressResync = c.addresses.batches.slice(addressBatches);
  t.deepEqual(
    addressResync.map((b) => ({ upserts: b.upserts.map((u) => u.name).sort(), removals: [...b.removals] })),
    [{ upserts: [uid(1), uid(3)], removals: [uid(2)] }],
  );
  t.deepEqual(
    c.policies.batches.slice(policyBatches).map((b) => ({ upserts: b.upserts.map((u) => u.name), removals: [...b.removals] })),
    [{ upserts: [], removals: ['demo/deny-legacy'] }],
  );
  // The server was told what the client held and sent only the changes (not the whole mesh again).
  t.deepEqual(deltaResponses(c.lines).slice(responsesBefore), [
    { type_url: ADDRESS_TYPE_URL, resources: 2, removed: 1 },
    { type_url: AUTHORIZATION_TYPE_URL, resources: 0, removed: 1 },
  ]);
  t.is(c.addresses.upserts + c.policies.upserts, synced.upserts + 2, 'nothing applied twice');
  t.deepEqual(c.addresses.names(), [...synced.addresses.filter((n) => n !== uid(2)), uid(3)].sort());
  t.deepEqual(c.policies.names(), synced.policies.filter((n) => n !== 'demo/deny-legacy'));
  t.deepEqual(c.addresses.state.get(uid(1))!.workload!.addresses![0]!.join('.'), '10.244.1.51');
  t.deepEqual(c.nacks, []);
  t.true(c.client.status().connectionAttempts >= 2);

  // The state directory carried the CA and the node tokens over the crash.
  t.is(await readFile(path.join(stateDir, 'root-cert.pem'), 'utf8'), rootPem);
  t.is(await nodeToken(stateDir, 'node-a'), token);
  t.truthy(second.lines.find((l) => l['msg'] === 'reusing the generated mesh root CA'));

  await c.client.close();
  await kill(second, 'SIGTERM');
  t.is((await second.exit).code, 0);
});
