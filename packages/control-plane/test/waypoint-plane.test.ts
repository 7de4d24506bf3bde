/**
 * The whole control plane with a waypoint in its snapshot: the waypoint's token obtains exactly the
 * waypoint's identity from the CA (over real gRPC/TLS), and config_dump shows the Envoy resources.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { Identity, parseCertificate } from '@ambit/mesh-core/identity';
import { computeMesh } from '../src/model/compute.js';
import { DEFAULT_MODEL_OPTIONS } from '../src/model/options.js';
import type { MeshSnapshot } from '../src/model/snapshot.js';
import { EMPTY_SNAPSHOT, nextSnapshot } from '../src/model/versioning.js';
import { TestSource } from './fixtures/mesh.js';
import { startPlane } from './fixtures/plane.js';
import { cluster, httpChain, LISTENER } from './fixtures/waypoint-mesh.js';
import { EXAMPLE, inputFrom, refusal } from './helpers.js';

const WAYPOINT_EXAMPLE = path.join(path.dirname(EXAMPLE), 'waypoint.yaml');
const WAYPOINT = new Identity('cluster.local', 'shop', 'waypoint');
const REVIEWS = new Identity('cluster.local', 'shop', 'reviews');

async function exampleSnapshot(): Promise<MeshSnapshot> {
  const content = computeMesh(inputFrom({ [WAYPOINT_EXAMPLE]: await readFile(WAYPOINT_EXAMPLE, 'utf8') }), DEFAULT_MODEL_OPTIONS);
  return nextSnapshot(EMPTY_SNAPSHOT, content)!;
}

/** Waits (bounded by ava's timeout) for `cond`. */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setImmediate(r));
}

test('a waypoint token obtains the waypoint identity and nothing else, while the waypoint exists', async (t) => {
  const source = new TestSource(await exampleSnapshot());
  const h = await startPlane(t, { source });
  const file = path.join(h.stateDir, 'waypoint-tokens', 'shop', 'waypoint.token');
  const token = (await readFile(file, 'utf8')).trim();
  t.regex(token, /^[A-Za-z0-9_-]{43}$/);
  t.deepEqual(h.plane.waypointTokens?.waypoints(), ['shop/waypoint']);
  const ca = h.caClient(token);

  const cert = await ca.createCertificate(WAYPOINT);
  t.deepEqual(parseCertificate(cert.certPem).uris, [WAYPOINT.uri]);

  const other = await refusal(ca.createCertificate(REVIEWS));
  t.is(other.grpcCode, grpc.status.PERMISSION_DENIED);
  t.regex(other.message, /caller spiffe:\/\/cluster\.local\/ns\/shop\/sa\/waypoint may not obtain spiffe:\/\/cluster\.local\/ns\/shop\/sa\/reviews/);
  const impersonating = await refusal(ca.createCertificate(REVIEWS, { impersonate: true }));
  t.is(impersonating.grpcCode, grpc.status.PERMISSION_DENIED);
  t.regex(impersonating.message, /may not impersonate other identities/);

  // The Gateway is deleted: its token is kept on disk but obtains nothing.
  source.publish({});
  await until(() => h.plane.waypointTokens?.waypoints().length === 0);
  const gone = await refusal(ca.createCertificate(WAYPOINT));
  t.is(gone.grpcCode, grpc.status.UNAUTHENTICATED);
  t.is((await readFile(file, 'utf8')).trim(), token);
});

test('waypoint tokens survive a restart of the control plane', async (t) => {
  const first = await startPlane(t, { source: new TestSource(await exampleSnapshot()) });
  const token = (await readFile(path.join(first.stateDir, 'waypoint-tokens', 'shop', 'waypoint.token'), 'utf8')).trim();
  first.plane.destroy();
  const second = await startPlane(t, { source: new TestSource(await exampleSnapshot()), stateDir: first.stateDir });
  t.is((await readFile(path.join(second.stateDir, 'waypoint-tokens', 'shop', 'waypoint.token'), 'utf8')).trim(), token);
  t.truthy(await second.caClient(token).createCertificate(WAYPOINT));
});

test('config_dump shows the waypoint resources with their nested configuration unpacked, and the waypoint identities', async (t) => {
  const h = await startPlane(t, { source: new TestSource(await exampleSnapshot()) });
  const res = await h.get('/debug/config_dump');
  t.is(res.status, 200);
  const dump = JSON.parse(res.body) as Record<string, { name: string; version: string; resource: Record<string, unknown> }[]> & {
    waypoints: Record<string, string>;
    ca: { tokens: { waypoints: string[] } };
  };
  t.deepEqual(dump.waypoints, { 'shop/waypoint': WAYPOINT.uri });
  t.deepEqual(dump.ca.tokens.waypoints, ['shop/waypoint']);
  t.deepEqual(
    dump['listeners']!.map((l) => l.name),
    [LISTENER],
  );
  const listener = dump['listeners']![0]!.resource as { filter_chains: { name: string; filters: { typed_config: Record<string, unknown> }[] }[] };
  const reviews = listener.filter_chains.find((c) => c.name === httpChain('reviews', 9080))!;
  const hcm = reviews.filters[0]!.typed_config;
  t.is(hcm['@type'], 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager');
  const filters = hcm['http_filters'] as { name: string; typed_config: Record<string, unknown> }[];
  t.deepEqual(
    filters.map((f) => [f.name, f.typed_config['@type']]),
    [
      ['envoy.filters.http.jwt_authn', 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication'],
      ['envoy.filters.http.rbac', 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC'],
      ['envoy.filters.http.router', 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router'],
    ],
  );
  t.deepEqual(dump['routes']!.map((r) => r.name), [httpChain('reviews-v1', 9080), httpChain('reviews-v2', 9080), httpChain('reviews', 9080)].sort());
  const v1 = dump['clusters']!.find((c) => c.name === cluster('reviews-v1', 9080))!;
  t.deepEqual((v1.resource['metadata'] as Record<string, unknown>)['filter_metadata'], {
    istio: { services: [{ host: 'reviews-v1.shop.svc.cluster.local', name: 'reviews-v1', namespace: 'shop' }] },
  });
  t.regex(v1.version, /^[0-9a-f]{16}$/);
  t.deepEqual(dump['endpoints']!.map((e) => e.name), [cluster('reviews-v1', 9080), cluster('reviews-v2', 9080)]);
  t.false(res.body.includes((await readFile(path.join(h.stateDir, 'waypoint-tokens', 'shop', 'waypoint.token'), 'utf8')).trim()));
});
