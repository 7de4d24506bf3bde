/**
 * The README's main job end to end (root only): `mesh-demo.js` brings the local mesh up from deploy/examples,
 * runs its scenes and tears everything down; also after SIGINT and after a failing scene.
 */
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { namespacesOf, rootOnly, uniquePrefix } from '@ambit/testbed/test-support';

const DEMO = path.join(import.meta.dirname, '..', 'src', 'mesh-demo.js');
const EXAMPLES = path.join(import.meta.dirname, '..', '..', '..', '..', 'deploy', 'examples');

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the demo; `onLine` sees each stdout line as it comes (and may signal the process). */
function runDemo(args: readonly string[], onLine: (line: string, kill: (s: NodeJS.Signals) => void) => void = () => undefined): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DEMO, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let pending = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      pending += d;
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        onLine(pending.slice(0, nl), (s) => child.kill(s));
        pending = pending.slice(nl + 1);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The mesh's directory, from the "Up (… copied to <dir>/config):" line. */
function meshDir(stdout: string): string {
  const m = /copied to (\S+)\/config\):/.exec(stdout);
  if (!m) throw new Error(`no mesh directory in:\n${stdout}`);
  return m[1]!;
}

async function exists(file: string): Promise<boolean> {
  return await stat(file).then(
    () => true,
    () => false,
  );
}

test('the demo shows a request across nodes with both identities proven, the policy denial, the metrics, an L7 split and an L7 denial at the waypoint, then removes everything', async (t) => {
  if (!rootOnly(t)) return;
  const run = uniquePrefix('demo');
  const r = await runDemo(['--prefix', run]);
  t.is(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const sleep = 'spiffe://cluster.local/ns/demo/sa/sleep';
  const httpbin = 'spiffe://cluster.local/ns/demo/sa/httpbin';
  const notsleep = 'spiffe://cluster.local/ns/demo/sa/notsleep';
  t.true(r.stdout.includes(`node-a proved  ${sleep}`), r.stdout);
  t.true(r.stdout.includes(`node-b proved  ${httpbin}`), r.stdout);
  t.true(r.stdout.includes('httpbin answered 200 and saw the request come from 10.244.1.10'), r.stdout);
  t.true(r.stdout.includes(`connection denied: ${notsleep}`), r.stdout);
  t.true(r.stdout.includes('denied by policy demo/deny-notsleep'), r.stdout);
  t.regex(r.stdout, /istio_tcp_connections_opened_total\{reporter="destination",source_workload="sleep",destination_workload="httpbin",response_flags="-",connection_security_policy="mutual_tls"\} 1/);
  t.regex(r.stdout, /istio_tcp_connections_closed_total\{[^}]*source_workload="notsleep"[^}]*response_flags="DENY"[^}]*\} 1/);
  // The waypoint: an L7 split counted per version, and an L7 denial named by the waypoint's log.
  const v1 = /hello v1 .*: +(\d+) /.exec(r.stdout);
  const v2 = /hello v2 .*: +(\d+) /.exec(r.stdout);
  t.truthy(v1 && v2, r.stdout);
  t.is(Number(v1![1]) + Number(v2![1]), 100);
  t.true(Number(v1![1]) > Number(v2![1]), r.stdout);
  t.true(r.stdout.includes('waypoint demo/waypoint: GET /hello/1 200 via outbound|80||hello-v'), r.stdout);
  t.true(r.stdout.includes(`from ${sleep} (proven in mutual TLS by sleep's ztunnel), route demo/hello.0.0`), r.stdout);
  t.true(r.stdout.includes('└─▶ 403 RBAC: access denied'), r.stdout);
  t.true(r.stdout.includes('POST /hello/orders 403 rbac_access_denied_matched_policy[ns[demo]-policy[hello-read-only]-rule[0]]'), r.stdout);
  t.true(r.stdout.includes('then GET http://10.96.0.40/hello/orders: 200'), r.stdout);
  t.regex(r.stdout, /ambit-waypoint pid \d+, ready/);
  t.regex(r.stdout, /^Done: /m);
  t.is(r.stderr, '');
  t.deepEqual(namespacesOf(run), []);
  t.false(await exists(meshDir(r.stdout)));
});

test('Ctrl-C while the demo runs: exit 130, namespaces and files removed', async (t) => {
  if (!rootOnly(t)) return;
  const run = uniquePrefix('demoint');
  let sent = false;
  const r = await runDemo(['--prefix', run], (line, kill) => {
    if (!sent && line.startsWith('Up (run')) {
      sent = true;
      kill('SIGINT');
    }
  });
  t.true(sent, r.stdout);
  t.is(r.code, 130, `${r.stdout}\n${r.stderr}`);
  t.regex(r.stderr, /SIGINT: tearing the mesh down/);
  t.deepEqual(namespacesOf(run), []);
  t.false(await exists(meshDir(r.stdout)));
});

test('a config without a workload the scenes need fails with the reason, and leaves nothing behind', async (t) => {
  if (!rootOnly(t)) return;
  const dir = await mkdtemp(path.join(tmpdir(), 'ambit-demo-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // mesh.yaml alone: no notsleep.
  await copyFile(path.join(EXAMPLES, 'mesh.yaml'), path.join(dir, 'mesh.yaml'));
  const run = uniquePrefix('demobad');
  const r = await runDemo(['--config', dir, '--prefix', run]);
  t.is(r.code, 1);
  t.regex(r.stderr, /demo failed: the demo needs a Ready pod labelled app=notsleep in namespace demo; the config has 0 such pod\(s\), none Ready/);
  t.deepEqual(namespacesOf(run), []);
  t.false(await exists(meshDir(r.stdout)));
});

test('a bad command line exits 2 with the usage', async (t) => {
  const r = await runDemo(['--frobnicate']);
  t.is(r.code, 2);
  t.regex(r.stderr, /usage: mesh-demo/);
});
