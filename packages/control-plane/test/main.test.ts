/**
 * The `ambit-control-plane` command as a child process: flags, the generated CA and tokens on disk,
 * serving the YAML model (and following its changes), and a clean stop on SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { Identity, parseCertificate } from '@ambit/mesh-core/identity';
import { CaClient } from '@ambit/mesh-core/identity';

const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/main.js');

const MESH = `
apiVersion: v1
kind: Namespace
metadata: { name: demo, labels: { istio.io/dataplane-mode: ambient } }
---
apiVersion: v1
kind: Node
metadata: { name: node-a }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: sleep, namespace: demo }
---
apiVersion: v1
kind: Pod
metadata: { name: sleep-1, namespace: demo, labels: { app: sleep } }
spec: { nodeName: node-a, serviceAccountName: sleep, containers: [{ name: sleep, image: curl }] }
status: { phase: Running, podIP: 10.244.1.10, conditions: [{ type: Ready, status: "True" }] }
`;

const SECOND_POD = `
---
apiVersion: v1
kind: Pod
metadata: { name: sleep-2, namespace: demo, labels: { app: sleep } }
spec: { nodeName: node-b, serviceAccountName: sleep, containers: [{ name: sleep, image: curl }] }
status: { phase: Running, podIP: 10.244.2.20, conditions: [{ type: Ready, status: "True" }] }
`;

interface Run {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  stderr: () => string;
  exit: Promise<number | null>;
  /** Resolves with the first log line for which `match` holds. */
  waitFor(match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

function run(t: ExecutionContext, args: string[]): Run {
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: '' } });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines: Record<string, unknown>[] = [];
  const waiters: { match: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  let buffered = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const text = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        line = { raw: text };
      }
      lines.push(line);
      for (const w of waiters.filter((x) => x.match(line))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => (stderr += c));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    lines,
    stderr: () => stderr,
    exit,
    waitFor(match) {
      const found = lines.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        waiters.push({ match, resolve });
        void exit.then((code) => reject(new Error(`exited with ${code} before the expected log line; stderr: ${stderr}; stdout: ${JSON.stringify(lines)}`)));
      });
    },
  };
}

function get(address: string, pathname: string): Promise<{ status: number; body: string }> {
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: pathname, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'cp-main-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('starts with a generated CA, writes root and node tokens, serves and follows the YAML, stops cleanly on SIGTERM', async (t) => {
  const dir = await tempDir(t);
  const meshFile = path.join(dir, 'mesh.yaml');
  await writeFile(meshFile, MESH);
  const stateDir = path.join(dir, 'state');
  const r = run(t, ['--config', meshFile, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', stateDir]);
  const serving = await r.waitFor((l) => l['msg'] === 'control plane serving');
  const grpcAddress = serving['grpc'] as string;
  const adminAddress = serving['admin'] as string;
  t.is(serving['rootCert'], path.join(stateDir, 'root-cert.pem'));

  const root = await readFile(path.join(stateDir, 'root-cert.pem'), 'utf8');
  t.true(parseCertificate(root).isCa);
  t.is((await stat(path.join(stateDir, 'ca-key.pem'))).mode & 0o777, 0o600);
  const token = (await readFile(path.join(stateDir, 'node-tokens', 'node-a.token'), 'utf8')).trim();

  t.deepEqual(await get(adminAddress, '/ready'), { status: 200, body: 'ready\n' });
  const dump = JSON.parse((await get(adminAddress, '/debug/config_dump')).body) as { snapshot: { version: number }; addresses: { resource: { workload?: { addresses: string[] } } }[] };
  t.is(dump.snapshot.version, 1);
  t.deepEqual(dump.addresses.flatMap((a) => a.resource.workload?.addresses ?? []), ['10.244.1.10']);

  // The node's generated token gets its pod's certificate over the TLS port.
  const ca = new CaClient({ address: grpcAddress, rootCertPem: root, serverName: 'istiod.istio-system.svc', token });
  t.teardown(() => ca.destroy());
  const cert = await ca.createCertificate(new Identity('cluster.local', 'demo', 'sleep'), { impersonate: true });
  t.deepEqual(parseCertificate(cert.certPem).uris, ['spiffe://cluster.local/ns/demo/sa/sleep']);
  await ca.close();

  // The model follows the file: a pod on a new node arrives, and that node gets a token.
  await writeFile(meshFile, MESH + SECOND_POD);
  await r.waitFor((l) => l['msg'] === 'generated node token' && l['node'] === 'node-b');
  const after = JSON.parse((await get(adminAddress, '/debug/config_dump')).body) as { snapshot: { version: number } };
  t.is(after.snapshot.version, 2);

  r.child.kill('SIGTERM');
  t.is(await r.exit, 0);
  t.truthy(r.lines.find((l) => l['msg'] === 'shutting down' && l['signal'] === 'SIGTERM'));
  t.truthy(r.lines.find((l) => l['msg'] === 'stopped'));
  t.is(r.stderr(), '');
});

test('bad flags exit 2 listing every problem; --help exits 0 with the usage', async (t) => {
  const bad = run(t, ['--listen', 'nowhere', '--log-level', 'loud']);
  t.is(await bad.exit, 2);
  t.is(
    bad.stderr(),
    [
      'ambit-control-plane: 4 configuration problems:',
      '  --config <path> is required (a mesh YAML file or directory)',
      '  --listen: "nowhere" is not host:port (IPv6 as [addr]:port)',
      '  without --ca-cert/--ca-key a root CA is generated, and --state-dir is needed to keep it and publish root-cert.pem',
      '  --log-level must be one of trace, debug, info, warn, error, fatal, silent, got "loud"',
      '',
      '',
    ].join('\n'),
  );
  const help = run(t, ['--help']);
  t.is(await help.exit, 0);
  t.regex(help.lines.map((l) => l['raw']).join('\n'), /^Usage: ambit-control-plane --config <path> \[options\]/);
});

test('a start-up failure (missing input, bad CA files) exits 1 with the reason logged', async (t) => {
  const dir = await tempDir(t);
  const missing = run(t, ['--config', path.join(dir, 'nope.yaml'), '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', path.join(dir, 's')]);
  t.is(await missing.exit, 1);
  const fatal = missing.lines.find((l) => l['level'] === 60);
  t.regex(String(fatal?.['msg']), /^cannot start: .*nope\.yaml/);

  await writeFile(path.join(dir, 'mesh.yaml'), MESH);
  const badCa = run(t, ['--config', path.join(dir, 'mesh.yaml'), '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--ca-cert', path.join(dir, 'none.pem'), '--ca-key', path.join(dir, 'none-key.pem')]);
  t.is(await badCa.exit, 1);
  t.is(badCa.lines.find((l) => l['level'] === 60)?.['msg'], `cannot start: cannot read --ca-cert ${path.join(dir, 'none.pem')}: ENOENT`);
});

test('a second signal during a graceful stop cuts it short and exits 1', async (t) => {
  const dir = await tempDir(t);
  const meshFile = path.join(dir, 'mesh.yaml');
  await writeFile(meshFile, MESH);
  const stateDir = path.join(dir, 'state');
  // A long drain, so that the stop is certainly still waiting when the second signal arrives.
  const r = run(t, ['--config', meshFile, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', stateDir, '--drain-seconds', '600']);
  const serving = await r.waitFor((l) => l['msg'] === 'control plane serving');
  const root = await readFile(path.join(stateDir, 'root-cert.pem'), 'utf8');
  // A CreateCertificate whose request never ends holds the gRPC drain open.
  const session = http2.connect(`https://${serving['grpc'] as string}`, { ca: root, servername: 'istiod.istio-system.svc' });
  t.teardown(() => session.destroy());
  session.on('error', () => {});
  const stream = session.request(
    { ':method': 'POST', ':path': '/istio.v1.auth.IstioCertificateService/CreateCertificate', 'content-type': 'application/grpc', te: 'trailers' },
    { endStream: false },
  );
  stream.on('error', () => {});
  await new Promise<void>((resolve) => stream.on('ready', resolve));
  r.child.kill('SIGINT');
  await r.waitFor((l) => l['msg'] === 'shutting down' && l['signal'] === 'SIGINT');
  r.child.kill('SIGTERM');
  t.is(await r.exit, 1);
  t.truthy(r.lines.find((l) => l['msg'] === 'second signal: stopping now'));
});
