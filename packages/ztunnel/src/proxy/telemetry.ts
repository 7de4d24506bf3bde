/**
 * The telemetry of one connection from routing to close: `opened` counted when it is created (the record
 * complete by then), then exactly one `finish` with the outcome, which counts `closed` and the bytes and
 * writes the access-log line.
 */
import { HboneError } from '@ambit/mesh-core/hbone';
import { SecretManagerError } from '@ambit/mesh-core/identity';
import { tcpLabels, type TcpLabels } from '../metrics.js';
import type { ProxyContext } from './context.js';
import type { ConnectionRecord, ResponseFlag } from './record.js';
import { CertificateWaitError } from './errors.js';

export class ConnectionTelemetry {
  readonly record: ConnectionRecord;
  readonly #ctx: ProxyContext;
  readonly #labels: TcpLabels;
  readonly #started: number;
  #finished = false;

  constructor(ctx: ProxyContext, record: ConnectionRecord, started: number) {
    this.#ctx = ctx;
    this.record = record;
    this.#started = started;
    this.#labels = tcpLabels(record);
    ctx.metrics.opened(this.#labels);
  }

  /** Records the end (once; later calls are ignored). `error` is absent for a clean close. */
  finish(flag: ResponseFlag, sent: number, received: number, error?: string): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#ctx.metrics.closed(this.#labels, flag, sent, received);
    this.#ctx.accessLog.closed(this.record, { sent, received, durationMs: this.#ctx.monotonicNow() - this.#started, flag, error });
  }
}

/** The response flag a failure to set a connection up is reported under. */
export function flagOf(err: unknown): ResponseFlag {
  if (err instanceof HboneError) return err.responseFlag;
  if (err instanceof CertificateWaitError || err instanceof SecretManagerError) return 'IDENTITY_ERROR';
  return 'CONNECT';
}

/** An error as one line for the access log. */
export function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
