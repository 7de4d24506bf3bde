/**
 * The worked examples' waypoint resources: deploy/examples/waypoint.yaml loads without a diagnostic and
 * every resource survives an encode/decode round trip with Envoy's codecs; deploy/examples/mesh.yaml's
 * L7 policy on httpbin reaches its waypoint.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { envoyCodec } from '@ambit/protos';
import { computeMesh } from '../src/model/compute.js';
import { DEFAULT_MODEL_OPTIONS } from '../src/model/options.js';
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL } from '../src/server/envoy-tables.js';
import { httpFilters, resources } from './fixtures/waypoint-mesh.js';
import { EXAMPLE, inputFrom } from './helpers.js';

async function load(file: string) {
  return computeMesh(inputFrom({ [file]: await readFile(file, 'utf8') }), DEFAULT_MODEL_OPTIONS);
}

test('deploy/examples/waypoint.yaml loads cleanly, and every resource round-trips through the Envoy codecs', async (t) => {
  const mesh = await load(path.join(path.dirname(EXAMPLE), 'waypoint.yaml'));
  t.deepEqual(mesh.diagnostics, []);
  const w = resources(mesh);
  t.deepEqual([...w.listeners.keys()], ['waypoint/shop/waypoint']);
  t.is(w.routes.size, 3);
  t.is(w.clusters.size, 2);
  t.is(w.endpoints.size, 2);
  for (const [typeUrl, map] of [
    [LISTENER_TYPE_URL, w.listeners],
    [ROUTE_TYPE_URL, w.routes],
    [CLUSTER_TYPE_URL, w.clusters],
    [ENDPOINT_TYPE_URL, w.endpoints],
  ] as const) {
    const codec = envoyCodec<object>(typeUrl);
    for (const [name, resource] of map as ReadonlyMap<string, object>) {
      const bytes = codec.encode(resource);
      t.true(codec.encode(codec.decode(bytes)).equals(bytes), name);
    }
  }
  // The reviews chain: tokens verified, /admin denied.
  t.deepEqual(
    httpFilters(mesh, 'inbound-vip|9080|http|reviews.shop.svc.cluster.local').map((f) => f.name),
    ['envoy.filters.http.jwt_authn', 'envoy.filters.http.rbac', 'envoy.filters.http.router'],
  );
});

test('deploy/examples/mesh.yaml: the GET-only policy bound to httpbin is enforced by its waypoint', async (t) => {
  const mesh = await load(EXAMPLE);
  const filters = httpFilters(mesh, 'inbound-vip|8000|http|httpbin.demo.svc.cluster.local', 'waypoint/demo/waypoint');
  t.deepEqual(filters.map((f) => f.name), ['envoy.filters.http.rbac', 'envoy.filters.http.router']);
  const rules = filters[0]!.config['rules'] as { action: string; policies: Record<string, unknown> };
  t.is(rules.action, 'ALLOW');
  t.deepEqual(Object.keys(rules.policies), ['ns[demo]-policy[httpbin-get-only-l7]-rule[0]']);
});
