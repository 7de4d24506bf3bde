/**
 * The `ambit-ztunnel` command's failures before it touches the kernel: bad configuration (exit 2, every
 * problem listed) and startup failures (exit 1, the reason logged). The running command is exercised end to
 * end in network namespaces (test/e2e/ztunnel-*.test.ts).
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

const MAIN = path.join(import.meta.dirname, '..', 'src', 'main.js');

function run(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN], { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('bad configuration: exit 2 with every problem', async (t) => {
  const r = await run({ XDS_ADDRESS: 'http://istiod:15012', PACKET_MARK: 'none' });
  t.is(r.code, 2);
  t.regex(r.stderr, /^ambit-ztunnel: \d+ configuration problems:/);
  t.regex(r.stderr, /XDS_ADDRESS=http:\/\/istiod:15012: plaintext http:\/\/ is not allowed/);
  t.regex(r.stderr, /PACKET_MARK=none: want a mark/);
  t.is(r.stdout, '');
});

test('a root certificate that cannot be read: exit 1, the reason logged as fatal', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'zt-main-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const r = await run({
    XDS_ADDRESS: '127.0.0.1:1',
    NODE_NAME: 'node-a',
    POD_NAME: 'ztunnel-a',
    POD_NAMESPACE: 'istio-system',
    INSTANCE_IP: '127.0.0.1',
    XDS_ROOT_CA: path.join(dir, 'missing.pem'),
    AUTH_TOKEN: path.join(dir, 'token'),
  });
  t.is(r.code, 1);
  const fatal = r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((l) => l['level'] === 60);
  t.regex(String(fatal?.['msg']), /^cannot start: ENOENT: no such file or directory, open '.*missing\.pem'/);
});

test('an invalid LOCAL_XDS_PATH file: exit 1 naming the problem', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'zt-main-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'local.yaml');
  await writeFile(file, 'workloads:\n  - { uid: x, name: x, namespace: default, adresses: [10.0.0.1] }\n');
  const r = await run({ XDS_ADDRESS: '', CA_ADDRESS: '', LOCAL_XDS_PATH: file });
  t.is(r.code, 1);
  t.regex(r.stdout, /cannot start: .*local\.yaml: workloads\[0\]\.adresses: unknown field of Workload/);
});
