import { MeshError } from '@ambit/mesh-core/errors';

/**
 * - `HPACK_COMPRESSION_ERROR`: the header block cannot be decoded (RFC 7541 §2.3.3, §5, §6): a connection
 *   error of type COMPRESSION_ERROR, since the decoder's table can no longer be trusted.
 * - `HPACK_HEADER_LIST_TOO_LARGE`: the block decoded, but its fields are over the list size we allow; the
 *   table is up to date, so only the stream needs an answer (431).
 */
export type HpackErrorCode = 'HPACK_COMPRESSION_ERROR' | 'HPACK_HEADER_LIST_TOO_LARGE';

export class HpackError extends MeshError {
  declare readonly code: HpackErrorCode;

  constructor(code: HpackErrorCode, reason: string) {
    super(code, reason);
  }
}
