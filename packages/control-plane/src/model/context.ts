/**
 * What every step of the model computation shares: the input indexed by kind, the options, and the
 * diagnostics the model adds about references between objects (a waypoint that does not exist, a named
 * port a pod lacks, …). Reports are de-duplicated, since a namespace label is consulted once per pod.
 */
import { diagnosticAt } from '../input/diagnostics.js';
import type { PathSegment, Severity } from '../input/field.js';
import type {
  AuthorizationPolicyObject,
  GatewayObject,
  RequestAuthenticationObject,
  InputObject,
  NamespaceObject,
  NodeObject,
  PeerAuthenticationObject,
  PodObject,
  ServiceObject,
} from '../input/objects.js';
import type { GrpcRouteObject, HttpRouteObject } from '../input/route-objects.js';
import type { DestinationRuleObject, VirtualServiceObject } from '../input/traffic-objects.js';
import type { ModelOptions } from './options.js';
import type { InputDiagnostic } from './snapshot.js';

/** The arguments of one `report` call, kept so that a cached result can report the same again. */
export type RecordedReport = readonly [object: InputObject, path: readonly PathSegment[], message: string, severity: Severity];

export class ModelContext {
  readonly options: ModelOptions;
  readonly namespaces = new Map<string, NamespaceObject>();
  readonly nodes = new Map<string, NodeObject>();
  /** The pods of the current computation (see `startRound`). */
  pods: readonly PodObject[] = [];
  readonly services: ServiceObject[] = [];
  /** By `namespace/name`. */
  readonly gateways = new Map<string, GatewayObject>();
  readonly authorizationPolicies: AuthorizationPolicyObject[] = [];
  readonly peerAuthentications: PeerAuthenticationObject[] = [];
  /** The waypoints' configuration kinds, in input order. */
  readonly httpRoutes: HttpRouteObject[] = [];
  readonly grpcRoutes: GrpcRouteObject[] = [];
  readonly requestAuthentications: RequestAuthenticationObject[] = [];
  readonly destinationRules: DestinationRuleObject[] = [];
  readonly virtualServices: VirtualServiceObject[] = [];
  readonly diagnostics: InputDiagnostic[] = [];
  readonly #reported = new Set<string>();
  #recording: RecordedReport[] | undefined;

  /**
   * Indexes `objects` by kind. Pods are indexed too, unless `pods` is given: a context reused for a later
   * input with the same other objects (see ComputeCache) gets that input's pods through `startRound`.
   */
  constructor(objects: readonly InputObject[], options: ModelOptions) {
    this.options = options;
    const pods: PodObject[] = [];
    for (const object of objects) {
      switch (object.kind) {
        case 'Namespace':
          this.namespaces.set(object.metadata.name, object);
          break;
        case 'Node':
          this.nodes.set(object.metadata.name, object);
          break;
        case 'Pod':
          pods.push(object);
          break;
        case 'Service':
          this.services.push(object);
          break;
        case 'Gateway':
          this.gateways.set(`${object.metadata.namespace}/${object.metadata.name}`, object);
          break;
        case 'AuthorizationPolicy':
          this.authorizationPolicies.push(object);
          break;
        case 'PeerAuthentication':
          this.peerAuthentications.push(object);
          break;
        case 'HTTPRoute':
          this.httpRoutes.push(object);
          break;
        case 'GRPCRoute':
          this.grpcRoutes.push(object);
          break;
        case 'RequestAuthentication':
          this.requestAuthentications.push(object);
          break;
        case 'DestinationRule':
          this.destinationRules.push(object);
          break;
        case 'VirtualService':
          this.virtualServices.push(object);
          break;
        case 'ServiceAccount':
          break;
      }
    }
    this.pods = pods;
  }

  /** Starts computing over `pods` with the same other objects: no diagnostics yet. */
  startRound(pods: readonly PodObject[]): void {
    this.pods = pods;
    this.diagnostics.length = 0;
    this.#reported.clear();
  }

  /** Runs `work` and returns what it reported (reporting it as usual too). Recordings do not nest. */
  record<T>(work: () => T): { readonly result: T; readonly reports: readonly RecordedReport[] } {
    const reports: RecordedReport[] = [];
    this.#recording = reports;
    try {
      return { result: work(), reports };
    } finally {
      this.#recording = undefined;
    }
  }

  /** Reports again what a recorded computation reported, as if it had run now. */
  replay(reports: readonly RecordedReport[]): void {
    for (const [object, path, message, severity] of reports) this.report(object, path, message, severity);
  }

  /** Labels of a namespace; namespaces need not be declared (Kubernetes would create them), so `{}` then. */
  namespaceLabels(namespace: string): Readonly<Record<string, string>> {
    return this.namespaces.get(namespace)?.metadata.labels ?? {};
  }

  report(object: InputObject, path: readonly PathSegment[], message: string, severity: Severity = 'warning'): void {
    this.#recording?.push([object, path, message, severity]);
    const diagnostic = diagnosticAt(object.source, path, message, severity);
    const key = `${diagnostic.file}\0${diagnostic.document}\0${diagnostic.path}\0${diagnostic.message}`;
    if (this.#reported.has(key)) return;
    this.#reported.add(key);
    this.diagnostics.push(diagnostic);
  }
}

/** `metadata.labels["<key>"]`, for pointing diagnostics at a label. */
export function labelPath(key: string): PathSegment[] {
  return ['metadata', 'labels', key];
}
