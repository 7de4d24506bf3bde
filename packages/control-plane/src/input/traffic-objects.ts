/**
 * Istio's traffic management kinds as the decoders produce them: DestinationRule and VirtualService,
 * restricted to the fields a waypoint can honour (the decoders refuse the rest with a reason). Durations
 * are in milliseconds, percentages are numbers between 0 and 100.
 */
import type { Base } from './objects.js';

export interface ConnectionPoolSettings {
  readonly maxConnections?: number;
  readonly connectTimeoutMs?: number;
  readonly http1MaxPendingRequests?: number;
  readonly http2MaxRequests?: number;
  readonly maxRetries?: number;
  /** Speak to the backend in the protocol the client used (HTTP/1.1 or HTTP/2). */
  readonly useClientProtocol?: boolean;
}

export interface OutlierDetectionSettings {
  readonly consecutive5xxErrors?: number;
  readonly consecutiveGatewayErrors?: number;
  readonly intervalMs?: number;
  readonly baseEjectionTimeMs?: number;
  readonly maxEjectionPercent?: number;
}

export type ConsistentHashKey =
  | { readonly kind: 'header'; readonly name: string }
  | { readonly kind: 'cookie'; readonly name: string; readonly path?: string }
  | { readonly kind: 'source-ip' }
  | { readonly kind: 'query'; readonly name: string };

export interface LoadBalancerSettings {
  readonly simple?: 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM';
  readonly consistentHash?: { readonly key: ConsistentHashKey; readonly table: 'ring-hash' | 'maglev' };
}

/** A trafficPolicy (or one of its port-level settings, or a subset's): each part absent when not set. */
export interface TrafficPolicySettings {
  readonly connectionPool?: ConnectionPoolSettings;
  readonly outlierDetection?: OutlierDetectionSettings;
  readonly loadBalancer?: LoadBalancerSettings;
}

export interface TrafficPolicy extends TrafficPolicySettings {
  /** Port number → settings that replace the policy's parts they set, for that port. */
  readonly portLevelSettings: readonly { readonly port: number; readonly settings: TrafficPolicySettings }[];
}

export interface Subset {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly trafficPolicy?: TrafficPolicy;
}

export interface DestinationRuleObject extends Base<'DestinationRule'> {
  /** As written: a short name (`reviews`), `name.namespace` or a full hostname. */
  readonly host: string;
  readonly trafficPolicy?: TrafficPolicy;
  readonly subsets: readonly Subset[];
}

/** Istio's StringMatch with the forms a waypoint evaluates. */
export interface StringMatchSpec {
  readonly kind: 'exact' | 'prefix' | 'regex';
  readonly value: string;
}

export interface VsMatch {
  readonly uri?: StringMatchSpec;
  readonly ignoreUriCase: boolean;
  /** Header names lower case. */
  readonly headers: readonly { readonly name: string; readonly match: StringMatchSpec }[];
  /** Headers that must not match (absent, or a value that does not match). */
  readonly withoutHeaders: readonly { readonly name: string; readonly match: StringMatchSpec }[];
  readonly method?: StringMatchSpec;
  readonly queryParams: readonly { readonly name: string; readonly match: StringMatchSpec }[];
  /** Only requests to this service port. */
  readonly port?: number;
}

export interface VsDestination {
  readonly host: string;
  readonly subset?: string;
  readonly port?: number;
}

export interface HeaderOperations {
  readonly set: readonly { readonly name: string; readonly value: string }[];
  readonly add: readonly { readonly name: string; readonly value: string }[];
  readonly remove: readonly string[];
}

export interface HeadersSpec {
  readonly request: HeaderOperations;
  readonly response: HeaderOperations;
}

export interface VsRouteDestination {
  readonly index: number;
  readonly destination: VsDestination;
  /** Absent: the only destination (100). */
  readonly weight?: number;
  readonly headers?: HeadersSpec;
}

export interface VsRetries {
  /** Retries after the first attempt; 0 disables retries. */
  readonly attempts: number;
  readonly perTryTimeoutMs?: number;
  readonly backoffMs?: number;
  /**
   * The conditions a waypoint implements (others are reported and dropped by the decoder), in the order
   * written; `retriable-status-codes` is added when `retryOn` names a status code, as Istio does.
   */
  readonly retryOn: readonly ('5xx' | 'gateway-error' | 'reset' | 'connect-failure' | 'retriable-4xx' | 'retriable-status-codes')[];
  /** The status codes `retryOn` names (Envoy `retriable_status_codes`), each once, in the order written. */
  readonly retriableStatusCodes: readonly number[];
}

export interface VsFault {
  readonly delay?: { readonly fixedDelayMs: number; readonly percent: number };
  readonly abort?: { readonly httpStatus: number; readonly percent: number };
}

export interface VsHttpRoute {
  readonly index: number;
  readonly name?: string;
  /** Empty: every request. */
  readonly match: readonly VsMatch[];
  readonly route: readonly VsRouteDestination[];
  readonly redirect?: {
    readonly uri?: string;
    readonly authority?: string;
    readonly port?: number;
    readonly scheme?: string;
    readonly redirectCode: 301 | 302 | 303 | 307 | 308;
  };
  readonly directResponse?: { readonly status: number; readonly body?: string };
  readonly rewrite?: { readonly uri?: string; readonly authority?: string; readonly uriRegex?: { readonly match: string; readonly rewrite: string } };
  readonly timeoutMs?: number;
  readonly retries?: VsRetries;
  readonly fault?: VsFault;
  readonly mirrors: readonly { readonly destination: VsDestination; readonly percent: number }[];
  readonly headers?: HeadersSpec;
}

export interface VirtualServiceObject extends Base<'VirtualService'> {
  /** As written (short names are resolved in the VirtualService's namespace). */
  readonly hosts: readonly string[];
  /** Empty or containing `mesh`: applies to mesh traffic (and so to waypoints). */
  readonly gateways: readonly string[];
  readonly http: readonly VsHttpRoute[];
}
