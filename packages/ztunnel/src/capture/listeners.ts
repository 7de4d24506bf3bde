/**
 * The three listeners TPROXY delivers captured connections to. Each is a transparent socket (IP_TRANSPARENT:
 * it may accept connections addressed to any IP) on 127.0.0.1, carrying ztunnel's mark, handed to an ordinary
 * `net.Server` (or a `tls.Server` / `http2` server, which are net.Servers too) through `listen({ fd })`.
 *
 * An accepted socket's `localAddress:localPort` is the destination the client dialled and `remoteAddress` the
 * client itself. Accepted sockets inherit the listener's mark, so their packets are ztunnel's own.
 */
import { once } from 'node:events';
import type { AddressInfo, Server, Socket } from 'node:net';
import { closeFd, setMark, SockoptError, transparentListener } from '@ambit/sockopt';
import { CAPTURE_HOST, DEFAULT_CAPTURE_PORTS, ZTUNNEL_MARK } from './constants.js';
import type { CapturePorts } from './constants.js';
import { CaptureError } from './errors.js';

export interface TransparentListenOptions {
  /** Default 127.0.0.1, where the capture rules send connections. */
  readonly host?: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  /** SO_MARK of the listener and every socket it accepts; default 0x539, 0 for none. */
  readonly mark?: number;
  /** Default 511, Node's own default. */
  readonly backlog?: number;
  /** SO_REUSEPORT, so that each worker thread listens on the same port (docs/ztunnel.md, "More cores"). */
  readonly reusePort?: boolean;
}

const DEFAULT_BACKLOG = 511;

/**
 * Has `server` listen on a new transparent, marked socket. Rejects with CAPTURE_ERR_LISTEN (with `errno`,
 * e.g. EADDRINUSE, or EPERM without CAP_NET_ADMIN) and leaves no socket behind.
 */
export async function listenTransparent(server: Server, options: TransparentListenOptions): Promise<AddressInfo> {
  const host = options.host ?? CAPTURE_HOST;
  const where = `${host}:${options.port}`;
  let fd: number;
  try {
    fd = transparentListener(host, options.port, options.backlog ?? DEFAULT_BACKLOG, { reusePort: options.reusePort === true });
  } catch (err) {
    throw listenError(where, err);
  }
  try {
    const mark = options.mark ?? ZTUNNEL_MARK;
    if (mark !== 0) setMark(fd, mark);
  } catch (err) {
    closeFd(fd);
    throw listenError(where, err);
  }
  try {
    const listening = once(server, 'listening');
    server.listen({ fd });
    await listening;
  } catch (err) {
    // listen({ fd }) failed before the server took the fd over.
    try {
      closeFd(fd);
    } catch {
      // The server had already closed it.
    }
    throw listenError(where, err);
  }
  return server.address() as AddressInfo;
}

/** The servers the data path supplies, one per capture listener. */
export interface CaptureServers {
  readonly outbound: Server;
  readonly inboundPlain: Server;
  readonly inboundHbone: Server;
}

export interface CaptureListenersOptions {
  readonly host?: string;
  /** Must match the CaptureManager's ports. Default 15001 / 15006 / 15008. */
  readonly ports?: Partial<CapturePorts>;
  readonly mark?: number;
  readonly backlog?: number;
  /** Each listener joins a SO_REUSEPORT group (one listener per worker thread on each port). */
  readonly reusePort?: boolean;
}

type ListenerName = keyof CaptureServers;
const NAMES: readonly ListenerName[] = ['outbound', 'inboundPlain', 'inboundHbone'];

/** The three capture listeners, opened and closed together. */
export class CaptureListeners {
  readonly servers: CaptureServers;
  readonly #addresses: Readonly<Record<ListenerName, AddressInfo>>;
  readonly #sockets: Set<Socket>;
  #closing: Promise<void> | undefined;

  private constructor(servers: CaptureServers, addresses: Record<ListenerName, AddressInfo>, sockets: Set<Socket>) {
    this.servers = servers;
    this.#addresses = Object.freeze(addresses);
    this.#sockets = sockets;
  }

  /**
   * Listens all three servers; if one fails (CAPTURE_ERR_LISTEN, naming it), the ones already listening are
   * closed again before the promise rejects.
   */
  static async open(servers: CaptureServers, options: CaptureListenersOptions = {}): Promise<CaptureListeners> {
    const ports = { ...DEFAULT_CAPTURE_PORTS, ...options.ports };
    const addresses: Partial<Record<ListenerName, AddressInfo>> = {};
    const opened: Server[] = [];
    // Tracked from before the first listen, so destroy() also reaches connections accepted while the other
    // listeners were still being opened.
    const sockets = new Set<Socket>();
    // One listener for every socket (`this` is the socket that closed): a closure per connection, wrapped
    // by once(), would cost each of thousands of idle connections a few hundred bytes.
    const untrack = function (this: Socket): void {
      sockets.delete(this);
    };
    const track = (socket: Socket): void => {
      sockets.add(socket);
      socket.on('close', untrack);
    };
    for (const name of NAMES) servers[name].on('connection', track);
    try {
      for (const name of NAMES) {
        addresses[name] = await listenTransparent(servers[name], {
          port: ports[name],
          ...(options.host === undefined ? {} : { host: options.host }),
          ...(options.mark === undefined ? {} : { mark: options.mark }),
          ...(options.backlog === undefined ? {} : { backlog: options.backlog }),
          ...(options.reusePort === undefined ? {} : { reusePort: options.reusePort }),
        });
        opened.push(servers[name]);
      }
    } catch (err) {
      for (const name of NAMES) servers[name].off('connection', track);
      // Anything accepted meanwhile would hold close() open; nobody has handled it yet.
      for (const socket of sockets) socket.destroy();
      await Promise.all(opened.map((s) => new Promise((resolve) => s.close(resolve))));
      if (err instanceof CaptureError) {
        const failed = NAMES[opened.length] ?? 'listener';
        throw new CaptureError('CAPTURE_ERR_LISTEN', `${failed} capture listener: ${err.reason}`, {
          cause: err,
          ...(err.errno === undefined ? {} : { errno: err.errno }),
        });
      }
      throw err;
    }
    return new CaptureListeners(servers, addresses as Record<ListenerName, AddressInfo>, sockets);
  }

  /** Where each listener is bound (the chosen port when 0 was asked for). */
  addresses(): Readonly<Record<ListenerName, AddressInfo>> {
    return this.#addresses;
  }

  /** Accepted connections not yet closed. */
  get connections(): number {
    return this.#sockets.size;
  }

  /** Stops accepting; resolves once every accepted connection has ended. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= Promise.all(NAMES.map((name) => closeServer(this.servers[name]))).then(() => undefined);
    return this.#closing;
  }

  /** Stops accepting and destroys every accepted connection now (a pending close() then resolves). */
  destroy(): void {
    void this.close();
    for (const socket of this.#sockets) socket.destroy();
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
  });
}

function listenError(where: string, err: unknown): CaptureError {
  const errno = err instanceof SockoptError ? err.errno : (err as { code?: unknown }).code;
  return new CaptureError('CAPTURE_ERR_LISTEN', `cannot listen on ${where}: ${(err as Error).message}`, {
    cause: err,
    ...(typeof errno === 'string' ? { errno } : {}),
  });
}
