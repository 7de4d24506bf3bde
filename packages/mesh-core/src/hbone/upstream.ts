import { connect, type Socket } from 'node:net';
import { HboneError } from './errors.js';
import type { HostPort } from './headers.js';
import { TCP_KEEPALIVE_DELAY_MS } from './settings.js';

/**
 * Opens the plain TCP connection a tunnel is relayed to: half-open allowed (a FIN from the client must
 * not close the reply direction), Nagle off, TCP keepalive on. Rejects with HBONE_ERR_CONNECT on refusal
 * or when the connection is not up within `timeoutMs` (an unreachable address otherwise hangs on SYN
 * retries for minutes).
 */
export function connectTcp(target: HostPort, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: target.host,
      port: target.port,
      allowHalfOpen: true,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: TCP_KEEPALIVE_DELAY_MS,
      timeout: timeoutMs,
    });
    const onError = (err: Error): void => {
      socket.destroy();
      reject(new HboneError('HBONE_ERR_CONNECT', `cannot connect to ${target.host}:${target.port}: ${err.message}`, { cause: err }));
    };
    const onTimeout = (): void => {
      onError(new Error(`no connection within ${timeoutMs} ms`));
    };
    socket.once('error', onError);
    socket.once('timeout', onTimeout);
    socket.once('connect', () => {
      socket.off('error', onError);
      socket.off('timeout', onTimeout);
      socket.setTimeout(0);
      resolve(socket);
    });
  });
}
