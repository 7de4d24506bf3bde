import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import test, { type ExecutionContext } from 'ava';
import { CaAuthenticationError, Identity } from '@ambit/mesh-core/identity';
import { MeshAuthenticator } from '../src/ca/authenticator.js';
import { NodeTokenStore } from '../src/ca/node-tokens.js';
import { capturingLogger } from './fixtures/harness.js';
import { TestSource, pod, snapshot } from './fixtures/mesh.js';

async function setup(t: ExecutionContext, source: TestSource) {
  const dir = await mkdtemp(path.join(tmpdir(), 'node-tokens-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { logger, lines } = capturingLogger();
  const auth = new MeshAuthenticator(source, []);
  const store = new NodeTokenStore(dir, source, auth, logger);
  t.teardown(() => store.close());
  return { dir, auth, store, lines };
}

test('tokens are generated for every node, and authenticate as that node', async (t) => {
  const source = new TestSource(snapshot(1, { addresses: [pod('a', '10.0.0.1', { node: 'n1' }), pod('b', '10.0.0.2', { node: 'n2' })] }));
  const { auth, store } = await setup(t, source);
  await store.start();
  t.deepEqual(store.nodes(), ['n1', 'n2']);
  const token = (await readFile(store.fileOf('n1'), 'utf8')).trim();
  t.regex(token, /^[A-Za-z0-9_-]{43}$/);
  const caller = await auth.authenticate(token, new grpc.Metadata());
  t.is(caller.name, 'node/n1');
  t.true(await caller.mayImpersonate!(new Identity('cluster.local', 'default', 'a')));
  t.false(await caller.mayImpersonate!(new Identity('cluster.local', 'default', 'b')));
  await t.throwsAsync(auth.authenticate('x'.repeat(43), new grpc.Metadata()), { instanceOf: CaAuthenticationError });
});

test('malformed token files are ignored with a warning; an unwritable token and a bad node name are logged, the rest still work', async (t) => {
  const source = new TestSource(
    snapshot(1, { addresses: [pod('a', '10.0.0.1', { node: 'good' }), pod('b', '10.0.0.2', { node: 'blocked' }), pod('c', '10.0.0.3', { node: 'Bad_Node' })] }),
  );
  const { store, lines, auth } = await setup(t, source);
  await mkdir(store.dir, { recursive: true });
  await writeFile(path.join(store.dir, 'short.token'), 'abc\n');
  await writeFile(path.join(store.dir, 'notes.txt'), 'ignored silently\n');
  // A directory where the temporary file would go makes the write fail (EISDIR), even for root.
  await mkdir(path.join(store.dir, 'blocked.token.tmp'));
  await store.start();
  t.deepEqual(store.nodes(), ['good']);
  t.truthy(lines.find((l) => l['msg'] === 'ignoring a node token file that is not <node>.token holding a generated token' && l['file'] === 'short.token'));
  t.truthy(lines.find((l) => l['msg'] === 'cannot write node token; that node cannot authenticate' && l['node'] === 'blocked'));
  t.truthy(lines.find((l) => l['msg'] === 'no token generated: node name is not a DNS-1123 subdomain' && l['node'] === 'Bad_Node'));
  t.is(auth.size, 1);
});

test('close() stops following the source', async (t) => {
  const source = new TestSource(snapshot(1, { addresses: [pod('a', '10.0.0.1', { node: 'n1' })] }));
  const { store } = await setup(t, source);
  await store.start();
  await store.close();
  source.publish({ addresses: [pod('a', '10.0.0.1', { node: 'n1' }), pod('b', '10.0.0.2', { node: 'n2' })] });
  await new Promise((r) => setImmediate(r));
  t.deepEqual(store.nodes(), ['n1']);
});
