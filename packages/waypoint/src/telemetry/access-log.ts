/**
 * The access log: one JSON line per request when it ends, on the `access` logger. Fields:
 *
 *   method path authority protocol       the request as received (path after normalization)
 *   status response_flags details        what was answered, Envoy's flags, and why (response code details)
 *   duration bytes_received bytes_sent   milliseconds; request and response body bytes
 *   route cluster upstream               the route taken, the cluster and the endpoint (`ip:port`) used
 *   src.addr src.identity dst.addr dst.service dst.identity   who asked, for what, and who answered
 *   trace_id request_id                  W3C trace id and `x-request-id`
 *
 * Fields not known are left out. A 5xx is logged at warn, anything else at info.
 */
import type { Logger } from 'pino';

export interface RequestLogRecord {
  readonly method: string;
  readonly path: string;
  readonly authority: string;
  readonly protocol: string;
  readonly status: number;
  readonly flags: string;
  readonly details: string | undefined;
  readonly durationMs: number;
  readonly bytesReceived: number;
  readonly bytesSent: number;
  readonly route: string | undefined;
  readonly cluster: string | undefined;
  readonly upstream: string | undefined;
  readonly sourceAddress: string;
  readonly sourceIdentity: string | undefined;
  readonly destinationAddress: string;
  readonly destinationService: string;
  readonly destinationIdentity: string | undefined;
  readonly traceId: string | undefined;
  readonly requestId: string | undefined;
}

export function accessLogFields(r: RequestLogRecord): Record<string, string | number> {
  const f: Record<string, string | number> = {
    method: r.method,
    path: r.path,
    authority: r.authority,
    protocol: r.protocol,
    status: r.status,
    response_flags: r.flags,
    duration: Math.round(r.durationMs * 1000) / 1000,
    bytes_received: r.bytesReceived,
    bytes_sent: r.bytesSent,
    'src.addr': r.sourceAddress,
    'dst.addr': r.destinationAddress,
    'dst.service': r.destinationService,
  };
  if (r.details !== undefined) f['details'] = r.details;
  if (r.route !== undefined) f['route'] = r.route;
  if (r.cluster !== undefined) f['cluster'] = r.cluster;
  if (r.upstream !== undefined) f['upstream'] = r.upstream;
  if (r.sourceIdentity !== undefined) f['src.identity'] = r.sourceIdentity;
  if (r.destinationIdentity !== undefined) f['dst.identity'] = r.destinationIdentity;
  if (r.traceId !== undefined) f['trace_id'] = r.traceId;
  if (r.requestId !== undefined) f['request_id'] = r.requestId;
  return f;
}

export class AccessLog {
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger.child({ component: 'access' });
  }

  /**
   * Whether a request with this status would be logged at the logger's level: the caller builds the record
   * only then (with `LOG_LEVEL=warn`, every 2xx would otherwise cost two objects for nothing).
   */
  enabled(status: number): boolean {
    return this.#logger.isLevelEnabled(status >= 500 ? 'warn' : 'info');
  }

  request(r: RequestLogRecord): void {
    if (r.status >= 500) this.#logger.warn(accessLogFields(r), 'request');
    else this.#logger.info(accessLogFields(r), 'request');
  }
}
