/**
 * The base of every error the mesh raises on purpose. `code` is stable (tests, metrics and callers branch
 * on it); `message` is for people. Subclasses add the fields a caller needs to react.
 */
export class MeshError extends Error {
  readonly code: string;
  /** The message without the code prefix, for wrapping into another error's message. */
  readonly reason: string;

  constructor(code: string, reason: string, options?: { cause?: unknown }) {
    super(reason, options);
    this.name = new.target.name;
    this.code = code;
    this.reason = reason;
  }
}
