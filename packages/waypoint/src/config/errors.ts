/**
 * Configuration errors. A resource is compiled in one go; the first problem found aborts it with a
 * `FieldError` naming the field path inside the resource, and the resource compiler wraps that into a
 * `WaypointConfigError` naming the resource too. That message is what the NACK carries, so it has to be
 * enough for someone reading the control plane's logs to find the field:
 * `RouteConfiguration "inbound-vip|80|http|web.default.svc.cluster.local": virtual_hosts[0].routes[2].match.safe_regex.regex: invalid regular expression: …`
 */
import { MeshError } from '@ambit/mesh-core/errors';

/** A problem at one field of a resource; `path` is relative to the resource (`virtual_hosts[0].domains`). */
export class FieldError extends MeshError {
  readonly path: string;
  readonly detail: string;

  constructor(path: string, detail: string) {
    super('WP_ERR_CONFIG_FIELD', path === '' ? detail : `${path}: ${detail}`);
    this.path = path;
    this.detail = detail;
  }
}

/** A resource (Listener, RouteConfiguration, Cluster, …) refused, with the field and the reason. */
export class WaypointConfigError extends MeshError {
  /** `Listener`, `RouteConfiguration`, `Cluster`, `ClusterLoadAssignment`, `Address`, `RBAC`, `JwtAuthentication`. */
  readonly resourceType: string;
  readonly resourceName: string;
  /** The field path inside the resource, '' for the resource as a whole. */
  readonly path: string;
  readonly detail: string;

  constructor(resourceType: string, resourceName: string, path: string, detail: string, options?: { cause?: unknown }) {
    const where = path === '' ? '' : `${path}: `;
    super('WP_ERR_CONFIG', `${resourceType} ${JSON.stringify(resourceName)}: ${where}${detail}`, options);
    this.resourceType = resourceType;
    this.resourceName = resourceName;
    this.path = path;
    this.detail = detail;
  }
}

/** Throws a `FieldError`; typed `never` so that callers can use it in expressions. */
export function invalid(path: string, detail: string): never {
  throw new FieldError(path, detail);
}

/** `a.b` + `c` → `a.b.c`; `''` + `c` → `c`; an index `[2]` is appended without a dot. */
export function join(path: string, field: string): string {
  if (path === '') return field;
  return field.startsWith('[') ? `${path}${field}` : `${path}.${field}`;
}

/** Runs `compile` with field paths relative to `prefix` (a message nested in an Any), rebased onto it. */
export function within<T>(prefix: string, compile: () => T): T {
  try {
    return compile();
  } catch (err) {
    if (err instanceof FieldError) throw new FieldError(join(prefix, err.path), err.detail);
    throw err;
  }
}

/**
 * Runs a resource compiler and turns a `FieldError` into a `WaypointConfigError` naming the resource.
 * Other errors are bugs and pass through unchanged.
 */
export function compileResource<T>(resourceType: string, resourceName: string, compile: () => T): T {
  try {
    return compile();
  } catch (err) {
    if (err instanceof FieldError) throw new WaypointConfigError(resourceType, resourceName, err.path, err.detail, { cause: err });
    throw err;
  }
}
