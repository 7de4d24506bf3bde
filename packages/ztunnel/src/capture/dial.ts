/**
 * Dials an upstream *as someone else*: from a transparent socket bound to the client's address (IP_TRANSPARENT
 * + IP_FREEBIND), carrying ztunnel's mark, so the destination sees the client's IP and the capture rules leave
 * the connection alone. The replies come back to this socket through the `socket transparent` rule.
 *
 * TPROXY has already accepted the client's connection when the upstream is dialled, so an unreachable
 * upstream would otherwise hang on SYN retries (over a minute) while the client believes it is connected:
 * every dial has a deadline.
 */
import { isIP, Socket } from 'node:net';
import { realClock } from '@ambit/mesh-core/lifecycle';
import type { Clock } from '@ambit/mesh-core/lifecycle';
import { closeFd, setMark, SockoptError, transparentSocket } from '@ambit/sockopt';
import { ZTUNNEL_MARK } from './constants.js';
import { CaptureError } from './errors.js';

export interface DialTarget {
  /** An IP address of the same family as the source; names are not resolved here. */
  readonly host: string;
  readonly port: number;
}

export interface DialOptions {
  /** SO_MARK; default 0x539, 0 for none. */
  readonly mark?: number;
  /** Source port; default 0 (the kernel picks one). */
  readonly srcPort?: number;
  /** Connect deadline; default 10 s (ztunnel's). */
  readonly timeoutMs?: number;
  /** Cancels the dial, e.g. when the client went away meanwhile. */
  readonly signal?: AbortSignal;
  /** TCP_NODELAY on the connected socket; default true (a relay should not add Nagle delay). */
  readonly noDelay?: boolean;
  readonly clock?: Clock;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * Resolves with a connected `net.Socket` (allowHalfOpen) whose local address is `src`. Rejects with
 * CAPTURE_ERR_DIAL (`errno` says why: ECONNREFUSED, EHOSTUNREACH, EPERM without CAP_NET_ADMIN…),
 * CAPTURE_ERR_DIAL_TIMEOUT, CAPTURE_ERR_DIAL_ABORTED or CAPTURE_ERR_INVALID_OPTION; the socket is then
 * destroyed and no fd is left behind.
 */
export function dialTransparent(src: string, dst: DialTarget, options: DialOptions = {}): Promise<Socket> {
  const what = `transparent dial from ${src} to ${formatAddress(dst.host, dst.port)}`;
  const family = isIP(src);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let problem: string | undefined;
  if (family === 0) problem = `source ${JSON.stringify(src)} is not an IP address`;
  else if (isIP(dst.host) !== family) problem = `destination ${JSON.stringify(dst.host)} is not an IPv${family} address`;
  else if (!Number.isInteger(dst.port) || dst.port < 1 || dst.port > 65535) problem = `destination port must be 1-65535, got ${String(dst.port)}`;
  else if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) problem = `timeoutMs must be positive, got ${String(timeoutMs)}`;
  else if (options.mark !== undefined && !(Number.isInteger(options.mark) && options.mark >= 0 && options.mark <= 0xffffffff)) {
    problem = `mark must be an integer from 0 to 0xffffffff, got ${String(options.mark)}`;
  }
  if (problem !== undefined) return Promise.reject(new CaptureError('CAPTURE_ERR_INVALID_OPTION', `${what}: ${problem}`));
  if (options.signal?.aborted === true) return Promise.reject(new CaptureError('CAPTURE_ERR_DIAL_ABORTED', `${what} was aborted`));

  let fd: number;
  try {
    fd = transparentSocket(family as 4 | 6, src, options.srcPort ?? 0);
  } catch (err) {
    return Promise.reject(dialError(what, err));
  }
  try {
    const mark = options.mark ?? ZTUNNEL_MARK;
    if (mark !== 0) setMark(fd, mark);
  } catch (err) {
    closeFd(fd);
    return Promise.reject(dialError(what, err));
  }

  const socket = new Socket({ fd, allowHalfOpen: true });
  const clock = options.clock ?? realClock;
  const signal = options.signal;
  return new Promise<Socket>((resolve, reject) => {
    const fail = (err: CaptureError): void => {
      cleanup();
      socket.destroy();
      reject(err);
    };
    const onError = (err: Error): void => fail(dialError(what, err));
    const onAbort = (): void => fail(new CaptureError('CAPTURE_ERR_DIAL_ABORTED', `${what} was aborted`));
    const timer = clock.setTimeout(
      () => fail(new CaptureError('CAPTURE_ERR_DIAL_TIMEOUT', `${what} timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    const cleanup = (): void => {
      timer.cancel();
      socket.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', onError);
    socket.connect({ host: dst.host, port: dst.port }, () => {
      cleanup();
      if (options.noDelay !== false) socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

function dialError(what: string, err: unknown): CaptureError {
  const errno = err instanceof SockoptError ? err.errno : (err as { code?: unknown }).code;
  return new CaptureError('CAPTURE_ERR_DIAL', `${what} failed: ${(err as Error).message}`, {
    cause: err,
    ...(typeof errno === 'string' ? { errno } : {}),
  });
}

function formatAddress(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
