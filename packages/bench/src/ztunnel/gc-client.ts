/**
 * Makes a Node process collect its garbage, from outside: run in the process's network namespace as
 * `node --experimental-websocket gc-client.js <inspector port> [snapshot file]` after the process got
 * SIGUSR1 (which opens its inspector on 127.0.0.1). It sends `HeapProfiler.collectGarbage` over the
 * inspector protocol, then reads the heap in use (`Runtime.getHeapUsage`) and, when a file is named, writes
 * a heap snapshot there (`HeapProfiler.takeHeapSnapshot`; open it in Chrome DevTools, Memory tab). It prints
 * {"gc":"done","heap_used":<bytes>} and exits 0; or prints {"error":"…"} and exits 1.
 *
 * Used to measure a ztunnel's resident memory without garbage in it, with no debugging hook in ztunnel.
 */
import { createWriteStream, type WriteStream } from 'node:fs';

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

interface InspectorMessage {
  readonly id?: number;
  readonly method?: string;
  readonly params?: { readonly chunk?: string };
  readonly result?: { readonly usedSize?: number };
  readonly error?: { readonly message?: string };
}

const emit = (event: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(event)}\n`);
const port = Number(process.argv[2]);
const snapshotFile = process.argv[3];
/** A snapshot of a process holding thousands of connections takes a while on a loaded machine. */
const DEADLINE_MS = snapshotFile === undefined ? 20_000 : 180_000;

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
const GC = 1;
const HEAP = 2;
const SNAPSHOT = 3;
let heapUsed = 0;
let out: WriteStream | undefined;

function finish(): void {
  emit({ gc: 'done', heap_used: heapUsed });
  ws.close();
  process.exit(0);
}

ws.onerror = () => fail('the inspector connection failed');
ws.onopen = () => ws.send(JSON.stringify({ id: GC, method: 'HeapProfiler.collectGarbage' }));
ws.onmessage = (event) => {
  const message = JSON.parse(String(event.data)) as InspectorMessage;
  if (message.method === 'HeapProfiler.addHeapSnapshotChunk') {
    out?.write(message.params?.chunk ?? '');
    return;
  }
  if (message.error) fail(`inspector request ${String(message.id)}: ${message.error.message ?? 'failed'}`);
  switch (message.id) {
    case undefined:
      return;
    case GC:
      ws.send(JSON.stringify({ id: HEAP, method: 'Runtime.getHeapUsage' }));
      return;
    case HEAP:
      heapUsed = message.result?.usedSize ?? 0;
      if (snapshotFile === undefined) {
        finish();
        return;
      }
      out = createWriteStream(snapshotFile);
      out.on('error', (err) => fail(`writing ${snapshotFile}: ${err.message}`));
      ws.send(JSON.stringify({ id: SNAPSHOT, method: 'HeapProfiler.takeHeapSnapshot', params: { reportProgress: false } }));
      return;
    case SNAPSHOT:
      out!.end(finish);
      return;
    default:
  }
};
