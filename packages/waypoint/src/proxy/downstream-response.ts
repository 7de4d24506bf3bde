/**
 * The response side of a downstream request, the same for HTTP/1.1 (`ServerResponse`) and HTTP/2
 * (the compatibility `Http2ServerResponse`), and local replies (answers the waypoint makes itself).
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { Writable } from 'node:stream';
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
    res.destroy();
    return;
  }
  const payload = Buffer.from(body);
  if (payload.length > 0 && headers['content-type'] === undefined) headers['content-type'] = 'text/plain';
  headers['content-length'] = String(payload.length);
  record.bytesSent += payload.length;
  res.writeHead(status, headers);
  res.end(payload);
}
