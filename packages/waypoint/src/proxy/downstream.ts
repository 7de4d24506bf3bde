/**
 * The waypoint's front door: an HBONE server (mesh-core) presenting the waypoint's certificate, which
 * accepts a tunnel only for a destination (`ip:port` of the CONNECT) bound in the current snapshot (bound
 * exactly, else its IP bound on every port: a workload address), and serves it in process:
 *
 * - a binding with only a TCP chain: relayed at once (server-first protocols work); its L4 policy is
 *   checked already when the tunnel is requested, so a denied client gets a 401 CONNECT response;
 * - otherwise the first bytes are sniffed: the HTTP/2 preface goes to an HTTP/2 server (prior knowledge),
 *   an HTTP/1.x request line to an HTTP/1.1 server (which also performs `Upgrade: h2c`, see `h2c.ts`), and
 *   anything else to the TCP chain, or is closed when there is none.
 *
 * The HTTP servers are Node's, fed each tunnel stream with `emit('connection')`; they never listen. One
 * pair serves every tunnel; the tunnel a request came on is found from its socket (HTTP/1.1) or session
 * (HTTP/2), recorded when the stream was handed over.
 */
import { createServer as createH1Server, type IncomingMessage, type Server as H1Server, type ServerResponse } from 'node:http';
import { createServer as createH2Server, type Http2Server, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import { isIP, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { HboneServer, formatAuthority, parseAuthority, parseForwardedFor, type InboundTunnelRequest, type TunnelDecision } from '@ambit/mesh-core/hbone';
import type { CertificateSource, Identity } from '@ambit/mesh-core/identity';
import { findBinding } from '../config/listener.js';
import type { ConnectionAttributes } from '../config/types.js';
import { addressKey, canonicalIp } from '../policy/cidr.js';
import { orUnknown, parseBaggage } from '../telemetry/metrics.js';
import type { ProxyContext, TunnelContext } from './context.js';
import { checkH2cUpgrade, prefaceAndSettingsLength, readExactly, synthesizeUpgrade, upgradeFields } from './h2c.js';
import { handleRequest } from './http-handler.js';
import { sniff } from './sniff.js';
import { tcpProxy } from './tcp-proxy.js';
import { decodeStrings } from '../upstream/connector.js';

export interface DownstreamOptions {
  readonly identity: Identity;
  readonly certificates: CertificateSource;
  readonly trustDomain: string;
}

/** HTTP/2 settings of the inner (in-tunnel) server: windows as HBONE's, so a tunnel is never the bottleneck. */
const INNER_H2_SETTINGS = { initialWindowSize: 4 * 1024 * 1024, maxConcurrentStreams: 1000 };

export class Downstream {
  readonly hbone: HboneServer;
  readonly #ctx: ProxyContext;
  readonly #h1: H1Server;
  readonly #h2: Http2Server;
  /** Tunnel context by tunnel stream (HTTP/1.1 requests' `req.socket`) and by inner HTTP/2 session. */
  readonly #tunnels = new WeakMap<object, TunnelContext>();
  /** The context of the stream being handed to the HTTP/2 server (its 'session' event is synchronous). */
  #handing: TunnelContext | undefined;
  readonly #sessions = new Set<ServerHttp2Session>();
  readonly #streams = new Set<Duplex>();
  /** HTTP/1.1 responses in progress, so that a drain can make each the last on its connection. */
  readonly #h1Responses = new Set<ServerResponse>();
  #closing = false;

  constructor(ctx: ProxyContext, o: DownstreamOptions) {
    this.#ctx = ctx;
    this.#h1 = createH1Server({ keepAlive: true, requestTimeout: 0 }, this.#onH1Request);
    this.#h1.on('upgrade', this.#onUpgrade);
    this.#h1.on('clientError', this.#onClientError);
    this.#h2 = createH2Server({ settings: INNER_H2_SETTINGS }, this.#onH2Request);
    this.#h2.on('session', this.#onSession);
    this.hbone = new HboneServer({
      identity: o.identity,
      certificates: o.certificates,
      trustDomain: o.trustDomain,
      logger: ctx.logger,
      authorize: this.#authorize,
      serveTunnel: this.#serveTunnel,
    });
  }

  listen(port: number, host?: string): Promise<AddressInfo> {
    return this.hbone.listen(port, host);
  }

  /** Open tunnels (HTTP or TCP) and inner HTTP/2 sessions. */
  stats(): { tunnels: number; h2Sessions: number; hbone: { sessions: number; streams: number } } {
    return { tunnels: this.#streams.size, h2Sessions: this.#sessions.size, hbone: this.hbone.stats() };
  }

  /**
   * Stops accepting, sends GOAWAY on every HBONE connection and inner HTTP/2 session, closes idle
   * HTTP/1.1 connections (busy ones answer `Connection: close` and end after their request), and resolves
   * once every connection has closed. The caller bounds the wait (and then calls `destroy()`).
   */
  async close(): Promise<void> {
    this.#closing = true;
    const closed = this.hbone.close();
    for (const s of this.#sessions) s.close();
    this.#h1.closeIdleConnections();
    for (const res of this.#h1Responses) lastOnConnection(res);
    await closed;
  }

  destroy(): void {
    this.#closing = true;
    for (const s of this.#sessions) s.destroy();
    for (const s of this.#streams) s.destroy();
    this.hbone.destroy();
  }

  readonly #authorize = (req: InboundTunnelRequest): TunnelDecision => {
    const connection = connectionOf(req);
    const key = addressKey(connection.destinationIp, connection.destinationPort);
    const binding = findBinding(this.#ctx.snapshot().bindings, key, connection.destinationIp);
    if (binding === undefined) return { status: 503, reason: `${key} is not bound to this waypoint` };
    if (binding.http === undefined && binding.tcp !== undefined && !binding.tcp.rbac.empty) {
      const decision = binding.tcp.rbac.evaluate(connection);
      if (!decision.allowed) return { status: 401, reason: `denied by policy ${decision.policy ?? '(none matched)'}: ${decision.reason}` };
    }
    return true;
  };

  readonly #serveTunnel = (stream: Duplex, req: InboundTunnelRequest): void => {
    if (this.#closing) {
      stream.destroy();
      return;
    }
    const connection = connectionOf(req);
    const key = addressKey(connection.destinationIp, connection.destinationPort);
    const baggage = parseBaggage(req.baggage);
    let workload: string | undefined;
    for (const [k, v] of baggage) if (/^k8s\.[a-z]+\.name$/.test(k) && k !== 'k8s.namespace.name' && k !== 'k8s.cluster.name' && k !== 'k8s.node.name') workload ??= v;
    const tunnel: TunnelContext = {
      connection,
      bindingKey: key,
      sourceAddress: sourceAddressOf(req),
      source: {
        workload: orUnknown(workload),
        namespace: orUnknown(baggage.get('k8s.namespace.name') ?? req.peerIdentity.namespace),
        app: orUnknown(baggage.get('service.name')),
        version: orUnknown(baggage.get('service.version')),
        cluster: orUnknown(baggage.get('k8s.cluster.name')),
      },
    };
    this.#streams.add(stream);
    stream.once('close', () => this.#streams.delete(stream));
    stream.on('error', (err: Error) => this.#ctx.logger.debug({ err, 'dst.addr': key }, 'tunnel stream error'));
    void this.#dispatch(stream, tunnel);
  };

  async #dispatch(stream: Duplex, tunnel: TunnelContext): Promise<void> {
    const binding = findBinding(this.#ctx.snapshot().bindings, tunnel.bindingKey, tunnel.connection.destinationIp);
    if (binding === undefined) {
      stream.destroy();
      return;
    }
    if (binding.http === undefined) {
      if (binding.tcp !== undefined) await tcpProxy(this.#ctx, tunnel, stream, Buffer.alloc(0), binding.tcp);
      else stream.destroy();
      return;
    }
    const { verdict, head } = await sniff(stream, this.#ctx.clock, this.#ctx.limits.sniffTimeoutMs);
    if (stream.destroyed) return;
    switch (verdict) {
      case 'h2':
        stream.unshift(head);
        this.#serveH2(stream, tunnel);
        return;
      case 'http1':
        stream.unshift(head);
        this.#tunnels.set(stream, tunnel);
        decodeStrings(stream);
        this.#h1.emit('connection', stream);
        stream.resume();
        return;
      case 'other':
      case 'empty': {
        const tcp = findBinding(this.#ctx.snapshot().bindings, tunnel.bindingKey, tunnel.connection.destinationIp)?.tcp;
        if (tcp !== undefined) {
          await tcpProxy(this.#ctx, tunnel, stream, head, tcp);
          return;
        }
        this.#ctx.logger.debug({ 'dst.addr': tunnel.bindingKey, 'src.addr': tunnel.sourceAddress }, 'not HTTP and no TCP chain; closing the tunnel');
        if (verdict === 'empty') stream.end();
        else stream.destroy();
        return;
      }
    }
  }

  #serveH2(stream: Duplex, tunnel: TunnelContext): void {
    this.#handing = tunnel;
    try {
      this.#h2.emit('connection', stream);
    } finally {
      this.#handing = undefined;
    }
  }

  readonly #onSession = (session: ServerHttp2Session): void => {
    const tunnel = this.#handing;
    if (tunnel === undefined) {
      session.destroy();
      return;
    }
    this.#tunnels.set(session, tunnel);
    this.#sessions.add(session);
    session.on('error', (err: Error) => this.#ctx.logger.debug({ err }, 'inner HTTP/2 session error'));
    session.once('close', () => this.#sessions.delete(session));
    if (this.#closing) session.close();
  };

  readonly #onH1Request = (req: IncomingMessage, res: ServerResponse): void => {
    const tunnel = this.#tunnels.get(req.socket);
    if (tunnel === undefined) {
      res.destroy();
      return;
    }
    if (this.#closing) res.shouldKeepAlive = false;
    this.#h1Responses.add(res);
    res.once('close', () => this.#h1Responses.delete(res));
    void handleRequest(this.#ctx, tunnel, req, res);
  };

  readonly #onH2Request = (req: Http2ServerRequest, res: Http2ServerResponse): void => {
    const tunnel = this.#tunnels.get(req.stream.session as object);
    if (tunnel === undefined) {
      res.stream.close();
      return;
    }
    void handleRequest(this.#ctx, tunnel, req, res);
  };

  /** HTTP/1.1 `Upgrade`: h2c becomes an HTTP/2 connection answering the request on stream 1; others are refused. */
  readonly #onUpgrade = (req: IncomingMessage, socket: Duplex, bodyHead: Buffer): void => {
    const tunnel = this.#tunnels.get(socket);
    if (tunnel === undefined) {
      socket.destroy();
      return;
    }
    const check = checkH2cUpgrade(req);
    if ('status' in check) {
      const body = `${check.reason}\n`;
      socket.end(`HTTP/1.1 ${check.status} ${check.status === 403 ? 'Forbidden' : check.status === 413 ? 'Payload Too Large' : 'Bad Request'}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
      return;
    }
    void this.#upgrade(req, socket, bodyHead, tunnel, check.settings, check.bodyLength);
  };

  async #upgrade(req: IncomingMessage, socket: Duplex, bodyHead: Buffer, tunnel: TunnelContext, settings: Buffer, bodyLength: number): Promise<void> {
    // The body, then (after the 101) the client's preface and SETTINGS must come within the sniff
    // timeout; a client that stops half-way would otherwise hold the tunnel open for nothing.
    const deadline = this.#ctx.clock.setTimeout(() => socket.destroy(), this.#ctx.limits.sniffTimeoutMs, { keepAlive: false });
    try {
      const [body, afterBody] = await readExactly(socket, bodyHead, bodyLength);
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n');
      const [start, rest] = await readExactly(socket, afterBody, prefaceAndSettingsLength);
      const clientSettings = start.subarray(24 + 9);
      const feed = synthesizeUpgrade(upgradeFields(req), settings, clientSettings, body);
      socket.unshift(rest.length === 0 ? feed : Buffer.concat([feed, rest]));
      this.#serveH2(socket, tunnel);
    } catch (err) {
      this.#ctx.logger.debug({ err, 'src.addr': tunnel.sourceAddress }, 'h2c upgrade failed');
      socket.destroy();
    } finally {
      deadline.cancel();
    }
  }

  readonly #onClientError = (err: Error & { code?: string }, socket: Duplex): void => {
    this.#ctx.logger.debug({ err, code: err.code }, 'malformed HTTP/1.1 request');
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    else socket.destroy();
  };
}

/**
 * Makes an HTTP/1.1 response in progress the last on its connection: `Connection: close` if its head is
 * still to go, else the tunnel is ended once the response is (the client sees the response whole, then
 * the end of the stream).
 */
function lastOnConnection(res: ServerResponse): void {
  if (!res.headersSent) {
    res.shouldKeepAlive = false;
    return;
  }
  const socket = res.socket;
  if (socket === null) return;
  if (res.writableFinished) socket.end();
  else res.once('finish', () => socket.end());
}

/** The client's address as `ip:port`: ztunnel's `Forwarded: for=` when present, else the HBONE peer. */
function sourceAddressOf(req: InboundTunnelRequest): string {
  const fwd = parseForwardedFor(req.forwarded);
  if (fwd !== undefined) return fwd;
  return formatAuthority({ host: req.remoteAddress, port: req.remotePort });
}

/** The tunnel's attributes; the destination IP in canonical form, as binding keys and ORIGINAL_DST targets have it. */
function connectionOf(req: InboundTunnelRequest): ConnectionAttributes {
  const addr = sourceAddressOf(req);
  const parsed = parseAuthority(addr);
  const sourceIp = typeof parsed === 'string' ? (isIP(addr) !== 0 ? addr : req.remoteAddress) : parsed.host;
  const destinationIp = canonicalIp(req.target.host) ?? req.target.host;
  return { sourcePrincipal: req.peerIdentity.uri, sourceIp, destinationIp, destinationPort: req.target.port };
}
