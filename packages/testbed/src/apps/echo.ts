/**
 * The test app run inside pods and nodes. Dependency-free; speaks JSON lines on stdout, one event each:
 *
 *   echo.js tcp-server <host> <port>    {"event":"listening","port"} then {"event":"connection",…peer} per client.
 *                                       Each client first receives one JSON line with the addresses the server
 *                                       saw, then its bytes echoed back; the server ends when the client does.
 *   echo.js http-server <host> <port>   {"event":"listening","port"} then {"event":"request",…} per request;
 *                                       answers 200 with JSON: the addresses seen, method, url and headers.
 *   echo.js tcp-client <host> <port> <payload>
 *                                       {"event":"result","local","server","echoed"}, then exits.
 *   echo.js http-client <url> [headers-json]
 *                                       {"event":"result","status","body"}, then exits.
 *
 * Failures print {"event":"error","code","message"} and exit 1. Clients give up after 5 s.
 */
import http from 'node:http';
import net from 'node:net';

/** What one end of a TCP connection saw. */
export interface PeerReport {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
}

const CLIENT_TIMEOUT_MS = 5_000;

function emit(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function fail(err: Error & { code?: string }): void {
  emit({ event: 'error', code: err.code ?? 'ERROR', message: err.message });
  process.exitCode = 1;
}

function peer(socket: net.Socket): PeerReport {
  return {
    remoteAddress: socket.remoteAddress ?? '',
    remotePort: socket.remotePort ?? 0,
    localAddress: socket.localAddress ?? '',
    localPort: socket.localPort ?? 0,
  };
}

function listening(server: net.Server): void {
  emit({ event: 'listening', port: (server.address() as net.AddressInfo).port });
}

function tcpServer(host: string, port: number): void {
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    const seen = peer(socket);
    emit({ event: 'connection', ...seen });
    socket.on('error', () => socket.destroy());
    socket.write(`${JSON.stringify(seen)}\n`);
    socket.pipe(socket);
  });
  server.on('error', fail);
  server.listen({ host, port }, () => listening(server));
}

function httpServer(host: string, port: number): void {
  const server = http.createServer((req, res) => {
    const body = { ...peer(req.socket), method: req.method, url: req.url, headers: req.headers };
    emit({ event: 'request', ...body });
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  server.on('error', fail);
  server.listen({ host, port }, () => listening(server));
}

function tcpClient(host: string, port: number, payload: string): void {
  const socket = net.connect({ host, port, allowHalfOpen: true, noDelay: true });
  socket.setTimeout(CLIENT_TIMEOUT_MS, () => socket.destroy(Object.assign(new Error(`no answer from ${host}:${port} in ${CLIENT_TIMEOUT_MS} ms`), { code: 'ETIMEDOUT' })));
  let local: { address: string; port: number } | undefined;
  let received = '';
  socket.on('connect', () => {
    local = { address: socket.localAddress ?? '', port: socket.localPort ?? 0 };
    socket.end(payload);
  });
  socket.setEncoding('utf8').on('data', (d: string) => (received += d));
  socket.on('error', fail);
  socket.on('end', () => {
    const newline = received.indexOf('\n');
    if (newline < 0) {
      fail(Object.assign(new Error(`${host}:${port} closed without the echo server's report`), { code: 'EPROTO' }));
      return;
    }
    emit({ event: 'result', local, server: JSON.parse(received.slice(0, newline)) as unknown, echoed: received.slice(newline + 1) });
  });
}

function httpClient(url: string, headers: Record<string, string>): void {
  const req = http.get(url, { headers, timeout: CLIENT_TIMEOUT_MS }, (res) => {
    let body = '';
    res.setEncoding('utf8').on('data', (d: string) => (body += d));
    res.on('end', () => {
      try {
        emit({ event: 'result', status: res.statusCode, body: JSON.parse(body) as unknown });
      } catch {
        emit({ event: 'result', status: res.statusCode, body });
      }
    });
  });
  req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer from ${url} in ${CLIENT_TIMEOUT_MS} ms`), { code: 'ETIMEDOUT' })));
  req.on('error', fail);
}

function main(argv: readonly string[]): void {
  const [mode = '', a = '', b = '', c = ''] = argv;
  switch (mode) {
    case 'tcp-server':
      return tcpServer(a, Number(b));
    case 'http-server':
      return httpServer(a, Number(b));
    case 'tcp-client':
      return tcpClient(a, Number(b), c);
    case 'http-client':
      return httpClient(a, b === '' ? {} : (JSON.parse(b) as Record<string, string>));
    default:
      fail(Object.assign(new Error(`usage: echo.js tcp-server|http-server <host> <port> | tcp-client <host> <port> <payload> | http-client <url> [headers-json]; got ${JSON.stringify(mode)}`), { code: 'EUSAGE' }));
  }
}

main(process.argv.slice(2));
