/**
 * Starts a proxy as its own Node process (one per side, each with its own event loop, as deployed), and
 * waits for it to report the port it bound.
 */
import path from 'node:path';
import { Child, raceChild } from '../lib/child.js';
import type { Cleanup } from '../lib/cleanup.js';
import { isReadyMessage } from './config.js';
import type { ProxyConfig } from './config.js';

const PROXY_MAIN = path.join(import.meta.dirname, 'proxy-main.js');

export interface NodeProxy {
  readonly child: Child;
  readonly port: number;
}

export async function startNodeProxy(
  name: string,
  config: ProxyConfig,
  options: { cleanup: Cleanup; signal?: AbortSignal | undefined; timeoutMs?: number },
): Promise<NodeProxy> {
  const child = await Child.start(name, process.execPath, [PROXY_MAIN, JSON.stringify(config)], {
    cleanup: options.cleanup,
    ipc: true,
  });
  const ready = new Promise<number>((resolve) => {
    const onMessage = (m: unknown): void => {
      if (!isReadyMessage(m)) return;
      child.process.off('message', onMessage);
      resolve(m.port);
    };
    child.process.on('message', onMessage);
  });
  const port = await raceChild(child, options.timeoutMs ?? 30_000, options.signal, `${name} did not report ready`, () => ready);
  return { child, port };
}
