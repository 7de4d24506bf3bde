/**
 * Control planes that never answer: a TCP listener that accepts and says nothing, and the real control
 * plane process stopped with SIGSTOP (the kernel still accepts connections; nothing answers). The client
 * must wait or back off, never spin: connection attempts are counted over a few seconds against generous
 * bounds (what a busy loop would exceed by orders of magnitude), not timed.
 */
import net from 'node:net';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { createRootCa } from '@ambit/mesh-core/identity';
import { kill, startCli } from './support/cli.js';
import { MeshDir, podYaml } from './support/mesh-dir.js';
import { ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL, recordingClient } from './support/recording-client.js';

const OBSERVE_MS = 3_000;

test('a listener that accepts and never answers: a handful of attempts in seconds, none completed', async (t) => {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const silent = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const port = (silent.address() as net.AddressInfo).port;
  // A root the client trusts; the handshake never gets as far as checking it.
  const root = await createRootCa('cluster.local', 3_600_000);
  const c = recordingClient(t, `127.0.0.1:${port}`, root.certPem);
  await sleep(OBSERVE_MS);
  const attempts = c.client.status().connectionAttempts;
  t.log(`${attempts} attempts, ${accepted} TCP connections in ${OBSERVE_MS} ms`);
  t.true(attempts >= 1 && attempts <= 10, `${attempts} attempts`);
  t.true(accepted >= 1 && accepted <= 10, `${accepted} connections`);
  t.false(c.client.connected);
  t.is(c.addresses.batches.length, 0);
  t.deepEqual(c.acks, []);
});

test('the control plane process stopped (SIGSTOP): a connected client waits without reconnecting, a new one barely retries, both sync after SIGCONT', async (t) => {
  const dir = await MeshDir.create(t);
  await dir.copyExample();
  const stateDir = path.join(dir.root, 'state');
  const run = startCli(t, ['--config', dir.config, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', stateDir]);
  const { grpc: address } = await run.serving();
  const rootPem = await readFile(path.join(stateDir, 'root-cert.pem'), 'utf8');
  const first = recordingClient(t, address, rootPem);
  const synced = (c: typeof first): boolean => c.acks.some((a) => a.typeUrl === ADDRESS_TYPE_URL) && c.acks.some((a) => a.typeUrl === AUTHORIZATION_TYPE_URL);
  await first.until(() => synced(first), 'first client synced');
  let disconnects = 0;
  first.client.on('disconnected', () => disconnects++);

  run.child.kill('SIGSTOP');
  t.teardown(() => run.child.kill('SIGCONT'));
  const second = recordingClient(t, address, rootPem);
  await dir.write('late.yaml', podYaml('late', 'demo', '10.244.1.70'));
  await sleep(OBSERVE_MS);
  t.is(first.client.status().connectionAttempts, 1, 'the open stream is kept: no response timeout');
  t.is(disconnects, 0);
  const secondAttempts = second.client.status().connectionAttempts;
  t.log(`new client: ${secondAttempts} attempts in ${OBSERVE_MS} ms against the stopped process`);
  t.true(secondAttempts >= 1 && secondAttempts <= 10, `${secondAttempts} attempts`);
  t.false(synced(second));

  run.child.kill('SIGCONT');
  await second.until(() => synced(second), 'second client synced after SIGCONT', 30_000);
  await first.until(() => first.addresses.state.has('Kubernetes//Pod/demo/late'), 'the change made while stopped', 30_000);
  await second.until(() => second.addresses.state.has('Kubernetes//Pod/demo/late'), 'the change at the second client');
  t.is(first.client.status().connectionAttempts, 1);
  await kill(run, 'SIGKILL');
});

test('nothing listening (connections refused): attempts back off, a dozen or so in seconds rather than thousands', async (t) => {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  const root = await createRootCa('cluster.local', 3_600_000);
  const c = recordingClient(t, `127.0.0.1:${port}`, root.certPem);
  const delays: number[] = [];
  c.client.on('disconnected', (e) => delays.push(e.retryInMs));
  await sleep(OBSERVE_MS);
  const attempts = c.client.status().connectionAttempts;
  t.log(`${attempts} attempts in ${OBSERVE_MS} ms; delays ${delays.join(', ')} ms`);
  // 10 ms doubling with full jitter: about a dozen attempts in three seconds; a busy loop makes thousands.
  t.true(attempts >= 3 && attempts <= 30, `${attempts} attempts`);
  t.is(c.client.status().lastError?.startsWith('UNAVAILABLE'), true);
});
