/**
 * WaypointTokenStore on its own: one token per waypoint of the snapshot, accepted only while the waypoint
 * exists, files that are not its own ignored, write failures contained to that waypoint.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import test, { type ExecutionContext } from 'ava';
import { CaAuthenticationError, Identity } from '@ambit/mesh-core/identity';
import { MeshAuthenticator } from '../src/ca/authenticator.js';
import { WaypointTokenStore } from '../src/ca/waypoint-tokens.js';
import type { MeshSnapshot } from '../src/model/snapshot.js';
import { readableEnvoy } from '../src/admin/readable-envoy.js';
import { capturingLogger } from './fixtures/harness.js';
import { TestSource, snapshot } from './fixtures/mesh.js';

/** A snapshot whose waypoints are `keys` (`namespace/name`). */
function withWaypoints(version: number, ...keys: string[]): MeshSnapshot {
  const identities = new Map(keys.map((k) => [k, `spiffe://cluster.local/ns/${k.split('/')[0]}/sa/${k.split('/')[1]}`]));
  return { ...snapshot(version), waypoints: { listeners: new Map(), routes: new Map(), clusters: new Map(), endpoints: new Map(), identities } };
}

async function setup(t: ExecutionContext, source: TestSource) {
  const dir = await mkdtemp(path.join(tmpdir(), 'waypoint-tokens-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { logger, lines } = capturingLogger();
  const auth = new MeshAuthenticator(source, []);
  const store = new WaypointTokenStore(dir, source, auth, logger);
  t.teardown(() => store.close());
  return { auth, store, lines };
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setImmediate(r));
}

test('a token per waypoint, obtaining exactly its identity; a removed waypoint\'s token is kept but refused', async (t) => {
  const source = new TestSource(withWaypoints(1, 'shop/waypoint', 'ops/edge'));
  const { auth, store } = await setup(t, source);
  await store.start();
  t.deepEqual(store.waypoints(), ['ops/edge', 'shop/waypoint']);
  const token = (await readFile(store.fileOf('shop', 'waypoint'), 'utf8')).trim();
  const caller = await auth.authenticate(token, new grpc.Metadata());
  t.is(caller.name, 'spiffe://cluster.local/ns/shop/sa/waypoint');
  t.deepEqual(
    caller.identities.map((i) => i.uri),
    ['spiffe://cluster.local/ns/shop/sa/waypoint'],
  );
  t.false('mayImpersonate' in caller);
  t.is(auth.size, 2);

  source.current = withWaypoints(2, 'ops/edge');
  source.emit('snapshot', source.current);
  await until(() => store.waypoints().length === 1);
  await t.throwsAsync(auth.authenticate(token, new grpc.Metadata()), { instanceOf: CaAuthenticationError });
  t.is((await readFile(store.fileOf('shop', 'waypoint'), 'utf8')).trim(), token);

  // It comes back: the same token works again.
  source.current = withWaypoints(3, 'ops/edge', 'shop/waypoint');
  source.emit('snapshot', source.current);
  await until(() => store.waypoints().length === 2);
  t.is((await auth.authenticate(token, new grpc.Metadata())).name, 'spiffe://cluster.local/ns/shop/sa/waypoint');
  t.true(new Identity('cluster.local', 'shop', 'waypoint').equals(caller.identities[0]!));
});

test('files that are not a generated token are ignored with a warning; a write failure affects only its waypoint', async (t) => {
  const source = new TestSource(withWaypoints(1, 'shop/good', 'shop/blocked'));
  const { store, lines, auth } = await setup(t, source);
  await mkdir(path.join(store.dir, 'shop'), { recursive: true });
  await writeFile(path.join(store.dir, 'shop', 'short.token'), 'abc\n');
  await writeFile(path.join(store.dir, 'stray-file'), 'not a namespace directory\n');
  // A directory where the temporary file would go makes the write fail (EISDIR), even for root.
  await mkdir(path.join(store.dir, 'shop', 'blocked.token.tmp'));
  await store.start();
  t.deepEqual(store.waypoints(), ['shop/good']);
  t.truthy(lines.find((l) => l['msg'] === 'ignoring a waypoint token file that is not <namespace>/<name>.token holding a generated token' && l['file'] === 'shop/short.token'));
  t.truthy(lines.find((l) => l['msg'] === 'cannot write waypoint token; that waypoint cannot authenticate' && l['waypoint'] === 'shop/blocked'));
  t.is(auth.size, 1);
});

test('close() stops following the source', async (t) => {
  const source = new TestSource(withWaypoints(1, 'shop/a'));
  const { store } = await setup(t, source);
  await store.start();
  await store.close();
  source.current = withWaypoints(2, 'shop/a', 'shop/b');
  source.emit('snapshot', source.current);
  await new Promise((r) => setImmediate(r));
  t.deepEqual(store.waypoints(), ['shop/a']);
});

test('config_dump readability: an Any that cannot be unpacked says why instead of failing the dump', (t) => {
  const readable = readableEnvoy({ name: 'x', typed_config: { type_url: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration', value: Buffer.from([0xff, 0xff]) } });
  t.is((readable['typed_config'] as Record<string, unknown>)['@type'], 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration');
  t.regex(String((readable['typed_config'] as Record<string, unknown>)['error']), /cannot decode envoy\.config\.route\.v3\.RouteConfiguration/);
});
