/**
 * The access log: one line per connection when it ends, on the `access` logger (`component: "access"`),
 * with ztunnel's dotted fields. Completed connections log at info ("connection complete"); a connection
 * refused by policy at warn, any other failure at error, each with `error` saying why.
 *
 *   src.addr src.workload src.namespace src.identity       the client
 *   dst.addr dst.hbone_addr dst.service dst.workload        where it went (hbone_addr: the HBONE server used)
 *   dst.namespace dst.identity
 *   direction                                               outbound | inbound
 *   bytes_sent bytes_recv                                   to the destination / back from it
 *   duration                                                milliseconds from accept to close
 *
 * Fields that are not known are left out rather than written as empty strings.
 */
import type { Logger } from '@ambit/mesh-core/telemetry';
import { formatAddress, type ConnectionRecord, type ResponseFlag } from './proxy/record.js';

/** How a connection ended. */
export interface ConnectionOutcome {
  readonly sent: number;
  readonly received: number;
  readonly durationMs: number;
  readonly flag: ResponseFlag;
  /** Why it failed; absent when it completed. */
  readonly error?: string | undefined;
}

/** The fields of an access-log line (exported for tests and for the admin's view). */
export function accessLogFields(record: ConnectionRecord, outcome: ConnectionOutcome): Record<string, string | number> {
  const f: Record<string, string | number> = { 'src.addr': formatAddress(record.srcIp, record.srcPort) };
  const src = record.source;
  if (src !== undefined) {
    f['src.workload'] = src.name;
    f['src.namespace'] = src.namespace;
  } else if (record.sourceIdentity !== undefined) {
    f['src.namespace'] = record.sourceIdentity.namespace;
  }
  if (record.sourceIdentity !== undefined) f['src.identity'] = record.sourceIdentity.uri;
  f['dst.addr'] = formatAddress(record.dstIp, record.dstPort);
  if (record.hboneIp !== undefined) f['dst.hbone_addr'] = formatAddress(record.hboneIp, record.hbonePort);
  if (record.service !== undefined) f['dst.service'] = record.service.hostname;
  const dst = record.destination;
  if (dst !== undefined) {
    f['dst.workload'] = dst.name;
    f['dst.namespace'] = dst.namespace;
  }
  if (record.destinationIdentity !== undefined) f['dst.identity'] = record.destinationIdentity.uri;
  f['direction'] = record.direction;
  f['bytes_sent'] = outcome.sent;
  f['bytes_recv'] = outcome.received;
  f['duration'] = Math.round(outcome.durationMs);
  if (outcome.flag !== '-') f['response_flags'] = outcome.flag;
  if (outcome.error !== undefined) f['error'] = outcome.error;
  return f;
}

export class AccessLog {
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger.child({ component: 'access' });
  }

  /** Writes the line for a connection that ended. */
  closed(record: ConnectionRecord, outcome: ConnectionOutcome): void {
    const fields = accessLogFields(record, outcome);
    if (outcome.error === undefined) this.#logger.info(fields, 'connection complete');
    else if (outcome.flag === 'DENY') this.#logger.warn(fields, 'connection denied');
    else this.#logger.error(fields, 'connection failed');
  }
}
