/**
 * The nginx configurations of `pnpm bench waypoint`, run by the real nginx on loopback: the server answers
 * POSTs over HTTP/1.1 and HTTP/2 with the agreed body, the proxy forwards both to it over kept-alive
 * HTTP/1.1 connections, and stub_status counts the requests.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import test, { type ExecutionContext } from 'ava';
import { Child } from '../src/lib/child.js';
import { Cleanup } from '../src/lib/cleanup.js';
import { BenchError } from '../src/lib/errors.js';
import { childPids } from '../src/lib/proc-stats.js';
import { nginxConfig, parseStubStatus, type NginxPorts, type ProxyRole, type ServerRole, type StubStatus } from '../src/waypoint/nginx.js';

const HOST = '127.0.0.1';

/** Ports that were free a moment ago (nginx cannot be told to pick one itself: it refuses port 0). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((resolve) => {
      const s = net.createServer().listen(0, HOST, () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

interface Running {
  readonly child: Child;
  readonly ports: NginxPorts;
  status(): Promise<StubStatus>;
}

async function startNginx(t: ExecutionContext, role: ServerRole | ProxyRole): Promise<Running> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-nginx-'));
  const cleanup = new Cleanup();
  t.teardown(async () => {
    await cleanup.run();
    await rm(dir, { recursive: true, force: true });
  });
  const [http1, http2Port, status] = await freePorts(3);
  const ports: NginxPorts = { http1: http1!, http2: http2Port!, status: status! };
  const conf = path.join(dir, 'nginx.conf');
  await writeFile(conf, nginxConfig(dir, ports, role, HOST));
  const child = await Child.start('nginx', 'nginx', ['-c', conf, '-p', dir], { cleanup });
  const readStatus = async (): Promise<StubStatus> => parseStubStatus(await (await fetch(`http://${HOST}:${ports.status}/nginx_status`)).text());
  for (let i = 0; ; i++) {
    try {
      await readStatus();
      break;
    } catch (err) {
      if (child.exitInfo !== undefined || i > 200) throw new Error(`nginx did not start: ${child.describeExit()}`, { cause: err });
      await sleep(25);
    }
  }
  return { child, ports, status: readStatus };
}

async function postH1(port: number, body: Buffer): Promise<{ status: number; body: Buffer }> {
  const r = await fetch(`http://${HOST}:${port}/any/path`, { method: 'POST', body });
  return { status: r.status, body: Buffer.from(await r.arrayBuffer()) };
}

async function postH2(t: ExecutionContext, port: number, body: Buffer, count: number): Promise<{ status: number; bytes: number }[]> {
  const session = http2.connect(`http://${HOST}:${port}`);
  t.teardown(() => session.destroy());
  const one = (): Promise<{ status: number; bytes: number }> =>
    new Promise((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': '/h2' });
      let status = 0;
      let bytes = 0;
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('data', (c: Buffer) => (bytes += c.length));
      req.on('end', () => resolve({ status, bytes }));
      req.on('error', reject);
      req.end(body);
    });
  const out = await Promise.all(Array.from({ length: count }, one));
  session.close();
  return out;
}

test('the server answers every POST with the agreed body, over HTTP/1.1 and HTTP/2, and counts them', async (t) => {
  const server = await startNginx(t, { kind: 'server', responseBytes: 1024 });
  const before = await server.status();
  const h1 = await postH1(server.ports.http1, Buffer.alloc(1024, 'a'));
  t.is(h1.status, 200);
  t.deepEqual(h1.body, Buffer.alloc(1024, 'b'));
  const h2 = await postH2(t, server.ports.http2, Buffer.alloc(1024, 'a'), 5);
  t.deepEqual(h2, Array.from({ length: 5 }, () => ({ status: 200, bytes: 1024 })));
  // Six requests plus the status request that reads the count.
  t.is((await server.status()).requests - before.requests, 7);
});

test('the proxy forwards both protocols to the server over a few kept-alive HTTP/1.1 connections', async (t) => {
  const server = await startNginx(t, { kind: 'server', responseBytes: 333 });
  const proxy = await startNginx(t, { kind: 'proxy', upstream: `${HOST}:${server.ports.http1}`, keepalive: 16 });
  const before = await server.status();
  for (let i = 0; i < 20; i++) {
    const r = await postH1(proxy.ports.http1, Buffer.alloc(100, 'a'));
    t.is(r.status, 200);
    t.is(r.body.length, 333);
  }
  const h2 = await postH2(t, proxy.ports.http2, Buffer.alloc(1024, 'a'), 20);
  t.true(h2.every((r) => r.status === 200 && r.bytes === 333));
  const after = await server.status();
  t.is(after.requests - before.requests, 41, 'the 40 proxied requests and one status request');
  // Without keepalive each of the 40 would have been a connection of its own.
  t.true(after.accepted - before.accepted <= 21, `${after.accepted - before.accepted} upstream connections`);
  t.true((await proxy.status()).requests >= 40);
});

test('the master runs one worker, found as its child process', async (t) => {
  const server = await startNginx(t, { kind: 'server', responseBytes: 1 });
  const workers = await childPids(server.child.pid);
  t.is(workers.length, 1);
  t.not(workers[0], server.child.pid);
});

test('the configuration keeps connections open far past nginx\'s default of 1,000 requests, and logs nothing per request', (t) => {
  const conf = nginxConfig('/d', { http1: 1, http2: 2, status: 3 }, { kind: 'proxy', upstream: '10.0.0.1:80', keepalive: 64 });
  t.regex(conf, /^ {2}keepalive_requests 1000000;$/m);
  t.regex(conf, /^ {4}keepalive_requests 1000000;$/m, 'upstream too');
  t.regex(conf, /^ {2}access_log off;$/m);
  t.regex(conf, /^ {4}listen 1;$/m);
  t.regex(conf, /^ {4}listen 2 http2;$/m);
  t.regex(conf, /^ {4}listen 127\.0\.0\.1:3;$/m);
  t.regex(conf, /^ {2}client_body_temp_path \/d\/client_body-temp;$/m);
});

test('stub_status pages are read, and anything else is refused', (t) => {
  const page = 'Active connections: 2 \nserver accepts handled requests\n 10 10 57 \nReading: 0 Writing: 1 Waiting: 1 \n';
  t.deepEqual(parseStubStatus(page), { accepted: 10, requests: 57 });
  t.throws(() => parseStubStatus('<html>404</html>'), { instanceOf: BenchError, message: /not an nginx stub_status page: "<html>404<\/html>"/ });
});
