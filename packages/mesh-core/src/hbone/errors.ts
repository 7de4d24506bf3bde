import { MeshError } from '../errors.js';

/**
 * Stable codes of HBONE failures:
 * - `HBONE_ERR_BAD_REQUEST`: the caller's tunnel request is malformed (destination, authority, headers).
 * - `HBONE_ERR_CONNECT`: the TCP connection to the HBONE endpoint failed.
 * - `HBONE_ERR_CONNECT_TIMEOUT`: no TLS + HTTP/2 session within the connect timeout (often a NetworkPolicy
 *   dropping port 15008).
 * - `HBONE_ERR_TLS`: the handshake failed or the peer's identity is not the one expected.
 * - `HBONE_ERR_H2`: the peer did not speak HTTP/2 (ALPN) or the session failed before it was usable.
 * - `HBONE_ERR_STATUS`: the server answered the CONNECT with a status other than 200 (see `status`).
 * - `HBONE_ERR_STREAM`: the CONNECT stream was reset or failed.
 * - `HBONE_ERR_SESSION`: the HTTP/2 connection closed or went away under the stream.
 * - `HBONE_ERR_KEEPALIVE`: the peer did not answer PINGs in time; the connection was closed.
 * - `HBONE_ERR_RESET`: one side of a relayed tunnel closed without finishing; the other side was reset.
 * - `HBONE_ERR_CLOSED`: the client or server was closed.
 */
export type HboneErrorCode =
  | 'HBONE_ERR_BAD_REQUEST'
  | 'HBONE_ERR_CONNECT'
  | 'HBONE_ERR_CONNECT_TIMEOUT'
  | 'HBONE_ERR_TLS'
  | 'HBONE_ERR_H2'
  | 'HBONE_ERR_STATUS'
  | 'HBONE_ERR_STREAM'
  | 'HBONE_ERR_SESSION'
  | 'HBONE_ERR_KEEPALIVE'
  | 'HBONE_ERR_RESET'
  | 'HBONE_ERR_CLOSED';

/** Istio `response_flags` values for metrics and access logs. */
export type ResponseFlag = 'CONNECT' | 'TLS_FAILURE' | 'H2_HANDSHAKE_FAILURE' | 'DENY' | '-';

export class HboneError extends MeshError {
  declare readonly code: HboneErrorCode;
  /** The HTTP status of a refused CONNECT (HBONE_ERR_STATUS only). */
  readonly status?: number;

  constructor(code: HboneErrorCode, reason: string, options?: { cause?: unknown; status?: number }) {
    super(code, reason, options?.cause === undefined ? undefined : { cause: options.cause });
    if (options?.status !== undefined) this.status = options.status;
  }

  /** The Istio response flag this failure is reported under. */
  get responseFlag(): ResponseFlag {
    switch (this.code) {
      case 'HBONE_ERR_CONNECT':
      case 'HBONE_ERR_CONNECT_TIMEOUT':
        return 'CONNECT';
      case 'HBONE_ERR_TLS':
        return 'TLS_FAILURE';
      case 'HBONE_ERR_H2':
        return 'H2_HANDSHAKE_FAILURE';
      case 'HBONE_ERR_STATUS':
        return this.status === 401 ? 'DENY' : 'CONNECT';
      case 'HBONE_ERR_BAD_REQUEST':
      case 'HBONE_ERR_STREAM':
      case 'HBONE_ERR_SESSION':
      case 'HBONE_ERR_KEEPALIVE':
      case 'HBONE_ERR_RESET':
      case 'HBONE_ERR_CLOSED':
        return '-';
    }
  }
}
