import test from 'ava';
import { Identity } from '@ambit/mesh-core/identity';
import { Authorizer } from '../src/authz/index.js';
import { ConnectionManager, describeClose, type CloseReason, type TrackedConnection } from '../src/proxy/connection-manager.js';
import { StateStore } from '../src/state/store.js';
import { exact, policy, uidOf, workloadResource } from './fixtures/resources.js';

const client = new Identity('cluster.local', 'default', 'client');
const other = new Identity('cluster.local', 'default', 'other');

function tracked(closes: CloseReason[], as?: { identity: Identity | undefined; uid: string; port?: number }): TrackedConnection {
  return {
    direction: as === undefined ? 'outbound' : 'inbound',
    authorizedAs: as === undefined ? undefined : { sourceIdentity: as.identity, sourceIp: '10.0.0.1', workloadUid: as.uid, destinationIp: '10.0.1.1', port: as.port ?? 8080 },
    close: (reason) => closes.push(reason),
  };
}

test('a policy change closes the inbound connections now denied, and only those', (t) => {
  const store = new StateStore();
  store.apply({ addresses: { upserts: [workloadResource('web', { ips: ['10.0.1.1'] })], removals: [] } });
  const manager = new ConnectionManager();
  const fromClient: CloseReason[] = [];
  const fromOther: CloseReason[] = [];
  const plain: CloseReason[] = [];
  const out: CloseReason[] = [];
  const gone: CloseReason[] = [];
  manager.add(tracked(fromClient, { identity: client, uid: uidOf('web') }));
  manager.add(tracked(fromOther, { identity: other, uid: uidOf('web') }));
  manager.add(tracked(plain, { identity: undefined, uid: uidOf('web') }));
  manager.add(tracked(out));
  manager.add(tracked(gone, { identity: other, uid: uidOf('deleted-pod') }));
  const authorizer = new Authorizer();
  t.is(manager.recheck(store.current, authorizer), 0, 'no policy: nothing to close');

  const allowClient = policy('allow-client', { rules: [[[{ principals: [exact('cluster.local/ns/default/sa/client')] }]]] });
  store.apply({ authorizations: { upserts: [allowClient], removals: [] } });
  t.is(manager.recheck(store.current, authorizer), 2);
  t.deepEqual(fromClient, []);
  t.is(fromOther.length, 1);
  t.is(plain.length, 1);
  t.deepEqual(out, [], 'outbound connections are not under policy');
  t.deepEqual(gone, [], 'a workload no longer known is left to end with its pod');
  const reason = fromOther[0]!;
  t.is(reason.kind, 'policy');
  t.is(describeClose(reason), 'closed after a policy change: denied: no ALLOW policy matched');
  t.is(describeClose({ kind: 'drain' }), 'closed at the drain deadline');
});

test('idle() resolves when the last connection goes; closeAll() closes each for the drain', async (t) => {
  const manager = new ConnectionManager();
  await manager.idle();
  const closes: CloseReason[] = [];
  const a = tracked(closes);
  const b = tracked(closes, { identity: client, uid: uidOf('web') });
  manager.add(a);
  manager.add(b);
  let idle = false;
  const waiting = manager.idle().then(() => (idle = true));
  manager.delete(a);
  await Promise.resolve();
  t.false(idle);
  t.is(manager.closeAll(), 1);
  t.deepEqual(closes, [{ kind: 'drain' }]);
  manager.delete(b);
  manager.delete(b);
  await waiting;
  t.true(idle);
  t.is(manager.size, 0);
});
