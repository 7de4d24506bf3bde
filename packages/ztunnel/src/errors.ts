/**
 * Errors the ztunnel's state and policy core raises on purpose. Every class extends mesh-core's
 * `MeshError`, so `code` is stable (callers and tests branch on it) and `message` is for people.
 */
import { EnvConfigError } from '@ambit/mesh-core/config';
import { MeshError } from '@ambit/mesh-core/errors';

/** The environment does not make a valid configuration; `problems` lists every `VAR=value: reason`. */
export class ConfigError extends EnvConfigError {
  constructor(problems: readonly string[]) {
    super('ZT_ERR_CONFIG', problems);
  }
}

/** The `LOCAL_XDS_PATH` file cannot be read or holds invalid resources; `problems` lists every one. */
export class LocalConfigError extends MeshError {
  readonly path: string;
  readonly problems: readonly string[];

  constructor(path: string, problems: readonly string[], options?: { cause?: unknown }) {
    super(
      'ZT_ERR_LOCAL_CONFIG',
      problems.length === 1 ? `${path}: ${problems[0]!}` : `${path}: ${problems.length} problems:\n  ${problems.join('\n  ')}`,
      options,
    );
    this.path = path;
    this.problems = Object.freeze([...problems]);
  }
}

/** A state store or updater was used after `close()`/`destroy()`. */
export class StateClosedError extends MeshError {
  constructor(what: string, operation: string) {
    super('ZT_ERR_STATE_CLOSED', `cannot ${operation}: the ${what} is closed`);
  }
}

/** An authorization request the data path built is malformed (a bug in the caller, not bad traffic). */
export class AuthzRequestError extends MeshError {
  constructor(reason: string) {
    super('ZT_ERR_AUTHZ_REQUEST', reason);
  }
}

/**
 * A worker thread could not take a resource the main thread had accepted, or could not start: a bug or a
 * version skew between the threads' code, never bad input (the main thread validated it).
 */
export class WorkerError extends MeshError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super('ZT_ERR_WORKER', reason, options);
  }
}
