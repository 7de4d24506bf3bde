/**
 * Local replies (answers the waypoint makes itself) on a downstream response, HTTP/1.1 or HTTP/2.
 */
import { UpstreamError } from '../upstream/errors.js';
import type { HeaderMap } from '../route/headers.js';
import type { DownstreamResponse } from './message.js';
import type { RequestRecord } from './record.js';

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

/** Breaks off a response the client has started to receive (see `DownstreamResponse.reset`). */
export function resetDownstream(res: DownstreamResponse, reason: Error): void {
  res.reset(reason);
}
