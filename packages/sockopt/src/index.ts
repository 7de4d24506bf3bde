/**
 * Socket options Node's `net` cannot set, for traffic capture:
 *
 * - TPROXY capture: `server.listen({ fd: transparentListener(ip, port, backlog) })`; each accepted socket's
 *   `localAddress:localPort` is the destination the client dialled.
 * - REDIRECT capture: `getOriginalDst(socketFd(socket))`.
 * - Spoofed-source dials: `new net.Socket({ fd: transparentSocket(4, clientIp, 0) }).connect({ host, port })`.
 *   That relies on libuv connecting the fd it was given and keeping its bind, which Node does not document:
 *   test/netns.test.ts guards it.
 * - Loop prevention: `markedSocket(mark)` or `setMark(fd, mark)`.
 *
 * Every fd returned is owned by the caller until it is handed to `net`; close it with `closeFd` otherwise.
 * Setting IP_TRANSPARENT and SO_MARK needs CAP_NET_ADMIN (or CAP_NET_RAW).
 */
import { closeSync } from 'node:fs';
import { isIP } from 'node:net';
import type { Server, Socket } from 'node:net';
import { getSystemErrorMap, getSystemErrorName } from 'node:util';
import { SockoptError } from './errors.js';
import { native } from './native.js';

export { SockoptError } from './errors.js';
export type { SockoptErrorCode } from './errors.js';
export { ADDON_PATH } from './native.js';

export type IpFamily = 4 | 6;

/** A destination rewritten by NAT, as SO_ORIGINAL_DST reports it. */
export interface OriginalDst {
  readonly address: string;
  readonly port: number;
  readonly family: IpFamily;
}

/** Options whose EPERM means a missing capability rather than anything else. */
const PRIVILEGED = new Set(['IP_TRANSPARENT', 'IPV6_TRANSPARENT', 'IP_FREEBIND', 'IPV6_FREEBIND', 'SO_MARK']);

/** Sets IP_TRANSPARENT (IPV6_TRANSPARENT on IPv6 sockets) on a socket. */
export function setTransparent(fd: number): void {
  checkFd(fd);
  try {
    native().setTransparent(fd);
  } catch (err) {
    throw syscallError(err, `fd ${fd}`);
  }
}

/** Reads IP_TRANSPARENT (IPV6_TRANSPARENT on IPv6 sockets). */
export function getTransparent(fd: number): boolean {
  checkFd(fd);
  try {
    return native().getTransparent(fd);
  } catch (err) {
    throw syscallError(err, `fd ${fd}`);
  }
}

/** Sets SO_MARK: every packet the socket sends carries `mark` (a uint32) as its firewall mark. */
export function setMark(fd: number, mark: number): void {
  checkFd(fd);
  checkMark(mark);
  try {
    native().setMark(fd, mark);
  } catch (err) {
    throw syscallError(err, `fd ${fd}`);
  }
}

/** Reads SO_MARK. */
export function getMark(fd: number): number {
  checkFd(fd);
  try {
    return native().getMark(fd);
  } catch (err) {
    throw syscallError(err, `fd ${fd}`);
  }
}

/**
 * The destination a REDIRECT/DNAT rule rewrote for an accepted socket, from conntrack (SO_ORIGINAL_DST).
 * Fails with ENOENT when the connection was not NATed (e.g. TPROXY-ed: use `socket.localAddress` then).
 * IPv6 sockets are asked with IP6T_SO_ORIGINAL_DST.
 */
export function getOriginalDst(fd: number): OriginalDst {
  checkFd(fd);
  try {
    return native().getOriginalDst(fd);
  } catch (err) {
    throw syscallError(err, `fd ${fd}`);
  }
}

/**
 * A TCP socket with IP_TRANSPARENT and IP_FREEBIND, bound to `bindIp:bindPort` (port 0 picks one), which need
 * not be an address of this host: `new net.Socket({ fd }).connect({ host, port })` then dials with that source.
 * Replies reach it only if they are routed to this host and delivered locally: mark them in prerouting with
 * nft `socket transparent 1 meta mark set <m>` and route marks to `local 0.0.0.0/0 dev lo` (`ip rule fwmark <m>`).
 */
export function transparentSocket(family: IpFamily, bindIp: string, bindPort: number): number {
  checkIp(bindIp, family);
  checkPort(bindPort);
  try {
    return native().transparentSocket(bindIp, bindPort);
  } catch (err) {
    throw syscallError(err, formatAddress(bindIp, bindPort));
  }
}

/** Options of `transparentListener`. */
export interface TransparentListenerOptions {
  /**
   * SO_REUSEPORT: several listeners (one per worker thread) bind the same `ip:port` and the kernel spreads
   * new connections across them, those a TPROXY rule steers included. Every listener of the group must set it.
   */
  readonly reusePort?: boolean;
}

/**
 * A listening TCP socket with IP_TRANSPARENT (and SO_REUSEADDR) on `ip:port`, for `server.listen({ fd })`:
 * it accepts connections a TPROXY rule steers to it, whatever their destination.
 */
export function transparentListener(ip: string, port: number, backlog: number, options: TransparentListenerOptions = {}): number {
  checkIp(ip);
  checkPort(port);
  if (!Number.isInteger(backlog) || backlog < 1 || backlog > 65535) {
    throw invalid(`backlog must be an integer from 1 to 65535, got ${String(backlog)}`);
  }
  try {
    return native().transparentListener(ip, port, backlog, options.reusePort === true ? 1 : 0);
  } catch (err) {
    throw syscallError(err, formatAddress(ip, port));
  }
}

/** An unbound TCP socket of `family` carrying SO_MARK `mark`, for `new net.Socket({ fd }).connect(...)`. */
export function markedSocket(mark: number, family: IpFamily = 4): number {
  checkMark(mark);
  if (family !== 4 && family !== 6) throw invalid(`family must be 4 or 6, got ${String(family)}`);
  try {
    return native().markedSocket(mark, family);
  } catch (err) {
    throw syscallError(err, `mark 0x${mark.toString(16)}`);
  }
}

/**
 * The file descriptor under a connected `net.Socket` or a listening `net.Server` (from libuv's handle, which
 * Node does not document), for the getters and setters above.
 */
export function socketFd(target: Socket | Server): number {
  const handle = (target as unknown as { _handle?: { fd?: unknown } | null })._handle;
  const fd = handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw invalid('the socket has no file descriptor: it is not connected or listening yet, or already closed');
  }
  return fd;
}

/** Closes an fd from this package that was never handed to `net` (which would otherwise own and close it). */
export function closeFd(fd: number): void {
  checkFd(fd);
  try {
    closeSync(fd);
  } catch (err) {
    throw new SockoptError('SOCKOPT_ERR_SYSCALL', `close fd ${fd} failed: ${(err as Error).message}`, {
      errno: (err as { code?: string }).code ?? 'EIO',
      syscall: 'close',
      cause: err,
    });
  }
}

function checkFd(fd: number): void {
  if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) throw invalid(`not a file descriptor: ${String(fd)}`);
}

function checkMark(mark: number): void {
  if (!Number.isInteger(mark) || mark < 0 || mark > 0xffffffff) {
    throw invalid(`a mark is an integer from 0 to 0xffffffff, got ${String(mark)}`);
  }
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw invalid(`a port is an integer from 0 to 65535, got ${String(port)}`);
  }
}

function checkIp(ip: string, family?: IpFamily): void {
  const found = isIP(ip);
  if (found === 0) throw invalid(`not an IP address: ${JSON.stringify(ip)}`);
  if (family !== undefined && found !== family) {
    throw invalid(`${ip} is an IPv${found} address but family ${String(family)} was asked for`);
  }
}

function formatAddress(ip: string, port: number): string {
  return isIP(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function invalid(reason: string): SockoptError {
  return new SockoptError('SOCKOPT_ERR_INVALID_ARGUMENT', reason);
}

/** Turns the addon's `{ errno, syscall }` Error into a SockoptError whose message names the errno. */
function syscallError(err: unknown, subject: string): SockoptError {
  if (err instanceof SockoptError) return err;
  const { errno, syscall } = err as { errno?: unknown; syscall?: unknown };
  if (typeof errno !== 'number' || typeof syscall !== 'string') {
    return new SockoptError('SOCKOPT_ERR_INVALID_ARGUMENT', (err as Error).message, { cause: err });
  }
  const name = getSystemErrorName(-errno);
  const text = getSystemErrorMap().get(-errno)?.[1] ?? 'unknown error';
  const option = /\((\w+)\)/.exec(syscall)?.[1];
  let reason: string;
  if ((name === 'EPERM' || name === 'EACCES') && option !== undefined && PRIVILEGED.has(option)) {
    reason = `${option} needs CAP_NET_ADMIN (${name})`;
  } else if (option === 'SO_ORIGINAL_DST' && name === 'ENOENT') {
    reason = `SO_ORIGINAL_DST on ${subject}: the connection was not redirected by NAT, so conntrack has no original destination (ENOENT)`;
  } else {
    reason = `${syscall} on ${subject} failed: ${text} (${name})`;
  }
  return new SockoptError('SOCKOPT_ERR_SYSCALL', reason, { errno: name, syscall, cause: err });
}
