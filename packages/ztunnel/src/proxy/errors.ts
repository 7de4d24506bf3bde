/** Errors the data path raises on purpose (stable codes; mapped to response flags in `telemetry.ts`). */
import { MeshError } from '@ambit/mesh-core/errors';

/** The workload's certificate did not arrive in time (or could not be had); its connection fails. */
export class CertificateWaitError extends MeshError {
  constructor(identity: string, reason: string, options?: { cause?: unknown }) {
    super('ZT_ERR_CERTIFICATE', `no certificate for ${identity}: ${reason}`, options);
  }
}

/** The proxy was used after it was closed. */
export class ProxyClosedError extends MeshError {
  constructor(operation: string) {
    super('ZT_ERR_PROXY_CLOSED', `cannot ${operation}: the proxy is closed`);
  }
}
