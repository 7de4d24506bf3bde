import { MeshError } from '@ambit/mesh-core/errors';

export type XdsServerErrorCode =
  /** A request that cannot be decoded, or names no type / a type this server does not serve. */
  | 'XDS_ERR_BAD_REQUEST'
  /** The caller's bearer token is missing or not accepted. */
  | 'XDS_ERR_UNAUTHENTICATED'
  /** A broken invariant inside the server (a bug): the stream ends with INTERNAL. */
  | 'XDS_ERR_INTERNAL';

/** Why the xDS server ended one stream. The message is what the client reads in its gRPC status. */
export class XdsServerError extends MeshError {
  declare readonly code: XdsServerErrorCode;

  constructor(code: XdsServerErrorCode, reason: string, options?: { cause?: unknown }) {
    super(code, reason, options);
  }
}
