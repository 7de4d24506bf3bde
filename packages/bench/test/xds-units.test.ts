import test from 'ava';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CHURN_FILE, churnState, churnYaml, generateMesh } from '../src/xds/mesh-gen.js';
import { parseXdsOptions } from '../src/xds/options.js';
import { changeFigures, percentile } from '../src/xds/report.js';

test('the generated mesh has the asked counts, unique pod IPs, and a churn pod of its own file', (t) => {
  const mesh = generateMesh({ pods: 120, services: 12, policies: 10, namespaces: 3, nodes: 2 });
  const docs = [...mesh.files.values()].flatMap((text) => parseAllDocuments(text).map((d) => d.toJS() as { kind: string; status?: { podIP?: string } }));
  const count = (kind: string): number => docs.filter((d) => d.kind === kind).length;
  t.is(count('Pod'), 120);
  t.is(count('Service'), 12);
  t.is(count('AuthorizationPolicy'), 10);
  t.is(count('Namespace'), 4);
  t.is(count('Node'), 2);
  const ips = docs.filter((d) => d.kind === 'Pod').map((d) => d.status!.podIP!);
  t.is(new Set(ips).size, 120);
  t.true(mesh.files.get(CHURN_FILE)!.includes(`name: ${mesh.churn.name}`));
  t.not(churnYaml(mesh, churnState(1)), churnYaml(mesh, churnState(2)));
  t.deepEqual(generateMesh({ pods: 120, services: 12, policies: 10, namespaces: 3, nodes: 2 }).files, mesh.files, 'deterministic');
  t.throws(() => generateMesh({ pods: 1, services: 2, policies: 1, namespaces: 1, nodes: 1 }), { instanceOf: RangeError });
});

test('percentiles are nearest-rank; change figures are taken from the seen and written times', (t) => {
  t.is(percentile([5, 1, 3, 2, 4], 50), 3);
  t.is(percentile([5, 1, 3, 2, 4], 99), 5);
  t.throws(() => percentile([], 50));
  const figures = changeFigures([
    { written: 0, seen: 100, readMs: 2, computeMs: 10, published: 112, served: 113, applied: 120 },
    { written: 1000, seen: 1100, readMs: 4, computeMs: 20, published: 1124, served: 1127, applied: 1140 },
  ]);
  t.is(figures.one_change_p50_ms, 20);
  t.is(figures.one_change_p99_ms, 40);
  t.is(figures.one_change_from_write_p99_ms, 140);
  t.is(figures.change_detection_p50_ms, 100);
  t.is(figures.reload_compute_p99_ms, 20);
  // Slowest first, and the parts add up to the total.
  t.deepEqual(figures.one_change_slowest, [
    { total_ms: 40, read_ms: 4, compute_ms: 20, serve_ms: 3, deliver_ms: 13 },
    { total_ms: 20, read_ms: 2, compute_ms: 10, serve_ms: 1, deliver_ms: 7 },
  ]);
});

test('the slowest changes shown are at most five', (t) => {
  const changes = Array.from({ length: 8 }, (_, i) => ({ written: 0, seen: 0, readMs: 1, computeMs: 1, published: 2, served: 3, applied: 10 + i }));
  const slowest = changeFigures(changes).one_change_slowest;
  t.deepEqual(
    slowest.map((s) => s.total_ms),
    [17, 16, 15, 14, 13],
  );
});

test('xds options: --profile names a directory, resolved; without it nothing is profiled', (t) => {
  t.is(parseXdsOptions(['--quick'], '/results')?.profileDir, undefined);
  t.is(parseXdsOptions(['--profile', 'prof'], '/results')?.profileDir, path.resolve('prof'));
  t.throws(() => parseXdsOptions(['--profile', ' '], '/results'), { message: '--profile must name a directory' });
  t.throws(() => parseXdsOptions(['--profile'], '/results'), { message: /--profile/ });
});
