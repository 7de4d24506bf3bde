/**
 * The `c-tunnel` path: a pair of stunnel processes placed where the ztunnels are, one in each node's network
 * namespace, carrying the same pod-to-pod traffic in mutual TLS 1.3 (AES-GCM, our CA's certificates):
 *
 *   client pod ──▶ node-a: nft DNAT (pod→server:port becomes → node-a:<stunnel port>) ──▶ stunnel client
 *     ══ TLS over the fabric ══▶ node-b: stunnel server ──▶ server pod:port
 *
 * The client still dials the server pod's address and port, as in the other cases: a DNAT rule in node-a's
 * namespace steers it into the local stunnel (as TPROXY steers it into the local ztunnel), so the pods, the
 * commands and the number of hops are the same. What differs, and favours stunnel slightly: the server sees
 * node-b's address, not the client's (ztunnel preserves it with a transparent socket), and connection
 * tracking does the steering instead of TPROXY.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LocalMesh } from '@ambit/local-mesh';
import { Child, LineWaiter, raceChild } from '../lib/child.js';
import type { Cleanup } from '../lib/cleanup.js';
import { BenchError } from '../lib/errors.js';
import { listeningPorts } from '../lib/proc-stats.js';
import type { BenchCertificates } from '../hbone/certs.js';
import type { PemFiles } from '../proxies/config.js';
import { CLIENT_IP, SERVER_IP, launcher } from './bench-mesh.js';

/** Ports of the tunnel pair, per carried server port: node-a's listener and node-b's listener. */
const TUNNEL_PORT_BASE = { client: 16000, server: 17000 } as const;
const STEER_TABLE = 'ambit-bench-steer';

export interface CTunnel {
  /** The two stunnel processes, node-a's first. */
  readonly proxies: readonly Child[];
  /** Connections node-a's stunnel has accepted so far (its log): proof that the steering works. */
  accepted(): number;
  /** Undoes the steering and stops both (also registered with the run's cleanup). */
  stop(): Promise<void>;
}

interface Service {
  readonly name: string;
  readonly accept: string;
  readonly connect: string;
}

/** One stunnel.conf(5): TLS 1.3, AES-GCM, verified chains both ways, TCP_NODELAY on both sockets. */
export function tunnelConfig(mode: 'client' | 'server', services: readonly Service[], tls: PemFiles, pidFile: string): string {
  const lines = ['foreground = yes', `pid = ${pidFile}`, 'debug = 5', ''];
  for (const s of services) {
    lines.push(
      `[${s.name}]`,
      `client = ${mode === 'client' ? 'yes' : 'no'}`,
      `accept = ${s.accept}`,
      `connect = ${s.connect}`,
      'sslVersion = TLSv1.3',
      'ciphersuites = TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384',
      'verifyChain = yes',
      `CAfile = ${tls.caFile}`,
      `cert = ${tls.certFile}`,
      `key = ${tls.keyFile}`,
      'socket = l:TCP_NODELAY=1',
      'socket = r:TCP_NODELAY=1',
      '',
    );
  }
  return lines.join('\n');
}

/** The nft script that steers the client pod's connections to `ports` of the server pod into node-a's stunnel. */
export function steeringRules(nodeIp: string, ports: readonly number[]): string {
  const rules = ports.map((p, i) => `    ip saddr ${CLIENT_IP} ip daddr ${SERVER_IP} tcp dport ${p} dnat to ${nodeIp}:${TUNNEL_PORT_BASE.client + i}`);
  return [`table ip ${STEER_TABLE} {`, '  chain prerouting {', '    type nat hook prerouting priority dstnat; policy accept;', ...rules, '  }', '}', ''].join('\n');
}

export interface CTunnelOptions {
  readonly mesh: LocalMesh;
  readonly certs: BenchCertificates;
  readonly stunnel: string;
  /** Server-pod ports to carry. */
  readonly ports: readonly number[];
  readonly tmpDir: string;
  readonly cleanup: Cleanup;
  readonly signal: AbortSignal;
}

export async function startCTunnel(options: CTunnelOptions): Promise<CTunnel> {
  const { mesh, ports } = options;
  const nodeA = mesh.nodeIp('node-a');
  const nodeB = mesh.nodeIp('node-b');
  let accepted = 0;
  const server = await startStunnel(options, 'node-b', 'server', ports.map((p, i) => ({ name: `p${p}`, accept: `${nodeB}:${TUNNEL_PORT_BASE.server + i}`, connect: `${SERVER_IP}:${p}` })), () => undefined);
  const client = await startStunnel(options, 'node-a', 'client', ports.map((p, i) => ({ name: `p${p}`, accept: `${nodeA}:${TUNNEL_PORT_BASE.client + i}`, connect: `${nodeB}:${TUNNEL_PORT_BASE.server + i}` })), () => accepted++);
  await mesh.exec('node-a', 'nft', ['-f', '-'], { input: steeringRules(nodeA, ports) });
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (!mesh.cluster.destroyed) await mesh.exec('node-a', 'nft', ['delete', 'table', 'ip', STEER_TABLE]).catch(() => undefined);
    await Promise.all([client.stop(), server.stop()]);
  };
  options.cleanup.defer(stop);
  return { proxies: [client, server], accepted: () => accepted, stop };
}

async function startStunnel(options: CTunnelOptions, node: string, mode: 'client' | 'server', services: readonly Service[], onAccept: () => void): Promise<Child> {
  const name = `stunnel-${mode}-${node}`;
  const config = path.join(options.tmpDir, `${name}.conf`);
  await writeFile(config, tunnelConfig(mode, services, mode === 'client' ? options.certs.client : options.certs.server, path.join(options.tmpDir, `${name}.pid`)));
  const waiter = new LineWaiter((line) => (line.includes('Configuration successful') ? true : undefined));
  // `ip netns exec` execs stunnel: the pid is stunnel's, for CPU and memory.
  const [ip, ...args] = launcher(options.mesh, node);
  const onLine = (line: string): void => {
    waiter.onLine(line);
    // Notice level: "Service [p5201] accepted connection from …", one per connection.
    if (line.includes('accepted connection from')) onAccept();
  };
  const child = await Child.start(name, ip!, [...args, options.stunnel, config], { cleanup: options.cleanup, onStderrLine: onLine });
  await raceChild(child, 15_000, options.signal, `${name} did not start`, async () => {
    await waiter.value;
    for (let i = 0; i < 200; i++) {
      if ((await listeningPorts(child.pid)).length === services.length) return;
      await sleep(10);
    }
    throw new BenchError('BENCH_ERR_CHILD', `${name} reported success but does not listen on ${services.length} port(s); ${child.describeExit()}`);
  });
  return child;
}
