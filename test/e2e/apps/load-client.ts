/**
 * The waypoint tests' client, run in a pod: sends `count` requests with `concurrency` in flight over
 * HTTP/1.1 (keep-alive) or HTTP/2 with prior knowledge, and prints one JSON line with what came back:
 *
 *   load-client.js '<spec JSON>'
 *     {"event":"result","results":[{"status","pod","body","ms"} | {"error","ms"}, …]}
 *
 * spec: {host, port, path, count?, concurrency?, method?, headers?, http2?, timeoutMs?, body?}. The path is
 * sent exactly as given (`//admin`, `/a/%2e%2e/admin`); a header given as a list is sent once per value;
 * over HTTP/2 the method is sent as given (`delete` stays lower case). A request with no answer within
 * `timeoutMs` (default 10 s) is reported as error `ETIMEDOUT`, so a hang shows as such, never as a stall.
 * Dependency-free.
 */
import http from 'node:http';
import http2 from 'node:http2';

/** What to send (the one argument, as JSON); the tests build it through `WaypointMesh.send`. */
export interface LoadSpec {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly count?: number;
  readonly concurrency?: number;
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string | readonly string[]>>;
  readonly http2?: boolean;
  readonly timeoutMs?: number;
  readonly body?: string;
}

/** One request's outcome: an answer (status, the serving pod when a server answered) or an error code. */
export interface Outcome {
  readonly status?: number;
  readonly pod?: string;
  readonly body?: string;
  readonly error?: string;
  readonly ms: number;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
const timeoutMs = spec.timeoutMs ?? 10_000;
const method = spec.method ?? 'GET';

function outcome(status: number, text: string, started: bigint): Outcome {
  let pod: string | undefined;
  try {
    const parsed = JSON.parse(text) as { pod?: unknown };
    if (typeof parsed.pod === 'string') pod = parsed.pod;
  } catch {
    // Not JSON: a proxy's own answer (`RBAC: access denied`, `upstream request timeout`…), kept as text.
  }
  return { status, ...(pod === undefined ? {} : { pod }), body: text.slice(0, 300), ms: Number(process.hrtime.bigint() - started) / 1e6 };
}

function failed(err: Error & { code?: string }, started: bigint): Outcome {
  return { error: err.code ?? err.message, ms: Number(process.hrtime.bigint() - started) / 1e6 };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: spec.concurrency ?? 1 });

function http1(): Promise<Outcome> {
  const started = process.hrtime.bigint();
  return new Promise((resolve) => {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(spec.headers ?? {})) headers[k] = typeof v === 'string' ? v : [...v];
    const req = http.request({ host: spec.host, port: spec.port, path: spec.path, method, headers, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve(outcome(res.statusCode ?? 0, text, started)));
      res.on('error', (err) => resolve(failed(err, started)));
    });
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('no answer in time'), { code: 'ETIMEDOUT' })));
    req.on('error', (err) => resolve(failed(err, started)));
    req.end(spec.body);
  });
}

let session: http2.ClientHttp2Session | undefined;

function h2session(): http2.ClientHttp2Session {
  if (session === undefined || session.closed || session.destroyed) {
    session = http2.connect(`http://${spec.host}:${spec.port}`);
    session.on('error', () => undefined);
  }
  return session;
}

function viaHttp2(): Promise<Outcome> {
  const started = process.hrtime.bigint();
  return new Promise((resolve) => {
    const headers: http2.OutgoingHttpHeaders = { ':method': method, ':path': spec.path, ':authority': `${spec.host}:${spec.port}` };
    for (const [k, v] of Object.entries(spec.headers ?? {})) headers[k] = typeof v === 'string' ? v : [...v];
    let stream: http2.ClientHttp2Stream;
    try {
      stream = h2session().request(headers, { endStream: spec.body === undefined });
    } catch (err) {
      resolve(failed(err as Error, started));
      return;
    }
    let status = 0;
    let text = '';
    stream.setTimeout(timeoutMs, () => stream.destroy(Object.assign(new Error('no answer in time'), { code: 'ETIMEDOUT' })));
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.setEncoding('utf8').on('data', (d: string) => (text += d));
    stream.on('end', () => resolve(outcome(status, text, started)));
    stream.on('error', (err: Error) => resolve(failed(err, started)));
    if (spec.body !== undefined) stream.end(spec.body);
  });
}

async function main(): Promise<void> {
  const count = spec.count ?? 1;
  const results: Outcome[] = new Array<Outcome>(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < count; i = next++) results[i] = await (spec.http2 === true ? viaHttp2() : http1());
  };
  await Promise.all(Array.from({ length: Math.min(spec.concurrency ?? 1, count) }, worker));
  process.stdout.write(`${JSON.stringify({ event: 'result', results })}\n`);
  agent.destroy();
  session?.close();
}

main().catch((err: unknown) => {
  process.stdout.write(`${JSON.stringify({ event: 'error', code: 'ECLIENT', message: String(err) })}\n`);
  process.exitCode = 1;
});
