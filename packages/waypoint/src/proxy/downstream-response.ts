/**
 * The response side of a downstream request, the same for HTTP/1.1 (`ServerResponse`) and HTTP/2
 * (the compatibility `Http2ServerResponse`), and local replies (answers the waypoint makes itself).
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { Duplex, Writable } from 'node:stream';
import { UpstreamError } from '../upstream/errors.js';
import { resetStream } from '../upstream/reset.js';
import type { HeaderMap } from '../route/headers.js';
import type { RequestRecord } from './record.js';

export interface DownstreamResponse extends Writable {
  writeHead(status: number, headers?: OutgoingHttpHeaders): this;
  setHeader(name: string, value: string | readonly string[]): unknown;
  statusCode: number;
  addTrailers(headers: OutgoingHttpHeaders): void;
  readonly headersSent: boolean;
}

/** Answers with a body of our own (errors, denials, direct responses, redirects). */
export function localReply(
  res: DownstreamResponse,
  record: RequestRecord,
  status: number,
  body: string,
  flag: string | undefined,
  details: string | undefined,
  headers: HeaderMap = Object.create(null) as HeaderMap,
): void {
  if (flag !== undefined) record.addFlag(flag);
  if (details !== undefined) record.details = details;
  record.status = status;
  if (res.headersSent || res.destroyed) {
    resetDownstream(res, new UpstreamError('WP_ERR_RESET', `the response had started when the waypoint had to answer ${status}`));
    return;
  }
  const payload = Buffer.from(body);
  if (payload.length > 0 && headers['content-type'] === undefined) headers['content-type'] = 'text/plain';
  headers['content-length'] = String(payload.length);
  record.bytesSent += payload.length;
  res.writeHead(status, headers);
  res.end(payload);
}

/**
 * Breaks off a response the client has started to receive: RST_STREAM(INTERNAL_ERROR) on HTTP/2, a reset
 * tunnel on HTTP/1.1, never anything a client could read as a complete response (see `upstream/reset.ts`).
 */
export function resetDownstream(res: DownstreamResponse, reason: Error): void {
  const stream = (res as { readonly stream?: Duplex }).stream ?? (res as { readonly socket?: Duplex | null }).socket ?? undefined;
  if (stream !== undefined && stream !== null) resetStream(stream, reason);
  else res.destroy();
}
