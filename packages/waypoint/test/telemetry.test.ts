/**
 * Telemetry labels from what the snapshot and the tunnel carry: the destination endpoint's workload and
 * identity, the source's baggage, the service host.
 */
import test from 'ava';
import { destinationLabels } from '../src/proxy/record.js';
import { namespaceOf, parseBaggage, serviceParts } from '../src/telemetry/metrics.js';
import { endpoint } from './helpers/fixtures.js';

test('destination labels: workload and namespace from Endpoint.workload, principal from the HBONE identity', (t) => {
  const ep = { ...endpoint(8080, { kind: 'hbone', identity: 'spiffe://cluster.local/ns/shop/sa/reviews', hbonePort: 15008 }), workload: { name: 'reviews-v2', namespace: 'shop', serviceAccount: 'reviews' } };
  t.deepEqual(destinationLabels(ep), {
    destination_workload: 'reviews-v2',
    destination_workload_namespace: 'shop',
    destination_principal: 'spiffe://cluster.local/ns/shop/sa/reviews',
    // Canonical name, revision and cluster id are not in the snapshot (see destinationLabels).
    destination_app: 'unknown',
    destination_version: 'unknown',
    destination_cluster: 'unknown',
  });
});

test('destination labels: without a known workload the namespace comes from the identity; a plain endpoint has neither', (t) => {
  const hbone = { ...endpoint(8080, { kind: 'hbone', identity: 'spiffe://cluster.local/ns/payments/sa/api', hbonePort: 15008 }), workload: undefined };
  t.like(destinationLabels(hbone), { destination_workload: 'unknown', destination_workload_namespace: 'payments', destination_principal: 'spiffe://cluster.local/ns/payments/sa/api' });
  const plain = { ...endpoint(80, { kind: 'plain' }), workload: undefined };
  t.like(destinationLabels(plain), { destination_workload: 'unknown', destination_workload_namespace: 'unknown', destination_principal: 'unknown' });
  t.like(destinationLabels(undefined), { destination_workload: 'unknown', destination_principal: 'unknown' });
});

test('source labels from ztunnel baggage; service name and namespace from the host', (t) => {
  const b = parseBaggage('k8s.deployment.name=client, k8s.namespace.name=default,service.name=client;prop=1,service.version=v1,bad,=x,k8s.cluster.name=');
  t.deepEqual([...b], [
    ['k8s.deployment.name', 'client'],
    ['k8s.namespace.name', 'default'],
    ['service.name', 'client'],
    ['service.version', 'v1'],
  ]);
  t.deepEqual(serviceParts('reviews.shop.svc.cluster.local'), ['reviews', 'shop']);
  t.deepEqual(serviceParts(''), ['unknown', 'unknown']);
  t.deepEqual(serviceParts('single'), ['single', 'unknown']);
  t.is(namespaceOf('spiffe://td/ns/a/sa/b'), 'a');
  t.is(namespaceOf('spiffe://td/other'), 'unknown');
});
