/**
 * A mesh of 10,000 workloads generated as YAML: the whole state reaches the client in one response per
 * type and is applied as one batch.
 */
import test from 'ava';
import { MeshDir } from './support/mesh-dir.js';
import { startPlane } from './support/plane.js';
import { ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL, deltaResponses, recordingClient } from './support/recording-client.js';

const PODS = 10_000;
const NAMESPACES = 10;

/** 10,000 pods in 10 ambient namespaces over 4 nodes, one flow-style document each, 1,000 per file. */
function generate(): Record<string, string> {
  const files: Record<string, string> = {};
  let cluster = '';
  for (let n = 0; n < NAMESPACES; n++) cluster += `---\n{ apiVersion: v1, kind: Namespace, metadata: { name: ns-${n}, labels: { istio.io/dataplane-mode: ambient } } }\n`;
  cluster += '---\n{ apiVersion: security.istio.io/v1, kind: AuthorizationPolicy, metadata: { name: deny-outside, namespace: istio-system }, spec: { action: DENY, rules: [{ from: [{ source: { notIpBlocks: ["10.0.0.0/8"] } }] }] } }\n';
  files['cluster.yaml'] = cluster;
  for (let f = 0; f < PODS / 1000; f++) {
    let text = '';
    for (let i = f * 1000; i < (f + 1) * 1000; i++) {
      const ns = `ns-${i % NAMESPACES}`;
      const ip = `10.${16 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
      text +=
        `---\n{ apiVersion: v1, kind: Pod, metadata: { name: pod-${i}, namespace: ${ns}, labels: { app: app-${i % 100} } }, ` +
        `spec: { nodeName: node-${i % 4}, serviceAccountName: app-${i % 100} }, status: { podIP: ${ip} } }\n`;
    }
    files[`pods-${f}.yaml`] = text;
  }
  return files;
}

test('10,000 workloads arrive in one response and are applied as one batch', async (t) => {
  const dir = await MeshDir.create(t, generate());
  const h = await startPlane(t, dir);
  t.is(h.model.current.addresses.size, PODS);
  const c = recordingClient(t, h.plane.grpcAddress, h.rootPem);
  await c.until(() => c.acks.some((a) => a.typeUrl === ADDRESS_TYPE_URL) && c.acks.some((a) => a.typeUrl === AUTHORIZATION_TYPE_URL), 'initial sync', 60_000);

  const byType = (r: { type_url: string }, q: { type_url: string }): number => (r.type_url < q.type_url ? -1 : 1);
  t.deepEqual(
    deltaResponses(c.lines).sort(byType),
    [
      { type_url: ADDRESS_TYPE_URL, resources: PODS, removed: 0 },
      { type_url: AUTHORIZATION_TYPE_URL, resources: 1, removed: 0 },
    ].sort(byType),
  );
  t.is(c.addresses.batches.length, 1);
  t.is(c.addresses.batches[0]!.upserts.length, PODS);
  t.is(c.addresses.state.size, PODS);
  t.deepEqual(c.nacks, []);
  const last = c.addresses.state.get(`Kubernetes//Pod/ns-${(PODS - 1) % NAMESPACES}/pod-${PODS - 1}`)!.workload!;
  t.deepEqual([...last.addresses![0]!], [10, 16, (PODS - 1) >> 8, (PODS - 1) & 255]);
  t.is(last.tunnel_protocol, 'HBONE');
  const bytes = (await c.registry.getSingleMetric('istio_xds_message_bytes_total')!.get()).values.find((v) => v.labels['type_url'] === ADDRESS_TYPE_URL)?.value ?? 0;
  t.log(`address response: ${bytes} bytes`);
  t.true(bytes > PODS * 100);
});
