/**
 * Test fixtures: a mesh CA and certificates, hand-built snapshots (literal matchers, allow-all policies),
 * real backends behind real HBONE servers, a client "ztunnel" (HboneClient) and a running Waypoint.
 * Everything is torn down with `t.teardown`.
 */
import type { ExecutionContext } from 'ava';
import { EventEmitter } from 'node:events';
import { createServer, request as h1request, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { connect as h2connect, createServer as createH2Server, type ClientHttp2Session, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import { createServer as netServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { HboneClient, HboneServer, relay } from '@ambit/mesh-core/hbone';
import { Identity, StaticCertificateSource, createRootCa, issueWorkloadCertificate, type CaMaterial, type CertificateSource, type WorkloadCertificate } from '@ambit/mesh-core/identity';
import type { Clock } from '@ambit/mesh-core/lifecycle';
import type {
  Binding,
  Cluster,
  Endpoint,
  ForwardAction,
  HeaderMatcher,
  HeaderMutation,
  HttpChain,
  JwtAuthenticator,
  PathMatcher,
  RbacPolicySet,
  Route,
  RouteAction,
  VirtualHost,
  WaypointSnapshot,
} from '../../src/config/types.js';
import { Waypoint, type SnapshotSource } from '../../src/index.js';
import { decodeStrings } from './decode-strings.js';

export const TD = 'cluster.local';
export const waypointId = Identity.parse('spiffe://cluster.local/ns/default/sa/waypoint');
export const clientId = Identity.parse('spiffe://cluster.local/ns/default/sa/client');
export const serverId = Identity.parse('spiffe://cluster.local/ns/default/sa/server');
const DAY = 86_400_000;

interface Pki {
  root: CaMaterial;
  certs: StaticCertificateSource;
}
let shared: Promise<Pki> | undefined;
export function pki(): Promise<Pki> {
  shared ??= (async () => {
    const root = await createRootCa(TD, DAY);
    const certs: WorkloadCertificate[] = [];
    for (const id of [waypointId, clientId, serverId]) certs.push(await issueWorkloadCertificate(root, id, DAY));
    return { root, certs: new StaticCertificateSource(certs) };
  })();
  return shared;
}

export const NONE: HeaderMutation = { set: [], remove: [] };

export function prefix(p: string): PathMatcher {
  return { matches: (path) => path.startsWith(p), description: `prefix ${p}`, prefix: p };
}
export function exactPath(p: string): PathMatcher {
  return { matches: (path) => path === p, description: `path ${p}`, prefix: undefined };
}
export function header(name: string, value: string): HeaderMatcher {
  return { name, matches: (values, mode) => (mode === 'any' ? values.some((v) => v === value) : values.length > 0 && values.every((v) => v === value)), description: `${name}=${value}` };
}

export const allowAll: RbacPolicySet = { evaluate: () => ({ allowed: true, policy: undefined }), empty: true };
export const noJwt: JwtAuthenticator = { authenticate: () => Promise.resolve({ kind: 'missing' }), stripHeaders: [], empty: true };

export function forwardTo(cluster: string, extra: Partial<ForwardAction> = {}): ForwardAction {
  return {
    kind: 'forward',
    clusters: [{ cluster, weight: 1, requestHeaders: NONE, responseHeaders: NONE }],
    totalWeight: 1,
    timeoutMs: 15_000,
    retry: undefined,
    mirrors: [],
    prefixRewrite: undefined,
    regexRewrite: undefined,
    hostRewrite: undefined,
    hashPolicies: [],
    ...extra,
  };
}

export function route(name: string, path: PathMatcher, action: RouteAction, extra: Partial<Route> = {}): Route {
  return { name, path, headers: [], queryParameters: [], action, requestHeaders: NONE, responseHeaders: NONE, fault: undefined, ...extra };
}

export function vhost(name: string, domains: string[], routes: Route[], extra: Partial<VirtualHost> = {}): VirtualHost {
  return { name, domains, routes, requestHeaders: NONE, responseHeaders: NONE, ...extra };
}

export function httpChain(vhosts: VirtualHost[], extra: Partial<HttpChain> = {}): HttpChain {
  return {
    kind: 'http',
    statPrefix: 'inbound',
    routeTable: { name: 'rt', virtualHosts: vhosts },
    jwt: noJwt,
    rbac: allowAll,
    pathNormalization: { normalize: true, mergeSlashes: true },
    ...extra,
  };
}

export const BINDING = '10.0.0.10:80';

export function snapshot(bindings: Record<string, Binding>, clusters: Cluster[]): WaypointSnapshot {
  return { version: 'v1', identity: waypointId.uri, bindings: new Map(Object.entries(bindings)), clusters: new Map(clusters.map((c) => [c.name, c])) };
}

export function binding(http: HttpChain | undefined, tcp?: Binding['tcp']): Binding {
  return { name: 'inbound-vip|80|http|svc.default.svc.cluster.local', destinationService: 'svc.default.svc.cluster.local', http, tcp };
}

export function cluster(name: string, endpoints: Endpoint[], extra: Partial<Cluster> = {}): Cluster {
  return {
    name,
    serviceHost: 'svc.default.svc.cluster.local',
    subset: '',
    connectTimeoutMs: 5_000,
    lbPolicy: 'round-robin',
    protocol: 'http1',
    circuitBreaker: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
    outlierDetection: undefined,
    endpoints,
    ...extra,
  };
}

export class FixedSnapshots extends EventEmitter implements SnapshotSource {
  #s: WaypointSnapshot | undefined;
  constructor(s?: WaypointSnapshot) {
    super();
    this.#s = s;
  }
  current(): WaypointSnapshot | undefined {
    return this.#s;
  }
  set(s: WaypointSnapshot): void {
    this.#s = s;
    this.emit('change', s);
  }
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** An HTTP backend on loopback behind its own HBONE server (a stand-in for the pod and its ztunnel). */
export interface Backend {
  readonly endpoint: Endpoint;
  readonly http: Server;
  readonly requests: { method: string; url: string; headers: IncomingMessage['headers'] }[];
}

export async function backend(t: ExecutionContext, handler: Handler, o: { plain?: boolean; h2c?: boolean } = {}): Promise<Backend> {
  const requests: Backend['requests'] = [];
  const http = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    handler(req, res);
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    http.closeAllConnections();
    http.close();
  });
  const port = (http.address() as AddressInfo).port;
  if (o.plain === true) {
    return { http, requests, endpoint: endpoint(port, { kind: 'plain' }) };
  }
  return { http, requests, endpoint: await behindHbone(t, port) };
}

/**
 * The endpoint for a backend on `port`, reached through an HBONE server of its own (the pod's ztunnel in a
 * real mesh) serving `serverId` with the test PKI; the server goes with the test.
 */
export async function behindHbone(t: ExecutionContext, port: number): Promise<Endpoint> {
  const { certs } = await pki();
  const hbone = new HboneServer({ identity: serverId, certificates: certs, trustDomain: TD, logger: silent() });
  const bound = await hbone.listen(0, '127.0.0.1');
  t.teardown(() => hbone.destroy());
  return endpoint(port, { kind: 'hbone', identity: serverId.uri, hbonePort: bound.port });
}

export type StreamHandler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void;

/** An HTTP/2 backend (h2c, prior knowledge) behind its own HBONE server; the handler gets the raw stream. */
export interface H2Backend {
  readonly endpoint: Endpoint;
  readonly server: Http2Server;
  readonly requests: { headers: IncomingHttpHeaders; body: string; trailers: IncomingHttpHeaders | undefined }[];
  /** HTTP/2 sessions the backend accepted so far (connection reuse shows as 1). */
  sessions: number;
}

export async function h2backend(t: ExecutionContext, handler: StreamHandler): Promise<H2Backend> {
  const server = createH2Server();
  const open = new Set<ServerHttp2Session>();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of open) s.destroy();
    server.close();
  });
  const b: H2Backend = { endpoint: await behindHbone(t, (server.address() as AddressInfo).port), server, requests: [], sessions: 0 };
  server.on('session', (s) => {
    b.sessions++;
    open.add(s);
    s.once('close', () => open.delete(s));
  });
  server.on('stream', (stream, headers) => {
    const entry: H2Backend['requests'][number] = { headers, body: '', trailers: undefined };
    b.requests.push(entry);
    stream.on('trailers', (tr: IncomingHttpHeaders) => (entry.trailers = tr));
    stream.on('data', (c: Buffer) => (entry.body += c.toString()));
    stream.on('error', () => {});
    handler(stream, headers);
  });
  return b;
}

/**
 * A backend that speaks HTTP/1.1 and HTTP/2 (prior knowledge) on one port, as Node's servers do only over
 * TLS: the first bytes pick the server. It answers with the protocol it saw.
 */
export async function dualBackend(t: ExecutionContext): Promise<Backend & { protocols: string[] }> {
  const protocols: string[] = [];
  const h1 = createServer((req, res) => {
    protocols.push(`http/${req.httpVersion}`);
    res.end(`h1 ${req.url ?? ''}`);
  });
  const h2 = createH2Server((req, res) => {
    protocols.push(`http/${req.httpVersion}`);
    res.end(`h2 ${req.url}`);
  });
  const sockets = new Set<Socket>();
  const tcp = netServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.once('readable', () => {
      const first = socket.read(3) as Buffer | null;
      if (first === null) return socket.destroy();
      socket.unshift(first);
      (first.toString('latin1') === 'PRI' ? h2 : h1).emit('connection', socket);
    });
  });
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    tcp.close();
  });
  return { http: h1, requests: [], protocols, endpoint: await behindHbone(t, (tcp.address() as AddressInfo).port) };
}

/** A raw TCP backend behind its own HBONE server; `onSocket` runs per connection. */
export async function tcpBackend(t: ExecutionContext, onSocket: (socket: Socket) => void): Promise<{ endpoint: Endpoint; connections: number }> {
  const sockets = new Set<Socket>();
  const out = { endpoint: endpoint(0, { kind: 'plain' }), connections: 0 };
  const tcp = netServer({ allowHalfOpen: true }, (socket) => {
    out.connections++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onSocket(socket);
  });
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    tcp.close();
  });
  out.endpoint = await behindHbone(t, (tcp.address() as AddressInfo).port);
  return out;
}

export function endpoint(port: number, transport: Endpoint['transport']): Endpoint {
  return {
    ip: '127.0.0.1',
    port,
    weight: 1,
    healthy: true,
    locality: { region: '', zone: '', subZone: '' },
    transport,
    workload: { name: 'server', namespace: 'default', serviceAccount: 'server', canonicalName: 'server-app', canonicalRevision: 'v7', clusterId: 'Kubernetes' },
  };
}

export function silent(): Logger {
  return pino({ level: 'silent' });
}

/** A logger that keeps every record (for access-log assertions). */
export function capture(): { logger: Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') records.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), records };
}

export interface Running {
  readonly waypoint: Waypoint;
  readonly snapshots: FixedSnapshots;
  readonly client: HboneClient;
  readonly hbonePort: number;
  /** Opens a tunnel through the waypoint to `authority` as the client workload. */
  tunnel(authority?: string): Promise<Duplex>;
}

export async function startWaypoint(
  t: ExecutionContext,
  snap: WaypointSnapshot | undefined,
  o: { logger?: Logger; clock?: Clock; random?: () => number; limits?: { sniffTimeoutMs?: number; retryBufferBytes?: number }; certificates?: CertificateSource } = {},
): Promise<Running> {
  const { certs } = await pki();
  const snapshots = new FixedSnapshots(snap);
  const waypoint = await Waypoint.start({
    identity: waypointId,
    trustDomain: TD,
    certificates: o.certificates ?? certs,
    snapshots,
    logger: o.logger ?? silent(),
    ...(o.clock === undefined ? {} : { clock: o.clock }),
    ...(o.random === undefined ? {} : { random: o.random }),
    ...(o.limits === undefined ? {} : { limits: o.limits }),
    listen: { hbone: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 }, stats: { host: '127.0.0.1', port: 0 }, readiness: { host: '127.0.0.1', port: 0 } },
  });
  t.teardown(() => waypoint.destroy());
  const client = new HboneClient({ certificates: certs });
  t.teardown(() => client.destroy());
  const hbonePort = waypoint.addresses().hbone.port;
  return {
    waypoint,
    snapshots,
    client,
    hbonePort,
    tunnel: (authority = BINDING) =>
      client.connect({ source: clientId, destination: `127.0.0.1:${hbonePort}`, expectedIdentities: [waypointId], authority, forwardedFor: '10.1.1.1:5555', baggage: 'k8s.deployment.name=client,k8s.namespace.name=default,service.name=client,service.version=v1' }),
  };
}

export interface Reply {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
  trailers: IncomingMessage['trailers'];
}

/** One HTTP/1.1 request over a new tunnel. */
export async function get(w: Running, path: string, o: { method?: string; headers?: OutgoingHttpHeaders; body?: string; authority?: string } = {}): Promise<Reply> {
  const tunnel = await w.tunnel(o.authority);
  // Node's HTTP/1.1 client writes its head as a string; see helpers/decode-strings.ts.
  decodeStrings(tunnel);
  return new Promise<Reply>((resolve, reject) => {
    const req = h1request({ method: o.method ?? 'GET', path, headers: { host: 'svc.default.svc.cluster.local', ...o.headers }, createConnection: () => tunnel });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString(), trailers: res.trailers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

/** An HTTP/2 (prior knowledge) session over a new tunnel. */
export async function h2session(t: ExecutionContext, w: Running): Promise<ClientHttp2Session> {
  const tunnel = await w.tunnel();
  const s = h2connect('http://svc.default.svc.cluster.local', { createConnection: () => tunnel });
  s.on('error', () => {});
  t.teardown(() => s.destroy());
  return s;
}

/** A TCP listener that carries each connection through the waypoint (a client-side ztunnel in miniature). */
export async function ztunnelPort(t: ExecutionContext, w: Running): Promise<number> {
  const server: NetServer = netServer({ allowHalfOpen: true }, (socket) => {
    socket.pause();
    w.tunnel().then(
      (tunnel) => void relay(socket, tunnel),
      () => socket.destroy(),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  return (server.address() as AddressInfo).port;
}

/** Reads a stream to its end. */
export async function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A deterministic PRNG (mulberry32). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
