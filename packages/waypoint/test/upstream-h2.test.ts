/**
 * HTTP/2 to the upstream: a real HTTP/2 server behind a real HBONE server, reached through the waypoint
 * with `protocol: 'http2'` or `'downstream'`, from HTTP/2 and HTTP/1.1 clients, and real gRPC (grpc-js
 * client and server) passing through h2 → h2 with its trailers.
 */
import test from 'ava';
import { Client, Server, ServerCredentials, credentials, Metadata, status as GrpcStatus, type ServiceError, type ServerUnaryCall, type ServerWritableStream, type sendUnaryData } from '@grpc/grpc-js';
import type { IncomingHttpHeaders } from 'node:http2';
import {
  BINDING,
  behindHbone,
  binding,
  capture,
  cluster,
  dualBackend,
  forwardTo,
  get,
  h2backend,
  h2session,
  httpChain,
  prefix,
  readAll,
  route,
  snapshot,
  startWaypoint,
  vhost,
  ztunnelPort,
} from './helpers/fixtures.js';

function oneRoute(clusterName: string, endpoints: Parameters<typeof cluster>[1], protocol: 'http1' | 'http2' | 'downstream') {
  return snapshot({ [BINDING]: binding(httpChain([vhost('svc', ['*'], [route('r', prefix('/'), forwardTo(clusterName))])])) }, [cluster(clusterName, endpoints, { protocol })]);
}

test('h2 client → waypoint → h2 upstream (cluster protocol http2): concurrent requests share one upstream session', async (t) => {
  const b = await h2backend(t, (stream, headers) => {
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'x-path': String(headers[':path']) });
      stream.end(`h2 got ${String(headers[':method'])} ${String(headers[':path'])} ${b.requests.find((r) => r.headers === headers)?.body ?? ''}`);
    });
  });
  const w = await startWaypoint(t, oneRoute('c2', [b.endpoint], 'http2'));
  const s = await h2session(t, w);
  const call = async (i: number): Promise<[IncomingHttpHeaders, string]> => {
    const st = s.request({ ':method': 'POST', ':path': `/p${i}`, 'content-type': 'text/plain' });
    st.end(`body${i}`);
    const [h, body] = await Promise.all([new Promise<IncomingHttpHeaders>((r) => st.once('response', r)), readAll(st)]);
    return [h, body.toString()];
  };
  const results = await Promise.all([0, 1, 2, 3, 4].map(call));
  for (const [i, [h, body]] of results.entries()) {
    t.is(Number(h[':status']), 200);
    t.is(h['x-path'], `/p${i}`);
    t.is(body, `h2 got POST /p${i} body${i}`);
  }
  t.is(b.requests.length, 5);
  t.is(b.requests[0]!.headers[':scheme'], 'http');
  t.is(b.requests[0]!.headers[':authority'], 'svc.default.svc.cluster.local:80', 'the client\'s :authority, unchanged');
  t.truthy(b.requests[0]!.headers['x-request-id']);
  t.is(b.sessions, 1, 'one HTTP/2 connection upstream carried every request');
});

test('HTTP/1.1 client → waypoint → h2 upstream: hop-by-hop headers are dropped, Host becomes :authority, the body goes along', async (t) => {
  const b = await h2backend(t, (stream) => {
    stream.on('end', () => {
      stream.respond({ ':status': 201, 'content-type': 'text/plain' });
      stream.end('created');
    });
  });
  const w = await startWaypoint(t, oneRoute('c2', [b.endpoint], 'http2'));
  const r = await get(w, '/items?x=1', { method: 'PUT', body: 'payload', headers: { connection: 'keep-alive, x-hop', 'x-hop': 'gone', 'keep-alive': 'timeout=5', te: 'trailers', 'x-keep': 'kept' } });
  t.is(r.status, 201);
  t.is(r.body, 'created');
  const seen = b.requests[0]!;
  t.is(seen.headers[':method'], 'PUT');
  t.is(seen.headers[':path'], '/items?x=1');
  t.is(seen.headers[':authority'], 'svc.default.svc.cluster.local');
  t.is(seen.headers['x-hop'], undefined);
  t.is(seen.headers['keep-alive'], undefined);
  t.is(seen.headers['te'], 'trailers');
  t.is(seen.headers['x-keep'], 'kept');
  t.is(seen.body, 'payload');
});

test('cluster protocol "downstream": HTTP/2 clients reach the upstream over HTTP/2, HTTP/1.1 clients over HTTP/1.1', async (t) => {
  const b = await dualBackend(t);
  const w = await startWaypoint(t, oneRoute('cd', [b.endpoint], 'downstream'));
  const s = await h2session(t, w);
  t.is((await readAll(s.request({ ':path': '/via-h2' }))).toString(), 'h2 /via-h2');
  t.is((await get(w, '/via-h1')).body, 'h1 /via-h1');
  t.deepEqual(b.protocols, ['http/2.0', 'http/1.1']);
});

test('response trailers pass h2 → h2; a trailers-only reply keeps its status in the head', async (t) => {
  const b = await h2backend(t, (stream, headers) => {
    stream.on('end', () => {
      if (headers[':path'] === '/only') {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'not found' }, { endStream: true });
        return;
      }
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'fine', 'x-trailer': 't' }));
      stream.end(Buffer.from([0, 0, 0, 0, 2, 0x68, 0x69]));
    });
  });
  const w = await startWaypoint(t, oneRoute('c2', [b.endpoint], 'http2'));
  const s = await h2session(t, w);
  const st = s.request({ ':method': 'POST', ':path': '/pkg.Svc/Call', 'content-type': 'application/grpc', te: 'trailers' });
  st.end(Buffer.from([0, 0, 0, 0, 0]));
  const trailers = new Promise<IncomingHttpHeaders>((r) => st.once('trailers', r));
  const [head, body] = await Promise.all([new Promise<IncomingHttpHeaders>((r) => st.once('response', r)), readAll(st)]);
  t.is(Number(head[':status']), 200);
  t.deepEqual([...body], [0, 0, 0, 0, 2, 0x68, 0x69]);
  t.like(await trailers, { 'grpc-status': '0', 'grpc-message': 'fine', 'x-trailer': 't' });
  t.is(b.requests[0]!.headers['te'], 'trailers');
  const only = s.request({ ':method': 'POST', ':path': '/only', 'content-type': 'application/grpc', te: 'trailers' });
  only.end();
  const [[onlyHead, flags]] = await Promise.all([new Promise<[IncomingHttpHeaders, number]>((r) => only.once('response', (h, f) => r([h, f]))), readAll(only)]);
  t.is(Number(onlyHead[':status']), 200);
  t.like(onlyHead, { 'grpc-status': '5', 'grpc-message': 'not found' });
  t.is(flags & 0x1, 0x1, 'one HEADERS frame with END_STREAM, as gRPC requires of a trailers-only reply');
});

/** A grpc-js server with one unary and one server-streaming method over raw bytes, behind an HBONE server. */
async function grpcBackend(t: Parameters<typeof h2backend>[0]) {
  const server = new Server();
  const raw = { requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b };
  server.addService(
    {
      echo: { path: '/test.Echo/Echo', requestStream: false, responseStream: false, ...raw },
      list: { path: '/test.Echo/List', requestStream: false, responseStream: true, ...raw },
    },
    {
      echo: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => {
        const text = call.request.toString();
        if (text === 'fail') {
          cb({ code: GrpcStatus.FAILED_PRECONDITION, details: 'asked to fail' });
          return;
        }
        const trailer = new Metadata();
        trailer.set('x-echo-trailer', 'yes');
        cb(null, Buffer.from(`echo:${text}`), trailer);
      },
      list: (call: ServerWritableStream<Buffer, Buffer>) => {
        for (let i = 0; i < 3; i++) call.write(Buffer.from(`item${i}`));
        call.end();
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  t.teardown(() => server.forceShutdown());
  return behindHbone(t, port);
}

test('gRPC (grpc-js client and server) through the waypoint h2 → h2: unary, error status, server streaming; grpc_response_status in metrics', async (t) => {
  const ep = await grpcBackend(t);
  const { logger, records } = capture();
  const w = await startWaypoint(t, oneRoute('grpc', [ep], 'http2'), { logger });
  const port = await ztunnelPort(t, w);
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  t.teardown(() => client.close());
  const unary = (text: string) =>
    new Promise<{ err: ServiceError | null; value: Buffer | undefined; trailers: Metadata | undefined }>((resolve) => {
      let trailers: Metadata | undefined;
      const call = client.makeUnaryRequest('/test.Echo/Echo', (b: Buffer) => b, (b: Buffer) => b, Buffer.from(text), (err, value) => setImmediate(() => resolve({ err, value, trailers })));
      call.on('status', (s) => (trailers = s.metadata));
    });
  const ok = await unary('hello');
  t.is(ok.err, null);
  t.is(ok.value?.toString(), 'echo:hello');
  t.deepEqual(ok.trailers?.get('x-echo-trailer'), ['yes']);
  const failed = await unary('fail');
  t.is(failed.err?.code, GrpcStatus.FAILED_PRECONDITION);
  t.is(failed.err?.details, 'asked to fail');
  const items: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const stream = client.makeServerStreamRequest('/test.Echo/List', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0));
    stream.on('data', (d: Buffer) => items.push(d.toString()));
    stream.on('error', reject);
    stream.on('end', resolve);
  });
  t.deepEqual(items, ['item0', 'item1', 'item2']);
  for (let i = 0; i < 100 && records.filter((r) => r['component'] === 'access').length < 3; i++) await new Promise((r) => setTimeout(r, 10));
  const metrics = await w.waypoint.registry.metrics();
  t.regex(metrics, /istio_requests_total\{[^}]*request_protocol="grpc",response_code="200",grpc_response_status="0",[^}]*\} 2/);
  t.regex(metrics, /istio_requests_total\{[^}]*request_protocol="grpc",response_code="200",grpc_response_status="9",[^}]*\} 1/);
});

test('HTTP/1.1 client → h2 upstream: the reply is chunked and carries the upstream trailers', async (t) => {
  const b = await h2backend(t, (stream) => {
    stream.on('end', () => {
      stream.respond({ ':status': 200 }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'x-t': '1' }));
      stream.end('with trailers');
    });
  });
  const w = await startWaypoint(t, oneRoute('c2', [b.endpoint], 'http2'));
  const r = await get(w, '/t');
  t.is(r.status, 200);
  t.is(r.headers['transfer-encoding'], 'chunked');
  t.is(r.body, 'with trailers');
  t.deepEqual(r.trailers, { 'x-t': '1' });
});
