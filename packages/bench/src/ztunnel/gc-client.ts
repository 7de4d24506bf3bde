/**
 * Makes a Node process collect its garbage, from outside: run in the process's network namespace as
 * `node --experimental-websocket gc-client.js <inspector port>` after the process got SIGUSR1 (which opens its
 * inspector on 127.0.0.1). It sends `HeapProfiler.collectGarbage` over the inspector protocol, prints
 * {"gc":"done"} once the process answered, and exits 0; or prints {"error":"…"} and exits 1.
 *
 * Used to measure a ztunnel's resident memory without garbage in it, with no debugging hook in ztunnel.
 */
interface InspectorTarget {
  readonly webSocketDebuggerUrl?: string;
}

/** The WebSocket client Node 20 has behind --experimental-websocket (undici's). */
interface MinimalWebSocket {
  onopen: (() => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(): void;
}

const emit = (event: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(event)}\n`);
const port = Number(process.argv[2]);
const DEADLINE_MS = 20_000;

function fail(message: string): never {
  emit({ error: message });
  process.exit(1);
}

setTimeout(() => fail(`no answer from the inspector on port ${port} in ${DEADLINE_MS} ms`), DEADLINE_MS).unref();

async function targetUrl(): Promise<string> {
  // The inspector opens a moment after the signal: retry while it is not listening yet.
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/json/list`);
      const targets = (await res.json()) as InspectorTarget[];
      const url = targets[0]?.webSocketDebuggerUrl;
      if (url !== undefined) return url;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

const WebSocketClass = (globalThis as unknown as { WebSocket?: new (url: string) => MinimalWebSocket }).WebSocket;
if (WebSocketClass === undefined) fail('no WebSocket client: run with node --experimental-websocket');
const ws = new WebSocketClass(await targetUrl());
ws.onerror = () => fail('the inspector connection failed');
ws.onopen = () => ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
ws.onmessage = (event) => {
  const message = JSON.parse(String(event.data)) as { id?: number; error?: { message?: string } };
  if (message.id !== 1) return;
  if (message.error) fail(`collectGarbage: ${message.error.message ?? 'failed'}`);
  emit({ gc: 'done' });
  ws.close();
  process.exit(0);
};
