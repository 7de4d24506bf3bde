import test from 'ava';
import { execFile } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import net from 'node:net';
import { once } from 'node:events';
import { promisify } from 'node:util';
import {
  SockoptError,
  closeFd,
  getMark,
  getOriginalDst,
  getTransparent,
  markedSocket,
  setMark,
  setTransparent,
  socketFd,
  transparentListener,
  transparentSocket,
} from '../src/index.js';
import { rootTest } from './helpers/root.js';

const INDEX_JS = new URL('../src/index.js', import.meta.url).href;

/** A loopback server that answers each connection with the peer address it saw, closed at teardown. */
async function reportServer(t: { teardown(fn: () => void): void }, options: net.ListenOptions): Promise<net.Server> {
  const server = net.createServer((c) => {
    c.on('error', () => c.destroy()); // a client that resets is not this server's failure
    c.end(`${String(c.remoteAddress)}\n`);
  });
  t.teardown(() => server.close());
  server.listen(options);
  await once(server, 'listening');
  return server;
}

async function readAll(socket: net.Socket): Promise<string> {
  let text = '';
  socket.setEncoding('utf8').on('data', (d: string) => (text += d));
  await once(socket, 'end');
  return text;
}

rootTest('markedSocket sets SO_MARK and setMark changes it', (t) => {
  const fd = markedSocket(0x539);
  t.teardown(() => closeFd(fd));
  t.is(getMark(fd), 0x539);
  setMark(fd, 0xffffffff);
  t.is(getMark(fd), 0xffffffff);
  setMark(fd, 0);
  t.is(getMark(fd), 0);
});

rootTest('setTransparent turns IP_TRANSPARENT on for a socket Node created', async (t) => {
  const server = await reportServer(t, { host: '127.0.0.1', port: 0 });
  const fd = socketFd(server);
  t.false(getTransparent(fd));
  setTransparent(fd);
  t.true(getTransparent(fd));
});

rootTest('setTransparent uses IPV6_TRANSPARENT on an IPv6 socket', (t) => {
  const fd = markedSocket(0, 6);
  t.teardown(() => closeFd(fd));
  t.false(getTransparent(fd));
  setTransparent(fd);
  t.true(getTransparent(fd));
});

rootTest('transparentListener serves through server.listen({ fd }) and accepted sockets inherit IP_TRANSPARENT', async (t) => {
  const accepted: boolean[] = [];
  const server = net.createServer((c) => {
    accepted.push(getTransparent(socketFd(c)));
    c.end('hi\n');
  });
  t.teardown(() => server.close());
  const fd = transparentListener('127.0.0.1', 0, 16);
  t.true(getTransparent(fd));
  server.listen({ fd });
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const client = net.connect({ host: '127.0.0.1', port });
  t.is(await readAll(client), 'hi\n');
  t.deepEqual(accepted, [true]);
});

rootTest('reusePort lets two transparent listeners share a port and the kernel spreads connections over both', async (t) => {
  const first = transparentListener('127.0.0.1', 0, 64, { reusePort: true });
  const servers = [net.createServer((c) => c.end('a')), net.createServer((c) => c.end('b'))];
  t.teardown(() => {
    for (const s of servers) s.close();
  });
  servers[0]!.listen({ fd: first });
  await once(servers[0]!, 'listening');
  const { port } = servers[0]!.address() as net.AddressInfo;
  servers[1]!.listen({ fd: transparentListener('127.0.0.1', port, 64, { reusePort: true }) });
  await once(servers[1]!, 'listening');
  // The group's choice hashes the client's address and port: 64 connections from different ports reach
  // both listeners unless the kernel ignored SO_REUSEPORT (then the second bind would have failed anyway).
  const seen = new Set<string>();
  for (let i = 0; i < 64 && seen.size < 2; i++) seen.add(await readAll(net.connect({ host: '127.0.0.1', port })));
  t.deepEqual([...seen].sort(), ['a', 'b']);
  // A listener without the option cannot join the group.
  const err = t.throws(() => transparentListener('127.0.0.1', port, 16), { instanceOf: SockoptError });
  t.is(err?.errno, 'EADDRINUSE');
});

rootTest('a transparentSocket keeps its bind when net.Socket connects it', async (t) => {
  const server = await reportServer(t, { host: '127.0.0.1', port: 0 });
  const { port } = server.address() as net.AddressInfo;
  const fd = transparentSocket(4, '127.0.0.9', 0);
  t.true(getTransparent(fd));
  const socket = new net.Socket({ fd });
  socket.connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  t.is(socket.localAddress, '127.0.0.9');
  t.is(await readAll(socket), '127.0.0.9\n');
});

rootTest('a markedSocket connects through net.Socket and keeps its mark', async (t) => {
  const server = await reportServer(t, { host: '127.0.0.1', port: 0 });
  const { port } = server.address() as net.AddressInfo;
  const socket = new net.Socket({ fd: markedSocket(0x539) });
  socket.connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  t.is(getMark(socketFd(socket)), 0x539);
  t.is(await readAll(socket), '127.0.0.1\n');
});

rootTest('getOriginalDst of a connection no rule redirected fails with ENOENT', async (t) => {
  const server = await reportServer(t, { host: '127.0.0.1', port: 0 });
  const { port } = server.address() as net.AddressInfo;
  const client = net.connect({ host: '127.0.0.1', port });
  t.teardown(() => client.destroy());
  await once(client, 'connect');
  const err = t.throws(() => getOriginalDst(socketFd(client)), { instanceOf: SockoptError });
  t.is(err?.code, 'SOCKOPT_ERR_SYSCALL');
  t.is(err?.errno, 'ENOENT');
  t.regex(err?.message ?? '', /^SO_ORIGINAL_DST on fd \d+: the connection was not redirected by NAT/);
});

test('a bad fd fails with EBADF and says which call failed', (t) => {
  const err = t.throws(() => setMark(999_999, 1), { instanceOf: SockoptError });
  t.is(err?.code, 'SOCKOPT_ERR_SYSCALL');
  t.is(err?.errno, 'EBADF');
  t.is(err?.syscall, 'setsockopt(SO_MARK)');
  t.is(err?.message, 'setsockopt(SO_MARK) on fd 999999 failed: bad file descriptor (EBADF)');
  t.is(t.throws(() => getTransparent(999_999))?.message, 'getsockopt(SO_DOMAIN) on fd 999999 failed: bad file descriptor (EBADF)');
});

test('a file that is not a socket fails with ENOTSOCK', (t) => {
  const fd = openSync('/dev/null', 'r');
  t.teardown(() => closeSync(fd));
  const err = t.throws(() => getMark(fd), { instanceOf: SockoptError });
  t.is(err?.errno, 'ENOTSOCK');
  t.is(err?.message, `getsockopt(SO_MARK) on fd ${fd} failed: socket operation on non-socket (ENOTSOCK)`);
});

rootTest('a port in use fails with EADDRINUSE naming the address', async (t) => {
  const server = await reportServer(t, { host: '127.0.0.1', port: 0 });
  const { port } = server.address() as net.AddressInfo;
  const err = t.throws(() => transparentListener('127.0.0.1', port, 16), { instanceOf: SockoptError });
  t.is(err?.errno, 'EADDRINUSE');
  t.is(err?.message, `bind on 127.0.0.1:${port} failed: address already in use (EADDRINUSE)`);
});

rootTest('without CAP_NET_ADMIN and CAP_NET_RAW, IP_TRANSPARENT and SO_MARK fail with EPERM', async (t) => {
  const script = `
    const m = await import(${JSON.stringify(INDEX_JS)});
    const out = [];
    for (const f of [() => m.transparentListener('127.0.0.1', 0, 1), () => m.markedSocket(1), () => m.transparentSocket(4, '127.0.0.1', 0)]) {
      try { f(); out.push('no error'); } catch (e) { out.push([e.code, e.errno, e.message]); }
    }
    process.stdout.write(JSON.stringify(out));`;
  const { stdout } = await promisify(execFile)('setpriv', [
    '--bounding-set=-net_admin,-net_raw',
    '--inh-caps=-net_admin,-net_raw',
    process.execPath,
    '--input-type=module',
    '-e',
    script,
  ]);
  t.deepEqual(JSON.parse(stdout), [
    ['SOCKOPT_ERR_SYSCALL', 'EPERM', 'IP_TRANSPARENT needs CAP_NET_ADMIN (EPERM)'],
    ['SOCKOPT_ERR_SYSCALL', 'EPERM', 'SO_MARK needs CAP_NET_ADMIN (EPERM)'],
    ['SOCKOPT_ERR_SYSCALL', 'EPERM', 'IP_TRANSPARENT needs CAP_NET_ADMIN (EPERM)'],
  ]);
});

test('arguments are checked before any syscall', (t) => {
  const cases: [() => unknown, string][] = [
    [() => setTransparent(-1), 'not a file descriptor: -1'],
    [() => getMark(1.5), 'not a file descriptor: 1.5'],
    [() => setMark(0, -1), 'a mark is an integer from 0 to 0xffffffff, got -1'],
    [() => markedSocket(2 ** 32), 'a mark is an integer from 0 to 0xffffffff, got 4294967296'],
    [() => markedSocket(1, 5 as 4), 'family must be 4 or 6, got 5'],
    [() => transparentSocket(4, 'pod-a', 0), 'not an IP address: "pod-a"'],
    [() => transparentSocket(6, '10.0.0.1', 0), '10.0.0.1 is an IPv4 address but family 6 was asked for'],
    [() => transparentSocket(4, '10.0.0.1', 70_000), 'a port is an integer from 0 to 65535, got 70000'],
    [() => transparentListener('127.0.0.1', 0, 0), 'backlog must be an integer from 1 to 65535, got 0'],
  ];
  for (const [call, message] of cases) {
    const err = t.throws(call, { instanceOf: SockoptError });
    t.is(err?.code, 'SOCKOPT_ERR_INVALID_ARGUMENT');
    t.is(err?.message, message);
    t.is(err?.errno, undefined);
  }
});

test('socketFd of a socket that is not connected yet is a clear error', (t) => {
  const err = t.throws(() => socketFd(new net.Socket()), { instanceOf: SockoptError });
  t.is(err?.code, 'SOCKOPT_ERR_INVALID_ARGUMENT');
  t.regex(err?.message ?? '', /no file descriptor/);
});

test('closeFd of an fd that is not open fails with EBADF', (t) => {
  const err = t.throws(() => closeFd(999_998), { instanceOf: SockoptError });
  t.is(err?.errno, 'EBADF');
  t.is(err?.syscall, 'close');
});
