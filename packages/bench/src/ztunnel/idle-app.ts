/**
 * Idle connections for `idle_conn_bytes`, run inside the pods (dependency-free; JSON lines on stdout):
 *
 *   idle-app.js server <port>                         {"listening":<port>}; echoes what each connection sends
 *   idle-app.js client <host> <port> <count> <par>    opens <count> connections, <par> at a time; each sends one
 *                                                     byte and waits for its echo (so it crossed the whole path);
 *                                                     then {"open":<count>}, and holds them until SIGTERM
 *                                                     (or until its parent is gone)
 *
 * Errors print {"error":"…"} and exit 1.
 */
import net from 'node:net';

const emit = (event: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(event)}\n`);

function fail(message: string): never {
  emit({ error: message });
  process.exit(1);
}

function server(port: number): void {
  const srv = net.createServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.on('data', (d) => socket.write(d));
  });
  srv.on('error', (err) => fail(`server: ${err.message}`));
  srv.listen({ port, backlog: 4096 }, () => emit({ listening: (srv.address() as net.AddressInfo).port }));
}

function openOne(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    socket.once('error', reject);
    socket.once('connect', () => socket.write('x'));
    socket.once('data', () => {
      socket.off('error', reject);
      socket.on('error', (err) => fail(`a held connection failed: ${err.message}`));
      resolve(socket);
    });
  });
}

async function client(host: string, port: number, count: number, parallel: number): Promise<void> {
  const held: net.Socket[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      held.push(await openOne(host, port));
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
  } catch (err) {
    fail(`opened ${held.length} of ${count}: ${(err as Error).message}`);
  }
  emit({ open: held.length });
  const close = (): void => {
    for (const s of held) s.destroy();
    process.exit(0);
  };
  process.on('SIGTERM', close);
  // Started with no stdin, so its end says nothing: an orphan (the harness died) notices its new parent.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) close();
  }, 1000);
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'server' && args.length === 1) server(Number(args[0]));
else if (mode === 'client' && args.length === 4) await client(args[0]!, Number(args[1]), Number(args[2]), Number(args[3]));
else fail('usage: idle-app.js server <port> | client <host> <port> <count> <parallel>');
