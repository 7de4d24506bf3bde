import test from 'ava';
import { addressCodec } from '@ambit/protos';
import { addressResourceType, clusterResourceType, listenerResourceType, loadAssignmentResourceType, routeConfigurationResourceType } from '../src/config/resource-types.js';
import { encode, T } from './support/envoy.js';
import { edsCluster, LISTENER, listener, loadAssignment, WEB_CHAIN, webRoutes, workloadAddress } from './support/fixtures.js';

test('each type decodes and compiles its resource, and names it for state of the world', (t) => {
  const l = listenerResourceType().decode(encode(T.listener, listener()), LISTENER);
  t.true(l.ok);
  if (l.ok) t.is(listenerResourceType().nameOf!(l.value), LISTENER);
  const r = routeConfigurationResourceType().decode(encode(T.route, webRoutes()), WEB_CHAIN);
  t.true(r.ok && routeConfigurationResourceType().nameOf!(r.value) === WEB_CHAIN);
  t.false(routeConfigurationResourceType().allResourcesRequiredInSotw);
  const c = clusterResourceType().decode(encode(T.cluster, edsCluster('c1')), '');
  t.true(c.ok && clusterResourceType().nameOf!(c.value) === 'c1');
  t.true(clusterResourceType().allResourcesRequiredInSotw);
  const e = loadAssignmentResourceType().decode(encode(T.cla, loadAssignment('c1', ['10.0.0.1'])), 'c1');
  t.true(e.ok && loadAssignmentResourceType().nameOf!(e.value) === 'c1');
  const a = addressResourceType().decode(addressCodec().encode(workloadAddress('Kubernetes//Pod/default/a', '10.0.0.1', true)), 'Kubernetes//Pod/default/a');
  t.true(a.ok && addressResourceType().nameOf!(a.value) === 'Kubernetes//Pod/default/a');
  t.is(listenerResourceType().typeUrl, 'type.googleapis.com/envoy.config.listener.v3.Listener');
});

test('bytes that do not decode and resources that do not compile come back as reasons, never throws', (t) => {
  const garbage = Buffer.from([0x0a, 0xff, 0xff, 0xff]);
  for (const type of [listenerResourceType(), routeConfigurationResourceType(), clusterResourceType(), loadAssignmentResourceType(), addressResourceType()]) {
    const result = type.decode(garbage, 'x');
    t.false(result.ok, type.typeUrl);
    if (!result.ok) t.regex(result.reason, /cannot decode/);
  }
  const bad = clusterResourceType().decode(encode(T.cluster, { name: 'c1', type: 'STATIC' }), 'c1');
  t.deepEqual(bad, { ok: false, reason: 'Cluster "c1": type: "STATIC" is not supported (the waypoint\'s clusters are EDS or ORIGINAL_DST)' });
  // State of the world gives no name: the rejection names the resource from its message.
  const sotw = clusterResourceType().decode(encode(T.cluster, { name: 'c2', type: 'STATIC' }), '');
  t.deepEqual(sotw.ok ? undefined : sotw.name, 'c2');
  const nameless = clusterResourceType().decode(encode(T.cluster, { type: 'EDS' }), '');
  t.false(nameless.ok);
  t.false(!nameless.ok && 'name' in nameless, 'a resource without a name is reported without one');
  const mismatch = routeConfigurationResourceType().decode(encode(T.route, webRoutes()), 'other');
  t.false(mismatch.ok);
  if (!mismatch.ok) t.regex(mismatch.reason, /does not match the resource name "other"/);
});

test('a Duration whose nanos are out of range is refused', (t) => {
  const tooLong = routeConfigurationResourceType().decode(
    encode(T.route, { name: 'r', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c', timeout: { seconds: 1, nanos: 1_000_000_000 } } }] }] }),
    'r',
  );
  t.false(tooLong.ok);
  if (!tooLong.ok) t.regex(tooLong.reason, /virtual_hosts\[0\]\.routes\[0\]\.route\.timeout\.nanos: must be 0-999999999/);
});
