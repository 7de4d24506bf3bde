import test from 'ava';
import { ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL } from '@ambit/protos';
import { XdsClient, XdsConfigError } from '@ambit/xds';
import { StateStore } from '../src/state/store.js';
import { STATE_TYPE_URLS, XdsStateUpdater } from '../src/state/xds-updater.js';

// The updater against a live control plane (ACKs, NACKs, sync, close) is tested end to end in
// test/e2e/ztunnel-state.test.ts; these are the checks that need no server.

function idleClient(): XdsClient {
  return new XdsClient({ target: '127.0.0.1:1', node: { id: 'ztunnel~10.0.0.1~zt.istio-system~istio-system.svc.cluster.local' } });
}

test('registers and subscribes both types with a wildcard; not synced before any ACK', async (t) => {
  const client = idleClient();
  t.teardown(() => client.destroy());
  const updater = new XdsStateUpdater({ client, store: new StateStore() });
  t.deepEqual(STATE_TYPE_URLS, [ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL]);
  t.deepEqual(
    client.status().types.map((s) => [s.typeUrl, s.subscriptions]),
    [
      [ADDRESS_TYPE_URL, ['*']],
      [AUTHORIZATION_TYPE_URL, ['*']],
    ],
  );
  t.false(updater.synced);
  t.deepEqual(updater.pending(), [ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL]);
  await updater.close();
  await t.throwsAsync(updater.whenSynced(), { code: 'ZT_ERR_STATE_CLOSED' });
});

test('a client that already has the types refuses a second updater', (t) => {
  const client = idleClient();
  t.teardown(() => client.destroy());
  const store = new StateStore();
  new XdsStateUpdater({ client, store });
  t.throws(() => new XdsStateUpdater({ client, store }), { instanceOf: XdsConfigError, message: `resource type ${ADDRESS_TYPE_URL} is already registered` });
});
