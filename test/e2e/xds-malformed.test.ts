/**
 * Malformed YAML of every kind, written while a client is subscribed: each gets a precise diagnostic in
 * the snapshot and in config_dump, and the client keeps the last good state (nothing is removed, nothing
 * is pushed) and keeps receiving later good changes.
 */
import test from 'ava';
import type { MeshSnapshot } from '@ambit/control-plane';
import { MeshDir, podYaml } from './support/mesh-dir.js';
import { startPlane, type Diagnostic, type InProcessPlane } from './support/plane.js';
import { ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL, recordingClient } from './support/recording-client.js';

const WEB = 'Kubernetes//Pod/demo/web-1';
const GOOD_WEB = podYaml('web-1', 'demo', '10.244.1.40', { labels: { app: 'web' } });

/** The next snapshot with a diagnostic that `match` accepts. */
function diagnosed(h: InProcessPlane, match: (d: Diagnostic) => boolean): Promise<MeshSnapshot> {
  const found = (s: MeshSnapshot): boolean => s.diagnostics.some(match);
  if (found(h.model.current)) return Promise.resolve(h.model.current);
  return new Promise((resolve) => {
    const listener = (s: MeshSnapshot): void => {
      if (!found(s)) return;
      h.model.off('snapshot', listener);
      resolve(s);
    };
    h.model.on('snapshot', listener);
  });
}

interface Case {
  readonly name: string;
  /** Makes the input malformed. */
  readonly apply: (dir: MeshDir) => Promise<void>;
  /** The diagnostic expected (file relative to the config dir). */
  readonly expected: Omit<Diagnostic, 'file'> & { file: string };
  /** Restores a good input. */
  readonly undo: (dir: MeshDir) => Promise<void>;
}

const CASES: Case[] = [
  {
    name: 'YAML syntax error',
    apply: (dir) => dir.write('extra/web.yaml', GOOD_WEB.replace('labels: { app: web }', 'labels: { app: web')),
    expected: {
      file: 'extra/web.yaml',
      document: 0,
      path: '',
      // The flow mapping left open on line 4 is noticed where the next line fails to close it.
      line: 5,
      severity: 'error',
      message: 'YAML syntax error: Flow map in block collection must be sufficiently indented and end with a }; the last good content of this file stays in effect',
    },
    undo: (dir) => dir.write('extra/web.yaml', GOOD_WEB),
  },
  {
    name: 'wrong types',
    apply: (dir) => dir.write('extra/web.yaml', GOOD_WEB.replace('podIP: 10.244.1.40', 'podIP: [10.244.1.40]')),
    expected: { file: 'extra/web.yaml', document: 0, path: 'status.podIP', line: 6, severity: 'error', message: 'must be a string, got a list' },
    undo: (dir) => dir.write('extra/web.yaml', GOOD_WEB),
  },
  {
    name: 'unknown kind',
    apply: (dir) => dir.write('extra/deployment.yaml', 'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web, namespace: demo }\n'),
    expected: {
      file: 'extra/deployment.yaml',
      document: 0,
      path: 'kind',
      line: 2,
      severity: 'warning',
      message:
        'unsupported kind "Deployment"; the document is skipped (supported: AuthorizationPolicy, DestinationRule, GRPCRoute, Gateway, HTTPRoute, Namespace, Node, PeerAuthentication, Pod, RequestAuthentication, Service, ServiceAccount, VirtualService)',
    },
    undo: (dir) => dir.remove('extra/deployment.yaml'),
  },
  {
    name: 'dangling use-waypoint reference',
    apply: (dir) => dir.write('extra/web.yaml', podYaml('web-1', 'demo', '10.244.1.40', { labels: { app: 'web', 'istio.io/use-waypoint': 'nowhere' } })),
    expected: {
      file: 'extra/web.yaml',
      document: 0,
      path: 'metadata.labels["istio.io/use-waypoint"]',
      line: 4,
      severity: 'warning',
      message: 'waypoint demo/nowhere does not exist; traffic is served without a waypoint',
    },
    undo: (dir) => dir.write('extra/web.yaml', GOOD_WEB),
  },
  {
    name: 'duplicate names',
    apply: (dir) => dir.write('extra/zz-again.yaml', podYaml('web-1', 'demo', '10.244.1.99', { labels: { app: 'web' } })),
    expected: {
      file: 'extra/zz-again.yaml',
      document: 0,
      path: 'metadata.name',
      line: 4,
      severity: 'error',
      message: 'duplicate Pod demo/web-1: already defined in {config}/extra/web.yaml document 0; this one is ignored',
    },
    undo: (dir) => dir.remove('extra/zz-again.yaml'),
  },
];

for (const c of CASES) {
  test(`${c.name}: a precise diagnostic in the snapshot and config_dump; the client keeps the last good state and keeps receiving`, async (t) => {
    const dir = await MeshDir.create(t);
    await dir.copyExample();
    await dir.write('extra/web.yaml', GOOD_WEB);
    const h = await startPlane(t, dir);
    const client = recordingClient(t, h.plane.grpcAddress, h.rootPem);
    await client.until(() => client.acks.some((a) => a.typeUrl === ADDRESS_TYPE_URL) && client.acks.some((a) => a.typeUrl === AUTHORIZATION_TYPE_URL), 'initial sync');
    const held = client.addresses.names();
    const heldPolicies = client.policies.names();
    const addressBatches = client.addresses.batches.length;
    const policyBatches = client.policies.batches.length;
    const before = h.model.current;

    const expected: Diagnostic = {
      ...c.expected,
      file: dir.path(c.expected.file),
      message: c.expected.message.replace('{config}', dir.config),
    };
    await c.apply(dir);
    const snapshot = await diagnosed(h, (d) => d.file === expected.file);
    t.deepEqual(
      snapshot.diagnostics.filter((d) => d.file === expected.file),
      [expected, ...(c.name === 'wrong types' ? [{ file: expected.file, document: 0, path: '', line: 2, severity: 'warning' as const, message: 'Pod demo/web-1 is invalid; its last valid version stays in effect until the document is fixed' }] : [])],
    );
    // Only the diagnostics changed: the served resources are the very same objects.
    t.is(snapshot.addresses.get(WEB), before.addresses.get(WEB));
    t.true([...before.addresses].every(([name, a]) => snapshot.addresses.get(name) === a));
    const dump = await h.configDump();
    t.is(dump.snapshot.version, snapshot.version);
    t.deepEqual(
      dump.snapshot.diagnostics.find((d) => d.file === expected.file && d.path === expected.path),
      expected,
    );

    // The client was sent nothing, holds everything, and no NACK was needed.
    await c.undo(dir);
    await dir.write('extra/web-2.yaml', podYaml('web-2', 'demo', '10.244.1.50', { labels: { app: 'web' } }));
    await client.until(() => client.addresses.state.has('Kubernetes//Pod/demo/web-2'), 'a later good change');
    t.deepEqual(client.addresses.removals, []);
    t.deepEqual(client.policies.removals, []);
    t.deepEqual(client.nacks, []);
    t.deepEqual(client.addresses.names(), [...held, 'Kubernetes//Pod/demo/web-2'].sort());
    t.deepEqual(client.policies.names(), heldPolicies);
    // The good change is the first thing pushed since the initial sync (the undo itself changed nothing served).
    t.deepEqual(
      client.addresses.batches.slice(addressBatches).map((b) => b.upserts.map((u) => u.name)),
      [['Kubernetes//Pod/demo/web-2']],
    );
    t.is(client.policies.batches.length, policyBatches);
    t.is(client.addresses.state.get(WEB)!.workload!.addresses![0]!.join('.'), '10.244.1.40');
    t.false(h.model.current.diagnostics.some((d) => d.file === expected.file));
  });
}
