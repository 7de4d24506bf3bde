/**
 * The HTTP load generators (wrk, h2load) against real HTTP/1.1 and HTTP/2 servers on loopback: what they
 * report is read right, and a path that does not deliver (errors, short bodies, refused connections) fails
 * with a reason.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { Cleanup } from '../src/lib/cleanup.js';
import { BenchError } from '../src/lib/errors.js';
import { checkDelivered, h2loadArgs, parseH2loadLog, parseH2loadSummary, runH2load, type H2loadSummary } from '../src/lib/h2load.js';
import { parseWrkSummary, runWrk, wrkScript } from '../src/lib/wrk.js';

const BODY = 1024;

interface Served {
  requests: number;
  posts: number;
  bodyBytes: number;
}

/** Answers every request with `status` and `responseBytes` bytes, after reading the whole request body. */
function handler(served: Served, status: number, responseBytes: number) {
  return (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse): void => {
    let bytes = 0;
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => {
      served.requests++;
      if (req.method === 'POST') served.posts++;
      served.bodyBytes += bytes;
      res.writeHead(status, { 'content-length': String(responseBytes) });
      res.end(Buffer.alloc(responseBytes, 'r'));
    });
  };
}

async function listen(t: ExecutionContext, server: http.Server | http2.Http2Server): Promise<number> {
  t.teardown(() => {
    if (server instanceof http.Server) server.closeAllConnections();
    server.close();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function h1Server(t: ExecutionContext, status = 200, responseBytes = BODY): Promise<{ port: number; served: Served }> {
  const served: Served = { requests: 0, posts: 0, bodyBytes: 0 };
  return { port: await listen(t, http.createServer(handler(served, status, responseBytes))), served };
}

async function h2Server(t: ExecutionContext, status = 200, responseBytes = BODY): Promise<{ port: number; served: Served }> {
  const served: Served = { requests: 0, posts: 0, bodyBytes: 0 };
  const server = http2.createServer(handler(served, status, responseBytes));
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  t.teardown(() => {
    for (const s of sessions) s.destroy();
  });
  return { port: await listen(t, server), served };
}

async function fixtures(t: ExecutionContext): Promise<{ dir: string; body: string; script: string; cleanup: Cleanup }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-http-load-'));
  const cleanup = new Cleanup();
  t.teardown(async () => {
    await cleanup.run();
    await rm(dir, { recursive: true, force: true });
  });
  const body = path.join(dir, 'body');
  await writeFile(body, Buffer.alloc(BODY, 'a'));
  const script = path.join(dir, 'post.lua');
  await writeFile(script, wrkScript(BODY));
  return { dir, body, script, cleanup };
}

test('wrk POSTs the body on every request and its summary counts what the server answered', async (t) => {
  const { served, port } = await h1Server(t);
  const f = await fixtures(t);
  const r = await runWrk({ wrk: 'wrk', url: `http://127.0.0.1:${port}/`, connections: 4, seconds: 1, script: f.script, responseBytes: BODY }, { cleanup: f.cleanup, timeoutMs: 60_000 });
  t.true(r.requests > 0);
  // wrk counts the responses it read; the server may have answered a few more as wrk stopped.
  t.true(served.requests >= r.requests, `server ${served.requests}, wrk ${r.requests}`);
  t.is(served.posts, served.requests);
  t.is(served.bodyBytes, served.requests * BODY);
  t.true(r.bytes >= r.requests * BODY);
  t.true(r.seconds > 0.9 && r.seconds < 5, `${r.seconds} s`);
  t.is(r.rps, r.requests / r.seconds);
});

test('wrk: responses with an error status fail the path', async (t) => {
  const { port } = await h1Server(t, 503);
  const f = await fixtures(t);
  const err = await t.throwsAsync(runWrk({ wrk: 'wrk', url: `http://127.0.0.1:${port}/`, connections: 2, seconds: 1, script: f.script, responseBytes: BODY }, { cleanup: f.cleanup, timeoutMs: 60_000 }), {
    instanceOf: BenchError,
  });
  t.is(err.code, 'BENCH_ERR_PATH');
  t.regex(err.message, /^wrk: \d+ responses with status >= 400 in \d+ requests$/);
});

test('wrk: bodies shorter than the agreed size fail the path', async (t) => {
  const { port } = await h1Server(t, 200, 10);
  const f = await fixtures(t);
  const err = await t.throwsAsync(runWrk({ wrk: 'wrk', url: `http://127.0.0.1:${port}/`, connections: 2, seconds: 1, script: f.script, responseBytes: BODY }, { cleanup: f.cleanup, timeoutMs: 60_000 }));
  t.regex(err.message, /bytes read for \d+ responses, fewer than the 1024-byte body each/);
});

test('wrk: a refused connection fails the path', async (t) => {
  const { port } = await h1Server(t);
  const f = await fixtures(t);
  // A port that was just free: nothing listens there.
  const closed = await new Promise<number>((resolve) => {
    const s = http.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  t.not(closed, port);
  const err = await t.throwsAsync(runWrk({ wrk: 'wrk', url: `http://127.0.0.1:${closed}/`, connections: 2, seconds: 1, script: f.script, responseBytes: BODY }, { cleanup: f.cleanup, timeoutMs: 60_000 }), {
    instanceOf: BenchError,
  });
  t.is(err.code, 'BENCH_ERR_PATH');
  t.regex(err.message, /^wrk failed: wrk \(pid \d+\) exited with code 1; its last output:\nunable to connect to 127\.0\.0\.1:\d+ Connection refused$/);
});

test('wrk summaries: a missing or unreadable summary line is the tool failing, not the path', (t) => {
  t.throws(() => parseWrkSummary('Running 1s test\n  2 threads\n', BODY), { instanceOf: BenchError, message: /wrk printed no summary line/ });
  t.throws(() => parseWrkSummary('{"requests":1,', BODY), { message: /not JSON/ });
  t.throws(() => parseWrkSummary('{"requests":10,"duration_us":1000000,"bytes":20000,"connect":0,"read":0,"write":0,"status":0}', BODY), { message: /no count "timeout"/ });
  const ok = parseWrkSummary('noise\n{"requests":10,"duration_us":2000000,"bytes":20000,"connect":0,"read":0,"write":0,"status":0,"timeout":0}\n', BODY);
  t.deepEqual(ok, { requests: 10, seconds: 2, bytes: 20000, rps: 5 });
  t.throws(() => parseWrkSummary('{"requests":10,"duration_us":1,"bytes":20000,"connect":0,"read":3,"write":0,"status":0,"timeout":2}', BODY), {
    message: 'wrk: 3 read errors, 2 timeout errors in 10 requests',
  });
});

test('h2load over HTTP/2 (prior knowledge): every one of a fixed number of POSTs succeeds', async (t) => {
  const { served, port } = await h2Server(t);
  const f = await fixtures(t);
  const r = await runH2load(
    { h2load: 'h2load', url: `http://127.0.0.1:${port}/`, protocol: 'http2', clients: 2, streams: 4, bodyFile: f.body, requests: 400, responseBytes: BODY },
    { cleanup: f.cleanup, timeoutMs: 60_000 },
  );
  t.is(r.summary.succeeded, 400);
  t.is(r.summary.status2xx, 400);
  t.is(r.summary.dataBytes, 400 * BODY);
  t.is(served.posts, 400);
  t.is(served.bodyBytes, 400 * BODY);
  t.is(r.latenciesUs, undefined);
  t.true(r.rps > 0);
});

test('h2load over HTTP/1.1 at a fixed rate: the log gives one latency per request, and the rate holds', async (t) => {
  const { served, port } = await h1Server(t);
  const f = await fixtures(t);
  const logFile = path.join(f.dir, 'requests.log');
  const r = await runH2load(
    { h2load: 'h2load', url: `http://127.0.0.1:${port}/`, protocol: 'http1', clients: 2, streams: 8, bodyFile: f.body, requests: 200, ratePerClient: 100, logFile, responseBytes: BODY },
    { cleanup: f.cleanup, timeoutMs: 60_000 },
  );
  t.is(served.posts, 200);
  t.is(r.latenciesUs?.length, 200);
  const sorted = [...r.latenciesUs!].sort((a, b) => a - b);
  t.deepEqual(r.latenciesUs, sorted);
  t.true(r.latenciesUs![0]! > 0);
  // 200 requests at 2 x 100 per second take about a second; far more than that means no fixed rate.
  t.true(r.summary.seconds >= 0.9, `${r.summary.seconds} s`);
});

test('h2load: error statuses and refused connections fail the path', async (t) => {
  const { port } = await h2Server(t, 500);
  const f = await fixtures(t);
  const run = { h2load: 'h2load', protocol: 'http2' as const, clients: 1, streams: 1, bodyFile: f.body, requests: 10, responseBytes: BODY };
  const bad = await t.throwsAsync(runH2load({ ...run, url: `http://127.0.0.1:${port}/` }, { cleanup: f.cleanup, timeoutMs: 60_000 }), { instanceOf: BenchError });
  t.is(bad.code, 'BENCH_ERR_PATH');
  t.regex(bad.message, /status codes: 0 3xx, 0 4xx, 10 5xx/);
  const closed = await new Promise<number>((resolve) => {
    const s = http.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const refused = await t.throwsAsync(runH2load({ ...run, url: `http://127.0.0.1:${closed}/` }, { cleanup: f.cleanup, timeoutMs: 60_000 }), { instanceOf: BenchError });
  t.regex(refused.message, /0 of 10 requests succeeded/);
});

const REPORT = `starting benchmark...
finished in 2.00s, 26851.50 req/s, 2.15MB/s
requests: 53710 total, 53735 started, 53710 done, 53703 succeeded, 7 failed, 7 errored, 0 timeout
status codes: 53703 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 4.30MB (4511316) total, 2.46MB (2577744) headers (space savings 51.02%), 262.22KB (268515) data
`;

test('h2load reports are read line by line, and a timed run may lose the requests cut off at its end', (t) => {
  const s = parseH2loadSummary(REPORT);
  t.like(s, { seconds: 2, total: 53710, succeeded: 53703, failed: 7, errored: 7, timeout: 0, status2xx: 53703, dataBytes: 268515 });
  t.is(parseH2loadSummary(REPORT.replace('2.00s', '850.12ms')).seconds, 0.85012);
  t.throws(() => parseH2loadSummary(REPORT.replace(/^traffic.*$/m, '')), { instanceOf: BenchError, message: /no "traffic:" line/ });
  t.throws(() => parseH2loadSummary('garbage'), { message: /no "finished in" line/ });
  // Timed (warm-up): cut-off requests are fine. Counted: each must succeed.
  t.notThrows(() => checkDelivered(s, undefined, 5));
  t.throws(() => checkDelivered(s, 53710, 5), { message: 'h2load: 53703 of 53710 requests succeeded; 7 failed; 7 errored' });
  const short: H2loadSummary = { ...s, failed: 0, errored: 0, succeeded: 100, status2xx: 100, dataBytes: 100 };
  t.throws(() => checkDelivered(short, 100, 1024), { message: 'h2load: 100 body bytes for 100 responses, fewer than 1024 each' });
  // A timed run may cut the bodies of the responses in flight at its end, and no more.
  const cut: H2loadSummary = { ...short, dataBytes: 98 * 1024 + 10 };
  t.notThrows(() => checkDelivered(cut, undefined, 1024, 2));
  t.throws(() => checkDelivered(cut, undefined, 1024, 1), { message: 'h2load: 100362 body bytes for 100 responses, fewer than 1024 each (1 may be cut off)' });
  t.throws(() => checkDelivered(cut, 100, 1024, 2), { message: /fewer than 1024 each$/ });
});

test('h2load logs: malformed lines are the tool failing, error statuses the path', (t) => {
  t.deepEqual(parseH2loadLog('1795328519280152\t200\t394\n1795328519280138\t200\t37\n'), [37, 394]);
  t.throws(() => parseH2loadLog('1\t200\n'), { instanceOf: BenchError, message: /log line 1 is not "start<TAB>status<TAB>microseconds"/ });
  const err = t.throws(() => parseH2loadLog('1\t200\t5\n2\t503\t9\n'), { instanceOf: BenchError });
  t.is(err.code, 'BENCH_ERR_PATH');
  t.regex(err.message, /log line 2: status 503/);
});

test('h2load command lines: HTTP/1.1 is one request in flight per connection; a count or a duration, not both', (t) => {
  const base = { h2load: 'h2load', url: 'http://10.0.0.1:80/', clients: 4, streams: 8, bodyFile: '/b', responseBytes: 1 };
  t.deepEqual(h2loadArgs({ ...base, protocol: 'http1', requests: 100, ratePerClient: 25, logFile: '/l' }), ['-t1', '-c4', '-m1', '--h1', '-d', '/b', '-n', '100', '--rps', '25', '--log-file', '/l', 'http://10.0.0.1:80/']);
  t.deepEqual(h2loadArgs({ ...base, protocol: 'http2', seconds: 3 }), ['-t1', '-c4', '-m8', '-d', '/b', '-D', '3', 'http://10.0.0.1:80/']);
  t.throws(() => h2loadArgs({ ...base, protocol: 'http2' }), { message: /either a request count or a duration/ });
  t.throws(() => h2loadArgs({ ...base, protocol: 'http2', seconds: 1, requests: 1 }), { message: /either a request count or a duration/ });
});
