/**
 * Errors the xDS client raises on purpose. `code` is stable (tests and callers branch on it); `message`
 * is for people.
 *
 * `XdsError` has the same shape as mesh-core's `MeshError` (code, reason, cause). It cannot extend it:
 * the dependency order is protos ← xds ← mesh-core, so xds imports nothing from mesh-core.
 */
export class XdsError extends Error {
  readonly code: string;
  /** The message without any prefix, for wrapping into another error's message. */
  readonly reason: string;

  constructor(code: string, reason: string, options?: { cause?: unknown }) {
    super(reason, options);
    this.name = new.target.name;
    this.code = code;
    this.reason = reason;
  }
}

/** Bad options or a misuse of the API (unknown type URL, a type registered twice, no node id…). */
export class XdsConfigError extends XdsError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super('XDS_ERR_CONFIG', reason, options);
  }
}

/** The client was closed; nothing more can be done with it. */
export class XdsClosedError extends XdsError {
  constructor(operation: string) {
    super('XDS_ERR_CLOSED', `cannot ${operation}: the xDS client is closed`);
  }
}

/**
 * Why a stream ended, as the `disconnected` event and `status().lastError` report it. `grpcCode` is the
 * gRPC status code when the stream ended with one (absent when it never got that far, e.g. the token
 * provider failed).
 */
export class XdsStreamError extends XdsError {
  readonly grpcCode: number | undefined;

  constructor(reason: string, grpcCode: number | undefined, options?: { cause?: unknown }) {
    super('XDS_ERR_STREAM', reason, options);
    this.grpcCode = grpcCode;
  }
}

/** The bearer token provider threw or returned something that is not a non-empty string. */
export class XdsTokenError extends XdsError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super('XDS_ERR_TOKEN', reason, options);
  }
}

/** A human-readable reason from anything thrown. */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
