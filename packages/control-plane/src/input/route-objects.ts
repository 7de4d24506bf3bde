/**
 * Gateway API routes as the decoders produce them: HTTPRoute and GRPCRoute, validated and defaulted as the
 * API server's CRD schema would (a rule without matches matches every path, a backend weight defaults
 * to 1, a redirect to 302, …). Durations are in milliseconds. Every part that the model may point a
 * diagnostic at keeps its index in the document (`index`).
 */
import type { Base } from './objects.js';

/** A route's attachment: a Service (GAMMA, "mesh" routes) or a Gateway (the waypoint itself). */
export interface RouteParentRef {
  readonly index: number;
  readonly kind: 'Service' | 'Gateway';
  readonly name: string;
  /** Defaulted to the route's namespace. */
  readonly namespace: string;
  /** A Service port (Service parents only). */
  readonly port?: number;
  /** A Service port name or a Gateway listener name. */
  readonly sectionName?: string;
}

/** A Service a route sends to (or mirrors to). */
export interface BackendObjectRef {
  readonly name: string;
  /** Defaulted to the route's namespace. */
  readonly namespace: string;
  readonly port: number;
}

export interface HeaderValue {
  readonly name: string;
  readonly value: string;
}

/** RequestHeaderModifier / ResponseHeaderModifier. Header names are lower case. */
export interface HeaderModifier {
  readonly set: readonly HeaderValue[];
  readonly add: readonly HeaderValue[];
  readonly remove: readonly string[];
}

export type PathModifier = { readonly type: 'ReplaceFullPath'; readonly value: string } | { readonly type: 'ReplacePrefixMatch'; readonly value: string };

export interface RequestRedirectFilter {
  readonly type: 'RequestRedirect';
  readonly scheme?: 'http' | 'https';
  readonly hostname?: string;
  readonly path?: PathModifier;
  readonly port?: number;
  readonly statusCode: 301 | 302 | 303 | 307 | 308;
}

export interface UrlRewriteFilter {
  readonly type: 'URLRewrite';
  readonly hostname?: string;
  readonly path?: PathModifier;
}

export interface RequestMirrorFilter {
  readonly type: 'RequestMirror';
  readonly backendRef: BackendObjectRef;
  /** Share of requests mirrored, as a fraction (`percent: 10` is 10/100). Absent: every request. */
  readonly fraction?: { readonly numerator: number; readonly denominator: number };
}

export type RouteFilter =
  | { readonly type: 'RequestHeaderModifier'; readonly modifier: HeaderModifier }
  | { readonly type: 'ResponseHeaderModifier'; readonly modifier: HeaderModifier }
  | RequestRedirectFilter
  | UrlRewriteFilter
  | RequestMirrorFilter;

export interface RouteBackendRef extends BackendObjectRef {
  readonly index: number;
  /** 0 sends nothing to this backend. */
  readonly weight: number;
  /** Header modifiers applied only when this backend is chosen. */
  readonly filters: readonly RouteFilter[];
}

export interface ValueMatch {
  readonly type: 'Exact' | 'RegularExpression';
  readonly name: string;
  readonly value: string;
}

export interface HttpRouteMatch {
  readonly path: { readonly type: 'Exact' | 'PathPrefix' | 'RegularExpression'; readonly value: string };
  /** Names lower case. */
  readonly headers: readonly ValueMatch[];
  readonly queryParams: readonly ValueMatch[];
  readonly method?: string;
}

/** GEP-1731 `retry`. */
export interface RouteRetry {
  /** HTTP status codes to retry (500–599); empty: the implementation's choice (here: none beyond connection failures). */
  readonly codes: readonly number[];
  /** Retries after the first attempt; absent: the implementation's default. */
  readonly attempts?: number;
  readonly backoffMs?: number;
}

export interface HttpRouteRule {
  readonly index: number;
  readonly name?: string;
  /** Never empty: a rule without matches matches every request (PathPrefix `/`). */
  readonly matches: readonly HttpRouteMatch[];
  readonly filters: readonly RouteFilter[];
  readonly backendRefs: readonly RouteBackendRef[];
  /** `timeouts.request` and `timeouts.backendRequest`, ms; 0 disables. */
  readonly requestTimeoutMs?: number;
  readonly backendRequestTimeoutMs?: number;
  readonly retry?: RouteRetry;
}

export interface HttpRouteObject extends Base<'HTTPRoute'> {
  readonly parentRefs: readonly RouteParentRef[];
  readonly hostnames: readonly string[];
  readonly rules: readonly HttpRouteRule[];
}

/** GRPCRoute `method`: service and/or method, matched exactly or by regular expression. */
export interface GrpcMethodMatch {
  readonly type: 'Exact' | 'RegularExpression';
  readonly service?: string;
  readonly method?: string;
}

export interface GrpcRouteMatch {
  readonly method?: GrpcMethodMatch;
  readonly headers: readonly ValueMatch[];
}

export interface GrpcRouteRule {
  readonly index: number;
  readonly name?: string;
  /** Never empty: a rule without matches matches every request. */
  readonly matches: readonly GrpcRouteMatch[];
  /** RequestHeaderModifier, ResponseHeaderModifier and RequestMirror only. */
  readonly filters: readonly RouteFilter[];
  readonly backendRefs: readonly RouteBackendRef[];
}

export interface GrpcRouteObject extends Base<'GRPCRoute'> {
  readonly parentRefs: readonly RouteParentRef[];
  readonly hostnames: readonly string[];
  readonly rules: readonly GrpcRouteRule[];
}
