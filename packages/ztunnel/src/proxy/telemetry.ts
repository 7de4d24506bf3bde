/**
 * How a failure is reported: the `response_flags` value a set-up failure is counted under, and an error as
 * one access-log line. (The telemetry of a connection itself is kept by `ProxiedConnection`.)
 */
import { HboneError } from '@ambit/mesh-core/hbone';
import { SecretManagerError } from '@ambit/mesh-core/identity';
import type { ResponseFlag } from './record.js';
import { CertificateWaitError } from './errors.js';

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
