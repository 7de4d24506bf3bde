/**
 * The waypoint tests' backend, run in a pod: an HTTP/1.1 server that answers with its own name, so that
 * splits, retries and ejections can be counted per pod. Dependency-free; one JSON line per event on stdout:
 *
 *   name-server.js <name> <port> [control-file]
 *     {"event":"listening","port"} then {"event":"request","pod","method","url","headers","inflight"} per
 *     request (`inflight`: requests being answered, this one included).
 *
 * Answers, by the first keyword segment of the path (a route's prefix may come before it):
 *   …/delay/<ms>             waits, then 200
 *   …/status/<code>          that status
 *   …/fail-first/<n>/<key>[/<status>]
 *                            503 (or <status>) for the first n requests naming <key>, 200 after (retries)
 *   anything else            200
 * When `control-file` exists and holds a status code, every request gets that status instead (a test
 * turns an endpoint sick and well again without reaching it through the mesh). Bodies are JSON:
 * `{"pod","method","url","status"}`.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';

const [name = 'server', portText = '8080', control] = process.argv.slice(2);
const failures = new Map<string, number>();
/** Requests being answered right now (a circuit breaker test checks how many the proxy lets through). */
let inflight = 0;

function emit(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function forcedStatus(): number | undefined {
  if (control === undefined) return undefined;
  try {
    const code = Number(readFileSync(control, 'utf8').trim());
    return Number.isInteger(code) && code >= 200 && code < 600 ? code : undefined;
  } catch {
    return undefined;
  }
}

function answer(req: http.IncomingMessage, res: http.ServerResponse, status: number): void {
  const body = JSON.stringify({ pod: name, method: req.method, url: req.url, status });
  res.writeHead(status, { 'content-type': 'application/json', 'x-served-by': name }).end(body);
}

const server = http.createServer((req, res) => {
  inflight++;
  res.on('close', () => inflight--);
  emit({ event: 'request', pod: name, method: req.method, url: req.url, headers: req.headers, inflight });
  // Drain the body: the answer does not depend on it.
  req.resume();
  const forced = forcedStatus();
  if (forced !== undefined) return answer(req, res, forced);
  // The keyword may follow a route's own prefix: `/slow/delay/3000`.
  const parts = (req.url ?? '/').split('?')[0]!.split('/');
  const at = parts.findIndex((p) => p === 'delay' || p === 'status' || p === 'fail-first');
  const arg = Number(parts[at + 1] ?? 0);
  switch (at < 0 ? '' : (parts[at] ?? '')) {
    case 'delay': {
      const timer = setTimeout(() => answer(req, res, 200), arg);
      res.on('close', () => clearTimeout(timer));
      return;
    }
    case 'status':
      return answer(req, res, arg);
    case 'fail-first': {
      const key = parts[at + 2] ?? '';
      const given = Number(parts[at + 3]);
      const failStatus = Number.isInteger(given) && given >= 200 && given < 600 ? given : 503;
      const seen = (failures.get(key) ?? 0) + 1;
      failures.set(key, seen);
      return answer(req, res, seen <= arg ? failStatus : 200);
    }
    default:
      answer(req, res, 200);
  }
});
server.keepAliveTimeout = 60_000;
server.on('error', (err: Error & { code?: string }) => {
  emit({ event: 'error', code: err.code ?? 'ERROR', message: err.message });
  process.exitCode = 1;
});
server.listen({ host: '0.0.0.0', port: Number(portText) }, () => emit({ event: 'listening', port: (server.address() as { port: number }).port }));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
