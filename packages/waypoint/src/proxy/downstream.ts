/**
 * The waypoint's front door: an HBONE server (mesh-core) presenting the waypoint's certificate, which
 * accepts a tunnel only for a destination (`ip:port` of the CONNECT) bound in the current snapshot (bound
 * exactly, else its IP bound on every port: a workload address), and serves it in process:
 *
 * - a binding with only a TCP chain: relayed at once (server-first protocols work); its L4 policy is
 *   checked already when the tunnel is requested, so a denied client gets a 401 CONNECT response;
 * - otherwise the first bytes are sniffed: the HTTP/2 preface goes to an HTTP/2 connection of our own
 *   (prior knowledge, `http2/server-connection.ts`), an HTTP/1.x request line to an HTTP/1.1 connection of
 *   our own (`http1/server-connection.ts`, which hands `Upgrade: h2c` back here, see `h2c.ts`), and
 *   anything else to the TCP chain, or is closed when there is none.
 */
import { isIP, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { HboneServer, formatAuthority, parseAuthority, parseForwardedFor, type InboundTunnelRequest, type TunnelDecision } from '@ambit/mesh-core/hbone';
import type { CertificateSource, Identity } from '@ambit/mesh-core/identity';
import { findBinding } from '../config/listener.js';
import type { ConnectionAttributes } from '../config/types.js';
import { addressKey, canonicalIp } from '../policy/cidr.js';
import { orUnknown, parseBaggage } from '../telemetry/metrics.js';
import type { ProxyContext, TunnelContext } from './context.js';
import { Http1ServerConnection, type Http1Request, type Http1Response, type Http1ServerHandlers } from '../http1/server-connection.js';
import type { Http1Error } from '../http1/errors.js';
import { Http2ServerConnection, type Http2ServerHandlers } from '../http2/server-connection.js';
import type { Http2Error } from '../http2/errors.js';
import type { ServerStream } from '../http2/server-stream.js';
import { checkH2cUpgrade, prefaceAndSettingsLength, readExactly, synthesizeUpgrade, upgradeFields } from './h2c.js';
import { handleRequest } from './http-handler.js';
import { sniff } from './sniff.js';
import { tcpProxy } from './tcp-proxy.js';

export interface DownstreamOptions {
  readonly identity: Identity;
  readonly certificates: CertificateSource;
  readonly trustDomain: string;
}

const SWITCHING_TO_H2C = Buffer.from('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n', 'latin1');

/** HTTP/2 settings of the inner (in-tunnel) connections: windows as HBONE's, so a tunnel is never the bottleneck. */
const INNER_H2_SETTINGS = { initialWindowSize: 4 * 1024 * 1024, maxConcurrentStreams: 1000 };

export class Downstream {
  readonly hbone: HboneServer;
  readonly #ctx: ProxyContext;
  /** Inner HTTP/2 connections, so that a drain can send each GOAWAY. */
  readonly #h2Connections = new Set<Http2ServerConnection>();
  readonly #streams = new Set<Duplex>();
  /** HTTP/1.1 connections, so that a drain can end each after its response in progress. */
  readonly #h1Connections = new Set<Http1ServerConnection>();
  #closing = false;

  constructor(ctx: ProxyContext, o: DownstreamOptions) {
    this.#ctx = ctx;
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
    return { tunnels: this.#streams.size, h2Sessions: this.#h2Connections.size, hbone: this.hbone.stats() };
  }

  /**
   * Stops accepting, sends GOAWAY on every HBONE connection and inner HTTP/2 session, closes idle
   * HTTP/1.1 connections (busy ones answer `Connection: close` and end after their request), and resolves
   * once every connection has closed. The caller bounds the wait (and then calls `destroy()`).
   */
  async close(): Promise<void> {
    this.#closing = true;
    const closed = this.hbone.close();
    for (const c of this.#h2Connections) c.close();
    for (const c of this.#h1Connections) c.close();
    await closed;
  }

  destroy(): void {
    this.#closing = true;
    for (const c of this.#h2Connections) c.destroy();
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
      case 'http1': {
        stream.unshift(head);
        const conn = new Http1ServerConnection(stream, this.#h1Handlers(tunnel));
        this.#h1Connections.add(conn);
        stream.once('close', () => this.#h1Connections.delete(conn));
        if (this.#closing) conn.close();
        stream.resume();
        return;
      }
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
    const handlers: Http2ServerHandlers = {
      onRequest: (s: ServerStream): void => {
        void handleRequest(this.#ctx, tunnel, s.request, s);
      },
      onProtocolError: (err: Http2Error): void => {
        this.#ctx.logger.debug({ err, code: err.code, 'src.addr': tunnel.sourceAddress }, 'HTTP/2 protocol error');
      },
      onClose: (): void => {
        this.#h2Connections.delete(conn);
      },
    };
    const conn = new Http2ServerConnection(stream, handlers, INNER_H2_SETTINGS);
    this.#h2Connections.add(conn);
    if (this.#closing) conn.close();
  }

  /** The callbacks of one tunnel's HTTP/1.1 connection. */
  #h1Handlers(tunnel: TunnelContext): Http1ServerHandlers {
    return {
      onRequest: (req: Http1Request, res: Http1Response): void => {
        void handleRequest(this.#ctx, tunnel, req, res);
      },
      onUpgrade: (req: Http1Request, stream: Duplex, rest: Buffer): void => this.#onUpgrade(req, stream, rest, tunnel),
      onProtocolError: (err: Http1Error): void => {
        this.#ctx.logger.debug({ err, code: err.code, 'src.addr': tunnel.sourceAddress }, 'malformed HTTP/1.1 request');
      },
    };
  }

  /** HTTP/1.1 `Upgrade`: h2c becomes an HTTP/2 connection answering the request on stream 1; others are refused. */
  #onUpgrade(req: Http1Request, socket: Duplex, bodyHead: Buffer, tunnel: TunnelContext): void {
    const check = checkH2cUpgrade(req);
    if ('status' in check) {
      const body = `${check.reason}\n`;
      // Buffers only on tunnel streams (see test/helpers/decode-strings.ts for what Node 20 does with strings there).
      socket.end(Buffer.from(`HTTP/1.1 ${check.status} ${check.status === 403 ? 'Forbidden' : check.status === 413 ? 'Payload Too Large' : 'Bad Request'}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`));
      // Read and drop whatever else the client sends until it closes its side.
      socket.resume();
      return;
    }
    void this.#upgrade(req, socket, bodyHead, tunnel, check.settings, check.bodyLength);
  }

  async #upgrade(req: Http1Request, socket: Duplex, bodyHead: Buffer, tunnel: TunnelContext, settings: Buffer, bodyLength: number): Promise<void> {
    // The body, then (after the 101) the client's preface and SETTINGS must come within the sniff
    // timeout; a client that stops half-way would otherwise hold the tunnel open for nothing.
    const deadline = this.#ctx.clock.setTimeout(() => socket.destroy(), this.#ctx.limits.sniffTimeoutMs, { keepAlive: false });
    try {
      const [body, afterBody] = await readExactly(socket, bodyHead, bodyLength);
      socket.write(SWITCHING_TO_H2C);
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
