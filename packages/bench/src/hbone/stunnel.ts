/**
 * The `c-tunnel` bar: a pair of stunnel processes (client mode and server mode) doing mutual TLS 1.3 with
 * AES-GCM and certificates from our CA. stunnel is told to bind port 0 and does not say which port it got,
 * so the port is read from the kernel's socket table for its pid.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Child, LineWaiter, raceChild } from '../lib/child.js';
import type { Cleanup } from '../lib/cleanup.js';
import { BenchError } from '../lib/errors.js';
import { listeningPorts } from '../lib/proc-stats.js';
import type { Address } from '../lib/address.js';
import type { PemFiles } from '../proxies/config.js';

export interface StunnelSide {
  readonly mode: 'client' | 'server';
  readonly listenHost: string;
  readonly upstream: Address;
  readonly tls: PemFiles;
}

/** The stunnel configuration for one side (stunnel.conf(5) syntax). */
export function stunnelConfig(side: StunnelSide, pidFile: string): string {
  return [
    'foreground = yes',
    `pid = ${pidFile}`,
    // Notice level: the "Configuration successful" line tells us it is up; per-connection lines are few.
    'debug = 5',
    '',
    '[bench]',
    `client = ${side.mode === 'client' ? 'yes' : 'no'}`,
    `accept = ${side.listenHost}:0`,
    `connect = ${side.upstream.host}:${side.upstream.port}`,
    'sslVersion = TLSv1.3',
    'ciphersuites = TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384',
    // Both sides present a certificate and verify the peer's chain up to our root.
    'verifyChain = yes',
    `CAfile = ${side.tls.caFile}`,
    `cert = ${side.tls.certFile}`,
    `key = ${side.tls.keyFile}`,
    // Same latency treatment as the Node paths, on both the accepting and the connecting socket.
    'socket = l:TCP_NODELAY=1',
    'socket = r:TCP_NODELAY=1',
    '',
  ].join('\n');
}

export interface Stunnel {
  readonly child: Child;
  readonly port: number;
}

/** Writes the config into `dir`, starts stunnel on it and resolves once it listens. */
export async function startStunnel(
  binary: string,
  side: StunnelSide,
  dir: string,
  options: { cleanup: Cleanup; signal?: AbortSignal | undefined; timeoutMs?: number },
): Promise<Stunnel> {
  const name = `stunnel-${side.mode}`;
  const configFile = path.join(dir, `${name}.conf`);
  await writeFile(configFile, stunnelConfig(side, path.join(dir, `${name}.pid`)));
  const waiter = new LineWaiter((line) => (line.includes('Configuration successful') ? true : undefined));
  // In the foreground stunnel logs to stderr.
  const child = await Child.start(name, binary, [configFile], { cleanup: options.cleanup, onStderrLine: waiter.onLine });
  const timeoutMs = options.timeoutMs ?? 15_000;
  const port = await raceChild(child, timeoutMs, options.signal, `${name} did not start`, async () => {
    await waiter.value;
    // "Configuration successful" is printed just before the listening socket is bound: poll briefly.
    for (let i = 0; i < 200; i++) {
      const ports = await listeningPorts(child.pid);
      if (ports.length === 1) return ports[0]!;
      if (ports.length > 1) throw new BenchError('BENCH_ERR_CHILD', `${name} listens on several ports: ${ports.join(', ')}`);
      await sleep(10);
    }
    throw new BenchError('BENCH_ERR_CHILD', `${name} reported success but is not listening; ${child.describeExit()}`);
  });
  return { child, port };
}
